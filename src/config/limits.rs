//! Rate-limit settings (`TOKENMINT_RATE_LIMIT_*`) and the trusted proxies
//! (`TOKENMINT_TRUSTED_PROXIES`): parsing and range checks. What the limits do is
//! `crate::limiter`'s business; how the client address is found, `crate::http`'s.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use ipnet::IpNet;

use super::error::ConfigError;
use super::sources::Settings;

/// Largest count accepted in a rate (`COUNT/UNIT`).
pub const MAX_RATE_COUNT: u32 = 1_000_000;

/// A rate: at most `count` requests per `per`, all of which may come at once (the bucket holds
/// one period's worth and refills steadily: one request every `per / count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests per period, and the burst.
    pub count: NonZeroU32,
    /// The period: one second, minute or hour.
    pub per: Duration,
}

/// The rate limits; `None` is a limit disabled with `0`. Defaults and reasons:
/// docs/reference/rate-limits.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// `TOKENMINT_RATE_LIMIT_IP`: per client IP, shared by `/oauth/token`, `/oauth/revoke` and
    /// `/oauth/introspect`.
    pub ip: Option<Rate>,
    /// `TOKENMINT_RATE_LIMIT_WEBHOOK_IP`: per client IP on `/webhooks/appwrite` (Appwrite's
    /// servers: a bucket of their own, sized for bulk changes in the console).
    pub webhook_ip: Option<Rate>,
    /// `TOKENMINT_RATE_LIMIT_EXCHANGE_USER`: token exchanges per Appwrite user.
    pub exchange_user: Option<Rate>,
    /// `TOKENMINT_RATE_LIMIT_ADMIN_KEY`: admin API requests per admin key.
    pub admin_key: Option<Rate>,
}

impl RateLimitSettings {
    /// Every limit off.
    pub const DISABLED: Self = Self {
        ip: None,
        webhook_ip: None,
        exchange_user: None,
        admin_key: None,
    };

    pub(super) fn parse(raw: &mut Settings) -> Result<Self, ConfigError> {
        Ok(Self {
            ip: raw.parse("TOKENMINT_RATE_LIMIT_IP", "1200/min", parse_rate)?,
            webhook_ip: raw.parse("TOKENMINT_RATE_LIMIT_WEBHOOK_IP", "6000/min", parse_rate)?,
            exchange_user: raw.parse("TOKENMINT_RATE_LIMIT_EXCHANGE_USER", "60/h", parse_rate)?,
            admin_key: raw.parse("TOKENMINT_RATE_LIMIT_ADMIN_KEY", "600/min", parse_rate)?,
        })
    }
}

/// `COUNT/s`, `COUNT/min` or `COUNT/h` (COUNT from 1 to [`MAX_RATE_COUNT`]), or `0` for no
/// limit.
pub fn parse_rate(value: &str) -> Result<Option<Rate>, String> {
    let expected = || {
        format!(
            "expected COUNT/s, COUNT/min or COUNT/h with COUNT from 1 to {MAX_RATE_COUNT} \
             (e.g. 1200/min), or 0 to disable the limit"
        )
    };
    if value == "0" {
        return Ok(None);
    }
    let (count, unit) = value.split_once('/').ok_or_else(expected)?;
    let per = match unit.trim() {
        "s" => Duration::from_secs(1),
        "min" => Duration::from_secs(60),
        "h" => Duration::from_secs(3600),
        _ => return Err(expected()),
    };
    let count = count
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|n| *n <= MAX_RATE_COUNT)
        .and_then(NonZeroU32::new)
        .ok_or_else(expected)?;
    Ok(Some(Rate { count, per }))
}

/// `TOKENMINT_CLIENT_IP_HEADER`: the one header whose hops are believed from a trusted proxy.
/// Only that header is read: behind a proxy that writes `Forwarded`, a client-supplied
/// `X-Forwarded-For` (which that proxy passes on untouched) must not pick the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientIpHeader {
    /// `X-Forwarded-For` (the default: what nearly every proxy writes).
    #[default]
    XForwardedFor,
    /// `Forwarded` (RFC 7239), e.g. HAProxy `option forwarded`, nginx set to write only it.
    Forwarded,
}

/// `x-forwarded-for` or `forwarded`, in any case.
pub fn parse_client_ip_header(value: &str) -> Result<ClientIpHeader, String> {
    match value.to_ascii_lowercase().as_str() {
        "x-forwarded-for" => Ok(ClientIpHeader::XForwardedFor),
        "forwarded" => Ok(ClientIpHeader::Forwarded),
        _ => Err("expected `x-forwarded-for` or `forwarded`".into()),
    }
}

/// `TOKENMINT_TRUSTED_PROXIES`: comma-separated CIDR ranges (`10.0.0.0/8`, `2001:db8::/32`);
/// a bare address is a single host (/32, /128). Host bits are dropped (`10.1.2.3/8` is
/// `10.0.0.0/8`). Empty: no proxy is trusted.
pub fn parse_trusted_proxies(value: &str) -> Result<Vec<IpNet>, String> {
    let mut proxies = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let net = match entry.parse::<IpNet>() {
            Ok(net) => net.trunc(),
            Err(_) => entry.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
                format!(
                    "{entry:?} is not an IP address or CIDR range (e.g. 10.0.0.0/8, \
                     2001:db8::/32, 192.0.2.7)"
                )
            })?,
        };
        if !proxies.contains(&net) {
            proxies.push(net);
        }
    }
    Ok(proxies)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(count: u32, seconds: u64) -> Option<Rate> {
        Some(Rate {
            count: NonZeroU32::new(count).unwrap(),
            per: Duration::from_secs(seconds),
        })
    }

    #[test]
    fn rates_take_a_count_and_a_unit_and_zero_disables() {
        assert_eq!(parse_rate("0").unwrap(), None);
        assert_eq!(parse_rate("5/s").unwrap(), rate(5, 1));
        assert_eq!(parse_rate("1200/min").unwrap(), rate(1200, 60));
        assert_eq!(parse_rate(" 60 / h").unwrap(), rate(60, 3600));
        assert_eq!(parse_rate("1000000/s").unwrap(), rate(1_000_000, 1));
    }

    #[test]
    fn malformed_rates_are_refused() {
        for bad in [
            "",
            "abc",
            "10",
            "10/",
            "/min",
            "0/min",
            "-1/min",
            "10/day",
            "10/m",
            "1000001/s",
            "1.5/s",
            "10/min/s",
        ] {
            let err = parse_rate(bad).unwrap_err();
            assert!(err.contains("COUNT/min"), "{bad}: {err}");
        }
    }

    #[test]
    fn trusted_proxies_accept_ranges_and_bare_addresses_of_both_families() {
        let proxies =
            parse_trusted_proxies(" 10.1.2.3/8, 192.0.2.7,2001:db8::/32, ::1 ,, 10.0.0.0/8")
                .unwrap();
        let shown: Vec<String> = proxies.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32", "::1/128"]
        );
        assert!(parse_trusted_proxies("").unwrap().is_empty());
    }

    #[test]
    fn malformed_proxies_are_refused_by_name() {
        for bad in [
            "localhost",
            "10.0.0.0/33",
            "2001:db8::/129",
            "10.0.0",
            "10.0.0.0/8/8",
        ] {
            let err = parse_trusted_proxies(bad).unwrap_err();
            assert!(err.contains(bad), "{bad}: {err}");
        }
    }
}
