//! Parsing and checking each kind of setting. Every duration and number has a range: the
//! bounds below are the documented ones (docs/reference/configuration.md, `.env.example`), and
//! a value outside them stops start-up with a message naming the variable.

use std::time::Duration;

use super::kinds::DatabaseUrl;
use super::names::SNAPSHOT_CLAIMS;

/// The accepted range of a duration setting, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationRange {
    /// Shortest accepted.
    pub min: Duration,
    /// Longest accepted.
    pub max: Duration,
}

const fn seconds(n: u64) -> Duration {
    Duration::from_secs(n)
}

const DAY: u64 = 86_400;

/// `TOKENMINT_ACCESS_TOKEN_TTL`: 10 s to 24 h (verifiers keep revocation-feed entries that long).
pub const ACCESS_TOKEN_TTL: DurationRange = DurationRange {
    min: seconds(10),
    max: seconds(DAY),
};
/// `TOKENMINT_REFRESH_TOKEN_TTL` and `TOKENMINT_REFRESH_IDLE_TTL`: 1 min to 400 days.
pub const SESSION_LIFETIME: DurationRange = DurationRange {
    min: seconds(60),
    max: seconds(400 * DAY),
};
/// `TOKENMINT_REFRESH_GRACE`: 0 (off) to 5 min.
pub const REFRESH_GRACE: DurationRange = DurationRange {
    min: Duration::ZERO,
    max: seconds(300),
};
/// `TOKENMINT_KEY_ROTATION`: 1 min to 10 years (and longer than twice the JWKS max-age).
pub const KEY_ROTATION: DurationRange = DurationRange {
    min: seconds(60),
    max: seconds(3650 * DAY),
};
/// `TOKENMINT_JWKS_MAX_AGE`: 1 s to 24 h.
pub const JWKS_MAX_AGE: DurationRange = DurationRange {
    min: seconds(1),
    max: seconds(DAY),
};
/// `TOKENMINT_APPWRITE_TIMEOUT` and `TOKENMINT_APPWRITE_CONNECT_TIMEOUT`: 100 ms to 60 s.
pub const APPWRITE_TIMEOUT: DurationRange = DurationRange {
    min: Duration::from_millis(100),
    max: seconds(60),
};
/// `TOKENMINT_ADMIN_KEY_CACHE_TTL`: 0 (no cache) to 5 min; it bounds how long a revoked key
/// keeps working on other replicas.
pub const ADMIN_KEY_CACHE_TTL: DurationRange = DurationRange {
    min: Duration::ZERO,
    max: seconds(300),
};
/// `TOKENMINT_SHUTDOWN_DELAY`: 0 (stop accepting at once) to 5 min.
pub const SHUTDOWN_DELAY: DurationRange = DurationRange {
    min: Duration::ZERO,
    max: seconds(300),
};
/// `TOKENMINT_SHUTDOWN_TIMEOUT`: 1 s to 10 min.
pub const SHUTDOWN_TIMEOUT: DurationRange = DurationRange {
    min: seconds(1),
    max: seconds(600),
};
/// `TOKENMINT_APPWRITE_RECONCILE`: 1 s (tests) to 7 days.
pub const RECONCILE_PERIOD: DurationRange = DurationRange {
    min: seconds(1),
    max: seconds(7 * DAY),
};
/// `TOKENMINT_DB_TIMEOUT`: 100 ms to 10 s. Every database limit derives from it (see
/// `store::DatabaseTimeouts`); at 10 s a refresh still answers within the 15 s request
/// timeout.
pub const DB_TIMEOUT: DurationRange = DurationRange {
    min: Duration::from_millis(100),
    max: seconds(10),
};
/// `TOKENMINT_DB_MAX_CONNECTIONS`: 1 to 1000.
pub const DB_MAX_CONNECTIONS: (u32, u32) = (1, 1000);

impl DurationRange {
    /// `duration` if it is within the range; what is wrong otherwise.
    pub fn check(self, duration: Duration) -> Result<Duration, String> {
        if (self.min..=self.max).contains(&duration) {
            Ok(duration)
        } else {
            Err(format!(
                "must be from {} to {}",
                humantime::format_duration(self.min),
                humantime::format_duration(self.max)
            ))
        }
    }
}

/// A whole number within `(min, max)`, both included.
pub(super) fn parse_number(value: &str, (min, max): (u32, u32)) -> Result<u32, String> {
    match value.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("expected a whole number from {min} to {max}")),
    }
}

/// `TOKENMINT_CORS_ORIGINS`: a comma-separated list of exact origins (`scheme://host[:port]`,
/// no path, no wildcard); empty for none.
/// `true` or `false` (any case).
pub(super) fn parse_bool(value: &str) -> Result<bool, String> {
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err("expected `true` or `false`".into())
    }
}

pub(super) fn parse_origins(value: &str) -> Result<Vec<String>, String> {
    let mut origins = Vec::new();
    for origin in value.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        let url = url::Url::parse(origin).map_err(|_| format!("{origin:?} is not an origin"))?;
        let exact = matches!(url.scheme(), "http" | "https")
            && url.has_host()
            && url.path() == "/"
            && url.query().is_none()
            && url.fragment().is_none()
            && url.username().is_empty()
            && url.password().is_none()
            && !origin.ends_with('/');
        if !exact {
            return Err(format!(
                "{origin:?} is not an exact origin such as https://app.example.com (no path, \
                 no trailing slash, no wildcard)"
            ));
        }
        origins.push(url.origin().ascii_serialization());
    }
    Ok(origins)
}

/// Parses a humantime duration (`90s`, `15m`, `30d`).
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    humantime::parse_duration(value)
        .map_err(|_| "expected a duration such as 90s, 15m or 30d".into())
}

pub(super) fn parse_database_url(value: &str) -> Result<DatabaseUrl, String> {
    let supported = ["sqlite:", "postgres://", "postgresql://"];
    if supported.iter().any(|prefix| value.starts_with(prefix)) {
        Ok(DatabaseUrl::new(value))
    } else {
        Err("expected sqlite://PATH or postgres://USER@HOST/DATABASE".into())
    }
}

pub(super) fn parse_http_url(value: &str) -> Result<url::Url, String> {
    match url::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Ok(url),
        _ => Err("expected an absolute http:// or https:// URL".into()),
    }
}

/// RFC 8414 §2: the issuer is an https URL (http tolerated for local use) with no query or
/// fragment. It is kept exactly as written, since verifiers compare `iss` byte for byte.
pub(super) fn parse_issuer(value: &str) -> Result<String, String> {
    let url = parse_http_url(value)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err("the issuer must not have a query or a fragment".into());
    }
    Ok(value.to_owned())
}

pub(super) fn parse_audiences(value: &str) -> Result<Vec<String>, String> {
    let audiences: Vec<String> = value.split(',').map(|a| a.trim().to_owned()).collect();
    if audiences.iter().any(String::is_empty) {
        return Err("expected a comma-separated list of non-empty audiences".into());
    }
    Ok(audiences)
}

pub(super) fn parse_claims(value: &str) -> Result<Vec<String>, String> {
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
