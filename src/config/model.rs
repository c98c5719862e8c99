//! The validated [`Config`] of one process, as the rest of tokenmint reads it.

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;

use super::kinds::{DatabaseUrl, LogFormat, SqliteSync};
use super::limits::{ClientIpHeader, RateLimitSettings};
use crate::crypto::signing::SigningAlgorithm;

/// The validated configuration of one tokenmint process.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL`: `sqlite://…` (embedded) or `postgres://…`.
    pub database_url: DatabaseUrl,
    /// `TOKENMINT_LISTEN`.
    pub listen: SocketAddr,
    /// `TOKENMINT_ISSUER`: the `iss` claim and the base of every published URL.
    pub issuer: String,
    /// `APPWRITE_ENDPOINT`, e.g. `https://cloud.appwrite.io/v1`.
    pub appwrite_endpoint: url::Url,
    /// `APPWRITE_PROJECT_ID`; token exchange is disabled without it.
    pub appwrite_project_id: Option<String>,
    /// `TOKENMINT_AUDIENCES`: the allow-list; the first entry is the default `aud`.
    pub audiences: Vec<String>,
    /// `TOKENMINT_ACCESS_TOKEN_TTL`.
    pub access_token_ttl: Duration,
    /// `TOKENMINT_REFRESH_TOKEN_TTL`: absolute session lifetime.
    pub refresh_token_ttl: Duration,
    /// `TOKENMINT_REFRESH_IDLE_TTL`.
    pub refresh_idle_ttl: Duration,
    /// `TOKENMINT_REFRESH_GRACE`.
    pub refresh_grace: Duration,
    /// `TOKENMINT_SIGNING_ALG`: the algorithm of newly created signing keys.
    pub signing_alg: SigningAlgorithm,
    /// `TOKENMINT_KEY_ROTATION`.
    pub key_rotation: Duration,
    /// `TOKENMINT_JWKS_MAX_AGE`.
    pub jwks_max_age: Duration,
    /// `TOKENMINT_KEK` (or the contents of `TOKENMINT_KEK_FILE`): base64 of 32 bytes.
    pub kek: Option<SecretString>,
    /// `TOKENMINT_APPWRITE_WEBHOOK_KEY` (or `…_FILE`); webhooks answer 404 without it.
    pub appwrite_webhook_key: Option<SecretString>,
    /// `TOKENMINT_APPWRITE_WEBHOOK_URL`, default `{issuer}/webhooks/appwrite`.
    pub appwrite_webhook_url: String,
    /// `TOKENMINT_CLAIMS`: snapshot claims copied into access tokens.
    pub claims: Vec<String>,
    /// `TOKENMINT_LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `TOKENMINT_DB_MAX_CONNECTIONS`: PostgreSQL pool size (SQLite uses a small fixed pool).
    pub db_max_connections: u32,
    /// `TOKENMINT_DB_TIMEOUT`: the longest one database statement may run (lock waits get
    /// half of it); past it the request is answered 503 and nothing of it is written.
    pub db_timeout: Duration,
    /// `TOKENMINT_APPWRITE_TIMEOUT`: budget of one verification with Appwrite, retry included.
    pub appwrite_timeout: Duration,
    /// `TOKENMINT_APPWRITE_CONNECT_TIMEOUT`: budget of one connection attempt to Appwrite.
    pub appwrite_connect_timeout: Duration,
    /// `TOKENMINT_ADMIN_KEY_CACHE_TTL`: how long a verified admin key is trusted without
    /// Argon2 (and so how long a revoked key may keep working on other replicas).
    pub admin_key_cache_ttl: Duration,
    /// `TOKENMINT_APPWRITE_WEBHOOK_USERNAME`: with the password, HTTP Basic credentials every
    /// webhook delivery must carry (Appwrite's `authUsername`).
    pub appwrite_webhook_username: Option<String>,
    /// `TOKENMINT_APPWRITE_WEBHOOK_PASSWORD` (or `…_FILE`): Appwrite's `authPassword`.
    pub appwrite_webhook_password: Option<SecretString>,
    /// `TOKENMINT_SQLITE_SYNCHRONOUS`: `normal` (default) or `full`.
    pub sqlite_synchronous: SqliteSync,
    /// `TOKENMINT_CORS_ORIGINS`: exact origins (`https://app.example.com`) whose browser pages
    /// may call the OAuth and well-known endpoints; empty by default (no CORS at all).
    pub cors_origins: Vec<String>,
    /// `TOKENMINT_RATE_LIMIT_*`: the rate limits (see [`RateLimitSettings`]).
    pub rate_limits: RateLimitSettings,
    /// `TOKENMINT_TRUSTED_PROXIES`: peers whose `X-Forwarded-For` / `Forwarded` names the
    /// client; empty by default (the TCP peer is the client).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `TOKENMINT_CLIENT_IP_HEADER`: the header read from a trusted proxy, and only that one.
    pub client_ip_header: ClientIpHeader,
    /// `TOKENMINT_SELF_SERVICE_AUDIENCE`: when set, `/v1/me/*` (and revocation by access
    /// token) accept only access tokens minted for this audience, which must be one of
    /// `TOKENMINT_AUDIENCES`.
    pub self_service_audience: Option<String>,
    /// `TOKENMINT_SHUTDOWN_DELAY`: after SIGTERM, how long to keep accepting connections while
    /// `/readyz` answers 503, so load balancers stop sending before the listener closes.
    pub shutdown_delay: Duration,
    /// `TOKENMINT_SHUTDOWN_TIMEOUT`: once the listener is closed, how long requests in flight
    /// may take to finish before the process exits without them.
    pub shutdown_timeout: Duration,
    /// `TOKENMINT_METRICS_LISTEN`: when set, `/metrics` is served on this address only (and
    /// answers 404 on `TOKENMINT_LISTEN`), so it need not be exposed with the API.
    pub metrics_listen: Option<SocketAddr>,
    /// `TOKENMINT_REVOCATION_FEED_PUBLIC`: `true` keeps `GET /v1/revocations` open to anyone;
    /// by default (`false`) it needs an admin key (role `feed`, `introspect` or `admin`),
    /// because it names Appwrite users and when they were revoked.
    pub revocation_feed_public: bool,
    /// `APPWRITE_OAUTH_CLIENT_IDS`: the OAuth client ids of the project's Appwrite OAuth2
    /// server whose access and ID tokens may be exchanged (their `aud`); empty by default,
    /// which refuses those token types.
    pub appwrite_oauth_client_ids: Vec<String>,
    /// `APPWRITE_OAUTH_ISSUER`: the `iss` of those tokens; by default
    /// `{APPWRITE_ENDPOINT}/oauth2/{APPWRITE_PROJECT_ID}`, Appwrite Cloud's form.
    pub appwrite_oauth_issuer: Option<String>,
    /// `TOKENMINT_IMPERSONATION`: `allow` (default; the tokens carry `act`) or `deny` (refuse
    /// an exchange Appwrite reports as an impersonation).
    pub allow_impersonation: bool,
    /// `APPWRITE_API_KEY` (or `…_FILE`): a server API key of the project with the scope
    /// `users.read`, for the reconciler only; never sent with a user's proof.
    pub appwrite_api_key: Option<SecretString>,
    /// `TOKENMINT_APPWRITE_RECONCILE`: how often each live session is checked against Appwrite
    /// (default 15 min; `off` disables); the reconciler runs only with `APPWRITE_API_KEY`.
    pub appwrite_reconcile: Option<Duration>,
    /// How often the signing-key set is re-read from the database. Not an environment
    /// variable: tests shorten it; operators have no reason to.
    pub key_reload_interval: Duration,
}

impl Config {
    /// The issuer of the Appwrite OAuth2 server's tokens, when they are accepted:
    /// `APPWRITE_OAUTH_ISSUER`, or `{APPWRITE_ENDPOINT}/oauth2/{APPWRITE_PROJECT_ID}`.
    pub fn appwrite_oauth_issuer(&self) -> Option<String> {
        if self.appwrite_oauth_client_ids.is_empty() {
            return None;
        }
        let project = self.appwrite_project_id.as_ref()?;
        Some(self.appwrite_oauth_issuer.clone().unwrap_or_else(|| {
            format!(
                "{}/oauth2/{project}",
                self.appwrite_endpoint.as_str().trim_end_matches('/')
            )
        }))
    }

    /// The issuer joined with an absolute path, without a doubled slash.
    pub fn issuer_url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer.trim_end_matches('/'))
    }
}
