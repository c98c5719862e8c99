//! Real responses match `/openapi.json`: a scripted pass over every documented operation
//! (successes and refusals) checks that each answer's status is documented for its operation
//! and its body matches the documented schema, strictly (no member the schema does not
//! name). Many response schemas are schema-only mirrors of `json!` bodies; this is what keeps
//! them true.

use std::collections::BTreeSet;

use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};
use tokenmint::domain::admin_keys::AdminRole;

use crate::admin::create_key;
use crate::helpers::Backend;
use crate::oauth_helpers::{EXCHANGE, Harness, JWT_TYPE};
use crate::openapi::{fetch_document, mismatches, operations};
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
    let other_sid = app.verify_access_token(&other.access_token, "api").await["sid"]
        .as_str()
        .unwrap()
        .to_owned();
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
    let sid = app.verify_access_token(&session.access_token, "api").await["sid"]
        .as_str()
        .unwrap()
        .to_owned();
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
