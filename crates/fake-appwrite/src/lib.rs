//! A fake Appwrite for tokenmint's integration tests, its load driver (`tokenmint-bench`) and
//! its demo.
//!
//! **This is not Appwrite.** It is a small stand-in that follows `shared/appwrite-contract.md`
//! (what tokenmint relies on: `GET /v1/account` and `GET /v1/account/sessions/current`) and,
//! for what Appwrite added in 2026, `docs/appwrite-2026.md` §1–§3; not Appwrite's code. Where
//! Appwrite differs from the contract, the contract wins here. Users, sessions, API keys and
//! signing keys live in memory, and nothing is persisted.
//!
//! A real HTTP server on `127.0.0.1`, port 0:
//!
//! - §1.1 resolution: project from `X-Appwrite-Project` (missing, empty or unknown: 404
//!   `project_not_found`); the `a_session_<project>` cookie, then `X-Appwrite-Session` (base64
//!   of `{"id","secret"}`; an invalid value makes the caller a guest); then `X-Appwrite-JWT`
//!   (403 `user_jwt_and_cookie_set` beside a session; 401 `user_jwt_invalid` for a bad
//!   signature, expiry or malformed token; a JWT whose session is gone or expired makes a
//!   guest, as on `main`; a JWT whose `sessionId` is `""`, as `users.createJWT` mints for a
//!   user without sessions, is the user's until it expires: appwrite-2026 §2); an
//!   `X-Appwrite-Key` makes the `applications` role.
//! - then the checks in order: guest or key → 401 `general_unauthorized_scope`; blocked → 403
//!   `user_blocked`; forced reset → 412 `user_password_reset_required`; MFA with fewer than two
//!   factors on a session (not a JWT) → 401 `user_more_factors_required`.
//! - §2 models with their field names (`serde_json` orders keys alphabetically, not in model
//!   order; the contract says clients must not depend on order anyway); §3.1 error bodies
//!   `{message, code, type, version}` with `Cache-Control: no-cache, no-store, must-revalidate`.
//! - `/account/sessions/current` with only a JWT: 404 `user_session_not_found` (§2.2).
//!
//! Routes:
//!
//! - `GET /v1/account`, `GET /v1/account/sessions/current` (the contract). The Account answer
//!   always has `impersonatorUserId`: `null`, or the impersonator's id when the session (or the
//!   session a JWT names) was marked by [`FakeAppwrite::impersonate`] (appwrite-2026 §3).
//! - `POST /v1/account/jwts` (`account.createJWT`; JSON body `{duration?}`, 0–3600, default
//!   900): 201 `{jwt}` for a session caller; 403 `user_jwt_creation_denied` when the request is
//!   authorized with an `X-Appwrite-JWT` (appwrite-2026 §2, appwrite/appwrite#13190).
//! - `POST /v1/users/{userId}/jwts` (`users.createJWT`, API key with `users.write`; JSON body
//!   `{sessionId?, duration?}`): `sessionId` defaults to `recent`, the user's most recently
//!   created session; an id matching none of the user's sessions, or a user without sessions,
//!   gives the claim `""`. 201 `{jwt}`, signed like `account.createJWT`; 404 `user_not_found`
//!   (appwrite-2026 §2, `Users/Http/Users/JWTs/Create.php`).
//! - `GET /v1/users/{userId}` (User model) and `GET /v1/users/{userId}/sessions` (`{total,
//!   sessions}`: the user's whole `sessions` array, expired sessions included, as Appwrite
//!   keeps it until its maintenance purge; `current` false, `secret` blank), API key with
//!   `users.read` (appwrite-2026 §3, §5). API-key routes answer 401 `general_unauthorized_scope` to a missing or
//!   unknown key, or a key without the scope.
//! - The OAuth2/OpenID Connect server's public documents, with issuer
//!   `{endpoint}/oauth2/<projectId>` (appwrite-2026 §1, from the captured Cloud console
//!   documents): `GET /v1/oauth2/{project}/.well-known/openid-configuration` and
//!   `GET /v1/oauth2/{project}/.well-known/jwks.json` (RSA keys, `kid` the hex SHA-256 of the
//!   DER public key, `Cache-Control: public, max-age=300` unless changed). They need no
//!   `X-Appwrite-Project`; another project in the path is 404 `project_not_found`. The fake
//!   has no authorize or token endpoint: tests mint RS256 access tokens (`typ` `at+jwt`) and
//!   ID tokens with [`FakeAppwrite::oauth_token`] and its shorthands. The RSA key is generated
//!   on first use, so tests that do not use OAuth pay nothing.
//!
//! `X-Appwrite-Response-Format` changes no answer (it is recorded like every header).
//!
//! Callers control users, sessions, latency and failures (5xx, garbage bodies, 429, dropped
//! connections) and can read every request the fake received (kept in memory for the fake's
//! whole life). Failures, latency and held answers apply to every route alike.
//!
//! Being test support, the fake panics (with a message) where a test would fail anyway: when
//! it cannot listen, or when told to change a user that does not exist.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::KeyPair as _;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Map, Value, json};
use tokio::net::{TcpListener, TcpStream};

/// The project the fake serves.
pub const PROJECT_ID: &str = "proj123";
/// Appwrite's instance secret for HS256 JWTs (`_APP_OPENSSL_KEY_V1`), known only to the fake.
const INSTANCE_SECRET: &[u8] = b"fake-appwrite-instance-secret";
const VERSION: &str = "1.9.6";
const DATETIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.3f+00:00";
/// `Cache-Control: max-age` of the JWKS unless [`FakeAppwrite::set_jwks_max_age`] changes it.
const DEFAULT_JWKS_MAX_AGE: u64 = 300;
/// The scopes of the OAuth2 server's access tokens (`openid`, `profile` and `email` are always
/// granted: appwrite-2026 §1).
const OAUTH_SCOPE: &str = "openid profile email";

/// A user of the fake project.
#[derive(Debug, Clone)]
pub struct FakeUser {
    /// `$id`.
    pub id: String,
    /// `name`.
    pub name: String,
    /// `email`.
    pub email: String,
    /// `emailVerification`.
    pub email_verification: bool,
    /// `status`: `false` means blocked (403 `user_blocked`).
    pub status: bool,
    /// `labels`.
    pub labels: Vec<String>,
    /// Appwrite's `reset` flag: a forced password reset (412).
    pub password_reset: bool,
    /// `mfa`: sessions with fewer than two factors are refused (JWTs are not).
    pub mfa: bool,
    /// `$updatedAt`, as Appwrite formats datetimes.
    pub updated_at: String,
    /// When set, the `name` member exactly as written between its quotes in the JSON answer,
    /// escapes included: text a JSON encoder would never produce from valid Unicode, such as
    /// a lone UTF-16 surrogate `\ud800` (which Appwrite has been seen to send).
    pub raw_name_json: Option<String>,
}

#[derive(Debug, Clone)]
struct FakeSession {
    id: String,
    user_id: String,
    secret: String,
    expire: i64,
    factors: Vec<String>,
    /// Unix time of creation (`$createdAt`).
    created_at: i64,
    /// Creation order among all sessions: `users.createJWT`'s `recent` is the user's highest.
    order: u64,
}

/// A failure the fake answers with instead of the real answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// That HTTP status (5xx) with Appwrite's error body.
    Status(u16),
    /// 200 with a body that is not JSON.
    Garbage,
    /// 429 `general_rate_limit_exceeded`.
    RateLimited,
    /// Accept the connection and close it without a response.
    DropConnection,
    /// 200 with a `Content-Length` the body never reaches: the connection closes mid-body.
    Truncated,
}

/// A request the fake received: its path and headers.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    /// The path, e.g. `/v1/account`.
    pub path: String,
    /// Every header, as received.
    pub headers: HeaderMap,
}

#[derive(Default)]
struct FakeState {
    users: HashMap<String, FakeUser>,
    sessions: HashMap<String, FakeSession>,
    failure: Option<Failure>,
    latency: Duration,
    requests: Vec<SeenRequest>,
    dropped_connections: usize,
    /// While set to `false`, every answer waits until it turns `true` (see `hold_answers`).
    gate: Option<tokio::sync::watch::Receiver<bool>>,
    /// `http://127.0.0.1:PORT/v1`.
    endpoint: String,
    /// Sessions created so far (the next session's `order`).
    sessions_created: u64,
    /// Appwrite session id → the id of the user who started the impersonation.
    impersonations: HashMap<String, String>,
    /// API key → its scopes.
    api_keys: HashMap<String, Vec<String>>,
    /// The OAuth2 server's signing keys, newest (the signing one) first; empty until first use.
    oauth_keys: Vec<Arc<OAuthKey>>,
    /// `None`: [`DEFAULT_JWKS_MAX_AGE`].
    jwks_max_age: Option<u64>,
    jwks_fetches: usize,
    discovery_fetches: usize,
}

/// An RSA signing key of the OAuth2 server.
struct OAuthKey {
    kid: String,
    pair: KeyPair,
    /// The public modulus and exponent, big-endian without leading zeros.
    n: Vec<u8>,
    e: Vec<u8>,
    /// The public key as PEM (`BEGIN PUBLIC KEY`, SubjectPublicKeyInfo).
    pem: String,
}

/// Which OAuth2-server token [`FakeAppwrite::oauth_token`] mints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthTokenKind {
    /// An access token: header `typ` `at+jwt`; claims `iss`, `sub`, `aud`, `client_id`,
    /// `scope`, `iat`, `exp`, `jti`.
    AccessToken,
    /// An ID token: no header `typ`; claims `iss`, `sub`, `aud`, `iat`, `exp`, `auth_time`,
    /// `email`, `email_verified`, `name`.
    IdToken,
}

/// How [`FakeAppwrite::oauth_token`] signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthAlgorithm {
    /// RS256 with the current signing key, as Appwrite signs.
    Rs256,
    /// The algorithm-confusion attack: `alg` `HS256`, keyed with the current public key's PEM
    /// text (`-----BEGIN PUBLIC KEY-----`, SubjectPublicKeyInfo, 64-column lines, final
    /// newline), which a verifier that takes the key material for whatever `alg` says would
    /// accept.
    Hs256SignedWithPublicKeyBytes,
    /// The same attack keyed with the raw modulus `n` (big-endian bytes).
    Hs256SignedWithModulus,
    /// `alg` `none` and an empty signature (`header.claims.`).
    None,
}

/// Which OAuth2-server token to mint, and with what changes to Appwrite's defaults.
#[derive(Debug, Clone)]
pub struct OAuthTokenSpec {
    /// Access or ID token.
    pub kind: OAuthTokenKind,
    /// `sub`.
    pub user_id: String,
    /// The OAuth client: `aud` (unless `audience`) and, in access tokens, `client_id`.
    pub client_id: String,
    /// Replaces `iss` (default [`FakeAppwrite::oauth_issuer`]).
    pub issuer: Option<String>,
    /// Replaces `aud` (default the client id).
    pub audience: Option<String>,
    /// `exp` − now, in seconds; negative for an expired token. Default 28800 (access) or 3600
    /// (ID).
    pub expires_in: i64,
    /// Replaces the header `kid` (default the current key's), e.g. with a kid no JWKS lists.
    pub kid: Option<String>,
    /// How to sign (default RS256).
    pub algorithm: OAuthAlgorithm,
    /// Replaces the header `typ`: `Some(Some(t))` sets it, `Some(None)` removes it. Default
    /// `at+jwt` for access tokens, none for ID tokens.
    pub typ: Option<Option<String>>,
    /// Claims merged in last (they replace defaults of the same name), e.g. `sid` or `act`.
    pub extra_claims: Map<String, Value>,
}

impl OAuthTokenSpec {
    /// Appwrite's access token for `user_id`, issued to `client_id`.
    pub fn access(user_id: &str, client_id: &str) -> Self {
        Self::new(OAuthTokenKind::AccessToken, user_id, client_id, 28800)
    }

    /// Appwrite's ID token for `user_id`, issued to `client_id`.
    pub fn id(user_id: &str, client_id: &str) -> Self {
        Self::new(OAuthTokenKind::IdToken, user_id, client_id, 3600)
    }

    fn new(kind: OAuthTokenKind, user_id: &str, client_id: &str, expires_in: i64) -> Self {
        Self {
            kind,
            user_id: user_id.to_owned(),
            client_id: client_id.to_owned(),
            issuer: None,
            audience: None,
            expires_in,
            kid: None,
            algorithm: OAuthAlgorithm::Rs256,
            typ: None,
            extra_claims: Map::new(),
        }
    }
}

/// The running fake.
#[derive(Clone)]
pub struct FakeAppwrite {
    /// The API base, as `APPWRITE_ENDPOINT` takes it: `http://127.0.0.1:PORT/v1`.
    pub endpoint: String,
    state: Arc<Mutex<FakeState>>,
}

impl FakeAppwrite {
    /// Starts the fake on `127.0.0.1`, port 0, serving from a task of the current Tokio
    /// runtime (which must have the I/O and time drivers enabled).
    ///
    /// # Panics
    /// When it cannot listen on loopback.
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(FakeState::default()));
        let inner = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|err| panic!("the fake Appwrite cannot listen on 127.0.0.1: {err}"));
        let address = inner
            .local_addr()
            .unwrap_or_else(|err| panic!("the fake Appwrite has no local address: {err}"));
        let listener = DroppingListener {
            inner,
            state: Arc::clone(&state),
        };
        let router = Router::new()
            .route("/v1/account", get(get_account))
            .route("/v1/account/sessions/current", get(get_current_session))
            .route("/v1/account/jwts", post(create_account_jwt))
            .route("/v1/users/{user_id}", get(get_user))
            .route("/v1/users/{user_id}/sessions", get(list_user_sessions))
            .route("/v1/users/{user_id}/jwts", post(create_user_jwt))
            .route(
                "/v1/oauth2/{project}/.well-known/openid-configuration",
                get(get_openid_configuration),
            )
            .route("/v1/oauth2/{project}/.well-known/jwks.json", get(get_jwks))
            .with_state(Arc::clone(&state));
        tokio::spawn(async move { axum::serve(listener, router).await });
        let endpoint = format!("http://{address}/v1");
        lock(&state).endpoint.clone_from(&endpoint);
        Self { endpoint, state }
    }

    fn with<T>(&self, f: impl FnOnce(&mut FakeState) -> T) -> T {
        f(&mut lock(&self.state))
    }

    /// Adds a user with an email, a name and the label `beta`.
    pub fn add_user(&self, id: &str) -> FakeUser {
        let user = FakeUser {
            id: id.to_owned(),
            name: format!("User {id}"),
            email: format!("{id}@example.com"),
            email_verification: true,
            status: true,
            labels: vec!["beta".into()],
            password_reset: false,
            mfa: false,
            updated_at: "2026-08-02T08:00:00.000+00:00".into(),
            raw_name_json: None,
        };
        self.with(|s| s.users.insert(id.to_owned(), user.clone()));
        user
    }

    /// Changes a user in place (block it, force a password reset, turn MFA on, …).
    ///
    /// # Panics
    /// When there is no user `id`.
    pub fn update_user(&self, id: &str, change: impl FnOnce(&mut FakeUser)) {
        self.with(|s| match s.users.get_mut(id) {
            Some(user) => change(user),
            None => panic!("the fake Appwrite has no user {id}"),
        });
    }

    /// Deletes a user and every session of theirs.
    pub fn delete_user(&self, id: &str) {
        self.with(|s| {
            s.users.remove(id);
            s.sessions.retain(|_, session| session.user_id != id);
        });
    }

    /// Creates a session (as email/password login would) and returns its id and the session
    /// value an app holds (the `a_session_<project>` cookie value).
    pub fn create_session(&self, user_id: &str) -> (String, String) {
        let id = format!("s{}", uuid::Uuid::now_v7().simple());
        let secret: String = (0..4)
            .map(|_| uuid::Uuid::new_v4().simple().to_string())
            .collect::<String>()
            .repeat(2);
        let value = STANDARD.encode(json!({ "id": user_id, "secret": secret }).to_string());
        self.with(|s| {
            s.sessions_created += 1;
            let session = FakeSession {
                id: id.clone(),
                user_id: user_id.to_owned(),
                secret,
                expire: now() + 365 * 86400,
                factors: vec!["password".into()],
                created_at: now(),
                order: s.sessions_created,
            };
            s.sessions.insert(id.clone(), session)
        });
        (id, value)
    }

    /// Makes a session expire now (Appwrite emits no event for that, and keeps listing it
    /// until its maintenance purge).
    pub fn expire_session(&self, session_id: &str) {
        self.with(|s| {
            if let Some(session) = s.sessions.get_mut(session_id) {
                session.expire = now() - 1;
            }
        });
    }

    /// Deletes a session (as logging out would).
    pub fn delete_session(&self, session_id: &str) {
        self.with(|s| {
            s.sessions.remove(session_id);
            s.impersonations.remove(session_id);
        });
    }

    /// Marks the Appwrite session `appwrite_session_id` as an impersonation started by
    /// `impersonator_user_id`: `GET /v1/account` authenticated by that session, or by a JWT
    /// naming it, then answers with `"impersonatorUserId": "<impersonator_user_id>"`.
    pub fn impersonate(&self, appwrite_session_id: &str, impersonator_user_id: &str) {
        self.with(|s| {
            s.impersonations.insert(
                appwrite_session_id.to_owned(),
                impersonator_user_id.to_owned(),
            )
        });
    }

    /// An API key with `scopes` (e.g. `["users.read", "users.write"]`), accepted in
    /// `X-Appwrite-Key`.
    pub fn create_api_key(&self, scopes: &[&str]) -> String {
        let key = format!(
            "standard_{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let scopes = scopes.iter().map(|&scope| scope.to_owned()).collect();
        self.with(|s| s.api_keys.insert(key.clone(), scopes));
        key
    }

    /// What `users.createJWT` (`POST /v1/users/{userId}/jwts`) answers, without HTTP:
    /// `session_id` `None` is `recent` (the user's most recently created session), an id that
    /// is none of the user's sessions gives `sessionId` `""`; `duration` `None` is 900 s.
    ///
    /// # Panics
    /// When there is no user `user_id` (the route answers 404 `user_not_found`).
    pub fn users_create_jwt(
        &self,
        user_id: &str,
        session_id: Option<&str>,
        duration: Option<i64>,
    ) -> String {
        self.with(|s| {
            server_minted_jwt(
                s,
                user_id,
                session_id.unwrap_or("recent"),
                duration.unwrap_or(900),
            )
        })
        .unwrap_or_else(|| panic!("the fake Appwrite has no user {user_id}"))
    }

    /// The OAuth2 server's issuer: `{endpoint}/oauth2/proj123`.
    pub fn oauth_issuer(&self) -> String {
        format!("{}/oauth2/{PROJECT_ID}", self.endpoint)
    }

    /// An access token (RS256, `typ` `at+jwt`, scope `openid profile email`, valid 8 h) for
    /// `user_id`, issued to OAuth client `client_id`, signed with the current key.
    pub fn oauth_access_token(&self, user_id: &str, client_id: &str) -> String {
        self.oauth_token(&OAuthTokenSpec::access(user_id, client_id))
    }

    /// An ID token (RS256, no `typ`, valid 1 h) for `user_id`, issued to `client_id`, with the
    /// user's `email`, `email_verified` and `name`.
    ///
    /// # Panics
    /// When there is no user `user_id`.
    pub fn oauth_id_token(&self, user_id: &str, client_id: &str) -> String {
        self.oauth_token(&OAuthTokenSpec::id(user_id, client_id))
    }

    /// The token `spec` describes. Generates the first signing key if there is none yet.
    ///
    /// # Panics
    /// For an ID token of a user that does not exist.
    pub fn oauth_token(&self, spec: &OAuthTokenSpec) -> String {
        let keys = oauth_keys(&self.state);
        let key = signing_key(&keys);
        let issued_at = now();
        let mut claims = Map::new();
        let issuer = spec.issuer.clone().unwrap_or_else(|| self.oauth_issuer());
        let audience = spec.audience.as_ref().unwrap_or(&spec.client_id);
        claims.insert("iss".into(), issuer.into());
        claims.insert("sub".into(), spec.user_id.clone().into());
        claims.insert("aud".into(), audience.clone().into());
        claims.insert("iat".into(), issued_at.into());
        claims.insert("exp".into(), (issued_at + spec.expires_in).into());
        let mut header = Map::new();
        match spec.kind {
            OAuthTokenKind::AccessToken => {
                claims.insert("client_id".into(), spec.client_id.clone().into());
                claims.insert("scope".into(), OAUTH_SCOPE.into());
                claims.insert("jti".into(), uuid::Uuid::new_v4().to_string().into());
                header.insert("typ".into(), "at+jwt".into());
            }
            OAuthTokenKind::IdToken => {
                let user = self
                    .with(|s| s.users.get(&spec.user_id).cloned())
                    .unwrap_or_else(|| panic!("the fake Appwrite has no user {}", spec.user_id));
                claims.insert("auth_time".into(), issued_at.into());
                claims.insert("email".into(), user.email.into());
                claims.insert("email_verified".into(), user.email_verification.into());
                claims.insert("name".into(), user.name.into());
            }
        }
        claims.extend(spec.extra_claims.clone());
        match &spec.typ {
            Some(Some(typ)) => {
                header.insert("typ".into(), typ.clone().into());
            }
            Some(None) => {
                header.remove("typ");
            }
            None => {}
        }
        let alg = match spec.algorithm {
            OAuthAlgorithm::Rs256 => "RS256",
            OAuthAlgorithm::Hs256SignedWithPublicKeyBytes
            | OAuthAlgorithm::Hs256SignedWithModulus => "HS256",
            OAuthAlgorithm::None => "none",
        };
        header.insert("alg".into(), alg.into());
        header.insert(
            "kid".into(),
            spec.kid.as_ref().unwrap_or(&key.kid).clone().into(),
        );
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(Value::Object(header).to_string()),
            URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string())
        );
        let signature = match spec.algorithm {
            OAuthAlgorithm::Rs256 => rs256(key, signing_input.as_bytes()),
            OAuthAlgorithm::Hs256SignedWithPublicKeyBytes => {
                hs256(key.pem.as_bytes(), signing_input.as_bytes())
            }
            OAuthAlgorithm::Hs256SignedWithModulus => hs256(&key.n, signing_input.as_bytes()),
            OAuthAlgorithm::None => Vec::new(),
        };
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// Generates a new signing key (the first one too, if there was none) and signs with it
    /// from now on. The JWKS then lists the new key first, then the old ones
    /// (`retire_old` false) or only the new one (`retire_old` true). Returns the new kid.
    pub fn rotate_oauth_key(&self, retire_old: bool) -> String {
        oauth_keys(&self.state);
        let key = Arc::new(generate_oauth_key());
        let kid = key.kid.clone();
        self.with(|s| {
            if retire_old {
                s.oauth_keys.clear();
            }
            s.oauth_keys.insert(0, key);
        });
        kid
    }

    /// How many requests reached the JWKS route (`.well-known/jwks.json`), whatever the answer
    /// (failures, unknown project included).
    pub fn oauth_jwks_fetches(&self) -> usize {
        self.with(|s| s.jwks_fetches)
    }

    /// How many requests reached the discovery route (`.well-known/openid-configuration`),
    /// whatever the answer.
    pub fn oauth_discovery_fetches(&self) -> usize {
        self.with(|s| s.discovery_fetches)
    }

    /// The JWKS answer's `Cache-Control: public, max-age=<seconds>` (default 300).
    pub fn set_jwks_max_age(&self, seconds: u64) {
        self.with(|s| s.jwks_max_age = Some(seconds));
    }

    /// `POST /v1/account/jwts`: an HS256 JWT `{userId, sessionId, exp}` valid 15 minutes.
    pub fn create_jwt(&self, user_id: &str, session_id: &str) -> String {
        sign_jwt(user_id, session_id, now() + 900)
    }

    /// A JWT that expired a minute ago.
    pub fn expired_jwt(&self, user_id: &str, session_id: &str) -> String {
        sign_jwt(user_id, session_id, now() - 60)
    }

    /// Answers every request with `failure` from now on; `None` answers normally again.
    pub fn fail_with(&self, failure: Option<Failure>) {
        self.with(|s| s.failure = failure);
    }

    /// Delays every answer by `latency` (after recording the request).
    pub fn set_latency(&self, latency: Duration) {
        self.with(|s| s.latency = latency);
    }

    /// Makes every answer wait (after the request was recorded) until the returned sender
    /// sends `true`: a test can act while Appwrite is "answering".
    pub fn hold_answers(&self) -> tokio::sync::watch::Sender<bool> {
        let (release, gate) = tokio::sync::watch::channel(false);
        self.with(|s| s.gate = Some(gate));
        release
    }

    /// Waits until the fake has received at least `count` requests.
    ///
    /// # Panics
    /// When they have not arrived within about two seconds.
    pub async fn wait_for_requests(&self, count: usize) {
        for _ in 0..200 {
            if self.requests().len() >= count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the fake Appwrite never received {count} requests");
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.with(|s| s.requests.clone())
    }

    /// How many connections were closed unanswered under [`Failure::DropConnection`].
    pub fn dropped_connections(&self) -> usize {
        self.with(|s| s.dropped_connections)
    }

    /// A user and a session with a JWT: the usual state after `account.createJWT()`.
    pub fn signed_in_user(&self, id: &str) -> SignedIn {
        self.add_user(id);
        let (session_id, session_value) = self.create_session(id);
        SignedIn {
            jwt: self.create_jwt(id, &session_id),
            session_id,
            session_value,
        }
    }
}

/// What an app holds after signing in.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The Appwrite session's id.
    pub session_id: String,
    /// The session value (the `a_session_<project>` cookie value).
    pub session_value: String,
    /// A JWT from `account.createJWT()`, valid 15 minutes.
    pub jwt: String,
}

/// The current unix time in seconds. The fake stands in for another system with a clock of
/// its own, so it reads the wall clock itself rather than taking tokenmint's `Clock`.
#[allow(clippy::disallowed_methods)] // the fake's only wall-clock read
fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The state, even if a panicking caller poisoned the lock (the data stays consistent: every
/// change is a single insert, remove or assignment).
fn lock(state: &Mutex<FakeState>) -> MutexGuard<'_, FakeState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

fn sign_jwt(user_id: &str, session_id: &str, exp: i64) -> String {
    let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
    header.typ = Some("JWT".into());
    let claims = json!({ "userId": user_id, "sessionId": session_id, "exp": exp });
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(INSTANCE_SECRET))
        .unwrap_or_else(|err| panic!("the fake Appwrite cannot sign a JWT: {err}"))
}

/// `users.createJWT`: `None` when there is no user `user_id`. `session_id` `recent` is the
/// user's most recently created session (expired or not, as Appwrite's `sessions` array keeps
/// them); an id that is none of the user's sessions, or no session at all, gives `""`.
fn server_minted_jwt(
    state: &FakeState,
    user_id: &str,
    session_id: &str,
    duration: i64,
) -> Option<String> {
    state.users.get(user_id)?;
    let mut sessions = state.sessions.values().filter(|s| s.user_id == user_id);
    let chosen = if session_id == "recent" {
        sessions.max_by_key(|s| s.order)
    } else {
        sessions.find(|s| s.id == session_id)
    };
    let chosen = chosen.map_or("", |s| s.id.as_str());
    Some(sign_jwt(user_id, chosen, now() + duration))
}

/// The OAuth2 server's keys, newest first, after generating the first one if there is none.
/// Slow the first time (an RSA key): handlers call it through `spawn_blocking`.
fn oauth_keys(state: &Mutex<FakeState>) -> Vec<Arc<OAuthKey>> {
    let keys = lock(state).oauth_keys.clone();
    if !keys.is_empty() {
        return keys;
    }
    let key = Arc::new(generate_oauth_key());
    let mut state = lock(state);
    if state.oauth_keys.is_empty() {
        state.oauth_keys.push(key);
    }
    state.oauth_keys.clone()
}

fn signing_key(keys: &[Arc<OAuthKey>]) -> &OAuthKey {
    keys.first()
        .unwrap_or_else(|| panic!("the fake Appwrite has no OAuth signing key"))
}

fn generate_oauth_key() -> OAuthKey {
    let fail = |what: &str| -> ! { panic!("the fake Appwrite cannot {what} an RSA key") };
    let pair = KeyPair::generate(KeySize::Rsa2048).unwrap_or_else(|_| fail("generate"));
    let public = pair.public_key();
    let components = PublicKeyComponents::<Vec<u8>>::from(public);
    let spki: PublicKeyX509Der<'static> = public.as_der().unwrap_or_else(|_| fail("encode"));
    let spki = spki.as_ref();
    let kid = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, spki)
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let base64 = STANDARD.encode(spki);
    let lines: Vec<&str> = base64
        .as_bytes()
        .chunks(64)
        .map(|line| std::str::from_utf8(line).unwrap_or_default())
        .collect();
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    );
    OAuthKey {
        kid,
        n: components.n,
        e: components.e,
        pem,
        pair,
    }
}

fn rs256(key: &OAuthKey, message: &[u8]) -> Vec<u8> {
    let mut signature = vec![0; key.pair.public_modulus_len()];
    key.pair
        .sign(
            &aws_lc_rs::signature::RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            message,
            &mut signature,
        )
        .unwrap_or_else(|_| panic!("the fake Appwrite cannot sign with its RSA key"));
    signature
}

fn hs256(secret: &[u8], message: &[u8]) -> Vec<u8> {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    aws_lc_rs::hmac::sign(&key, message).as_ref().to_vec()
}

/// Accepts connections, closing them at once while `Failure::DropConnection` is set.
struct DroppingListener {
    inner: TcpListener,
    state: Arc<Mutex<FakeState>>,
}

impl axum::serve::Listener for DroppingListener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, address)) = self.inner.accept().await else {
                continue;
            };
            let mut state = lock(&self.state);
            if state.failure == Some(Failure::DropConnection) {
                state.dropped_connections += 1;
                drop(stream);
                continue;
            }
            return (stream, address);
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

type Shared = State<Arc<Mutex<FakeState>>>;

/// An Appwrite error answer (§3.1).
struct ApiError {
    status: u16,
    kind: &'static str,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "message": self.message, "code": self.status, "type": self.kind, "version": VERSION });
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(body)).into_response();
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache, no-store, must-revalidate"),
        );
        response
    }
}

fn error(status: u16, kind: &'static str, message: &str) -> ApiError {
    ApiError {
        status,
        kind,
        message: message.to_owned(),
    }
}

fn guest() -> ApiError {
    error(
        401,
        "general_unauthorized_scope",
        "User (role: guests) missing scopes ([\"account\"])",
    )
}

/// Who the caller is, per §1.1 and the checks that follow.
enum Caller {
    SessionUser(FakeUser, FakeSession),
    /// The user and the JWT's `sessionId` claim (`""` for a session-less `users.createJWT`).
    JwtUser(FakeUser, String),
}

impl Caller {
    fn user(&self) -> &FakeUser {
        match self {
            Self::SessionUser(user, _) | Self::JwtUser(user, _) => user,
        }
    }

    /// The Appwrite session behind the request: the session's, or the one the JWT names.
    fn session_id(&self) -> &str {
        match self {
            Self::SessionUser(_, session) => &session.id,
            Self::JwtUser(_, session_id) => session_id,
        }
    }
}

async fn prelude(
    state: &Arc<Mutex<FakeState>>,
    path: &str,
    headers: &HeaderMap,
) -> Result<(), Response> {
    let (latency, failure, gate) = {
        let mut s = lock(state);
        s.requests.push(SeenRequest {
            path: path.to_owned(),
            headers: headers.clone(),
        });
        (s.latency, s.failure, s.gate.clone())
    };
    tokio::time::sleep(latency).await;
    if let Some(mut gate) = gate {
        let _ = gate.wait_for(|open| *open).await;
    }
    match failure {
        Some(Failure::Status(status)) => {
            Err(error(status, "general_server_error", "Server Error").into_response())
        }
        Some(Failure::Garbage) => {
            Err((StatusCode::OK, "<html><body>Bad gateway</body></html>").into_response())
        }
        Some(Failure::RateLimited) => {
            let mut response = error(
                429,
                "general_rate_limit_exceeded",
                "Rate limit for the current endpoint has been exceeded. Please try again after some time.",
            )
            .into_response();
            let reset = HeaderValue::from(now() + 30);
            response.headers_mut().insert("x-ratelimit-reset", reset);
            Err(response)
        }
        Some(Failure::Truncated) => Err(truncated_account()),
        Some(Failure::DropConnection) | None => Ok(()),
    }
}

/// The start of an Account body, promised 4 KiB long; the stream then fails, so the server
/// closes the connection mid-body.
fn truncated_account() -> Response {
    let parts: [Result<axum::body::Bytes, std::io::Error>; 2] = [
        Ok(axum::body::Bytes::from_static(
            br#"{"$id":"u1","$createdAt":"2026-08-01T10:0"#,
        )),
        Err(std::io::Error::other("truncated on purpose")),
    ];
    let mut response =
        axum::body::Body::from_stream(futures_util::stream::iter(parts)).into_response();
    response
        .headers_mut()
        .insert("content-length", HeaderValue::from(4096));
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

fn resolve(state: &FakeState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    check_project(headers)?;
    let cookie_value = text("cookie").split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == format!("a_session_{PROJECT_ID}")
            || name == format!("a_session_{PROJECT_ID}_legacy"))
        .then(|| value.to_owned())
    });
    let session_value = cookie_value
        .or_else(|| Some(text("x-appwrite-session").to_owned()).filter(|v| !v.is_empty()));
    let by_session = session_value.and_then(|value| session_user(state, &value));
    let jwt = text("x-appwrite-jwt");
    if !jwt.is_empty() {
        if by_session.is_some() {
            return Err(error(
                403,
                "user_jwt_and_cookie_set",
                "Cannot use both a JWT and a session at the same time.",
            ));
        }
        return jwt_user(state, jwt).map(|(user, session_id)| Caller::JwtUser(user, session_id));
    }
    if !text("x-appwrite-key").is_empty() {
        return Err(error(
            401,
            "general_unauthorized_scope",
            &format!(
                "app.{PROJECT_ID}@service.localhost (role: applications) missing scopes ([\"account\"])"
            ),
        ));
    }
    let (user, session) = by_session.ok_or_else(guest)?;
    Ok(Caller::SessionUser(user, session))
}

fn project_not_found() -> ApiError {
    error(
        404,
        "project_not_found",
        "Project with the requested ID could not be found. Please check the value of the X-Appwrite-Project header to ensure the correct project ID is being used.",
    )
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn check_project(headers: &HeaderMap) -> Result<(), ApiError> {
    if header_text(headers, "x-appwrite-project") != PROJECT_ID {
        return Err(project_not_found());
    }
    Ok(())
}

/// An API-key route (§1.1 project, then the key's scopes): a missing or unknown key is a
/// guest.
fn check_key(state: &FakeState, headers: &HeaderMap, scope: &str) -> Result<(), ApiError> {
    check_project(headers)?;
    let role = match state.api_keys.get(header_text(headers, "x-appwrite-key")) {
        Some(scopes) if scopes.iter().any(|s| s == scope) => return Ok(()),
        Some(_) => format!("app.{PROJECT_ID}@service.localhost (role: applications)"),
        None => "User (role: guests)".to_owned(),
    };
    Err(error(
        401,
        "general_unauthorized_scope",
        &format!("{role} missing scopes ([\"{scope}\"])"),
    ))
}

fn user_not_found() -> ApiError {
    error(
        404,
        "user_not_found",
        "User with the requested ID could not be found.",
    )
}

fn session_user(state: &FakeState, value: &str) -> Option<(FakeUser, FakeSession)> {
    let decoded: Value = serde_json::from_slice(&STANDARD.decode(value).ok()?).ok()?;
    let (user_id, secret) = (decoded["id"].as_str()?, decoded["secret"].as_str()?);
    let session = state
        .sessions
        .values()
        .find(|s| s.user_id == user_id && s.secret == secret && s.expire >= now())?;
    Some((state.users.get(user_id)?.clone(), session.clone()))
}

fn jwt_user(state: &FakeState, jwt: &str) -> Result<(FakeUser, String), ApiError> {
    let invalid = |why: &str| {
        error(
            401,
            "user_jwt_invalid",
            &format!("Failed to verify JWT. Invalid token: {why}"),
        )
    };
    if jwt.split('.').count() != 3 {
        return Err(invalid("Incomplete segments"));
    }
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.leeway = 0;
    validation.required_spec_claims = ["exp".to_owned()].into();
    let decoded = jsonwebtoken::decode::<Value>(
        jwt,
        &jsonwebtoken::DecodingKey::from_secret(INSTANCE_SECRET),
        &validation,
    )
    .map_err(|err| match err.kind() {
        jsonwebtoken::errors::ErrorKind::ExpiredSignature => invalid("Expired"),
        _ => invalid("Signature failed"),
    })?;
    let claims = decoded.claims;
    let user = state
        .users
        .get(claims["userId"].as_str().unwrap_or(""))
        .ok_or_else(guest)?;
    // Appwrite checks the session only when the claim is not empty (request.php L523–550):
    // a session-less JWT from `users.createJWT` is the user's until it expires.
    let session_id = claims["sessionId"].as_str().unwrap_or("");
    let session_live = session_id.is_empty()
        || state
            .sessions
            .get(session_id)
            .is_some_and(|s| s.user_id == user.id && s.expire >= now());
    if !session_live {
        return Err(guest());
    }
    Ok((user.clone(), session_id.to_owned()))
}

/// The checks of `Http::init` after resolution (§1.1, second list).
fn check_user(caller: &Caller) -> Result<(), ApiError> {
    let (user, session) = match caller {
        Caller::SessionUser(user, session) => (user, Some(session)),
        Caller::JwtUser(user, _) => (user, None),
    };
    if !user.status {
        return Err(error(
            403,
            "user_blocked",
            "The current user has been blocked.",
        ));
    }
    if user.password_reset {
        return Err(error(
            412,
            "user_password_reset_required",
            "The current user requires a password reset.",
        ));
    }
    if user.mfa && session.is_some_and(|s| s.factors.len() < 2) {
        return Err(error(
            401,
            "user_more_factors_required",
            "More factors are required to complete the sign in process.",
        ));
    }
    Ok(())
}

async fn get_account(State(state): Shared, headers: HeaderMap) -> Response {
    if let Err(response) = prelude(&state, "/v1/account", &headers).await {
        return response;
    }
    let caller = match resolve(&lock(&state), &headers) {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    if let Err(error) = check_user(&caller) {
        return error.into_response();
    }
    let user = caller.user();
    let impersonator = lock(&state)
        .impersonations
        .get(caller.session_id())
        .cloned();
    let Some(raw_name) = &user.raw_name_json else {
        return axum::Json(account_model(user, impersonator.as_deref())).into_response();
    };
    let placeholder = "\u{e000}raw-name\u{e000}";
    let mut model = user.clone();
    model.name = placeholder.to_owned();
    let text = account_model(&model, impersonator.as_deref())
        .to_string()
        .replace(placeholder, raw_name);
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        text,
    )
        .into_response()
}

async fn get_current_session(State(state): Shared, headers: HeaderMap) -> Response {
    if let Err(response) = prelude(&state, "/v1/account/sessions/current", &headers).await {
        return response;
    }
    let caller = match resolve(&lock(&state), &headers) {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    if let Err(error) = check_user(&caller) {
        return error.into_response();
    }
    match caller {
        Caller::SessionUser(_, session) => {
            axum::Json(session_model(&session, true)).into_response()
        }
        Caller::JwtUser(..) => error(
            404,
            "user_session_not_found",
            "The current user session could not be found.",
        )
        .into_response(),
    }
}

/// The JSON body of a `POST`: an empty body is `{}`; anything but an object is 400.
fn json_body(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(params)) => Ok(params),
        _ => Err(error(400, "general_argument_invalid", "Invalid JSON body.")),
    }
}

/// `duration` of `account.createJWT` / `users.createJWT`: 0–3600, default 900.
fn jwt_duration(params: &Map<String, Value>) -> Result<i64, ApiError> {
    match params.get("duration") {
        None | Some(Value::Null) => Ok(900),
        Some(value) => value
            .as_i64()
            .filter(|duration| (0..=3600).contains(duration))
            .ok_or_else(|| {
                error(
                    400,
                    "general_argument_invalid",
                    "Invalid `duration` param: Value must be a valid range between 0 and 3,600",
                )
            }),
    }
}

fn created_jwt(jwt: String) -> Response {
    (StatusCode::CREATED, axum::Json(json!({ "jwt": jwt }))).into_response()
}

/// `account.createJWT`: for the request's session; refused to a JWT-authorized request.
async fn create_account_jwt(State(state): Shared, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(response) = prelude(&state, "/v1/account/jwts", &headers).await {
        return response;
    }
    let caller = match resolve(&lock(&state), &headers) {
        Ok(caller) => caller,
        Err(error) => return error.into_response(),
    };
    if let Err(error) = check_user(&caller) {
        return error.into_response();
    }
    let Caller::SessionUser(user, session) = caller else {
        return error(
            403,
            "user_jwt_creation_denied",
            "A JWT cannot be created from a request authorized with a JWT. Authenticate with a session cookie or session header instead.",
        )
        .into_response();
    };
    match json_body(&body).and_then(|params| jwt_duration(&params)) {
        Ok(duration) => created_jwt(sign_jwt(&user.id, &session.id, now() + duration)),
        Err(error) => error.into_response(),
    }
}

/// `users.createJWT` (API key, `users.write`).
async fn create_user_jwt(
    State(state): Shared,
    Path(user_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(response) = prelude(&state, uri.path(), &headers).await {
        return response;
    }
    let state = lock(&state);
    let answer = check_key(&state, &headers, "users.write").and_then(|()| {
        let params = json_body(&body)?;
        let duration = jwt_duration(&params)?;
        let session_id = match params.get("sessionId") {
            None | Some(Value::Null) => "recent",
            Some(Value::String(id)) => id.as_str(),
            Some(_) => {
                return Err(error(
                    400,
                    "general_argument_invalid",
                    "Invalid `sessionId` param: Value must be a valid string",
                ));
            }
        };
        server_minted_jwt(&state, &user_id, session_id, duration).ok_or_else(user_not_found)
    });
    match answer {
        Ok(jwt) => created_jwt(jwt),
        Err(error) => error.into_response(),
    }
}

/// `users.get` (API key, `users.read`).
async fn get_user(
    State(state): Shared,
    Path(user_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = prelude(&state, uri.path(), &headers).await {
        return response;
    }
    let state = lock(&state);
    let answer = check_key(&state, &headers, "users.read")
        .and_then(|()| state.users.get(&user_id).ok_or_else(user_not_found));
    match answer {
        Ok(user) => axum::Json(user_model(user)).into_response(),
        Err(error) => error.into_response(),
    }
}

/// `users.listSessions` (API key, `users.read`): every session, expired ones included (Appwrite
/// lists the raw array and leaves `expire` to the caller), oldest first.
async fn list_user_sessions(
    State(state): Shared,
    Path(user_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = prelude(&state, uri.path(), &headers).await {
        return response;
    }
    let state = lock(&state);
    if let Err(error) = check_key(&state, &headers, "users.read") {
        return error.into_response();
    }
    if !state.users.contains_key(&user_id) {
        return user_not_found().into_response();
    }
    let mut sessions: Vec<&FakeSession> = state
        .sessions
        .values()
        .filter(|s| s.user_id == user_id)
        .collect();
    sessions.sort_by_key(|s| s.order);
    let sessions: Vec<Value> = sessions.iter().map(|s| session_model(s, false)).collect();
    axum::Json(json!({ "total": sessions.len(), "sessions": sessions })).into_response()
}

/// The OAuth2 server's discovery document (appwrite-2026 §1, after the captured Cloud console
/// document; endpoints the fake does not serve are listed all the same).
async fn get_openid_configuration(
    State(state): Shared,
    Path(project): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    lock(&state).discovery_fetches += 1;
    if let Err(response) = prelude(&state, uri.path(), &headers).await {
        return response;
    }
    if project != PROJECT_ID {
        return project_not_found().into_response();
    }
    let issuer = format!("{}/oauth2/{PROJECT_ID}", lock(&state).endpoint);
    axum::Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "pushed_authorization_request_endpoint": format!("{issuer}/par"),
        "token_endpoint": format!("{issuer}/token"),
        "registration_endpoint": format!("{issuer}/register"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "end_session_endpoint": format!("{issuer}/logout"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "device_authorization_endpoint": format!("{issuer}/device_authorization"),
        "introspection_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic", "none"],
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "scopes_supported": ["openid", "profile", "email", "phone"],
        "authorization_details_types_supported": ["project", "organization"],
        "response_types_supported": ["code", "id_token", "code id_token"],
        "response_modes_supported": ["query", "fragment"],
        "grant_types_supported": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic", "none"],
        "client_id_metadata_document_supported": true,
        "code_challenge_methods_supported": ["S256"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "claims_supported": [
            "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "email", "email_verified",
            "name", "phone_number", "phone_number_verified", "updated_at", "at_hash", "c_hash",
        ],
        "claim_types_supported": ["normal"],
        "claims_parameter_supported": false,
        "resource_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": true,
        "authorization_response_iss_parameter_supported": false,
    }))
    .into_response()
}

/// The OAuth2 server's JWKS: every key, newest first.
async fn get_jwks(
    State(state): Shared,
    Path(project): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    lock(&state).jwks_fetches += 1;
    if let Err(response) = prelude(&state, uri.path(), &headers).await {
        return response;
    }
    if project != PROJECT_ID {
        return project_not_found().into_response();
    }
    let generating = Arc::clone(&state);
    let Ok(keys) = tokio::task::spawn_blocking(move || oauth_keys(&generating)).await else {
        return error(500, "general_server_error", "Server Error").into_response();
    };
    let keys: Vec<Value> = keys
        .iter()
        .map(|key| {
            json!({
                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": key.kid,
                "n": URL_SAFE_NO_PAD.encode(&key.n), "e": URL_SAFE_NO_PAD.encode(&key.e),
            })
        })
        .collect();
    let max_age = lock(&state).jwks_max_age.unwrap_or(DEFAULT_JWKS_MAX_AGE);
    let cache_control = HeaderValue::from_str(&format!("public, max-age={max_age}"))
        .unwrap_or(HeaderValue::from_static("no-cache"));
    (
        [(header::CACHE_CONTROL, cache_control)],
        axum::Json(json!({ "keys": keys })),
    )
        .into_response()
}

fn datetime(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|time| time.format(DATETIME_FORMAT).to_string())
        .unwrap_or_default()
}

/// `impersonator`: the id of the user impersonating (`impersonatorUserId`), if any.
fn account_model(user: &FakeUser, impersonator: Option<&str>) -> Value {
    json!({
        "$id": user.id, "$createdAt": "2026-08-01T10:00:00.000+00:00", "$updatedAt": user.updated_at,
        "name": user.name, "registration": "2026-08-01T10:00:00.000+00:00", "status": user.status,
        "labels": user.labels, "passwordUpdate": "2026-08-01T10:00:00.000+00:00", "email": user.email,
        "phone": "", "emailVerification": user.email_verification, "emailCanonical": user.email,
        "emailIsFree": false, "emailIsDisposable": false, "emailIsCorporate": true, "emailIsCanonical": true,
        "phoneVerification": false, "mfa": user.mfa, "prefs": {},
        "targets": [{
            "$id": "t1", "$createdAt": "2026-08-01T10:00:00.000+00:00", "$updatedAt": "2026-08-01T10:00:00.000+00:00",
            "name": "", "userId": user.id, "providerId": null, "providerType": "email",
            "identifier": user.email, "expired": false,
        }],
        "accessedAt": "2026-08-02T08:00:00.000+00:00", "impersonator": false, "impersonatorUserId": impersonator,
    })
}

/// The User model (`users.get`), as an API key sees it. Without `password`, `hash` and
/// `hashOptions`: the fake keeps no password.
fn user_model(user: &FakeUser) -> Value {
    json!({
        "$id": user.id, "$createdAt": "2026-08-01T10:00:00.000+00:00", "$updatedAt": user.updated_at,
        "name": user.name, "registration": "2026-08-01T10:00:00.000+00:00", "status": user.status,
        "labels": user.labels, "passwordUpdate": "2026-08-01T10:00:00.000+00:00", "email": user.email,
        "phone": "", "emailVerification": user.email_verification, "phoneVerification": false,
        "mfa": user.mfa, "prefs": {},
        "targets": [{
            "$id": "t1", "$createdAt": "2026-08-01T10:00:00.000+00:00", "$updatedAt": "2026-08-01T10:00:00.000+00:00",
            "name": "", "userId": user.id, "providerId": null, "providerType": "email",
            "identifier": user.email, "expired": false,
        }],
        "accessedAt": "2026-08-02T08:00:00.000+00:00", "impersonator": false, "impersonatorUserId": null,
    })
}

/// `current`: whether the request was authenticated by this session.
fn session_model(session: &FakeSession, current: bool) -> Value {
    let created = datetime(session.created_at);
    json!({
        "$id": session.id, "$createdAt": created, "$updatedAt": created,
        "userId": session.user_id, "expire": datetime(session.expire), "provider": "email",
        "providerUid": "user@example.com", "providerAccessToken": "", "providerAccessTokenExpiry": "",
        "providerRefreshToken": "", "ip": "203.0.113.7", "osCode": "AND", "osName": "Android", "osVersion": "14",
        "clientType": "", "clientCode": "", "clientName": "", "clientVersion": "", "clientEngine": "",
        "clientEngineVersion": "", "deviceName": "smartphone", "deviceBrand": "Google", "deviceModel": "Pixel 8",
        "countryCode": "de", "countryName": "Germany", "current": current, "factors": session.factors,
        "secret": "", "mfaUpdatedAt": "",
    })
}
