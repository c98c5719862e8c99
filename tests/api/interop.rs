//! Tokens issued by the real server, verified by libraries nobody here wrote: PyJWT
//! (`PyJWKClient` on the JWKS URL from the discovery document) and Node's `jose`
//! (`createRemoteJWKSet`), for every signing algorithm; a tampered token and one signed by an
//! unpublished key must be rejected by both.
//!
//! `.ci/run` installs both and sets `TOKENMINT_INTEROP=required`, so in CI a missing tool fails
//! the test. Elsewhere (a plain `cargo test` without them) the test says it was skipped.

use std::path::Path;
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use tokenmint::crypto::signing::{SigningAlgorithm, SigningKey};

use crate::helpers::Backend;
use crate::oauth_helpers::Harness;

fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn missing_tools() -> Option<String> {
    let python = Command::new("python3")
        .args(["-c", "import jwt, cryptography"])
        .output();
    if !python.is_ok_and(|o| o.status.success()) {
        return Some("python3 with pyjwt[crypto] (pip install -r interop/requirements.txt)".into());
    }
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success())
        || !repository().join("interop/node_modules/jose").is_dir()
    {
        return Some("node with jose (npm install --prefix interop)".into());
    }
    None
}

/// Runs a verifier script off the test's async thread (the server under test shares it).
async fn run(program: &'static str, script: &'static str, issuer: &str, cases: &Path) {
    let args = [
        script.to_owned(),
        issuer.to_owned(),
        "api".to_owned(),
        cases.to_str().unwrap().to_owned(),
    ];
    let output = tokio::task::spawn_blocking(move || {
        Command::new(program)
            .current_dir(repository())
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    print!("{stdout}");
    assert!(
        output.status.success(),
        "{script} disagreed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn pyjwt_and_jose_verify_tokens_of_every_algorithm() {
    if let Some(missing) = missing_tools() {
        assert!(
            std::env::var("TOKENMINT_INTEROP").as_deref() != Ok("required"),
            "interop tools missing: {missing}"
        );
        eprintln!("interop test skipped: missing {missing}");
        return;
    }
    for algorithm in SigningAlgorithm::ALL {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let issuer = format!("http://127.0.0.1:{port}");
        let listen = format!("127.0.0.1:{port}");
        let settings = [
            ("TOKENMINT_SIGNING_ALG", algorithm.as_str()),
            ("TOKENMINT_ISSUER", issuer.as_str()),
            ("TOKENMINT_LISTEN", listen.as_str()),
        ];
        let harness = Harness::start_with(Backend::Sqlite, &settings).await;
        let issued = harness.login("u1").await;
        let header = jsonwebtoken::decode_header(&issued.access_token).unwrap();
        assert_eq!(format!("{:?}", header.alg), algorithm.as_str());

        // Another user's id in the payload, re-encoded, with the original signature.
        let parts: Vec<&str> = issued.access_token.split('.').collect();
        let mut forged_payload =
            jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(&issued.access_token)
                .unwrap()
                .claims;
        forged_payload["sub"] = json!("admin");
        let forged = URL_SAFE_NO_PAD.encode(forged_payload.to_string());
        let tampered = format!("{}.{forged}.{}", parts[0], parts[2]);
        let (stranger, _) = SigningKey::generate(algorithm).unwrap();
        let payload =
            jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(&issued.access_token)
                .unwrap()
                .claims;
        let cases = json!([
            { "name": format!("{algorithm} issued token"), "token": issued.access_token, "valid": true },
            { "name": format!("{algorithm} tampered payload"), "token": tampered, "valid": false },
            { "name": format!("{algorithm} unpublished key"), "token": stranger.sign_jwt("at+jwt", &payload).unwrap(), "valid": false },
        ]);
        let path = harness.db.dir.path().join("cases.json");
        std::fs::write(&path, cases.to_string()).unwrap();

        run("python3", "interop/verify_pyjwt.py", &issuer, &path).await;
        run("node", "interop/verify_jose.mjs", &issuer, &path).await;
    }
}
