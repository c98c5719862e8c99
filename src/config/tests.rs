//! Configuration tests: defaults, parsing, ranges, and the names the docs list.

use std::path::Path;
use std::time::Duration;

use super::*;
use crate::crypto::signing::SigningAlgorithm;

pub(super) fn load(env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
    Config::from_sources(None, env)
}

pub(super) fn error_variable(env: &[(&str, &str)]) -> &'static str {
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
    assert_eq!(config.shutdown_delay, Duration::from_secs(5));
    assert_eq!(config.shutdown_timeout, Duration::from_secs(20));
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
        ("TOKENMINT_SQLITE_SYNCHRONOUS", "off"),
        ("TOKENMINT_CORS_ORIGINS", "*"),
        ("TOKENMINT_METRICS_LISTEN", "localhost:9090"),
        ("TOKENMINT_CLIENT_IP_HEADER", "x-real-ip"),
        ("TOKENMINT_SELF_SERVICE_AUDIENCE", "account"),
        ("TOKENMINT_DB_TIMEOUT", "30s"),
        ("TOKENMINT_REVOCATION_FEED_PUBLIC", "yes"),
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
fn the_client_ip_header_and_the_self_service_audience_are_read() {
    let config = load(&[]).unwrap();
    assert_eq!(config.client_ip_header, ClientIpHeader::XForwardedFor);
    assert_eq!(config.self_service_audience, None);
    assert_eq!(config.db_timeout, std::time::Duration::from_secs(5));
    let config = load(&[
        ("TOKENMINT_CLIENT_IP_HEADER", "Forwarded"),
        ("TOKENMINT_AUDIENCES", "api,account"),
        ("TOKENMINT_SELF_SERVICE_AUDIENCE", "account"),
        ("TOKENMINT_DB_TIMEOUT", "800ms"),
    ])
    .unwrap();
    assert_eq!(config.client_ip_header, ClientIpHeader::Forwarded);
    assert_eq!(config.self_service_audience.as_deref(), Some("account"));
    assert_eq!(config.db_timeout, std::time::Duration::from_millis(800));
}

#[test]
fn the_revocation_feed_needs_a_key_unless_made_public() {
    assert!(!load(&[]).unwrap().revocation_feed_public);
    for (value, public) in [("true", true), ("TRUE", true), ("false", false)] {
        let config = load(&[("TOKENMINT_REVOCATION_FEED_PUBLIC", value)]).unwrap();
        assert_eq!(config.revocation_feed_public, public, "{value}");
    }
}

#[test]
fn metrics_listen_is_unset_by_default_and_read_when_set() {
    assert_eq!(load(&[]).unwrap().metrics_listen, None);
    let config = load(&[("TOKENMINT_METRICS_LISTEN", "0.0.0.0:9090")]).unwrap();
    assert_eq!(config.metrics_listen, Some("0.0.0.0:9090".parse().unwrap()));
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
fn every_duration_and_number_is_range_checked() {
    let cases: &[(&str, &str, &str)] = &[
        ("TOKENMINT_ACCESS_TOKEN_TTL", "10s", "9s"),
        ("TOKENMINT_ACCESS_TOKEN_TTL", "24h", "1000years"),
        ("TOKENMINT_REFRESH_TOKEN_TTL", "400d", "300000years"),
        ("TOKENMINT_REFRESH_TOKEN_TTL", "1m", "59s"),
        ("TOKENMINT_REFRESH_IDLE_TTL", "400d", "401d"),
        ("TOKENMINT_REFRESH_GRACE", "0s", "100years"),
        ("TOKENMINT_REFRESH_GRACE", "5m", "301s"),
        ("TOKENMINT_KEY_ROTATION", "3650d", "3651d"),
        ("TOKENMINT_JWKS_MAX_AGE", "24h", "0s"),
        ("TOKENMINT_APPWRITE_TIMEOUT", "60s", "3days"),
        ("TOKENMINT_APPWRITE_CONNECT_TIMEOUT", "100ms", "99ms"),
        ("TOKENMINT_ADMIN_KEY_CACHE_TTL", "0s", "6m"),
        ("TOKENMINT_DB_MAX_CONNECTIONS", "1000", "1001"),
        ("TOKENMINT_SHUTDOWN_DELAY", "0s", "6m"),
        ("TOKENMINT_SHUTDOWN_TIMEOUT", "1s", "0s"),
        ("TOKENMINT_SHUTDOWN_TIMEOUT", "10m", "11m"),
    ];
    for (variable, inside, outside) in cases {
        assert!(
            load(&[(variable, inside)]).is_ok(),
            "{variable}={inside} is in range"
        );
        let message = load(&[(variable, outside)]).unwrap_err().to_string();
        assert!(
            message.starts_with(variable),
            "{variable}={outside}: {message}"
        );
    }
}

#[test]
fn cors_origins_are_exact_origins() {
    let config = load(&[(
        "TOKENMINT_CORS_ORIGINS",
        "https://app.example.com, http://localhost:3000",
    )])
    .unwrap();
    assert_eq!(
        config.cors_origins,
        ["https://app.example.com", "http://localhost:3000"]
    );
    assert!(load(&[]).unwrap().cors_origins.is_empty());
    for bad in [
        "*",
        "https://app.example.com/",
        "https://app.example.com/path",
        "app.example.com",
        "ftp://app.example.com",
        "https://user@app.example.com",
    ] {
        assert_eq!(
            error_variable(&[("TOKENMINT_CORS_ORIGINS", bad)]),
            "TOKENMINT_CORS_ORIGINS",
            "{bad}"
        );
    }
}

#[test]
fn sqlite_commits_are_crash_safe_by_default_and_power_safe_on_request() {
    assert_eq!(load(&[]).unwrap().sqlite_synchronous, SqliteSync::Normal);
    let full = load(&[("TOKENMINT_SQLITE_SYNCHRONOUS", "full")]).unwrap();
    assert_eq!(full.sqlite_synchronous, SqliteSync::Full);
}

#[test]
fn appwrite_oauth2_tokens_are_accepted_only_for_named_clients() {
    let config = load(&[("APPWRITE_PROJECT_ID", "p1")]).unwrap();
    assert_eq!(
        config.appwrite_oauth_issuer(),
        None,
        "no client ids: refused"
    );
    assert!(config.allow_impersonation);

    let config = load(&[
        ("APPWRITE_PROJECT_ID", "p1"),
        ("APPWRITE_ENDPOINT", "https://fra.cloud.appwrite.io/v1/"),
        ("APPWRITE_OAUTH_CLIENT_IDS", "web, mobile"),
    ])
    .unwrap();
    assert_eq!(config.appwrite_oauth_client_ids, ["web", "mobile"]);
    assert_eq!(
        config.appwrite_oauth_issuer().as_deref(),
        Some("https://fra.cloud.appwrite.io/v1/oauth2/p1")
    );
    let config = load(&[
        ("APPWRITE_PROJECT_ID", "p1"),
        ("APPWRITE_OAUTH_CLIENT_IDS", "web"),
        (
            "APPWRITE_OAUTH_ISSUER",
            "https://auth.example.com/v1/oauth2/p1",
        ),
        ("TOKENMINT_IMPERSONATION", "deny"),
    ])
    .unwrap();
    assert_eq!(
        config.appwrite_oauth_issuer().as_deref(),
        Some("https://auth.example.com/v1/oauth2/p1")
    );
    assert!(!config.allow_impersonation);

    assert_eq!(
        error_variable(&[("APPWRITE_OAUTH_CLIENT_IDS", "web,,mobile")]),
        "APPWRITE_OAUTH_CLIENT_IDS"
    );
    assert_eq!(
        error_variable(&[("APPWRITE_OAUTH_ISSUER", "ftp://x")]),
        "APPWRITE_OAUTH_ISSUER"
    );
    assert_eq!(
        error_variable(&[("TOKENMINT_IMPERSONATION", "maybe")]),
        "TOKENMINT_IMPERSONATION"
    );
}

/// The names operators write: every variable the configuration reads ([`VARIABLES`]) is in
/// the reference page's table (one row each, the name first) and in `.env.example`, and
/// neither lists a name the code does not read. `RUST_LOG` is read by the log filter, not by
/// the configuration: `.env.example` may show it, the table does not list it.
#[test]
fn every_variable_is_documented_and_nothing_else() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |path: &str| {
        std::fs::read_to_string(root.join(path)).unwrap_or_else(|err| panic!("{path}: {err}"))
    };
    let is_name = |name: &str| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    };
    let reference: std::collections::BTreeSet<String> = read("docs/reference/configuration.md")
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`').map(|(name, _)| name.to_owned()))
        .filter(|name| is_name(name))
        .collect();
    let example: std::collections::BTreeSet<String> = read(".env.example")
        .lines()
        .map(|line| line.trim_start_matches('#').trim_start())
        .filter_map(|line| line.split_once('=').map(|(name, _)| name.to_owned()))
        .filter(|name| is_name(name) && name != "RUST_LOG")
        .collect();
    let code: std::collections::BTreeSet<String> =
        VARIABLES.iter().map(|name| (*name).to_owned()).collect();
    for (file, listed) in [
        ("docs/reference/configuration.md", &reference),
        (".env.example", &example),
    ] {
        let missing: Vec<_> = code.difference(listed).collect();
        let unknown: Vec<_> = listed.difference(&code).collect();
        assert!(
            missing.is_empty() && unknown.is_empty(),
            "{file}: missing {missing:?}; names the code does not read {unknown:?}"
        );
    }
}
