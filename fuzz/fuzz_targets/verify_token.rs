//! tokenmint-verify's token check (`Verifier::verify`) against a fixed in-memory JWKS of two
//! test keys (ES256 and EdDSA), with no network (`VerifierBuilder::fixed_jwks`). Never a panic
//! and never a hang; the genuine tokens verify; and anything accepted carries exactly the header
//! and claims of a genuine token (its signing input): no forgery gets through.
//!
//! `TOKENMINT_FUZZ_SEEDS=DIR` writes the genuine tokens into DIR at start (how
//! `fuzz/corpus/verify_token/` was seeded).

#![no_main]

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use serde_json::json;
use tokenmint::crypto::signing::{SigningAlgorithm, SigningKey};
use tokenmint_verify::Verifier;

/// Test keys, PKCS#8 (made with `openssl genpkey`); they sign nothing outside this target.
const ES256_PKCS8: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgKqZpI9AiMOviqdsYagqQrDkG/iK1mETAaRKBtmA4SxChRANCAAS/MWLFlmOLnwVc712t4CEZ3yiuDFANmXcSxVtj+I8+NXP8SjHl/XKU6K1KZGbV0orhR5CH7zrfQii8rm1KYCO9";
const EDDSA_PKCS8: &str = "MC4CAQAwBQYDK2VwBCIEIPcA693EiZO8aXdSdSMDNspX/dVhv9JchcmD0sdrnvWG";
const ISSUER: &str = "https://auth.fuzz.test";

struct Target {
    runtime: tokio::runtime::Runtime,
    verifier: Verifier,
    /// `header.claims` of every genuine token.
    signing_inputs: Vec<String>,
}

fn key(algorithm: SigningAlgorithm, pkcs8: &str) -> SigningKey {
    let der = STANDARD.decode(pkcs8).expect("base64");
    SigningKey::from_pkcs8(algorithm, &der).expect("a test key")
}

fn target() -> &'static Target {
    static TARGET: OnceLock<Target> = OnceLock::new();
    TARGET.get_or_init(|| {
        let keys = [
            key(SigningAlgorithm::Es256, ES256_PKCS8),
            key(SigningAlgorithm::EdDsa, EDDSA_PKCS8),
        ];
        let jwks = json!({ "keys": keys.iter().map(SigningKey::public_jwk).collect::<Vec<_>>() });
        let verifier = Verifier::builder(ISSUER)
            .audience("api")
            .fixed_jwks(jwks.to_string())
            .build()
            .expect("a verifier");
        let claims = json!({
            "iss": ISSUER, "sub": "u1", "aud": "api", "exp": 4_000_000_000_i64,
            "iat": 1_700_000_000, "jti": "j1", "client_id": "anonymous",
            "sid": "01890000-0000-7000-8000-000000000000", "auth_time": 1_700_000_000,
            "scope": "read", "labels": ["admin"],
        });
        let tokens: Vec<String> = keys
            .iter()
            .map(|k| k.sign_jwt("at+jwt", &claims).expect("signs"))
            .collect();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        for token in &tokens {
            runtime
                .block_on(verifier.verify(token))
                .expect("a genuine token verifies");
        }
        if let Some(dir) = std::env::var_os("TOKENMINT_FUZZ_SEEDS") {
            for (i, token) in tokens.iter().enumerate() {
                let path = std::path::Path::new(&dir).join(format!("genuine-{i}"));
                std::fs::write(path, token).expect("writes a seed");
            }
        }
        let signing_inputs = tokens
            .iter()
            .map(|t| t.rsplit_once('.').expect("three segments").0.to_owned())
            .collect();
        Target {
            runtime,
            verifier,
            signing_inputs,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let target = target();
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    if target
        .runtime
        .block_on(target.verifier.verify(token))
        .is_ok()
    {
        let input = token.rsplit_once('.').map_or("", |(input, _)| input);
        assert!(
            target.signing_inputs.iter().any(|genuine| genuine == input),
            "accepted a token that no genuine key signed: {token}"
        );
    }
});
