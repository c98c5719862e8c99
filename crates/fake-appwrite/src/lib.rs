//! A fake Appwrite for tokenmint's integration tests, its load driver (`tokenmint-bench`) and
//! its demo.
//!
//! **This is not Appwrite.** It is a small stand-in that follows `shared/appwrite-contract.md`
//! (what tokenmint relies on: `GET /v1/account` and `GET /v1/account/sessions/current`), not
//! Appwrite's code; where Appwrite differs from the contract, the contract wins here. Only
//! two routes exist, users and sessions live in memory, and nothing is persisted.
//!
//! A real HTTP server on `127.0.0.1`, port 0:
//!
//! - §1.1 resolution: project from `X-Appwrite-Project` (missing, empty or unknown: 404
//!   `project_not_found`); the `a_session_<project>` cookie, then `X-Appwrite-Session` (base64
//!   of `{"id","secret"}`; an invalid value makes the caller a guest); then `X-Appwrite-JWT`
//!   (403 `user_jwt_and_cookie_set` beside a session; 401 `user_jwt_invalid` for a bad
//!   signature, expiry or malformed token; a JWT whose session is gone or expired makes a
//!   guest, as on `main`); an `X-Appwrite-Key` makes the `applications` role.
//! - then the checks in order: guest or key → 401 `general_unauthorized_scope`; blocked → 403
//!   `user_blocked`; forced reset → 412 `user_password_reset_required`; MFA with fewer than two
//!   factors on a session (not a JWT) → 401 `user_more_factors_required`.
//! - §2 models with their field names (`serde_json` orders keys alphabetically, not in model
//!   order; the contract says clients must not depend on order anyway); §3.1 error bodies
//!   `{message, code, type, version}` with `Cache-Control: no-cache, no-store, must-revalidate`.
//! - `/account/sessions/current` with only a JWT: 404 `user_session_not_found` (§2.2).
//!
//! Callers control users, sessions, latency and failures (5xx, garbage bodies, 429, dropped
//! connections) and can read every request the fake received (kept in memory for the fake's
//! whole life).
//!
//! Being test support, the fake panics (with a message) where a test would fail anyway: when
//! it cannot listen, or when told to change a user that does not exist.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};

/// The project the fake serves.
pub const PROJECT_ID: &str = "proj123";
/// Appwrite's instance secret for HS256 JWTs (`_APP_OPENSSL_KEY_V1`), known only to the fake.
const INSTANCE_SECRET: &[u8] = b"fake-appwrite-instance-secret";
const VERSION: &str = "1.9.6";
const DATETIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.3f+00:00";

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
            .with_state(Arc::clone(&state));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self {
            endpoint: format!("http://{address}/v1"),
            state,
        }
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
        let session = FakeSession {
            id: id.clone(),
            user_id: user_id.to_owned(),
            secret,
            expire: now() + 365 * 86400,
            factors: vec!["password".into()],
        };
        self.with(|s| s.sessions.insert(id.clone(), session));
        (id, value)
    }

    /// Deletes a session (as logging out would).
    pub fn delete_session(&self, session_id: &str) {
        self.with(|s| s.sessions.remove(session_id));
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
    JwtUser(FakeUser),
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
    let project = text("x-appwrite-project");
    if project.is_empty() || project != PROJECT_ID {
        return Err(error(
            404,
            "project_not_found",
            "Project with the requested ID could not be found. Please check the value of the X-Appwrite-Project header to ensure the correct project ID is being used.",
        ));
    }
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
        return jwt_user(state, jwt).map(Caller::JwtUser);
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

fn session_user(state: &FakeState, value: &str) -> Option<(FakeUser, FakeSession)> {
    let decoded: Value = serde_json::from_slice(&STANDARD.decode(value).ok()?).ok()?;
    let (user_id, secret) = (decoded["id"].as_str()?, decoded["secret"].as_str()?);
    let session = state
        .sessions
        .values()
        .find(|s| s.user_id == user_id && s.secret == secret && s.expire >= now())?;
    Some((state.users.get(user_id)?.clone(), session.clone()))
}

fn jwt_user(state: &FakeState, jwt: &str) -> Result<FakeUser, ApiError> {
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
    let session_live = state
        .sessions
        .get(claims["sessionId"].as_str().unwrap_or(""))
        .is_some_and(|s| s.user_id == user.id && s.expire >= now());
    if !session_live {
        return Err(guest());
    }
    Ok(user.clone())
}

/// The checks of `Http::init` after resolution (§1.1, second list).
fn check_user(caller: &Caller) -> Result<(), ApiError> {
    let (user, session) = match caller {
        Caller::SessionUser(user, session) => (user, Some(session)),
        Caller::JwtUser(user) => (user, None),
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
    let user = match &caller {
        Caller::SessionUser(user, _) | Caller::JwtUser(user) => user,
    };
    let Some(raw_name) = &user.raw_name_json else {
        return axum::Json(account_model(user)).into_response();
    };
    let placeholder = "\u{e000}raw-name\u{e000}";
    let mut model = user.clone();
    model.name = placeholder.to_owned();
    let text = account_model(&model)
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
        Caller::SessionUser(_, session) => axum::Json(session_model(&session)).into_response(),
        Caller::JwtUser(_) => error(
            404,
            "user_session_not_found",
            "The current user session could not be found.",
        )
        .into_response(),
    }
}

fn datetime(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|time| time.format(DATETIME_FORMAT).to_string())
        .unwrap_or_default()
}

fn account_model(user: &FakeUser) -> Value {
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
        "accessedAt": "2026-08-02T08:00:00.000+00:00", "impersonator": false, "impersonatorUserId": null,
    })
}

fn session_model(session: &FakeSession) -> Value {
    json!({
        "$id": session.id, "$createdAt": "2026-08-01T10:00:00.000+00:00", "$updatedAt": "2026-08-01T10:00:00.000+00:00",
        "userId": session.user_id, "expire": datetime(session.expire), "provider": "email",
        "providerUid": "user@example.com", "providerAccessToken": "", "providerAccessTokenExpiry": "",
        "providerRefreshToken": "", "ip": "203.0.113.7", "osCode": "AND", "osName": "Android", "osVersion": "14",
        "clientType": "", "clientCode": "", "clientName": "", "clientVersion": "", "clientEngine": "",
        "clientEngineVersion": "", "deviceName": "smartphone", "deviceBrand": "Google", "deviceModel": "Pixel 8",
        "countryCode": "de", "countryName": "Germany", "current": true, "factors": session.factors,
        "secret": "", "mfaUpdatedAt": "",
    })
}
