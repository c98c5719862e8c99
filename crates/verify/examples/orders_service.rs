//! A small microservice that trusts tokenmint: every route verifies the bearer token locally
//! (no call to tokenmint per request) and follows the revocation feed.
//!
//! ```sh
//! TOKENMINT_ISSUER=http://localhost:8080 TOKENMINT_FEED_KEY=$(tokenmint admin-keys create --name orders --role feed) \
//!     cargo run -p tokenmint-verify --features axum --example orders_service
//! curl -H "Authorization: Bearer $ACCESS_TOKEN" localhost:3000/orders
//! ```

use std::time::Duration;

use axum::extract::FromRef;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tokenmint_verify::Verifier;
use tokenmint_verify::axum::VerifiedClaims;

#[derive(Clone, FromRef)]
struct AppState {
    verifier: Verifier,
}

/// Any signed-in user sees their own orders.
async fn list_orders(VerifiedClaims(claims): VerifiedClaims) -> Json<Value> {
    Json(json!({ "user": claims.sub, "orders": [] }))
}

/// Only users with the Appwrite label `admin` see everyone's.
async fn all_orders(VerifiedClaims(claims): VerifiedClaims) -> Result<Json<Value>, StatusCode> {
    if !claims.has_label("admin") {
        return Err(StatusCode::FORBIDDEN);
    }
    Ok(Json(json!({ "orders": [] })))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let issuer =
        std::env::var("TOKENMINT_ISSUER").unwrap_or_else(|_| "http://localhost:8080".into());
    // A key with the `feed` role (`tokenmint admin-keys create --name orders --role feed`):
    // the revocation feed names users, so tokenmint requires one by default.
    let mut builder = Verifier::builder(issuer)
        .audience("api")
        .revocation_feed(Duration::from_secs(5));
    if let Ok(key) = std::env::var("TOKENMINT_FEED_KEY") {
        builder = builder.revocation_feed_key(key);
    }
    let verifier = builder.build()?;
    let app = Router::new()
        .route("/orders", get(list_orders))
        .route("/admin/orders", get(all_orders))
        .with_state(AppState { verifier });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app).await?;
    Ok(())
}
