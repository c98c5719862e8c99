//! Configuration: built-in defaults, then an optional `tokenmint.toml`, then the environment.
//!
//! Every setting has one name, the environment variable of the design's table. The TOML file
//! uses the same names in lower case (`tokenmint_issuer = "https://auth.example.com"`), so
//! there is nothing new to learn; an unknown key in the file is an error, not a silent no-op.
//! An empty environment variable counts as unset (Docker env files often carry `NAME=`).
//!
//! Values are read as text and validated here, so every error names the variable it is about
//! and says what would be accepted. Secrets are [`SecretString`]s: `Debug` never prints them,
//! and no error message repeats a secret's value.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use secrecy::SecretString;
use serde::Deserialize;

use crate::crypto::signing::SigningAlgorithm;

/// The configuration file read when `--config` is not given; it is optional.
pub const DEFAULT_CONFIG_FILE: &str = "tokenmint.toml";

/// Every variable tokenmint reads, as written in the environment.
pub const VARIABLES: &[&str] = &[
    "DATABASE_URL",
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
    "TOKENMINT_APPWRITE_TIMEOUT",
    "TOKENMINT_APPWRITE_CONNECT_TIMEOUT",
    "TOKENMINT_ADMIN_KEY_CACHE_TTL",
    "TOKENMINT_APPWRITE_WEBHOOK_USERNAME",
    "TOKENMINT_APPWRITE_WEBHOOK_PASSWORD",
    "TOKENMINT_APPWRITE_WEBHOOK_PASSWORD_FILE",
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
    /// How often the signing-key set is re-read from the database. Not an environment
    /// variable: tests shorten it; operators have no reason to.
    pub key_reload_interval: Duration,
}

/// The raw, merged settings before validation: text (or a TOML scalar or list) per key.
#[derive(Debug, Default, Deserialize)]
struct RawConfig(BTreeMap<String, RawValue>);

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawValue {
    Text(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
    List(Vec<String>),
}

impl RawValue {
    fn into_text(self) -> String {
        match self {
            RawValue::Text(text) => text,
            RawValue::Integer(n) => n.to_string(),
            RawValue::Float(n) => n.to_string(),
            RawValue::Bool(b) => b.to_string(),
            RawValue::List(items) => items.join(","),
        }
    }
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
        let mut raw = Settings(raw.0);
        let issuer = raw.parse("TOKENMINT_ISSUER", "http://localhost:8080", parse_issuer)?;
        let webhook_default = format!("{}/webhooks/appwrite", issuer.trim_end_matches('/'));
        Ok(Self {
            database_url: raw.parse("DATABASE_URL", "sqlite://tokenmint.db", parse_database_url)?,
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
            access_token_ttl: raw.duration("TOKENMINT_ACCESS_TOKEN_TTL", "15m")?,
            refresh_token_ttl: raw.duration("TOKENMINT_REFRESH_TOKEN_TTL", "30d")?,
            refresh_idle_ttl: raw.duration("TOKENMINT_REFRESH_IDLE_TTL", "7d")?,
            refresh_grace: raw.parse("TOKENMINT_REFRESH_GRACE", "10s", parse_duration)?,
            signing_alg: raw.parse("TOKENMINT_SIGNING_ALG", "ES256", |v| {
                SigningAlgorithm::from_str(v).map_err(|err| err.to_string())
            })?,
            key_rotation: raw.duration("TOKENMINT_KEY_ROTATION", "30d")?,
            jwks_max_age: raw.duration("TOKENMINT_JWKS_MAX_AGE", "5m")?,
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
                match v.parse::<u32>() {
                    Ok(n) if (1..=1000).contains(&n) => Ok(n),
                    _ => Err("expected a whole number from 1 to 1000".into()),
                }
            })?,
            appwrite_timeout: raw.duration("TOKENMINT_APPWRITE_TIMEOUT", "5s")?,
            appwrite_connect_timeout: raw.duration("TOKENMINT_APPWRITE_CONNECT_TIMEOUT", "2s")?,
            admin_key_cache_ttl: raw.parse("TOKENMINT_ADMIN_KEY_CACHE_TTL", "30s", |v| {
                match parse_duration(v)? {
                    d if d <= Duration::from_secs(300) => Ok(d),
                    _ => Err(
                        "must be at most 5m: it bounds how long a revoked key keeps working".into(),
                    ),
                }
            })?,
            appwrite_webhook_username: raw.optional("TOKENMINT_APPWRITE_WEBHOOK_USERNAME"),
            appwrite_webhook_password: raw.secret("TOKENMINT_APPWRITE_WEBHOOK_PASSWORD")?,
            issuer,
            key_reload_interval: Duration::from_secs(30),
        })
    }

    /// The issuer joined with an absolute path, without a doubled slash.
    pub fn issuer_url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer.trim_end_matches('/'))
    }
}

/// The merged settings, consumed one variable at a time.
struct Settings(BTreeMap<String, RawValue>);

impl Settings {
    fn optional(&mut self, variable: &'static str) -> Option<String> {
        self.0
            .remove(&variable.to_ascii_lowercase())
            .map(RawValue::into_text)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    }

    fn parse<T>(
        &mut self,
        variable: &'static str,
        default: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let value = self
            .optional(variable)
            .unwrap_or_else(|| default.to_owned());
        parse(&value).map_err(|problem| ConfigError::Invalid {
            variable,
            problem: format!("{value:?} is not valid: {problem}"),
        })
    }

    fn duration(&mut self, variable: &'static str, default: &str) -> Result<Duration, ConfigError> {
        self.parse(variable, default, |v| match parse_duration(v)? {
            Duration::ZERO => Err("must be longer than zero".into()),
            duration => Ok(duration),
        })
    }

    /// A secret from `NAME` or from the file named by `NAME_FILE` (Docker secrets), never both.
    fn secret(&mut self, variable: &'static str) -> Result<Option<SecretString>, ConfigError> {
        let file_variable = file_variable_of(variable);
        match (self.optional(variable), self.optional(file_variable)) {
            (Some(_), Some(_)) => Err(ConfigError::Invalid {
                variable,
                problem: format!("set either {variable} or {file_variable}, not both"),
            }),
            (Some(value), None) => Ok(Some(SecretString::from(value))),
            (None, Some(path)) => match std::fs::read_to_string(&path) {
                Ok(value) if !value.trim().is_empty() => {
                    Ok(Some(SecretString::from(value.trim().to_owned())))
                }
                Ok(_) => Err(ConfigError::Invalid {
                    variable: file_variable,
                    problem: format!("the file {path} is empty"),
                }),
                Err(err) => Err(ConfigError::Invalid {
                    variable: file_variable,
                    problem: format!("cannot read {path}: {err}"),
                }),
            },
            (None, None) => Ok(None),
        }
    }
}

fn file_variable_of(variable: &'static str) -> &'static str {
    match variable {
        "TOKENMINT_KEK" => "TOKENMINT_KEK_FILE",
        "TOKENMINT_APPWRITE_WEBHOOK_PASSWORD" => "TOKENMINT_APPWRITE_WEBHOOK_PASSWORD_FILE",
        _ => "TOKENMINT_APPWRITE_WEBHOOK_KEY_FILE",
    }
}

/// The explicit file, or `tokenmint.toml` when it exists in the working directory.
fn resolve_config_file(explicit: Option<&Path>) -> Result<Option<PathBuf>, ConfigError> {
    match explicit {
        Some(path) => Ok(Some(path.to_path_buf())),
        None => {
            let default = PathBuf::from(DEFAULT_CONFIG_FILE);
            Ok(default.is_file().then_some(default))
        }
    }
}

/// Rejects unknown keys, so a typo in the file is reported rather than silently ignored.
fn check_file_keys(path: &Path) -> Result<(), ConfigError> {
    let keys: BTreeMap<String, figment::value::Value> = Figment::from(Toml::file_exact(path))
        .extract()
        .map_err(|err| ConfigError::File {
            path: path.to_path_buf(),
            problem: err.to_string(),
        })?;
    for key in keys.keys() {
        if !VARIABLES.iter().any(|v| v.eq_ignore_ascii_case(key)) {
            return Err(ConfigError::File {
                path: path.to_path_buf(),
                problem: format!(
                    "unknown key `{key}`; keys are the environment variable names in lower case, \
                     e.g. `tokenmint_issuer`"
                ),
            });
        }
        if key.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(ConfigError::File {
                path: path.to_path_buf(),
                problem: format!("write `{}` in lower case", key.to_ascii_lowercase()),
            });
        }
    }
    Ok(())
}

fn default_log_format() -> &'static str {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        "pretty"
    } else {
        "json"
    }
}

/// Parses a humantime duration (`90s`, `15m`, `30d`).
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    humantime::parse_duration(value)
        .map_err(|_| "expected a duration such as 90s, 15m or 30d".into())
}

fn parse_database_url(value: &str) -> Result<DatabaseUrl, String> {
    let supported = ["sqlite:", "postgres://", "postgresql://"];
    if supported.iter().any(|prefix| value.starts_with(prefix)) {
        Ok(DatabaseUrl(value.to_owned()))
    } else {
        Err("expected sqlite://PATH or postgres://USER@HOST/DATABASE".into())
    }
}

fn parse_http_url(value: &str) -> Result<url::Url, String> {
    match url::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Ok(url),
        _ => Err("expected an absolute http:// or https:// URL".into()),
    }
}

/// RFC 8414 §2: the issuer is an https URL (http tolerated for local use) with no query or
/// fragment. It is kept exactly as written, since verifiers compare `iss` byte for byte.
fn parse_issuer(value: &str) -> Result<String, String> {
    let url = parse_http_url(value)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err("the issuer must not have a query or a fragment".into());
    }
    Ok(value.to_owned())
}

fn parse_audiences(value: &str) -> Result<Vec<String>, String> {
    let audiences: Vec<String> = value.split(',').map(|a| a.trim().to_owned()).collect();
    if audiences.iter().any(String::is_empty) {
        return Err("expected a comma-separated list of non-empty audiences".into());
    }
    Ok(audiences)
}

fn parse_claims(value: &str) -> Result<Vec<String>, String> {
    if value == "none" {
        return Ok(Vec::new());
    }
    let mut claims = Vec::new();
    for claim in value.split(',').map(str::trim) {
        if !SNAPSHOT_CLAIMS.contains(&claim) {
            return Err(format!(
                "unknown claim {claim:?}; expected some of {} (or `none`)",
                SNAPSHOT_CLAIMS.join(", ")
            ));
        }
        if !claims.iter().any(|c| c == claim) {
            claims.push(claim.to_owned());
        }
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn load(env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        Config::from_sources(None, env)
    }

    fn error_variable(env: &[(&str, &str)]) -> &'static str {
        match load(env) {
            Err(ConfigError::Invalid { variable, .. }) => variable,
            other => panic!("expected an invalid-variable error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_match_the_design_table() {
        let config = load(&[]).unwrap();
        assert_eq!(config.database_url.expose(), "sqlite://tokenmint.db");
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.issuer, "http://localhost:8080");
        assert_eq!(
            config.appwrite_endpoint.as_str(),
            "https://cloud.appwrite.io/v1"
        );
        assert_eq!(config.appwrite_project_id, None);
        assert_eq!(config.audiences, ["api"]);
        assert_eq!(config.access_token_ttl, Duration::from_secs(15 * 60));
        assert_eq!(config.refresh_token_ttl, Duration::from_secs(30 * 86400));
        assert_eq!(config.refresh_idle_ttl, Duration::from_secs(7 * 86400));
        assert_eq!(config.refresh_grace, Duration::from_secs(10));
        assert_eq!(config.signing_alg, SigningAlgorithm::Es256);
        assert_eq!(config.key_rotation, Duration::from_secs(30 * 86400));
        assert_eq!(config.jwks_max_age, Duration::from_secs(300));
        assert!(config.kek.is_none());
        assert!(config.appwrite_webhook_key.is_none());
        assert_eq!(
            config.appwrite_webhook_url,
            "http://localhost:8080/webhooks/appwrite"
        );
        assert_eq!(config.claims, ["email", "email_verified", "name", "labels"]);
        assert_eq!(config.appwrite_timeout, Duration::from_secs(5));
        assert_eq!(config.appwrite_connect_timeout, Duration::from_secs(2));
    }

    #[test]
    fn environment_values_are_parsed() {
        let config = load(&[
            ("TOKENMINT_AUDIENCES", "orders, billing"),
            ("TOKENMINT_ACCESS_TOKEN_TTL", "90s"),
            ("TOKENMINT_SIGNING_ALG", "EdDSA"),
            ("TOKENMINT_ISSUER", "https://auth.example.com/"),
            ("TOKENMINT_CLAIMS", "labels,email"),
            ("APPWRITE_PROJECT_ID", "proj123"),
        ])
        .unwrap();
        assert_eq!(config.audiences, ["orders", "billing"]);
        assert_eq!(config.access_token_ttl, Duration::from_secs(90));
        assert_eq!(config.signing_alg, SigningAlgorithm::EdDsa);
        assert_eq!(config.issuer, "https://auth.example.com/");
        assert_eq!(
            config.issuer_url("/oauth/token"),
            "https://auth.example.com/oauth/token"
        );
        assert_eq!(
            config.appwrite_webhook_url,
            "https://auth.example.com/webhooks/appwrite"
        );
        assert_eq!(config.claims, ["labels", "email"]);
        assert_eq!(config.appwrite_project_id.as_deref(), Some("proj123"));
    }

    #[test]
    fn invalid_values_name_their_variable() {
        let cases: &[(&str, &str)] = &[
            ("DATABASE_URL", "mysql://localhost/db"),
            ("TOKENMINT_LISTEN", "localhost"),
            ("TOKENMINT_ISSUER", "auth.example.com"),
            ("TOKENMINT_ISSUER", "https://auth.example.com/?x=1"),
            ("APPWRITE_ENDPOINT", "ftp://appwrite"),
            ("TOKENMINT_AUDIENCES", "api,,web"),
            ("TOKENMINT_ACCESS_TOKEN_TTL", "fifteen minutes"),
            ("TOKENMINT_REFRESH_TOKEN_TTL", "0s"),
            ("TOKENMINT_REFRESH_IDLE_TTL", "7"),
            ("TOKENMINT_REFRESH_GRACE", "-1s"),
            ("TOKENMINT_SIGNING_ALG", "HS256"),
            ("TOKENMINT_KEY_ROTATION", "soon"),
            ("TOKENMINT_JWKS_MAX_AGE", "5 parsecs"),
            ("TOKENMINT_CLAIMS", "email,password"),
            ("TOKENMINT_LOG_FORMAT", "xml"),
            ("TOKENMINT_DB_MAX_CONNECTIONS", "0"),
            ("TOKENMINT_APPWRITE_WEBHOOK_URL", "not a url"),
            ("TOKENMINT_APPWRITE_TIMEOUT", "0s"),
            ("TOKENMINT_APPWRITE_CONNECT_TIMEOUT", "2 fortnights"),
            ("TOKENMINT_ADMIN_KEY_CACHE_TTL", "1h"),
            ("TOKENMINT_APPWRITE_WEBHOOK_USERNAME", "appwrite"),
        ];
        for (variable, value) in cases {
            assert_eq!(
                error_variable(&[(variable, value)]),
                *variable,
                "{variable}={value}"
            );
            let message = load(&[(variable, value)]).unwrap_err().to_string();
            assert!(message.starts_with(variable), "{message}");
        }
    }

    #[test]
    fn rotation_must_outlast_two_jwks_lifetimes() {
        let env = [
            ("TOKENMINT_KEY_ROTATION", "10m"),
            ("TOKENMINT_JWKS_MAX_AGE", "5m"),
        ];
        assert_eq!(error_variable(&env), "TOKENMINT_KEY_ROTATION");
        let env = [
            ("TOKENMINT_KEY_ROTATION", "11m"),
            ("TOKENMINT_JWKS_MAX_AGE", "5m"),
        ];
        assert!(load(&env).is_ok());
    }

    #[test]
    fn grace_may_be_zero_but_lifetimes_may_not() {
        assert_eq!(
            load(&[("TOKENMINT_REFRESH_GRACE", "0s")])
                .unwrap()
                .refresh_grace,
            Duration::ZERO
        );
        assert_eq!(
            error_variable(&[("TOKENMINT_ACCESS_TOKEN_TTL", "0s")]),
            "TOKENMINT_ACCESS_TOKEN_TTL"
        );
    }

    #[test]
    fn empty_variables_count_as_unset() {
        let config = load(&[("TOKENMINT_KEK", ""), ("TOKENMINT_AUDIENCES", "")]).unwrap();
        assert!(config.kek.is_none());
        assert_eq!(config.audiences, ["api"]);
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let config = load(&[
            ("TOKENMINT_KEK", "c2VjcmV0LWtlay12YWx1ZQ=="),
            ("TOKENMINT_APPWRITE_WEBHOOK_KEY", "webhook-secret-value"),
            (
                "DATABASE_URL",
                "postgres://app:db-password@db.internal/tokenmint",
            ),
        ])
        .unwrap();
        let debug = format!("{config:?}");
        for secret in [
            "c2VjcmV0LWtlay12YWx1ZQ==",
            "webhook-secret-value",
            "db-password",
        ] {
            assert!(!debug.contains(secret), "{secret} leaked into {debug}");
        }
        assert!(debug.contains("db.internal"));
        assert_eq!(
            config.kek.unwrap().expose_secret(),
            "c2VjcmV0LWtlay12YWx1ZQ=="
        );
    }

    #[test]
    fn secrets_can_come_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek");
        std::fs::write(&path, "a2V5LWZyb20tZmlsZQ==\n").unwrap();
        let config = load(&[("TOKENMINT_KEK_FILE", path.to_str().unwrap())]).unwrap();
        assert_eq!(config.kek.unwrap().expose_secret(), "a2V5LWZyb20tZmlsZQ==");
        let both = [
            ("TOKENMINT_KEK_FILE", path.to_str().unwrap()),
            ("TOKENMINT_KEK", "x"),
        ];
        assert_eq!(error_variable(&both), "TOKENMINT_KEK");
        let missing = [("TOKENMINT_KEK_FILE", "/nonexistent/kek")];
        assert_eq!(error_variable(&missing), "TOKENMINT_KEK_FILE");
    }

    #[test]
    fn the_file_sits_between_defaults_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenmint.toml");
        std::fs::write(
            &path,
            "tokenmint_audiences = [\"a\", \"b\"]\ntokenmint_access_token_ttl = \"5m\"\n\
             tokenmint_db_max_connections = 3\n",
        )
        .unwrap();
        let env = [("TOKENMINT_ACCESS_TOKEN_TTL".to_owned(), "1m".to_owned())];
        let config = Config::from_sources(Some(&path), env).unwrap();
        assert_eq!(config.audiences, ["a", "b"]);
        assert_eq!(config.access_token_ttl, Duration::from_secs(60));
        assert_eq!(config.db_max_connections, 3);
    }

    #[test]
    fn unknown_or_upper_case_file_keys_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenmint.toml");
        for content in [
            "tokenmint_isuer = \"x\"\n",
            "TOKENMINT_ISSUER = \"http://a\"\n",
        ] {
            std::fs::write(&path, content).unwrap();
            let err = Config::from_sources(Some(&path), []).unwrap_err();
            assert!(matches!(err, ConfigError::File { .. }), "{err}");
        }
        let missing = dir.path().join("missing.toml");
        assert!(Config::from_sources(Some(&missing), []).is_err());
    }
}
