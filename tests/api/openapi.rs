//! `GET /openapi.json`: the document lists exactly the router's routes (no drift either way),
//! describes both error formats and the security schemes, and validates as OpenAPI 3.1 with
//! `openapi-spec-validator`. [`mismatches`] checks a JSON value against one of the document's
//! schemas (for `openapi_conformance`).
//!
//! `.ci/run` installs `openapi-spec-validator` and sets `TOKENMINT_OPENAPI_VALIDATOR=required`,
//! so in CI a missing validator fails the test. Elsewhere the test says it was skipped.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

use crate::helpers::{Backend, TestApp, TestDb};

/// Routes that are deliberately not API operations: the scripts, style sheets and icons of
/// the `/docs` page. Everything else `tokenmint::http::endpoints()` lists must be documented.
const UNDOCUMENTED_ROUTES: &[(&str, &str)] = &[("GET", "/docs/{*asset}")];

/// The document as the real server serves it.
pub async fn fetch_document() -> Value {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::spawn(db.config()).await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let document = response.json().await.unwrap();
    app.stop().await;
    document
}

/// Every (method, path) the document describes, methods upper-case.
pub fn operations(document: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if [
                "get", "put", "post", "delete", "patch", "head", "options", "trace",
            ]
            .contains(&method.as_str())
            {
                operations.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    operations
}

/// Why `value` does not match `schema` (empty: it matches). `$ref`s resolve in `document`.
/// Strict, for responses: an object member the schema does not name is a mismatch unless
/// `additionalProperties` admits it.
pub fn mismatches(document: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    Matcher {
        document,
        strict: true,
    }
    .mismatches(schema, value, at)
}

/// Like [`mismatches`] with JSON Schema's own rule for members the schema does not name:
/// allowed unless `additionalProperties` says otherwise. For requests, which may carry
/// parameters the server ignores.
pub fn request_mismatches(
    document: &Value,
    schema: &Value,
    value: &Value,
    at: &str,
) -> Vec<String> {
    Matcher {
        document,
        strict: false,
    }
    .mismatches(schema, value, at)
}

struct Matcher<'d> {
    document: &'d Value,
    strict: bool,
}

impl Matcher<'_> {
    fn mismatches(&self, schema: &Value, value: &Value, at: &str) -> Vec<String> {
        let document = self.document;
        if let Some(reference) = schema["$ref"].as_str() {
            let name = reference.trim_start_matches("#/components/schemas/");
            let target = &document["components"]["schemas"][name];
            if target.is_null() {
                return vec![format!("{at}: dangling {reference}")];
            }
            return self.mismatches(target, value, at);
        }
        if let Some(choices) = schema["oneOf"].as_array() {
            let matching = choices
                .iter()
                .filter(|c| self.mismatches(c, value, at).is_empty())
                .count();
            return match matching {
                1 => vec![],
                n => vec![format!("{at}: {value} matches {n} of oneOf")],
            };
        }
        let mut problems = Vec::new();
        if let Some(allowed) = schema["enum"].as_array()
            && !allowed.contains(value)
        {
            problems.push(format!("{at}: {value} not in {allowed:?}"));
        }
        let types: Vec<&str> = match &schema["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let type_ok = |t: &&str| match *t {
            "null" => value.is_null(),
            "boolean" => value.is_boolean(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "string" => value.is_string(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => false,
        };
        if !types.is_empty() && !types.iter().any(type_ok) {
            return vec![format!("{at}: {value} is not {types:?}")];
        }
        if let Some(text) = value.as_str() {
            problems.extend(string_mismatches(schema, text, at));
        }
        if let (Some(text), Some(format)) = (value.as_str(), schema["format"].as_str()) {
            let valid = match format {
                "date-time" => chrono::DateTime::parse_from_rfc3339(text).is_ok(),
                "uuid" => uuid::Uuid::parse_str(text).is_ok(),
                _ => true,
            };
            if !valid {
                problems.push(format!("{at}: {text:?} is not a {format}"));
            }
        }
        if let Some(items) = value.as_array() {
            for (i, item) in items.iter().enumerate() {
                problems.extend(self.mismatches(&schema["items"], item, &format!("{at}[{i}]")));
            }
        }
        if let Some(object) = value.as_object() {
            for required in schema["required"].as_array().into_iter().flatten() {
                if !object.contains_key(required.as_str().unwrap()) {
                    problems.push(format!("{at}: missing required {required}"));
                }
            }
            for (name, member) in object {
                let at = format!("{at}.{name}");
                match (&schema["properties"][name], &schema["additionalProperties"]) {
                    (Value::Null, Value::Null)
                        if self.strict && schema["properties"].is_object() =>
                    {
                        problems.push(format!("{at}: not in the schema"));
                    }
                    (Value::Null, Value::Null) => {}
                    (Value::Null, additional) => {
                        problems.extend(self.mismatches(additional, member, &at))
                    }
                    (property, _) => problems.extend(self.mismatches(property, member, &at)),
                }
            }
        }
        problems
    }
}

/// Why `text` breaks the string constraints of `schema`: `minLength` and `maxLength` count
/// characters (JSON Schema), `pattern` is searched for, not anchored.
fn string_mismatches(schema: &Value, text: &str, at: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let length = text.chars().count() as u64;
    if schema["minLength"].as_u64().is_some_and(|min| length < min) {
        problems.push(format!("{at}: {text:?} is shorter than minLength"));
    }
    if schema["maxLength"].as_u64().is_some_and(|max| length > max) {
        problems.push(format!("{at}: {text:?} is longer than maxLength"));
    }
    if let Some(pattern) = schema["pattern"].as_str() {
        let regex = regex::Regex::new(pattern)
            .unwrap_or_else(|err| panic!("{at}: pattern {pattern:?} does not compile: {err}"));
        if !regex.is_match(text) {
            problems.push(format!("{at}: {text:?} does not match {pattern:?}"));
        }
    }
    problems
}

#[tokio::test]
async fn openapi_document_lists_exactly_the_routes_the_router_serves() {
    let document = fetch_document().await;

    let routed: BTreeSet<(String, String)> = tokenmint::http::endpoints()
        .into_iter()
        .map(|e| (e.method.to_string(), e.path.to_owned()))
        .filter(|(m, p)| !UNDOCUMENTED_ROUTES.contains(&(m.as_str(), p.as_str())))
        .collect();
    let documented = operations(&document);

    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from /openapi.json (add #[utoipa::path] and list the handler in \
         http::openapi): {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "operations in /openapi.json that the router does not serve: {unrouted:?}"
    );
    for (method, path) in UNDOCUMENTED_ROUTES {
        assert!(
            tokenmint::http::endpoints()
                .iter()
                .any(|e| e.method.as_str() == *method && e.path == *path),
            "{method} {path} is listed as an exception but is not routed"
        );
    }
}

/// The media type and schema name of one documented response.
fn response_schema<'d>(operation: &'d Value, status: &str) -> Option<(&'d str, &'d str)> {
    let (media_type, content) = operation["responses"][status]["content"]
        .as_object()?
        .iter()
        .next()?;
    let schema = content["schema"]["$ref"].as_str()?;
    Some((media_type, schema.rsplit('/').next()?))
}

#[tokio::test]
async fn openapi_document_describes_both_error_formats_and_the_security_schemes() {
    let document = fetch_document().await;

    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["admin_key"]["scheme"], "bearer");
    assert_eq!(schemes["access_token"]["scheme"], "bearer");
    assert_eq!(schemes["webhook_signature"]["type"], "apiKey");
    assert_eq!(schemes["webhook_signature"]["in"], "header");
    assert_eq!(
        schemes["webhook_signature"]["name"],
        "X-Appwrite-Webhook-Signature"
    );
    assert_eq!(schemes["webhook_basic"]["scheme"], "basic");

    let mut errors_seen = 0;
    for (method, path) in operations(&document) {
        let operation = &document["paths"][&path][method.to_lowercase()];
        let oauth = path.starts_with("/oauth/");
        for (status, response) in operation["responses"].as_object().unwrap() {
            // `/readyz` answers its not-ready 503 with the readiness report, not an error.
            let report = path == "/readyz" && status == "503";
            if report || (!status.starts_with('4') && !status.starts_with('5')) {
                continue;
            }
            errors_seen += 1;
            let expected = if oauth {
                ("application/json", "OAuthErrorBody")
            } else {
                ("application/problem+json", "Problem")
            };
            assert_eq!(
                response_schema(operation, status),
                Some(expected),
                "{method} {path} {status}"
            );
            if status == "429" || status == "503" {
                assert!(
                    response["headers"]["Retry-After"].is_object(),
                    "{method} {path} {status} without Retry-After"
                );
            }
        }
    }
    assert!(errors_seen >= 40, "only {errors_seen} error responses");

    let security = |method: &str, path: &str| {
        document["paths"][path][method]["security"]
            .as_array()
            .map(|requirements| {
                requirements
                    .iter()
                    .flat_map(|r| r.as_object().unwrap().keys().cloned())
                    .collect::<BTreeSet<_>>()
            })
            .unwrap_or_default()
    };
    for (method, path) in operations(&document) {
        let method = method.to_lowercase();
        // The revocation feed needs a key by default (`TOKENMINT_REVOCATION_FEED_PUBLIC`).
        let expected: &[&str] = if path.starts_with("/admin/")
            || path == "/oauth/introspect"
            || path == "/v1/revocations"
        {
            &["admin_key"]
        } else if path.starts_with("/v1/me/") {
            &["access_token"]
        } else if path == "/webhooks/appwrite" {
            &["webhook_basic", "webhook_signature"]
        } else {
            &[]
        };
        let expected: BTreeSet<String> = expected.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(security(&method, &path), expected, "{method} {path}");
    }
    let token = &document["paths"]["/oauth/token"]["post"]["requestBody"]["content"];
    for media_type in ["application/x-www-form-urlencoded", "application/json"] {
        assert_eq!(
            token[media_type]["schema"]["$ref"], "#/components/schemas/TokenRequest",
            "{media_type}"
        );
    }
}

fn validator_missing() -> bool {
    !Command::new("python3")
        .args(["-m", "openapi_spec_validator", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn validate(file: &std::path::Path) -> std::process::Output {
    Command::new("python3")
        .args(["-m", "openapi_spec_validator", "--schema", "3.1"])
        .arg(file)
        .output()
        .unwrap()
}

#[tokio::test]
async fn openapi_document_validates_as_openapi_3_1() {
    if validator_missing() {
        assert!(
            std::env::var("TOKENMINT_OPENAPI_VALIDATOR").as_deref() != Ok("required"),
            "openapi-spec-validator is missing (pip install openapi-spec-validator)"
        );
        eprintln!("OpenAPI validation skipped: openapi-spec-validator is not installed");
        return;
    }
    let document = fetch_document().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(&document).unwrap()).unwrap();

    let output = tokio::task::spawn_blocking(move || validate(&file))
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "openapi-spec-validator rejected /openapi.json:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    // The validator does reject a broken document: a reference to a schema that is not there.
    let mut broken = document;
    broken["paths"]["/oauth/token"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
        ["$ref"] = "#/components/schemas/Missing".into();
    let file = dir.path().join("broken.json");
    std::fs::write(&file, serde_json::to_vec(&broken).unwrap()).unwrap();
    let output = tokio::task::spawn_blocking(move || validate(&file))
        .await
        .unwrap();
    assert!(!output.status.success(), "a broken document passed");
}
