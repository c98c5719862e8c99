//! Real responses match `/openapi.json`: a scripted pass over every documented operation
//! (successes and refusals) checks that each answer's status is documented for its operation
//! and its body matches the documented schema, strictly (no member the schema does not
//! name). Many response schemas are schema-only mirrors of `json!` bodies; this is what keeps
//! them true.

use std::collections::BTreeSet;

use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};
use tokenmint::domain::model::admin_keys::AdminRole;

use crate::admin::create_key;
use crate::helpers::{Backend, TestApp};
use crate::oauth_helpers::{EXCHANGE, Harness, JWT_TYPE, oauth_error};
use crate::openapi::{fetch_document, mismatches, operations, request_mismatches};
use crate::webhooks::{Delivery, deliver, user_body};

/// Sends requests and checks each answer against the document.
struct Checker {
    document: Value,
    exercised: BTreeSet<(String, String)>,
    failures: Vec<String>,
}

impl Checker {
    /// Sends `request` for the operation `method template`; returns the body, if JSON.
    async fn check(&mut self, method: Method, template: &str, request: RequestBuilder) -> Value {
        let response = request.send().await.unwrap();
        self.check_response(method, template, response).await
    }

    /// Checks one answer of the operation `method template`; returns the body, if JSON.
    async fn check_response(
        &mut self,
        method: Method,
        template: &str,
        response: reqwest::Response,
    ) -> Value {
        let status = response.status().as_u16().to_string();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let bytes = response.bytes().await.unwrap();
        let context = format!("{method} {template} → {status}");
        self.exercised
            .insert((method.to_string(), template.to_owned()));
        let operation = &self.document["paths"][template][method.as_str().to_lowercase()];
        let documented = &operation["responses"][&status];
        if documented.is_null() {
            self.failures
                .push(format!("{context}: status not documented"));
            return Value::Null;
        }
        let Some(content) = documented["content"].as_object() else {
            if !bytes.is_empty() {
                self.failures.push(format!("{context}: undocumented body"));
            }
            return Value::Null;
        };
        let media_type = content_type.split(';').next().unwrap_or("").trim();
        let Some(media) = content.get(media_type) else {
            self.failures
                .push(format!("{context}: {media_type:?} not documented"));
            return Value::Null;
        };
        if !media_type.ends_with("json") {
            return Value::Null;
        }
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        if !media["schema"].is_null() {
            let found = mismatches(&self.document, &media["schema"], &body, "body");
            self.failures
                .extend(found.into_iter().map(|m| format!("{context}: {m}")));
        }
        body
    }
}

#[tokio::test]
async fn every_documented_operation_answers_as_documented() {
    let harness = crate::webhooks::start(Backend::Sqlite).await;
    let (_, admin) = create_key(&harness.db, AdminRole::Admin).await;
    let (_, introspector) = create_key(&harness.db, AdminRole::Introspect).await;
    let mut checker = Checker {
        document: fetch_document().await,
        exercised: BTreeSet::new(),
        failures: Vec::new(),
    };

    oauth(&mut checker, &harness, &admin).await;
    self_service(&mut checker, &harness).await;
    public(&mut checker, &harness).await;
    administration(&mut checker, &harness, &admin, &introspector).await;

    let missing: Vec<_> = operations(&checker.document)
        .difference(&checker.exercised)
        .cloned()
        .collect();
    assert!(
        missing.is_empty(),
        "documented operations this test does not exercise: {missing:?}"
    );
    assert!(
        checker.failures.is_empty(),
        "responses that do not match /openapi.json:\n{}",
        checker.failures.join("\n")
    );
}

/// The token endpoint (both grants, both content types, refusals), introspection, revocation.
async fn oauth(checker: &mut Checker, harness: &Harness, admin: &str) {
    let (app, post) = (&harness.app, Method::POST);
    let url = app.url("/oauth/token");
    let jwt = harness.signed_in("u1").jwt;
    let exchange = [
        ("grant_type", EXCHANGE),
        ("subject_token", jwt.as_str()),
        ("subject_token_type", JWT_TYPE),
        ("scope", "read"),
    ];
    let form = app.client.post(&url).form(&exchange);
    let body = checker.check(post.clone(), "/oauth/token", form).await;
    let refresh_token = body["refresh_token"].as_str().unwrap().to_owned();
    let as_json: serde_json::Map<String, Value> = exchange
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    let request = app.client.post(&url).json(&as_json);
    checker.check(post.clone(), "/oauth/token", request).await;
    let refresh = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.as_str()),
    ];
    let request = app.client.post(&url).form(&refresh);
    let body = checker.check(post.clone(), "/oauth/token", request).await;
    let access_token = body["access_token"].as_str().unwrap().to_owned();
    // Unsupported grant, a replayed token (invalid_grant), no parameters at all.
    for refused in [&[("grant_type", "password")][..], &refresh[..], &[]] {
        let request = app.client.post(&url).form(refused);
        checker.check(post.clone(), "/oauth/token", request).await;
    }

    let url = app.url("/oauth/introspect");
    for token in [access_token.as_str(), refresh_token.as_str(), "nonsense"] {
        let request = app.client.post(&url).bearer_auth(admin);
        let request = request.form(&[("token", token)]);
        checker
            .check(post.clone(), "/oauth/introspect", request)
            .await;
    }
    let unauthenticated = app.client.post(&url).form(&[("token", "x")]);
    checker
        .check(post.clone(), "/oauth/introspect", unauthenticated)
        .await;

    let url = app.url("/oauth/revoke");
    for params in [[("token", "tmr_unknown")], [("x", "y")]] {
        let request = app.client.post(&url).form(&params);
        checker.check(post.clone(), "/oauth/revoke", request).await;
    }
}

/// `/v1/me/sessions` with and without a valid access token.
async fn self_service(checker: &mut Checker, harness: &Harness) {
    let app = &harness.app;
    let mine = harness.login("u2").await;
    let other = harness.login("u3").await;
    let other_sid = harness.session_id(&other.access_token).await;
    let url = app.url("/v1/me/sessions");
    let request = app.client.get(&url).bearer_auth(&mine.access_token);
    let sessions = checker.check(Method::GET, "/v1/me/sessions", request).await;
    let own_sid = sessions["sessions"][0]["id"].as_str().unwrap().to_owned();
    let bad_limit = app.client.get(format!("{url}?limit=0"));
    for request in [
        app.client.get(&url).bearer_auth("not-a-token"),
        bad_limit.bearer_auth(&mine.access_token),
    ] {
        checker.check(Method::GET, "/v1/me/sessions", request).await;
    }
    for sid in [&other_sid, &own_sid] {
        let request = app
            .client
            .delete(app.url(&format!("/v1/me/sessions/{sid}")));
        let request = request.bearer_auth(&mine.access_token);
        checker
            .check(Method::DELETE, "/v1/me/sessions/{id}", request)
            .await;
    }
}

/// Unauthenticated endpoints: feed, well-known, health, documentation, and the webhook.
async fn public(checker: &mut Checker, harness: &Harness) {
    let app = &harness.app;
    for query in ["", "?since=garbage"] {
        let request = app.client.get(app.url(&format!("/v1/revocations{query}")));
        checker.check(Method::GET, "/v1/revocations", request).await;
    }
    let jwks = app.get("/.well-known/jwks.json").await;
    let etag = jwks.headers()["etag"].to_str().unwrap().to_owned();
    for tag in ["\"other\"", etag.as_str()] {
        let request = app.client.get(app.url("/.well-known/jwks.json"));
        let request = request.header("if-none-match", tag);
        checker
            .check(Method::GET, "/.well-known/jwks.json", request)
            .await;
    }
    // `/docs` redirects: its own answer is what is documented.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/docs",
        "/docs/",
    ] {
        let request = no_redirects.get(app.url(path));
        checker.check(Method::GET, path, request).await;
    }
    let body = user_body("u3", "2030-01-01T00:00:00.000+00:00", true, &[]);
    let mut delivery = Delivery::new("users.u3.delete", body);
    let signed = deliver(harness, &delivery).await;
    checker
        .check_response(Method::POST, "/webhooks/appwrite", signed)
        .await;
    delivery.signature = Some("bad".to_owned());
    let forged = deliver(harness, &delivery).await;
    checker
        .check_response(Method::POST, "/webhooks/appwrite", forged)
        .await;
}

/// The admin API: successes, a malformed query, no key, a key without the `admin` role.
async fn administration(checker: &mut Checker, harness: &Harness, admin: &str, introspector: &str) {
    let app = &harness.app;
    let session = harness.login("u4").await;
    let sid = harness.session_id(&session.access_token).await;
    let missing = "0190a0a0-0000-7000-8000-000000000000";
    let calls: Vec<(Method, &str, String)> = vec![
        (
            Method::GET,
            "/admin/v1/users/{user_id}/sessions",
            "/admin/v1/users/u4/sessions?include=revoked".into(),
        ),
        (
            Method::GET,
            "/admin/v1/users/{user_id}/sessions",
            "/admin/v1/users/u4/sessions?limit=0".into(),
        ),
        (
            Method::GET,
            "/admin/v1/sessions/{id}",
            format!("/admin/v1/sessions/{sid}"),
        ),
        (
            Method::GET,
            "/admin/v1/sessions/{id}",
            format!("/admin/v1/sessions/{missing}"),
        ),
        (
            Method::DELETE,
            "/admin/v1/sessions/{id}",
            format!("/admin/v1/sessions/{sid}"),
        ),
        (
            Method::DELETE,
            "/admin/v1/sessions/{id}",
            format!("/admin/v1/sessions/{missing}"),
        ),
        (
            Method::DELETE,
            "/admin/v1/users/{user_id}/sessions",
            "/admin/v1/users/u4/sessions".into(),
        ),
        (Method::GET, "/admin/v1/keys", "/admin/v1/keys".into()),
        (
            Method::POST,
            "/admin/v1/keys/rotate",
            "/admin/v1/keys/rotate".into(),
        ),
        (
            Method::POST,
            "/admin/v1/keys/rotate",
            "/admin/v1/keys/rotate".into(),
        ),
        (
            Method::GET,
            "/admin/v1/audit",
            "/admin/v1/audit?limit=2".into(),
        ),
        (
            Method::GET,
            "/admin/v1/audit",
            "/admin/v1/audit?before=x".into(),
        ),
    ];
    for (method, template, path) in &calls {
        let request = app.client.request(method.clone(), app.url(path));
        checker
            .check(method.clone(), template, request.bearer_auth(admin))
            .await;
    }
    for key in [None, Some(introspector)] {
        let mut request = app.client.get(app.url("/admin/v1/keys"));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        checker.check(Method::GET, "/admin/v1/keys", request).await;
    }
}

/// The schema of the parameter `name` of the operation `method template`.
fn parameter_schema(document: &Value, method: &Method, template: &str, name: &str) -> Value {
    let operation = &document["paths"][template][method.as_str().to_lowercase()];
    operation["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == name)
        .map(|p| p["schema"].clone())
        .unwrap_or_else(|| panic!("{method} {template} documents no parameter {name}"))
}

/// Values the server refuses with 400 lie outside the documented schemas, so that a client or
/// a generator following the document is not refused; and what it accepts, the document
/// admits. schemathesis found each of these on the wrong side (`positive_data_acceptance`,
/// `negative_data_rejection`): an empty or control-character user id, an empty `include`, a
/// cursor that is not a session id, a feed cursor the feed never issued, an empty token (RFC
/// 6749 §3.1 counts it as absent), a token with a control character, a repeated parameter, a
/// token type hint tokenmint does not know (RFC 7009 §2.1 lets it ignore the hint).
#[tokio::test]
async fn values_the_server_refuses_are_outside_the_documented_schemas() {
    let harness = Harness::start(Backend::Sqlite).await;
    let (_, admin) = create_key(&harness.db, AdminRole::Admin).await;
    let access_token = harness.login("u1").await.access_token;
    let document = fetch_document().await;
    let app = &harness.app;

    let mut disagreements = refused_parameters(app, &document, &admin, &access_token).await;
    disagreements.extend(refused_bodies(app, &document, &admin).await);
    let unknown_hint = [("token", "x"), ("token_type_hint", "true")];
    let response = oauth_form(app, "/oauth/revoke", &unknown_hint, &admin).await;
    assert_eq!(response.status(), 200);
    let found = body_mismatches(&document, "/oauth/revoke", &unknown_hint);
    if !found.is_empty() {
        disagreements.push(format!("accepted, but outside the document: {found:?}"));
    }

    assert!(
        disagreements.is_empty(),
        "the document and the server disagree (unless marked otherwise: values the document \
         admits and the server refuses with 400):\n{}",
        disagreements.join("\n")
    );
}

/// Query and path values the server refuses: each one the document admits, described.
async fn refused_parameters(
    app: &TestApp,
    document: &Value,
    admin: &str,
    access_token: &str,
) -> Vec<String> {
    let user_sessions = "/admin/v1/users/{user_id}/sessions";
    let refused = [
        (
            "GET",
            "/admin/v1/audit",
            "user_id",
            "",
            "/admin/v1/audit?user_id=",
        ),
        (
            "DELETE",
            user_sessions,
            "user_id",
            "\u{9f}x",
            "/admin/v1/users/%C2%9Fx/sessions",
        ),
        (
            "GET",
            user_sessions,
            "include",
            "",
            "/admin/v1/users/u1/sessions?include=",
        ),
        (
            "GET",
            user_sessions,
            "cursor",
            "",
            "/admin/v1/users/u1/sessions?cursor=",
        ),
        (
            "GET",
            "/v1/me/sessions",
            "cursor",
            "x",
            "/v1/me/sessions?cursor=x",
        ),
        (
            "GET",
            "/v1/revocations",
            "since",
            "v1.x",
            "/v1/revocations?since=v1.x",
        ),
    ];
    let mut admitted = Vec::new();
    for (method, template, name, value, path) in refused {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let credential = if path.starts_with("/v1/me/") {
            access_token
        } else {
            admin
        };
        let request = app.client.request(method.clone(), app.url(path));
        let response = request.bearer_auth(credential).send().await.unwrap();
        assert_eq!(response.status(), 400, "{method} {path}");
        let schema = parameter_schema(document, &method, template, name);
        let found = mismatches(document, &schema, &json!(value), name);
        assert!(!found.iter().any(|m| m.contains("dangling")), "{found:?}");
        if found.is_empty() {
            admitted.push(format!("{method} {template}: {name}={value:?}"));
        }
    }
    admitted
}

/// A form body: names may repeat.
type Form<'a> = Vec<(&'a str, &'a str)>;

/// OAuth bodies the server refuses: each one the document admits, described.
async fn refused_bodies(app: &TestApp, document: &Value, admin: &str) -> Vec<String> {
    let exchange = |name: &'static str, value: &'static str| -> Form<'static> {
        let mut form = vec![
            ("grant_type", EXCHANGE),
            ("subject_token", "eyJ.e30.x"),
            ("subject_token_type", JWT_TYPE),
        ];
        form.retain(|(n, _)| *n != name);
        form.push((name, value));
        form
    };
    let long_token = "t".repeat(513);
    let refresh = |token| vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    let (token, introspect) = ("/oauth/token", "/oauth/introspect");
    let invalid = "invalid_request";
    let refused: [(&str, Form, &str); 10] = [
        (token, exchange("subject_token", ""), invalid),
        (token, refresh(""), invalid),
        (token, refresh(&long_token), invalid),
        (token, exchange("scope", "a\"b"), "invalid_scope"),
        (token, exchange("client_id", "a b"), invalid),
        (token, exchange("device_name", "a\u{1}"), invalid),
        ("/oauth/revoke", vec![("token", "")], invalid),
        ("/oauth/revoke", vec![("token", "a\u{b}")], invalid),
        (introspect, vec![("token", "")], invalid),
        (
            introspect,
            vec![("token", "x"), ("extra", "1"), ("extra", "2")],
            invalid,
        ),
    ];
    let mut admitted = Vec::new();
    for (path, form, expected) in refused {
        let response = oauth_form(app, path, &form, admin).await;
        let (status, error, _) = oauth_error(response).await;
        assert_eq!((status, error.as_str()), (400, expected), "{path} {form:?}");
        let found = body_mismatches(document, path, &form);
        assert!(!found.iter().any(|m| m.contains("dangling")), "{found:?}");
        if found.is_empty() {
            admitted.push(format!("POST {path}: {form:?}"));
        }
    }
    admitted
}

/// Posts a form (names may repeat) to an OAuth endpoint, with the admin key on introspection.
async fn oauth_form(
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
    admin: &str,
) -> reqwest::Response {
    let mut request = app.client.post(app.url(path)).form(form);
    if path == "/oauth/introspect" {
        request = request.bearer_auth(admin);
    }
    request.send().await.unwrap()
}

/// Why a form body does not match the documented form schema of `POST path`. A repeated name
/// becomes an array, as OpenAPI's form encoding writes one.
fn body_mismatches(document: &Value, path: &str, form: &[(&str, &str)]) -> Vec<String> {
    let content = &document["paths"][path]["post"]["requestBody"]["content"];
    let schema = &content["application/x-www-form-urlencoded"]["schema"];
    let mut body = serde_json::Map::new();
    for (name, value) in form {
        match body.get_mut(*name) {
            None => {
                body.insert((*name).to_owned(), json!(value));
            }
            Some(Value::Array(values)) => values.push(json!(value)),
            Some(first) => *first = json!([first.clone(), value]),
        }
    }
    request_mismatches(document, schema, &Value::Object(body), "body")
}
