//! Assembling a [`Config`]: the sources merged, each value parsed, then the checks between
//! settings.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};

use super::error::ConfigError;
use super::kinds::{DatabaseUrl, LogFormat, SqliteSync};
use super::limits::{self, RateLimitSettings};
use super::model::Config;
use super::names::{DEFAULT_CONFIG_FILE, VARIABLES};
use super::sources::{
    RawConfig, Settings, check_file_keys, default_log_format, resolve_config_file,
};
use super::values::{
    ACCESS_TOKEN_TTL, ADMIN_KEY_CACHE_TTL, APPWRITE_TIMEOUT, DB_MAX_CONNECTIONS, DB_TIMEOUT,
    JWKS_MAX_AGE, KEY_ROTATION, RECONCILE_PERIOD, REFRESH_GRACE, SESSION_LIFETIME, SHUTDOWN_DELAY,
    SHUTDOWN_TIMEOUT, parse_audiences, parse_bool, parse_claims, parse_database_url,
    parse_duration, parse_http_url, parse_issuer, parse_number, parse_origins,
};
use crate::crypto::signing::SigningAlgorithm;

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
}
