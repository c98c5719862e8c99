//! Configuration tests: the TOML file, secrets from files (never echoed), and the rate limits
//! and trusted proxies as a whole configuration reads them.

use std::num::NonZeroU32;
use std::time::Duration;

use secrecy::ExposeSecret;

use super::tests::{error_variable, load};
use super::*;

fn rate(count: u32, seconds: u64) -> Option<Rate> {
    Some(Rate {
        count: NonZeroU32::new(count).unwrap(),
        per: Duration::from_secs(seconds),
    })
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

/// Every secret tokenmint reads has a `_FILE` form (Docker and Kubernetes secrets).
#[test]
fn every_secret_has_a_file_variant() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = [
        ("DATABASE_URL", "postgres://u:pw@db/tokenmint"),
        ("TOKENMINT_KEK", "a2V5LWZyb20tZmlsZQ=="),
        ("TOKENMINT_APPWRITE_WEBHOOK_KEY", "webhook-key"),
        ("TOKENMINT_APPWRITE_WEBHOOK_PASSWORD", "webhook-password"),
    ];
    let mut env = vec![(
        "TOKENMINT_APPWRITE_WEBHOOK_USERNAME".to_owned(),
        "appwrite".to_owned(),
    )];
    for (variable, value) in secrets {
        let path = dir.path().join(variable);
        std::fs::write(&path, format!("{value}\n")).unwrap();
        let file_variable = format!("{variable}_FILE");
        assert!(
            VARIABLES.contains(&file_variable.as_str()),
            "{file_variable}"
        );
        env.push((file_variable, path.to_str().unwrap().to_owned()));
    }
    let config = Config::from_sources(None, env).unwrap();
    assert_eq!(config.database_url.expose(), secrets[0].1);
    assert_eq!(config.kek.unwrap().expose_secret(), secrets[1].1);
    assert_eq!(
        config.appwrite_webhook_key.unwrap().expose_secret(),
        secrets[2].1
    );
    assert_eq!(
        config.appwrite_webhook_password.unwrap().expose_secret(),
        secrets[3].1
    );
}

#[test]
fn the_database_url_can_come_from_a_file_and_is_never_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("database-url");
    std::fs::write(&path, "postgres://tokenmint:s3cret-pw@db:5432/tokenmint\n").unwrap();
    let config = load(&[("DATABASE_URL_FILE", path.to_str().unwrap())]).unwrap();
    assert_eq!(
        config.database_url.expose(),
        "postgres://tokenmint:s3cret-pw@db:5432/tokenmint"
    );
    assert!(!format!("{config:?}").contains("s3cret-pw"));
    let both = [
        ("DATABASE_URL_FILE", path.to_str().unwrap()),
        ("DATABASE_URL", "sqlite://x.db"),
    ];
    assert_eq!(error_variable(&both), "DATABASE_URL");
    let missing = [("DATABASE_URL_FILE", "/nonexistent/url")];
    assert_eq!(error_variable(&missing), "DATABASE_URL_FILE");

    std::fs::write(&path, "mysql://tokenmint:s3cret-pw@db/tokenmint").unwrap();
    match load(&[("DATABASE_URL_FILE", path.to_str().unwrap())]) {
        Err(error @ ConfigError::Invalid { variable, .. }) => {
            assert_eq!(variable, "DATABASE_URL");
            assert!(!error.to_string().contains("s3cret-pw"), "{error}");
        }
        other => panic!("expected an invalid DATABASE_URL, got {other:?}"),
    }
    let invalid = load(&[("DATABASE_URL", "mysql://u:s3cret-pw@db/x")]).unwrap_err();
    assert!(!invalid.to_string().contains("s3cret-pw"), "{invalid}");
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

#[test]
fn defaults_are_generous_and_no_proxy_is_trusted() {
    let config = load(&[]).unwrap();
    let limits = config.rate_limits;
    assert_eq!(limits.ip, rate(1200, 60));
    assert_eq!(limits.webhook_ip, rate(6000, 60));
    assert_eq!(limits.exchange_user, rate(60, 3600));
    assert_eq!(limits.admin_key, rate(600, 60));
    assert!(config.trusted_proxies.is_empty());
}

#[test]
fn each_limit_is_disabled_by_zero_and_errors_name_their_variable() {
    let names = [
        "TOKENMINT_RATE_LIMIT_IP",
        "TOKENMINT_RATE_LIMIT_WEBHOOK_IP",
        "TOKENMINT_RATE_LIMIT_EXCHANGE_USER",
        "TOKENMINT_RATE_LIMIT_ADMIN_KEY",
    ];
    let off: Vec<(&str, &str)> = names.iter().map(|n| (*n, "0")).collect();
    assert_eq!(load(&off).unwrap().rate_limits, RateLimitSettings::DISABLED);
    for name in names.into_iter().chain(["TOKENMINT_TRUSTED_PROXIES"]) {
        match load(&[(name, "lots")]) {
            Err(ConfigError::Invalid { variable, problem }) => {
                assert_eq!(variable, name);
                assert!(problem.contains("\"lots\""), "{problem}");
            }
            other => panic!("{name}: expected an invalid-variable error, got {other:?}"),
        }
    }
}
