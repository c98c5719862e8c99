//! Liveness and readiness.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::{Backend, TestApp, TestDb, eventually};
use crate::on_both_backends;

async fn healthz_and_readyz_answer_200_when_ready(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::spawn(db.config()).await;

    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    assert_eq!(health.headers()["cache-control"], "no-store");
    let ready: Value = app.get_json("/readyz").await;
    assert_eq!(ready["status"], "ready");
    assert!(
        app.get("/healthz")
            .await
            .headers()
            .contains_key("x-request-id")
    );
}

/// The active key disappears from the database (as an emergency revocation would do): once
/// the server reloads its keys it is no longer ready, since it has nothing to sign with.
async fn readyz_answers_503_without_an_active_key(backend: Backend) {
    let db = TestDb::new(backend).await;
    let app = TestApp::spawn(db.config()).await;
    assert_eq!(app.get("/readyz").await.status(), 200);

    db.execute("delete from signing_keys").await;

    let unready = eventually(Duration::from_secs(5), || async {
        app.get("/readyz").await.status() == 503
    })
    .await;
    assert!(unready, "readyz stayed 200 without a signing key");
    let body: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(body["checks"]["signing_key"], "missing");
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "liveness does not depend on readiness"
    );
}

on_both_backends!(
    healthz_and_readyz_answer_200_when_ready,
    readyz_answers_503_without_an_active_key
);

#[tokio::test]
async fn readyz_answers_503_when_the_database_is_gone() {
    let db = TestDb::postgres().await;
    let app = TestApp::spawn(db.config()).await;
    assert_eq!(app.get("/readyz").await.status(), 200);

    db.drop_database().await;

    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "not_ready");
    assert_ne!(body["checks"]["database"], "ok");
    let jwks = app.get("/.well-known/jwks.json").await;
    assert_eq!(jwks.status(), 200, "the JWKS is served from memory");
}

#[tokio::test]
async fn unknown_paths_answer_problem_json() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(db.config()).await;
    let response = app.get("/no/such/path").await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], 404);
}
