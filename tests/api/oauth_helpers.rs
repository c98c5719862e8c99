//! Helpers for OAuth tests: a server wired to a fake Appwrite, grant calls, token checks.

use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::helpers::{Backend, TestApp, TestDb};
use tokenmint::clock::Clock;
use tokenmint_fake_appwrite::{FakeAppwrite, PROJECT_ID, SignedIn};

pub const JWT_TYPE: &str = "urn:tokenmint:params:token-type:appwrite-jwt";
pub const SESSION_TYPE: &str = "urn:tokenmint:params:token-type:appwrite-session";
pub const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// A server on its own database, wired to a fake Appwrite, with short Appwrite timeouts.
pub struct Harness {
    pub db: TestDb,
    pub appwrite: FakeAppwrite,
    pub app: TestApp,
}

impl Harness {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, &[]).await
    }

    pub async fn start_with(backend: Backend, extra: &[(&str, &str)]) -> Self {
        Self::start_on(TestDb::new(backend).await, extra).await
    }

    /// A server on a database the test prepared.
    pub async fn start_on(db: TestDb, extra: &[(&str, &str)]) -> Self {
        Self::start_reloading(db, extra, None).await
    }

    /// A server that re-reads its keys every `reload` (tests default to 100 ms; production
    /// reloads every 30 s, so background statements rarely run beside the requests).
    pub async fn start_reloading(
        db: TestDb,
        extra: &[(&str, &str)],
        reload: Option<Duration>,
    ) -> Self {
        let appwrite = FakeAppwrite::start().await;
        let mut config = db.config_with(&borrowed(&harness_env(&appwrite, extra)));
        if let Some(reload) = reload {
            config.key_reload_interval = reload;
        }
        let app = TestApp::spawn(config).await;
        Self { db, appwrite, app }
    }

    /// A server beside a fake Appwrite the test prepared (e.g. one whose API key the
    /// configuration names).
    pub async fn start_beside(
        backend: Backend,
        appwrite: FakeAppwrite,
        extra: &[(&str, &str)],
    ) -> Self {
        let db = TestDb::new(backend).await;
        let config = db.config_with(&borrowed(&harness_env(&appwrite, extra)));
        let app = TestApp::spawn(config).await;
        Self { db, appwrite, app }
    }

    /// A second replica on the same database, fake Appwrite and manual clock.
    pub async fn replica_on_same_clock(&self, extra: &[(&str, &str)]) -> TestApp {
        let config = self
            .db
            .config_with(&borrowed(&harness_env(&self.appwrite, extra)));
        TestApp::spawn_with_clock(config, std::sync::Arc::clone(&self.app.clock)).await
    }

    /// A server on the wall clock (see [`TestApp::spawn_on_system_clock`]).
    pub async fn start_on_system_clock(backend: Backend, extra: &[(&str, &str)]) -> Self {
        let db = TestDb::new(backend).await;
        let appwrite = FakeAppwrite::start().await;
        let config = db.config_with(&borrowed(&harness_env(&appwrite, extra)));
        let app = TestApp::spawn_on_system_clock(config).await;
        Self { db, appwrite, app }
    }

    /// Another server on the same database and fake Appwrite (a second replica).
    pub async fn replica(&self) -> TestApp {
        self.replica_with(&[], None).await
    }

    /// A replica with extra settings and, optionally, another periodic key-reload interval.
    pub async fn replica_with(&self, extra: &[(&str, &str)], reload: Option<Duration>) -> TestApp {
        let mut config = self
            .db
            .config_with(&borrowed(&harness_env(&self.appwrite, extra)));
        if let Some(reload) = reload {
            config.key_reload_interval = reload;
        }
        TestApp::spawn(config).await
    }

    /// Ends the server (a crash when `crash`, else a graceful stop) and starts another on the
    /// same database and fake Appwrite, `after` later on its clock, as a replacement started
    /// that much later would be.
    pub async fn restart(self, crash: bool, after: Duration, extra: &[(&str, &str)]) -> Self {
        let Self { db, appwrite, app } = self;
        let ended_at = app.clock.now();
        if crash {
            app.crash().await;
        } else {
            app.stop().await;
        }
        let clock = std::sync::Arc::new(tokenmint::clock::ManualClock::new(
            ended_at + chrono::Duration::from_std(after).unwrap(),
        ));
        let config = db.config_with(&borrowed(&harness_env(&appwrite, extra)));
        let app = TestApp::spawn_with_clock(config, clock).await;
        Self { db, appwrite, app }
    }

    /// The stored session `id`, read as another process would; panics if there is none.
    pub async fn session(&self, id: uuid::Uuid) -> tokenmint::domain::model::sessions::Session {
        self.db
            .open()
            .await
            .store()
            .find_session(id)
            .await
            .unwrap()
            .expect("the session row exists")
    }

    /// The session id (`sid`) of an access token, read from its verified claims.
    pub async fn session_id(&self, access_token: &str) -> String {
        let claims = self.app.verify_access_token(access_token, "api").await;
        claims["sid"]
            .as_str()
            .expect("an access token names its session")
            .to_owned()
    }

    /// The stored session an access token belongs to.
    pub async fn session_of(
        &self,
        access_token: &str,
    ) -> tokenmint::domain::model::sessions::Session {
        let id = self.session_id(access_token).await;
        self.session(id.parse().expect("sid is a UUID")).await
    }

    /// Signs a user in with Appwrite and exchanges the JWT; panics unless it succeeds.
    pub async fn login(&self, user_id: &str) -> Tokens {
        let signed_in = self.appwrite.signed_in_user(user_id);
        tokens(self.app.exchange(JWT_TYPE, &signed_in.jwt, &[]).await).await
    }

    pub fn signed_in(&self, user_id: &str) -> SignedIn {
        self.appwrite.signed_in_user(user_id)
    }

    /// The stored family (session and token state) of a refresh token, read directly.
    pub async fn token_family(&self, refresh_token: &str) -> tokenmint::domain::ports::TokenFamily {
        let token = tokenmint::domain::token::RefreshToken::parse(refresh_token).unwrap();
        self.db
            .open()
            .await
            .store()
            .token_family(&token.family(), &token.hash())
            .await
            .unwrap()
            .expect("the token's family is stored")
    }

    /// Counts rows of a table directly in the database.
    pub async fn count(&self, sql: &'static str) -> i64 {
        count_rows(&self.db, sql).await
    }
}

fn harness_env(appwrite: &FakeAppwrite, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("APPWRITE_ENDPOINT", appwrite.endpoint.as_str()),
        ("APPWRITE_PROJECT_ID", PROJECT_ID),
        ("TOKENMINT_APPWRITE_TIMEOUT", "1s"),
        ("TOKENMINT_APPWRITE_CONNECT_TIMEOUT", "500ms"),
        ("TOKENMINT_AUDIENCES", "api,orders"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    env.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    env
}

fn borrowed(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

pub async fn count_rows(db: &TestDb, sql: &'static str) -> i64 {
    use sqlx::Connection;
    match db.backend {
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&mut c)
                .await
                .unwrap()
        }
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&mut c)
                .await
                .unwrap()
        }
    }
}

/// A successful token response.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
    pub body: Value,
}

/// Asserts a 200 token response and returns it.
pub async fn tokens(response: reqwest::Response) -> Tokens {
    let status = response.status();
    let cache_control = response.headers().get("cache-control").cloned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(cache_control.unwrap(), "no-store");
    assert_eq!(body["token_type"], "Bearer");
    Tokens {
        access_token: body["access_token"].as_str().unwrap().to_owned(),
        refresh_token: body["refresh_token"].as_str().unwrap().to_owned(),
        expires_in: body["expires_in"].as_i64().unwrap(),
        body,
    }
}

/// Asserts an RFC 6749 error response and returns (status, error code, body).
pub async fn oauth_error(response: reqwest::Response) -> (u16, String, Value) {
    let status = response.status().as_u16();
    assert_ne!(status, 200);
    assert_eq!(
        response.headers()["cache-control"],
        "no-store",
        "status {status}"
    );
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let body: Value = response.json().await.unwrap();
    assert!(body["error_description"].is_string(), "{body}");
    (status, body["error"].as_str().unwrap().to_owned(), body)
}

impl TestApp {
    pub async fn post_form(&self, path: &str, params: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .form(params)
            .send()
            .await
            .unwrap()
    }

    pub async fn exchange(
        &self,
        token_type: &str,
        subject_token: &str,
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut params = vec![
            ("grant_type", EXCHANGE),
            ("subject_token", subject_token),
            ("subject_token_type", token_type),
        ];
        params.extend_from_slice(extra);
        self.post_form("/oauth/token", &params).await
    }

    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.refresh_with(refresh_token, &[]).await
    }

    pub async fn refresh_with(
        &self,
        refresh_token: &str,
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut params = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        params.extend_from_slice(extra);
        self.post_form("/oauth/token", &params).await
    }

    /// Verifies an access token against the published JWKS with the JWK's algorithm pinned,
    /// checking `typ`, `iss` and `aud`; returns its claims.
    pub async fn verify_access_token(&self, token: &str, audience: &str) -> Value {
        let jwks: JwkSet = self
            .get("/.well-known/jwks.json")
            .await
            .json()
            .await
            .unwrap();
        let header = jsonwebtoken::decode_header(token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        let jwk = jwks
            .find(header.kid.as_deref().unwrap())
            .expect("kid is published");
        let algorithm: Algorithm = jwk
            .common
            .key_algorithm
            .unwrap()
            .to_string()
            .parse()
            .unwrap();
        let mut validation = Validation::new(algorithm);
        validation.set_audience(&[audience]);
        validation.set_issuer(&["http://localhost:8080"]);
        jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .unwrap()
            .claims
    }
}

/// Advances the server's clock.
pub fn advance(app: &TestApp, by: Duration) {
    app.clock.advance(chrono::Duration::from_std(by).unwrap());
}
