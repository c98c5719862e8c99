//! A stand-in for tokenmint in the verifier's integration tests: one axum server publishing a
//! JWKS and a revocation feed, each switchable between serving, hanging (the request is read
//! and never answered) and failing (500), and counting the requests it received.

#![allow(dead_code)] // each test file uses part of it

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokenmint::crypto::signing::{SigningAlgorithm, SigningKey};
use tokenmint_verify::{Verifier, VerifierBuilder};

/// The issuer the tokens name (the verifier never dials it: URLs are given explicitly).
pub const ISSUER: &str = "https://auth.test";
/// The audience of the tokens and of every verifier built here.
pub const AUDIENCE: &str = "api";

/// How an endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// 200 with the current document.
    Serve,
    /// Reads the request and never answers: a dead upstream behind a live load balancer.
    Hang,
    /// 500.
    Fail,
}

struct Endpoint {
    mode: Mutex<Mode>,
    hits: AtomicUsize,
}

impl Endpoint {
    fn new() -> Self {
        Self {
            mode: Mutex::new(Mode::Serve),
            hits: AtomicUsize::new(0),
        }
    }

    /// Counts a request and says how to answer it.
    fn hit(&self) -> Mode {
        self.hits.fetch_add(1, Ordering::SeqCst);
        *self.mode.lock().unwrap()
    }
}

struct Shared {
    jwks: Endpoint,
    feed: Endpoint,
    keys: Mutex<Vec<Value>>,
    max_age: Mutex<u64>,
    feed_page: Mutex<Value>,
}

/// The running stand-in.
#[derive(Clone)]
pub struct Upstream {
    base: String,
    shared: Arc<Shared>,
}

impl Upstream {
    /// Starts serving an empty JWKS (`max-age=3600`) and an empty feed page.
    pub async fn start() -> Self {
        let shared = Arc::new(Shared {
            jwks: Endpoint::new(),
            feed: Endpoint::new(),
            keys: Mutex::new(Vec::new()),
            max_age: Mutex::new(3600),
            feed_page: Mutex::new(feed_page(json!([]), json!([]))),
        });
        let router = Router::new()
            .route("/jwks.json", get(jwks))
            .route("/revocations", get(feed))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { base, shared }
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/jwks.json", self.base)
    }

    pub fn feed_url(&self) -> String {
        format!("{}/revocations", self.base)
    }

    /// Adds `key` to the published JWKS.
    pub fn publish(&self, key: &SigningKey) {
        let jwk = serde_json::to_value(key.public_jwk()).unwrap();
        self.shared.keys.lock().unwrap().push(jwk);
    }

    /// Removes the key `kid` from the published JWKS (retired past its window, or revoked).
    pub fn withdraw(&self, kid: &str) {
        self.shared.keys.lock().unwrap().retain(|k| k["kid"] != kid);
    }

    /// The JWKS `Cache-Control: max-age` (0 makes every cached JWKS stale at once).
    pub fn set_max_age(&self, seconds: u64) {
        *self.shared.max_age.lock().unwrap() = seconds;
    }

    pub fn set_jwks(&self, mode: Mode) {
        *self.shared.jwks.mode.lock().unwrap() = mode;
    }

    pub fn set_feed(&self, mode: Mode) {
        *self.shared.feed.mode.lock().unwrap() = mode;
    }

    /// What the feed answers when serving.
    pub fn set_feed_page(&self, page: Value) {
        *self.shared.feed_page.lock().unwrap() = page;
    }

    /// JWKS requests received so far (answered or not).
    pub fn jwks_hits(&self) -> usize {
        self.shared.jwks.hits.load(Ordering::SeqCst)
    }

    /// Feed requests received so far (answered or not).
    pub fn feed_hits(&self) -> usize {
        self.shared.feed.hits.load(Ordering::SeqCst)
    }
}

/// A feed page with these `sessions` and `users`, nothing more to come.
pub fn feed_page(sessions: Value, users: Value) -> Value {
    json!({ "cursor": "c1", "sessions": sessions, "users": users, "more": false })
}

async fn jwks(State(shared): State<Arc<Shared>>) -> Response {
    match shared.jwks.hit() {
        Mode::Hang => std::future::pending().await,
        Mode::Fail => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Mode::Serve => {
            let max_age = *shared.max_age.lock().unwrap();
            let keys = shared.keys.lock().unwrap().clone();
            (
                [(header::CACHE_CONTROL, format!("public, max-age={max_age}"))],
                axum::Json(json!({ "keys": keys })),
            )
                .into_response()
        }
    }
}

async fn feed(State(shared): State<Arc<Shared>>) -> Response {
    match shared.feed.hit() {
        Mode::Hang => std::future::pending().await,
        Mode::Fail => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Mode::Serve => {
            let page = shared.feed_page.lock().unwrap().clone();
            axum::Json(page).into_response()
        }
    }
}

/// A fresh ES256 signing key.
pub fn signing_key() -> SigningKey {
    SigningKey::generate(SigningAlgorithm::Es256).unwrap().0
}

/// Complete access-token claims for user `sub`, session `sid`, valid for ten minutes.
pub fn claims(sub: &str, sid: &str) -> Value {
    let now = tokenmint::clock::unix_now();
    json!({
        "iss": ISSUER, "sub": sub, "aud": AUDIENCE, "exp": now + 600, "iat": now,
        "jti": format!("jti-{sub}-{sid}"), "client_id": "anonymous", "sid": sid,
        "auth_time": now,
    })
}

/// An access token signed by `key`.
pub fn token(key: &SigningKey, claims: &Value) -> String {
    key.sign_jwt("at+jwt", claims).unwrap()
}

/// A verifier of `upstream`'s JWKS whose HTTP client waits `timeout` for an answer (long in
/// most tests, so that a verifier that waits on the network is caught doing it).
pub fn verifier(upstream: &Upstream, timeout: Duration) -> VerifierBuilder {
    let http = reqwest::Client::builder().timeout(timeout).build().unwrap();
    Verifier::builder(ISSUER)
        .audience(AUDIENCE)
        .jwks_url(upstream.jwks_url())
        .http_client(http)
}

/// Waits (up to 10 s) until `check` holds.
pub async fn until(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
