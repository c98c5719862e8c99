//! Hostile input from every direction: text from Appwrite and its webhooks that PostgreSQL
//! cannot store as is, and hostile path segments, query values, methods and bodies on every
//! route of the router. Nothing answers 5xx; every refusal is in its family's format.

use reqwest::Method;
use serde_json::Value;
use tokenmint::domain::model::admin_keys::AdminRole;

use crate::admin::create_key;
use crate::helpers::Backend;
use crate::oauth_helpers::{JWT_TYPE, tokens};
use crate::on_both_backends;
use crate::webhooks::{Delivery, deliver, server_now, session_body, start};

/// A name with U+0000 from Appwrite (users may set their own name) neither fails the exchange
/// nor a signed webhook carrying it: the NUL is stored and issued as U+FFFD.
async fn a_nul_in_user_text_fails_neither_the_exchange_nor_the_webhook(backend: Backend) {
    let harness = start(backend).await;
    harness.appwrite.add_user("u1");
    harness.appwrite.update_user("u1", |user| {
        user.name = "Jane\u{0}Doe".into();
        user.email = "jane\u{0}@example.com".into();
        user.labels = vec!["be\u{0}ta".into()];
    });
    let (session, _) = harness.appwrite.create_session("u1");
    let jwt = harness.appwrite.create_jwt("u1", &session);

    let issued = tokens(harness.app.exchange(JWT_TYPE, &jwt, &[]).await).await;

    let claims = harness
        .app
        .verify_access_token(&issued.access_token, "api")
        .await;
    assert_eq!(claims["name"], "Jane\u{FFFD}Doe");
    assert_eq!(claims["email"], "jane\u{FFFD}@example.com");
    assert_eq!(claims["labels"], serde_json::json!(["be\u{FFFD}ta"]));

    let renamed = format!(
        r#"{{"$id":"u1","$updatedAt":"{}","name":"Evil\u0000Name","email":"e@example.com","emailVerification":true,"status":true,"labels":[]}}"#,
        server_now(&harness)
    );
    let response = deliver(&harness, &Delivery::new("users.u1.update.name", renamed)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap()["changed_sessions"],
        1
    );
    let refreshed = tokens(harness.app.refresh(&issued.refresh_token).await).await;
    let claims = harness
        .app
        .verify_access_token(&refreshed.access_token, "api")
        .await;
    assert_eq!(claims["name"], "Evil\u{FFFD}Name");
}

/// Signed deliveries whose content tokenmint cannot apply (ids no Appwrite would send: NUL,
/// 10 KB, a payload missing its fields) are answered 2xx, so content can never get the webhook
/// disabled by Appwrite; they change nothing.
async fn signed_deliveries_tokenmint_cannot_apply_are_answered_2xx(backend: Backend) {
    let harness = start(backend).await;
    let issued = harness.login("u1").await;
    let long = "u".repeat(10 * 1024);
    let now = server_now(&harness);
    let bodies = [
        (
            "users.x.delete".to_owned(),
            format!(r#"{{"$id":"u\u0000","$updatedAt":"{now}","status":true}}"#),
        ),
        (
            "users.x.update.status".to_owned(),
            format!(r#"{{"$id":"{long}","$updatedAt":"{now}","status":false}}"#),
        ),
        (
            "users.x.update.name".to_owned(),
            format!(r#"{{"$id":"{long}","$updatedAt":"{now}","name":"n"}}"#),
        ),
        (
            "users.x.sessions.s.delete".to_owned(),
            session_body("u1", &long),
        ),
        (
            "users.x.sessions.s.delete".to_owned(),
            session_body(&long, "s"),
        ),
        ("users.x.delete".to_owned(), r#"{"status":true}"#.to_owned()),
        ("users.x.update.password".to_owned(), "[1,2,3]".to_owned()),
        (
            "users.x.update.labels".to_owned(),
            "not json at all".to_owned(),
        ),
    ];
    for (event, body) in bodies {
        let response = deliver(&harness, &Delivery::new(&event, body.clone())).await;
        assert!(
            response.status().is_success(),
            "{event} {}: {}",
            &body[..body.len().min(80)],
            response.status()
        );
    }
    tokens(harness.app.refresh(&issued.refresh_token).await).await;
}

on_both_backends!(
    a_nul_in_user_text_fails_neither_the_exchange_nor_the_webhook,
    signed_deliveries_tokenmint_cannot_apply_are_answered_2xx,
    every_route_answers_hostile_input_with_4xx_in_its_format,
);

/// The error format a route answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// RFC 6749 §5.2 `{"error","error_description"}` (`/oauth/*`).
    OAuth,
    /// RFC 9457 `application/problem+json` (everything else).
    Problem,
}

fn family(path: &str) -> Family {
    if path.starts_with("/oauth/") {
        Family::OAuth
    } else {
        Family::Problem
    }
}

/// Every route of the router, as (method, path template): taken from the router's own table,
/// so a new route is covered without touching this test.
fn routes() -> Vec<(Method, String)> {
    tokenmint::http::endpoints()
        .into_iter()
        .map(|endpoint| (endpoint.method, endpoint.path.to_owned()))
        .collect()
}

/// Whether a response is acceptable for hostile input: below 500 and, when refused, in the
/// route family's error format. `Err` says what is wrong.
async fn check(response: reqwest::Response, family: Family) -> Result<(), String> {
    let status = response.status();
    if status.as_u16() >= 500 {
        return Err(format!("{status}"));
    }
    if status.is_success() || status == reqwest::StatusCode::NOT_MODIFIED {
        return Ok(());
    }
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or("").to_owned())
        .unwrap_or_default();
    let body: Value = response
        .json()
        .await
        .map_err(|_| format!("{status} {content_type:?} with a body that is not JSON"))?;
    let well_formed = match family {
        Family::OAuth => content_type.starts_with("application/json") && body["error"].is_string(),
        Family::Problem => {
            content_type == "application/problem+json" && body["status"] == status.as_u16()
        }
    };
    if well_formed {
        Ok(())
    } else {
        Err(format!("{status} {content_type:?} {body}"))
    }
}

const HOSTILE_SEGMENTS: &[&str] = &[
    "%00",
    "a%00b",
    "%FF",
    "%C0%AF",
    "%E2%80%AE",
    "..%2F..%2Fetc",
    "%2e%2e",
    "%20",
    "-1",
    "99999999999999999999999999",
    "'%20or%20'1'='1",
    "%7B%7D",
];

const QUERY_NAMES: &[&str] = &[
    "user_id",
    "session_id",
    "limit",
    "before",
    "cursor",
    "include",
    "since",
    "x",
];

const HOSTILE_VALUES: &[&str] = &[
    "%00",
    "%FF",
    "%C0%AF",
    "-1",
    "0",
    "99999999999999999999999999",
    "abc",
    "",
    "1e3",
];

/// Each route, fed hostile path segments, query values, wrong methods and hostile bodies, with
/// valid credentials so the values reach the handlers: never 5xx, always its family's format.
async fn every_route_answers_hostile_input_with_4xx_in_its_format(backend: Backend) {
    let harness = start(backend).await;
    let (_, admin) = create_key(&harness.db, AdminRole::Admin).await;
    let issued = harness.login("u1").await;
    let long = "a".repeat(10 * 1024);
    let routes = routes();
    assert!(routes.len() >= 19, "{routes:?}");
    let send = async |method: Method, path: &str, body: Option<(&str, Vec<u8>)>| {
        let credential = if path.starts_with("/v1/me") {
            issued.access_token.as_str()
        } else {
            admin.as_str()
        };
        let mut request = harness
            .app
            .client
            .request(method, format!("{}{path}", harness.app.address))
            .bearer_auth(credential);
        if let Some((content_type, body)) = body {
            request = request.header("content-type", content_type).body(body);
        }
        request.send().await.unwrap()
    };
    let mut failures = Vec::new();
    let mut record = async |context: String, response: reqwest::Response, family: Family| {
        if let Err(problem) = check(response, family).await {
            failures.push(format!("{context}: {problem}"));
        }
    };
    for (method, template) in &routes {
        let family = family(template);
        let segments = HOSTILE_SEGMENTS.iter().copied().chain([long.as_str()]);
        for segment in segments.filter(|_| template.contains('{')) {
            let path = fill(template, segment);
            let context = format!("{method} {}", shorten(&path));
            record(context, send(method.clone(), &path, None).await, family).await;
        }
        let benign = fill(template, "u1");
        for name in QUERY_NAMES {
            let values = HOSTILE_VALUES.iter().copied().chain([long.as_str()]);
            for value in values {
                for path in [
                    format!("{benign}?{name}={value}"),
                    format!("{benign}?{name}={value}&{name}=1"),
                ] {
                    let context = format!("{method} {}", shorten(&path));
                    record(context, send(method.clone(), &path, None).await, family).await;
                }
            }
        }
        for other in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
        ] {
            if routes.iter().any(|(m, t)| *m == other && t == template) {
                continue;
            }
            let response = send(other.clone(), &benign, None).await;
            let status = response.status();
            let context = format!("{other} {benign} (not routed, answered {status})");
            record(context, response, family).await;
            if status != 405 {
                record(format!("{other} {benign}"), not_405(status), family).await;
            }
        }
        if *method == Method::POST {
            let deep = "[".repeat(100_000);
            let bodies: [(&str, Vec<u8>); 6] = [
                ("application/x-www-form-urlencoded", b"a=%00&b=%FF".to_vec()),
                ("application/x-www-form-urlencoded", vec![0xff, 0xfe, 0]),
                ("application/json", deep.into_bytes()),
                ("application/json", b"{\"token\":\"\\u0000\"}".to_vec()),
                ("text/plain", b"\0\0\0".to_vec()),
                ("application/json", vec![b'"'; 70 * 1024]),
            ];
            for (content_type, body) in bodies {
                let context = format!("POST {template} with a hostile {content_type} body");
                let response = send(Method::POST, &benign, Some((content_type, body))).await;
                record(context, response, family).await;
            }
        }
    }
    failures.dedup();
    assert!(
        failures.is_empty(),
        "{} hostile requests were mishandled, e.g.:\n{}",
        failures.len(),
        failures
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// A stand-in response recording that a wrong method was not answered 405.
fn not_405(status: reqwest::StatusCode) -> reqwest::Response {
    http_response(500, &format!("{status} instead of 405"))
}

fn http_response(status: u16, body: &str) -> reqwest::Response {
    reqwest::Response::from(
        axum::http::Response::builder()
            .status(status)
            .body(body.to_owned())
            .unwrap(),
    )
}

/// The template with every `{param}` replaced by `value`.
fn fill(template: &str, value: &str) -> String {
    let mut path = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        path.push_str(&rest[..start]);
        path.push_str(value);
        rest = &rest[start + rest[start..].find('}').unwrap() + 1..];
    }
    path.push_str(rest);
    path
}

fn shorten(path: &str) -> String {
    if path.len() > 120 {
        format!("{}…({} bytes)", &path[..120], path.len())
    } else {
        path.to_owned()
    }
}
