//! Verification cost: `Verifier::verify` (keys cached, no revocation feed) against raw
//! `jsonwebtoken::decode` with the same key and the same checks — what the crate adds on top of
//! the signature check (header parse, key lookup, `typ` and `iat` checks). Run:
//! `cargo bench -p tokenmint-verify --bench verify`. Figures: BENCHMARKS.md.

// A benchmark that cannot verify has nothing to measure: failing loudly is the point.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::json;
use tokenmint::crypto::signing::{SigningAlgorithm, SigningKey};
use tokenmint_verify::{Claims, Verifier};

const ISSUER: &str = "https://auth.example.com";

fn claims() -> serde_json::Value {
    json!({
        "iss": ISSUER, "sub": "6541f2c9a1b2c3d4e5f6", "aud": "api",
        "exp": 4_000_000_000u64, "iat": 1_795_350_000u64, "jti": "01a2033f-0101-7300-8b6f-a1b2a5ee24cc",
        "client_id": "mobile", "sid": "01a2033f-00f6-764b-bbea-08c23a9feaf1", "auth_time": 1_795_350_000u64,
        "email": "jane@example.com", "email_verified": true, "name": "Jane", "labels": ["beta"],
    })
}

/// Serves `jwks` (cacheable for an hour) on a loopback port; returns its URL.
fn serve_jwks(runtime: &tokio::runtime::Runtime, jwks: String) -> String {
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let app = Router::new().route(
            "/jwks.json",
            get(move || {
                let jwks = jwks.clone();
                async move { ([(header::CACHE_CONTROL, "max-age=3600")], jwks) }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{address}/jwks.json")
    })
}

fn verification(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    for (algorithm, pinned) in [
        (SigningAlgorithm::Es256, Algorithm::ES256),
        (SigningAlgorithm::EdDsa, Algorithm::EdDSA),
        (SigningAlgorithm::Rs256, Algorithm::RS256),
    ] {
        let (key, _) = SigningKey::generate(algorithm).expect("key");
        let jwks = json!({ "keys": [key.public_jwk()] }).to_string();
        let url = serve_jwks(&runtime, jwks);
        let token = key.sign_jwt("at+jwt", &claims()).expect("token");
        let verifier = runtime.block_on(async {
            let verifier = Verifier::builder(ISSUER)
                .audience("api")
                .jwks_url(url)
                .build()
                .expect("verifier");
            verifier
                .verify(&token)
                .await
                .expect("the first verify fetches the keys");
            verifier
        });
        c.bench_function(&format!("tokenmint-verify {algorithm}"), |b| {
            b.iter(|| runtime.block_on(verifier.verify(&token)).expect("valid"))
        });

        let jwk: Jwk =
            serde_json::from_value(serde_json::to_value(key.public_jwk()).unwrap()).unwrap();
        let decoding = DecodingKey::from_jwk(&jwk).expect("key");
        let mut validation = Validation::new(pinned);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&["api"]);
        validation.leeway = 30;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        c.bench_function(&format!("jsonwebtoken::decode {algorithm}"), |b| {
            b.iter(|| {
                jsonwebtoken::decode::<Claims>(&token, &decoding, &validation).expect("valid")
            })
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = verification
}
criterion_main!(benches);
