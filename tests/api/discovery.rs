//! The RFC 8414 discovery document at both well-known paths.

use serde_json::Value;

use crate::helpers::{TestApp, TestDb};

#[tokio::test]
async fn discovery_documents_name_the_issuer_exactly_and_every_endpoint() {
    let db = TestDb::sqlite();
    let issuer = "https://auth.example.com/tenant-a/";
    let app = TestApp::spawn(db.config_with(&[("TOKENMINT_ISSUER", issuer)])).await;

    let oauth = app
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    let openid = app.get_json("/.well-known/openid-configuration").await;

    assert_eq!(oauth, openid);
    assert_eq!(oauth["issuer"], issuer);
    let base = "https://auth.example.com/tenant-a";
    assert_eq!(oauth["jwks_uri"], format!("{base}/.well-known/jwks.json"));
    assert_eq!(oauth["token_endpoint"], format!("{base}/oauth/token"));
    assert_eq!(oauth["revocation_endpoint"], format!("{base}/oauth/revoke"));
    assert_eq!(
        oauth["introspection_endpoint"],
        format!("{base}/oauth/introspect")
    );
    let grants: Vec<&str> = oauth["grant_types_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap())
        .collect();
    assert_eq!(
        grants,
        [
            "urn:ietf:params:oauth:grant-type:token-exchange",
            "refresh_token"
        ]
    );
    assert_eq!(
        oauth["token_endpoint_auth_methods_supported"],
        serde_json::json!(["none"])
    );
    assert_eq!(oauth["response_types_supported"], serde_json::json!([]));
}

#[tokio::test]
async fn discovery_lists_the_algorithms_of_the_published_keys() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(db.config_with(&[("TOKENMINT_SIGNING_ALG", "EdDSA")])).await;
    let document: Value = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        document["id_token_signing_alg_values_supported"],
        serde_json::json!(["EdDSA"])
    );
    assert_eq!(document["issuer"], "http://localhost:8080");
}
