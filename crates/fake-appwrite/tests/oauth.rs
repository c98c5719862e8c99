//! The fake's 2026 routes over HTTP: the OAuth2 server's discovery document and JWKS, tokens
//! verified against that JWKS, key rotation, `users.createJWT`, the JWT-from-JWT refusal,
//! `users.get`/`users.listSessions` and `impersonatorUserId`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use tokenmint_fake_appwrite::{
    Failure, FakeAppwrite, OAuthAlgorithm, OAuthTokenKind, OAuthTokenSpec, PROJECT_ID,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An HTTP answer: status, headers (names lower-cased) and the body as JSON (`Null` if not).
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on its own connection (`Connection: close`), `url` absolute.
async fn call(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> Answer {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = TcpStream::connect(host)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = body.unwrap_or("");
    if method != "GET" {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream
        .write_all(request.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {raw:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: serde_json::from_str(body).unwrap_or(Value::Null),
    }
}

async fn get(url: &str, headers: &[(&str, &str)]) -> Answer {
    call("GET", url, headers, None).await
}

fn part(token: &str, index: usize) -> Value {
    let segment = token.split('.').nth(index).unwrap_or_default();
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .unwrap_or_else(|e| panic!("{e}"));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{e}"))
}

fn header_of(token: &str) -> Value {
    part(token, 0)
}

fn claims_of(token: &str) -> Value {
    part(token, 1)
}

async fn jwks(appwrite: &FakeAppwrite) -> Answer {
    get(
        &format!("{}/.well-known/jwks.json", appwrite.oauth_issuer()),
        &[],
    )
    .await
}

/// Verifies an RS256 token against the JWKS key named by its `kid`, for `audience`.
fn verify(
    token: &str,
    jwks: &Value,
    audience: &str,
    issuer: &str,
) -> jsonwebtoken::TokenData<Value> {
    let kid = header_of(token)["kid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let key = jwks["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|key| key["kid"] == kid.as_str()))
        .unwrap_or_else(|| panic!("no key {kid} in {jwks}"));
    let decoding = DecodingKey::from_rsa_components(
        key["n"].as_str().unwrap_or_default(),
        key["e"].as_str().unwrap_or_default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[issuer]);
    jsonwebtoken::decode::<Value>(token, &decoding, &validation).unwrap_or_else(|e| panic!("{e}"))
}

fn session_header(value: &str) -> (&'static str, &str) {
    ("X-Appwrite-Session", value)
}

const PROJECT: (&str, &str) = ("X-Appwrite-Project", PROJECT_ID);

#[tokio::test]
async fn discovery_names_the_jwks_and_needs_no_project_header() {
    let appwrite = FakeAppwrite::start().await;
    let issuer = appwrite.oauth_issuer();
    assert_eq!(issuer, format!("{}/oauth2/{PROJECT_ID}", appwrite.endpoint));

    let answer = get(&format!("{issuer}/.well-known/openid-configuration"), &[]).await;
    assert_eq!(answer.status, 200);
    let document = answer.body;
    assert_eq!(document["issuer"], issuer.as_str());
    assert_eq!(
        document["jwks_uri"],
        format!("{issuer}/.well-known/jwks.json").as_str()
    );
    assert_eq!(
        document["authorization_endpoint"],
        format!("{issuer}/authorize").as_str()
    );
    assert_eq!(
        document["token_endpoint"],
        format!("{issuer}/token").as_str()
    );
    assert_eq!(
        document["userinfo_endpoint"],
        format!("{issuer}/userinfo").as_str()
    );
    assert_eq!(
        document["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    assert_eq!(document["subject_types_supported"], json!(["public"]));
    assert_eq!(
        document["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert!(
        document["claims_supported"]
            .as_array()
            .is_some_and(|claims| claims.contains(&json!("email_verified")))
    );
    assert!(
        document["grant_types_supported"]
            .as_array()
            .is_some_and(|grants| grants.contains(&json!("authorization_code")))
    );
    assert_eq!(appwrite.oauth_discovery_fetches(), 1);
    assert_eq!(appwrite.oauth_jwks_fetches(), 0);

    let other = get(
        &format!(
            "{}/oauth2/other/.well-known/openid-configuration",
            appwrite.endpoint
        ),
        &[],
    )
    .await;
    assert_eq!(other.status, 404);
    assert_eq!(other.body["type"], "project_not_found");
    assert_eq!(appwrite.oauth_discovery_fetches(), 2);
}

#[tokio::test]
async fn an_access_token_verifies_with_the_jwks_key_and_is_at_jwt() {
    let appwrite = FakeAppwrite::start().await;
    appwrite.add_user("u1");
    let token = appwrite.oauth_access_token("u1", "client-a");

    let answer = jwks(&appwrite).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("cache-control"), Some("public, max-age=300"));
    let keys = answer.body["keys"].as_array().cloned().unwrap_or_default();
    assert_eq!(keys.len(), 1);
    let kid = keys[0]["kid"].as_str().unwrap_or_default();
    assert_eq!(kid.len(), 64);
    assert!(
        kid.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    assert_eq!(keys[0]["kty"], "RSA");
    assert_eq!(keys[0]["use"], "sig");
    assert_eq!(keys[0]["alg"], "RS256");
    assert_eq!(keys[0]["e"], "AQAB");

    let header = header_of(&token);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], kid);
    let issuer = appwrite.oauth_issuer();
    let claims = verify(&token, &answer.body, "client-a", &issuer).claims;
    assert_eq!(claims["sub"], "u1");
    assert_eq!(claims["client_id"], "client-a");
    assert_eq!(claims["scope"], "openid profile email");
    let (iat, exp) = (claims["iat"].as_i64(), claims["exp"].as_i64());
    assert_eq!(exp.zip(iat).map(|(exp, iat)| exp - iat), Some(28800));
    assert!(claims["jti"].as_str().is_some_and(|jti| !jti.is_empty()));
    assert_eq!(appwrite.oauth_jwks_fetches(), 1);

    appwrite.set_jwks_max_age(60);
    assert_eq!(
        jwks(&appwrite).await.header("cache-control"),
        Some("public, max-age=60")
    );
    assert_eq!(appwrite.oauth_jwks_fetches(), 2);
}

#[tokio::test]
async fn an_id_token_carries_the_user_and_no_typ() {
    let appwrite = FakeAppwrite::start().await;
    appwrite.add_user("u1");
    let token = appwrite.oauth_id_token("u1", "client-a");
    let header = header_of(&token);
    assert!(header.get("typ").is_none(), "{header}");
    assert_eq!(header["alg"], "RS256");
    let claims = verify(
        &token,
        &jwks(&appwrite).await.body,
        "client-a",
        &appwrite.oauth_issuer(),
    )
    .claims;
    assert_eq!(claims["sub"], "u1");
    assert_eq!(claims["email"], "u1@example.com");
    assert_eq!(claims["email_verified"], true);
    assert_eq!(claims["name"], "User u1");
    assert_eq!(claims["auth_time"], claims["iat"]);
    assert!(claims.get("client_id").is_none());
}

#[tokio::test]
async fn rotation_publishes_the_new_kid_first_and_can_retire_the_old() {
    let appwrite = FakeAppwrite::start().await;
    let old = header_of(&appwrite.oauth_access_token("u1", "c"))["kid"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let new = appwrite.rotate_oauth_key(false);
    assert_ne!(new, old);
    let kids = |body: &Value| -> Vec<String> {
        body["keys"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|key| key["kid"].as_str().map(str::to_owned))
            .collect()
    };
    let body = jwks(&appwrite).await.body;
    assert_eq!(kids(&body), [new.clone(), old.clone()]);
    let token = appwrite.oauth_access_token("u1", "c");
    assert_eq!(header_of(&token)["kid"], new.as_str());
    verify(&token, &body, "c", &appwrite.oauth_issuer());

    let newest = appwrite.rotate_oauth_key(true);
    assert_eq!(kids(&jwks(&appwrite).await.body), [newest]);
}

#[tokio::test]
async fn token_specs_change_what_a_verifier_must_refuse() {
    let appwrite = FakeAppwrite::start().await;
    let body = jwks(&appwrite).await.body;
    let issuer = appwrite.oauth_issuer();

    let mut expired = OAuthTokenSpec::access("u1", "c");
    expired.expires_in = -600;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&["c"]);
    let key = &body["keys"][0];
    let decoding = DecodingKey::from_rsa_components(
        key["n"].as_str().unwrap_or_default(),
        key["e"].as_str().unwrap_or_default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let err =
        jsonwebtoken::decode::<Value>(&appwrite.oauth_token(&expired), &decoding, &validation)
            .err()
            .map(|e| e.into_kind());
    assert!(matches!(
        err,
        Some(jsonwebtoken::errors::ErrorKind::ExpiredSignature)
    ));

    let mut changed = OAuthTokenSpec::access("u1", "c");
    changed.issuer = Some("https://evil.example/v1/oauth2/proj123".into());
    changed.audience = Some("other".into());
    changed.kid = Some("unknown".into());
    changed.typ = Some(None);
    changed.extra_claims.insert("sid".into(), json!("s1"));
    changed.extra_claims.insert("scope".into(), json!("openid"));
    let token = appwrite.oauth_token(&changed);
    let (header, claims) = (header_of(&token), claims_of(&token));
    assert_eq!(header, json!({ "alg": "RS256", "kid": "unknown" }));
    assert_eq!(claims["iss"], "https://evil.example/v1/oauth2/proj123");
    assert_eq!(claims["aud"], "other");
    assert_eq!(claims["client_id"], "c");
    assert_eq!(claims["sid"], "s1");
    assert_eq!(claims["scope"], "openid");

    let mut retyped = OAuthTokenSpec::id("u1", "c");
    retyped.typ = Some(Some("at+jwt".into()));
    appwrite.add_user("u1");
    assert_eq!(header_of(&appwrite.oauth_token(&retyped))["typ"], "at+jwt");
    assert_eq!(retyped.kind, OAuthTokenKind::IdToken);

    let mut none = OAuthTokenSpec::access("u1", "c");
    none.algorithm = OAuthAlgorithm::None;
    let token = appwrite.oauth_token(&none);
    assert!(token.ends_with('.'));
    assert_eq!(header_of(&token)["alg"], "none");

    for algorithm in [
        OAuthAlgorithm::Hs256SignedWithPublicKeyBytes,
        OAuthAlgorithm::Hs256SignedWithModulus,
    ] {
        let mut confused = OAuthTokenSpec::access("u1", "c");
        confused.algorithm = algorithm;
        let token = appwrite.oauth_token(&confused);
        assert_eq!(header_of(&token)["alg"], "HS256");
        assert_eq!(header_of(&token)["typ"], "at+jwt");
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&["c"]);
        validation.set_issuer(&[issuer.as_str()]);
        assert!(jsonwebtoken::decode::<Value>(&token, &decoding, &validation).is_err());
    }
    // The modulus variant is keyed with the JWKS `n` bytes.
    let mut confused = OAuthTokenSpec::access("u1", "c");
    confused.algorithm = OAuthAlgorithm::Hs256SignedWithModulus;
    let token = appwrite.oauth_token(&confused);
    let n = URL_SAFE_NO_PAD
        .decode(key["n"].as_str().unwrap_or_default())
        .unwrap_or_default();
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&["c"]);
    assert!(
        jsonwebtoken::decode::<Value>(&token, &DecodingKey::from_secret(&n), &validation).is_ok()
    );
}

#[tokio::test]
async fn the_oauth_documents_follow_failures_and_are_recorded() {
    let appwrite = FakeAppwrite::start().await;
    appwrite.fail_with(Some(Failure::Status(503)));
    let answer = jwks(&appwrite).await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.body["type"], "general_server_error");
    assert_eq!(appwrite.oauth_jwks_fetches(), 1);
    appwrite.fail_with(None);
    assert_eq!(jwks(&appwrite).await.status, 200);
    let paths: Vec<String> = appwrite.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        vec![format!("/v1/oauth2/{PROJECT_ID}/.well-known/jwks.json"); 2]
    );
}

#[tokio::test]
async fn users_create_jwt_defaults_to_the_most_recent_session() {
    let appwrite = FakeAppwrite::start().await;
    appwrite.add_user("u1");
    let (first, _) = appwrite.create_session("u1");
    let (second, _) = appwrite.create_session("u1");
    let key = appwrite.create_api_key(&["users.write"]);
    let url = format!("{}/users/u1/jwts", appwrite.endpoint);
    let auth = [PROJECT, ("X-Appwrite-Key", key.as_str())];

    let answer = call("POST", &url, &auth, None).await;
    assert_eq!(answer.status, 201);
    let jwt = answer.body["jwt"].as_str().unwrap_or_default().to_owned();
    let claims = claims_of(&jwt);
    assert_eq!(claims["userId"], "u1");
    assert_eq!(claims["sessionId"], second.as_str());
    let exp = claims["exp"].as_i64().unwrap_or_default();

    let chosen = call(
        "POST",
        &url,
        &auth,
        Some(&format!(r#"{{"sessionId":"{first}","duration":60}}"#)),
    )
    .await;
    assert_eq!(chosen.status, 201);
    let claims = claims_of(chosen.body["jwt"].as_str().unwrap_or_default());
    assert_eq!(claims["sessionId"], first.as_str());
    // 900 s by default, 60 s when asked (a few seconds may pass between the two).
    let shorter = exp - claims["exp"].as_i64().unwrap_or_default();
    assert!((835..=840).contains(&shorter), "{shorter}");

    let unknown = call("POST", &url, &auth, Some(r#"{"sessionId":"nope"}"#)).await;
    assert_eq!(
        claims_of(unknown.body["jwt"].as_str().unwrap_or_default())["sessionId"],
        ""
    );

    // A JWT minted by the server works on /v1/account like the app's own.
    let account = get(
        &format!("{}/account", appwrite.endpoint),
        &[PROJECT, ("X-Appwrite-JWT", jwt.as_str())],
    )
    .await;
    assert_eq!(account.status, 200);
    assert_eq!(account.body["$id"], "u1");

    let too_long = call("POST", &url, &auth, Some(r#"{"duration":3601}"#)).await;
    assert_eq!(too_long.status, 400);

    // The same without HTTP.
    assert_eq!(
        claims_of(&appwrite.users_create_jwt("u1", None, None))["sessionId"],
        second.as_str()
    );
    assert_eq!(
        claims_of(&appwrite.users_create_jwt("u1", Some(&first), Some(30)))["sessionId"],
        first.as_str()
    );
}

#[tokio::test]
async fn users_create_jwt_for_a_user_without_sessions_names_no_session_and_still_works() {
    let appwrite = FakeAppwrite::start().await;
    appwrite.add_user("u2");
    let key = appwrite.create_api_key(&["users.write"]);
    let answer = call(
        "POST",
        &format!("{}/users/u2/jwts", appwrite.endpoint),
        &[PROJECT, ("X-Appwrite-Key", key.as_str())],
        Some("{}"),
    )
    .await;
    assert_eq!(answer.status, 201);
    let jwt = answer.body["jwt"].as_str().unwrap_or_default();
    assert_eq!(claims_of(jwt)["sessionId"], "");
    let account = get(
        &format!("{}/account", appwrite.endpoint),
        &[PROJECT, ("X-Appwrite-JWT", jwt)],
    )
    .await;
    assert_eq!(account.status, 200);
    assert_eq!(account.body["impersonatorUserId"], Value::Null);
}

#[tokio::test]
async fn users_create_jwt_refuses_wrong_keys_and_unknown_users() {
    let appwrite = FakeAppwrite::start().await;
    appwrite.add_user("u1");
    let read_only = appwrite.create_api_key(&["users.read"]);
    let write = appwrite.create_api_key(&["users.write"]);
    let url = format!("{}/users/u1/jwts", appwrite.endpoint);
    for headers in [
        vec![PROJECT],
        vec![PROJECT, ("X-Appwrite-Key", "standard_wrong")],
        vec![PROJECT, ("X-Appwrite-Key", read_only.as_str())],
    ] {
        let answer = call("POST", &url, &headers, None).await;
        assert_eq!(answer.status, 401, "{headers:?}");
        assert_eq!(answer.body["type"], "general_unauthorized_scope");
    }
    let missing = call(
        "POST",
        &format!("{}/users/nobody/jwts", appwrite.endpoint),
        &[PROJECT, ("X-Appwrite-Key", write.as_str())],
        None,
    )
    .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["type"], "user_not_found");
    let no_project = call("POST", &url, &[("X-Appwrite-Key", write.as_str())], None).await;
    assert_eq!(no_project.body["type"], "project_not_found");
}

#[tokio::test]
async fn a_jwt_cannot_mint_a_jwt_but_a_session_can() {
    let appwrite = FakeAppwrite::start().await;
    let signed_in = appwrite.signed_in_user("u1");
    let url = format!("{}/account/jwts", appwrite.endpoint);

    let refused = call(
        "POST",
        &url,
        &[PROJECT, ("X-Appwrite-JWT", signed_in.jwt.as_str())],
        None,
    )
    .await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.body["type"], "user_jwt_creation_denied");

    let minted = call(
        "POST",
        &url,
        &[PROJECT, session_header(&signed_in.session_value)],
        Some(r#"{"duration":120}"#),
    )
    .await;
    assert_eq!(minted.status, 201);
    let claims = claims_of(minted.body["jwt"].as_str().unwrap_or_default());
    assert_eq!(claims["userId"], "u1");
    assert_eq!(claims["sessionId"], signed_in.session_id.as_str());

    let guest = call("POST", &url, &[PROJECT], None).await;
    assert_eq!(guest.status, 401);
}

#[tokio::test]
async fn impersonator_user_id_appears_for_the_marked_session_and_its_jwts() {
    let appwrite = FakeAppwrite::start().await;
    let target = appwrite.signed_in_user("u1");
    let (_, other_value) = appwrite.create_session("u1");
    let account_url = format!("{}/account", appwrite.endpoint);

    let plain = get(
        &account_url,
        &[PROJECT, ("X-Appwrite-JWT", target.jwt.as_str())],
    )
    .await;
    assert_eq!(plain.status, 200);
    assert!(
        plain
            .body
            .get("impersonatorUserId")
            .is_some_and(Value::is_null)
    );

    appwrite.impersonate(&target.session_id, "admin1");
    for auth in [
        ("X-Appwrite-JWT", target.jwt.as_str()),
        session_header(&target.session_value),
    ] {
        let answer = get(&account_url, &[PROJECT, auth]).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body["impersonatorUserId"], "admin1");
    }
    let other = get(&account_url, &[PROJECT, session_header(&other_value)]).await;
    assert_eq!(other.body["impersonatorUserId"], Value::Null);

    // The response format header changes nothing.
    let formatted = get(
        &account_url,
        &[
            PROJECT,
            session_header(&other_value),
            ("X-Appwrite-Response-Format", "1.8.0"),
        ],
    )
    .await;
    assert_eq!(formatted.body, other.body);
}

#[tokio::test]
async fn users_get_and_list_sessions_with_a_read_key() {
    let appwrite = FakeAppwrite::start().await;
    appwrite.add_user("u1");
    let (first, _) = appwrite.create_session("u1");
    let (second, _) = appwrite.create_session("u1");
    appwrite.add_user("u2");
    appwrite.create_session("u2");
    let key = appwrite.create_api_key(&["users.read"]);
    let auth = [PROJECT, ("X-Appwrite-Key", key.as_str())];

    let user = get(&format!("{}/users/u1", appwrite.endpoint), &auth).await;
    assert_eq!(user.status, 200);
    assert_eq!(user.body["$id"], "u1");
    assert_eq!(user.body["email"], "u1@example.com");
    assert_eq!(user.body["emailVerification"], true);
    assert_eq!(user.body["labels"], json!(["beta"]));
    assert!(
        user.body
            .get("impersonatorUserId")
            .is_some_and(Value::is_null)
    );

    let sessions = get(&format!("{}/users/u1/sessions", appwrite.endpoint), &auth).await;
    assert_eq!(sessions.status, 200);
    assert_eq!(sessions.body["total"], 2);
    let listed = sessions.body["sessions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ids: Vec<&str> = listed.iter().filter_map(|s| s["$id"].as_str()).collect();
    assert_eq!(ids, [first.as_str(), second.as_str()]);
    assert!(
        listed
            .iter()
            .all(|s| s["secret"] == "" && s["userId"] == "u1")
    );
    assert!(listed.iter().all(|s| s["factors"] == json!(["password"])));

    let missing = get(&format!("{}/users/nobody", appwrite.endpoint), &auth).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["type"], "user_not_found");
    let write_only = appwrite.create_api_key(&["users.write"]);
    let refused = get(
        &format!("{}/users/u1/sessions", appwrite.endpoint),
        &[PROJECT, ("X-Appwrite-Key", write_only.as_str())],
    )
    .await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.body["type"], "general_unauthorized_scope");
}
