//! Configuration: built-in defaults, then an optional `tokenmint.toml`, then the environment.
//!
//! Every setting has one name, the environment variable of the design's table. The TOML file
//! uses the same names in lower case (`tokenmint_issuer = "https://auth.example.com"`), so
//! there is nothing new to learn; an unknown key in the file is an error, not a silent no-op.
//! An empty environment variable counts as unset (Docker env files often carry `NAME=`).
//!
//! Values are read as text and validated here, so every error names the variable it is about
//! and says what would be accepted. Every duration and number has a documented range (see
//! [`values`]): a value that parses but could never work — a session lifetime of 300,000
//! years overflows every date — stops start-up instead of failing requests later. Secrets are
//! [`SecretString`]s: `Debug` never prints them, and no error message repeats a secret's value.
//!
//! - this module: the [`Config`] and how it is assembled;
//! - [`sources`]: reading defaults, the TOML file and the environment (`*_FILE` secrets);
//! - [`values`]: parsing and range-checking each kind of value.

pub mod limits;
mod sources;
pub mod values;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use secrecy::SecretString;

pub use self::limits::{ClientIpHeader, Rate, RateLimitSettings};
use self::sources::{
    RawConfig, Settings, check_file_keys, default_log_format, resolve_config_file,
};
use self::values::parse_bool;
pub use self::values::parse_duration;
use self::values::{
    ACCESS_TOKEN_TTL, ADMIN_KEY_CACHE_TTL, APPWRITE_TIMEOUT, DB_MAX_CONNECTIONS, DB_TIMEOUT,
    JWKS_MAX_AGE, KEY_ROTATION, RECONCILE_PERIOD, REFRESH_GRACE, SESSION_LIFETIME, parse_audiences,
    parse_claims, parse_database_url, parse_http_url, parse_issuer, parse_number, parse_origins,
};
use self::values::{SHUTDOWN_DELAY, SHUTDOWN_TIMEOUT};
use crate::crypto::signing::SigningAlgorithm;

/// The configuration file read when `--config` is not given; it is optional.
pub const DEFAULT_CONFIG_FILE: &str = "tokenmint.toml";

/// Every variable tokenmint reads, as written in the environment.
pub const VARIABLES: &[&str] = &[
    "DATABASE_URL",
    "DATABASE_URL_FILE",
    "TOKENMINT_LISTEN",
    "TOKENMINT_ISSUER",
    "APPWRITE_ENDPOINT",
    "APPWRITE_PROJECT_ID",
    "TOKENMINT_AUDIENCES",
    "TOKENMINT_ACCESS_TOKEN_TTL",
    "TOKENMINT_REFRESH_TOKEN_TTL",
    "TOKENMINT_REFRESH_IDLE_TTL",
    "TOKENMINT_REFRESH_GRACE",
    "TOKENMINT_SIGNING_ALG",
    "TOKENMINT_KEY_ROTATION",
    "TOKENMINT_JWKS_MAX_AGE",
    "TOKENMINT_KEK",
    "TOKENMINT_KEK_FILE",
    "TOKENMINT_APPWRITE_WEBHOOK_KEY",
    "TOKENMINT_APPWRITE_WEBHOOK_KEY_FILE",
    "TOKENMINT_APPWRITE_WEBHOOK_URL",
    "TOKENMINT_CLAIMS",
    "TOKENMINT_LOG_FORMAT",
    "TOKENMINT_DB_MAX_CONNECTIONS",
    "TOKENMINT_DB_TIMEOUT",
    "TOKENMINT_APPWRITE_TIMEOUT",
    "TOKENMINT_APPWRITE_CONNECT_TIMEOUT",
    "TOKENMINT_ADMIN_KEY_CACHE_TTL",
    "TOKENMINT_APPWRITE_WEBHOOK_USERNAME",
    "TOKENMINT_APPWRITE_WEBHOOK_PASSWORD",
    "TOKENMINT_APPWRITE_WEBHOOK_PASSWORD_FILE",
    "TOKENMINT_CORS_ORIGINS",
    "TOKENMINT_SQLITE_SYNCHRONOUS",
    "TOKENMINT_RATE_LIMIT_IP",
    "TOKENMINT_RATE_LIMIT_WEBHOOK_IP",
    "TOKENMINT_RATE_LIMIT_EXCHANGE_USER",
    "TOKENMINT_RATE_LIMIT_ADMIN_KEY",
    "TOKENMINT_TRUSTED_PROXIES",
    "TOKENMINT_CLIENT_IP_HEADER",
    "TOKENMINT_SELF_SERVICE_AUDIENCE",
    "TOKENMINT_SHUTDOWN_DELAY",
    "TOKENMINT_SHUTDOWN_TIMEOUT",
    "TOKENMINT_METRICS_LISTEN",
    "TOKENMINT_REVOCATION_FEED_PUBLIC",
    "APPWRITE_OAUTH_CLIENT_IDS",
    "APPWRITE_OAUTH_ISSUER",
    "TOKENMINT_IMPERSONATION",
    "APPWRITE_API_KEY",
    "APPWRITE_API_KEY_FILE",
    "TOKENMINT_APPWRITE_RECONCILE",
];

/// The user-snapshot claims an access token may carry (`TOKENMINT_CLAIMS`).
pub const SNAPSHOT_CLAIMS: &[&str] = &["email", "email_verified", "name", "labels"];

/// A configuration problem, naming the variable it is about.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable has a value tokenmint cannot use.
    #[error("{variable}: {problem}")]
    Invalid {
        /// The environment variable (or its lower-case TOML key) at fault.
        variable: &'static str,
        /// What is wrong and what would be accepted.
        problem: String,
    },
    /// The configuration file could not be read or parsed.
    #[error("configuration file {path}: {problem}")]
    File {
        /// The file's path.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
}

/// How durably SQLite commits (`TOKENMINT_SQLITE_SYNCHRONOUS`; PostgreSQL is always durable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqliteSync {
    /// `PRAGMA synchronous = NORMAL` in WAL mode: a commit survives a crash of tokenmint, but an
    /// operating-system crash or power loss may roll back the last commits (since the last
    /// checkpoint). The default: nearly 4× the refresh rate of `Full` on the development
    /// machine (BENCHMARKS.md).
    Normal,
    /// `PRAGMA synchronous = FULL`: every commit waits for the disk.
    Full,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable, coloured; the default on a terminal.
    Pretty,
    /// One JSON object per line; the default otherwise.
    Json,
}

/// The database URL. Its `Debug` and `Display` hide any password it carries.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    fn new(url: &str) -> Self {
        Self(url.to_owned())
    }

    /// The URL with its password, for connecting only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the URL names the embedded SQLite backend.
    pub fn is_sqlite(&self) -> bool {
        self.0.starts_with("sqlite:")
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match url::Url::parse(&self.0) {
            Ok(mut parsed) if parsed.password().is_some() => {
                // Setting a password only fails for URLs that cannot carry one.
                let _ = parsed.set_password(Some("***"));
                f.write_str(parsed.as_str())
            }
            _ => f.write_str(&self.0),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// `DATABASE_URL`, or the contents of the file named by `DATABASE_URL_FILE` (the URL carries the
/// PostgreSQL password, so it has a Docker-secret form like every secret). An invalid value is
/// reported without being echoed, for the same reason.
fn database_url(raw: &mut Settings) -> Result<DatabaseUrl, ConfigError> {
    use secrecy::ExposeSecret;
    let url = raw.secret("DATABASE_URL")?;
    let text = url
        .as_ref()
        .map_or("sqlite://tokenmint.db", |url| url.expose_secret());
    parse_database_url(text).map_err(|problem| ConfigError::Invalid {
        variable: "DATABASE_URL",
        problem: format!("the value (not shown: it may carry a password) is not valid: {problem}"),
    })
}

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
    /// Loads the configuration of this process: `config_file` (or `tokenmint.toml` when it
    /// exists) and then the process environment.
    pub fn load(config_file: Option<&Path>) -> Result<Self, ConfigError> {
        let path = resolve_config_file(config_file)?;
        Self::from_sources(path.as_deref(), std::env::vars())
    }

    /// Loads the configuration from an optional file and an explicit environment, so tests
    /// never have to touch the process environment.
    pub fn from_sources(
        config_file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = config_file {
            if !path.is_file() {
                return Err(ConfigError::File {
                    path: path.to_path_buf(),
                    problem: "no such file".into(),
                });
            }
            check_file_keys(path)?;
            figment = figment.merge(Toml::file_exact(path));
        }
        let env: BTreeMap<String, String> = env
            .into_iter()
            .filter(|(name, value)| VARIABLES.contains(&name.as_str()) && !value.is_empty())
            .map(|(name, value)| (name.to_ascii_lowercase(), value))
            .collect();
        let raw: RawConfig = figment
            .merge(Serialized::globals(env))
            .extract()
            .map_err(|err| ConfigError::File {
                path: config_file.map_or_else(|| DEFAULT_CONFIG_FILE.into(), Path::to_path_buf),
                problem: err.to_string(),
            })?;
        Self::validate(raw)
    }

    /// A configuration with every default and the given database, for tests and tools.
    pub fn with_database(database_url: &str) -> Result<Self, ConfigError> {
        Self::from_sources(None, [("DATABASE_URL".to_owned(), database_url.to_owned())])
    }

    fn validate(raw: RawConfig) -> Result<Self, ConfigError> {
        let config = Self::parse_all(raw)?;
        if config.key_rotation <= config.jwks_max_age * 2 {
            return Err(ConfigError::Invalid {
                variable: "TOKENMINT_KEY_ROTATION",
                problem:
                    "must be longer than twice TOKENMINT_JWKS_MAX_AGE: a new key is published \
                          that long before it signs"
                        .into(),
            });
        }
        if let Some(audience) = &config.self_service_audience
            && !config.audiences.contains(audience)
        {
            return Err(ConfigError::Invalid {
                variable: "TOKENMINT_SELF_SERVICE_AUDIENCE",
                problem: format!(
                    "{audience:?} is not one of TOKENMINT_AUDIENCES: no access token could be \
                     minted for it"
                ),
            });
        }
        if config.appwrite_webhook_username.is_some() != config.appwrite_webhook_password.is_some()
        {
            return Err(ConfigError::Invalid {
                variable: "TOKENMINT_APPWRITE_WEBHOOK_USERNAME",
                problem: "set both TOKENMINT_APPWRITE_WEBHOOK_USERNAME and TOKENMINT_APPWRITE_WEBHOOK_PASSWORD, or neither".into(),
            });
        }
        Ok(config)
    }

    fn parse_all(raw: RawConfig) -> Result<Self, ConfigError> {
        let mut raw = Settings::new(raw);
        let issuer = raw.parse("TOKENMINT_ISSUER", "http://localhost:8080", parse_issuer)?;
        let webhook_default = format!("{}/webhooks/appwrite", issuer.trim_end_matches('/'));
        Ok(Self {
            database_url: database_url(&mut raw)?,
            listen: raw.parse("TOKENMINT_LISTEN", "127.0.0.1:8080", |v| {
                SocketAddr::from_str(v)
                    .map_err(|_| "expected an address like 127.0.0.1:8080".into())
            })?,
            appwrite_endpoint: raw.parse(
                "APPWRITE_ENDPOINT",
                "https://cloud.appwrite.io/v1",
                parse_http_url,
            )?,
            appwrite_project_id: raw.optional("APPWRITE_PROJECT_ID"),
            audiences: raw.parse("TOKENMINT_AUDIENCES", "api", parse_audiences)?,
            access_token_ttl: raw.duration(
                "TOKENMINT_ACCESS_TOKEN_TTL",
                "15m",
                ACCESS_TOKEN_TTL,
            )?,
            refresh_token_ttl: raw.duration(
                "TOKENMINT_REFRESH_TOKEN_TTL",
                "30d",
                SESSION_LIFETIME,
            )?,
            refresh_idle_ttl: raw.duration("TOKENMINT_REFRESH_IDLE_TTL", "7d", SESSION_LIFETIME)?,
            refresh_grace: raw.duration("TOKENMINT_REFRESH_GRACE", "10s", REFRESH_GRACE)?,
            signing_alg: raw.parse("TOKENMINT_SIGNING_ALG", "ES256", |v| {
                SigningAlgorithm::from_str(v).map_err(|err| err.to_string())
            })?,
            key_rotation: raw.duration("TOKENMINT_KEY_ROTATION", "30d", KEY_ROTATION)?,
            jwks_max_age: raw.duration("TOKENMINT_JWKS_MAX_AGE", "5m", JWKS_MAX_AGE)?,
            kek: raw.secret("TOKENMINT_KEK")?,
            appwrite_webhook_key: raw.secret("TOKENMINT_APPWRITE_WEBHOOK_KEY")?,
            appwrite_webhook_url: raw.parse(
                "TOKENMINT_APPWRITE_WEBHOOK_URL",
                &webhook_default,
                |v| parse_http_url(v).map(|_| v.to_owned()),
            )?,
            claims: raw.parse(
                "TOKENMINT_CLAIMS",
                "email,email_verified,name,labels",
                parse_claims,
            )?,
            log_format: raw.parse("TOKENMINT_LOG_FORMAT", default_log_format(), |v| match v {
                "pretty" => Ok(LogFormat::Pretty),
                "json" => Ok(LogFormat::Json),
                _ => Err("expected `pretty` or `json`".into()),
            })?,
            db_max_connections: raw.parse("TOKENMINT_DB_MAX_CONNECTIONS", "10", |v| {
                parse_number(v, DB_MAX_CONNECTIONS)
            })?,
            db_timeout: raw.duration("TOKENMINT_DB_TIMEOUT", "5s", DB_TIMEOUT)?,
            appwrite_timeout: raw.duration("TOKENMINT_APPWRITE_TIMEOUT", "5s", APPWRITE_TIMEOUT)?,
            appwrite_connect_timeout: raw.duration(
                "TOKENMINT_APPWRITE_CONNECT_TIMEOUT",
                "2s",
                APPWRITE_TIMEOUT,
            )?,
            admin_key_cache_ttl: raw.duration(
                "TOKENMINT_ADMIN_KEY_CACHE_TTL",
                "30s",
                ADMIN_KEY_CACHE_TTL,
            )?,
            appwrite_webhook_username: raw.optional("TOKENMINT_APPWRITE_WEBHOOK_USERNAME"),
            appwrite_webhook_password: raw.secret("TOKENMINT_APPWRITE_WEBHOOK_PASSWORD")?,
            cors_origins: raw.parse("TOKENMINT_CORS_ORIGINS", "", parse_origins)?,
            sqlite_synchronous: raw.parse(
                "TOKENMINT_SQLITE_SYNCHRONOUS",
                "normal",
                |v| match v {
                    "normal" => Ok(SqliteSync::Normal),
                    "full" => Ok(SqliteSync::Full),
                    _ => Err("expected `normal` or `full`".into()),
                },
            )?,
            rate_limits: RateLimitSettings::parse(&mut raw)?,
            trusted_proxies: raw.parse(
                "TOKENMINT_TRUSTED_PROXIES",
                "",
                limits::parse_trusted_proxies,
            )?,
            self_service_audience: raw.optional("TOKENMINT_SELF_SERVICE_AUDIENCE"),
            client_ip_header: raw.parse(
                "TOKENMINT_CLIENT_IP_HEADER",
                "x-forwarded-for",
                limits::parse_client_ip_header,
            )?,
            shutdown_delay: raw.duration("TOKENMINT_SHUTDOWN_DELAY", "5s", SHUTDOWN_DELAY)?,
            shutdown_timeout: raw.duration(
                "TOKENMINT_SHUTDOWN_TIMEOUT",
                "20s",
                SHUTDOWN_TIMEOUT,
            )?,
            metrics_listen: raw.parse("TOKENMINT_METRICS_LISTEN", "", |v| {
                (!v.is_empty())
                    .then(|| {
                        SocketAddr::from_str(v)
                            .map_err(|_| "expected an address like 0.0.0.0:9090".to_owned())
                    })
                    .transpose()
            })?,
            revocation_feed_public: raw.parse(
                "TOKENMINT_REVOCATION_FEED_PUBLIC",
                "false",
                parse_bool,
            )?,
            appwrite_oauth_client_ids: raw.parse("APPWRITE_OAUTH_CLIENT_IDS", "", |v| {
                if v.is_empty() {
                    Ok(Vec::new())
                } else {
                    parse_audiences(v)
                        .map_err(|_| "expected a comma-separated list of OAuth client ids".into())
                }
            })?,
            appwrite_oauth_issuer: raw
                .optional("APPWRITE_OAUTH_ISSUER")
                .map(|v| {
                    parse_http_url(&v)
                        .map(|_| v.trim_end_matches('/').to_owned())
                        .map_err(|problem| ConfigError::Invalid {
                            variable: "APPWRITE_OAUTH_ISSUER",
                            problem: format!("{v:?} is not valid: {problem}"),
                        })
                })
                .transpose()?,
            appwrite_api_key: raw.secret("APPWRITE_API_KEY")?,
            appwrite_reconcile: raw.parse("TOKENMINT_APPWRITE_RECONCILE", "15m", |v| {
                if v == "off" {
                    Ok(None)
                } else {
                    RECONCILE_PERIOD.check(parse_duration(v)?).map(Some)
                }
            })?,
            allow_impersonation: raw.parse("TOKENMINT_IMPERSONATION", "allow", |v| match v {
                "allow" => Ok(true),
                "deny" => Ok(false),
                _ => Err("expected `allow` or `deny`".into()),
            })?,
            issuer,
            key_reload_interval: Duration::from_secs(30),
        })
    }

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
