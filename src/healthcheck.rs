//! `tokenmint healthcheck`: the container's health probe (the runtime image has no curl). It
//! asks the server on `TOKENMINT_LISTEN` for `/readyz` (or `/healthz`) over loopback and
//! reports in one line; the caller maps the result to the exit status.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, bail};

/// Well within Docker's default health-check timeout (30 s) and any sensible `--timeout`.
pub const TIMEOUT: Duration = Duration::from_secs(3);

/// The address to probe for a listen address: the loopback of the same family when the
/// server listens on every interface (`0.0.0.0` → `127.0.0.1`, `[::]` → `[::1]`).
pub fn probe_address(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// GETs `/readyz` (or `/healthz` when `liveness`) from the server listening on `listen`.
/// `Ok` with a line to print when it answers 200; an error saying what it got otherwise.
pub async fn probe(listen: SocketAddr, liveness: bool) -> anyhow::Result<String> {
    let path = if liveness { "/healthz" } else { "/readyz" };
    let url = format!("http://{}{path}", probe_address(listen));
    // No proxy: a proxy from the container's environment must not answer for this process.
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .no_proxy()
        .build()
        .context("cannot build an HTTP client")?;
    let response = match client.get(&url).send().await {
        Ok(response) => response,
        Err(err) if err.is_timeout() => bail!("unhealthy: {url} did not answer within {TIMEOUT:?}"),
        Err(err) if err.is_connect() => bail!("unhealthy: cannot connect to {url}"),
        Err(err) => bail!("unhealthy: {url}: {err}"),
    };
    let status = response.status();
    // The body says which check failed (`{"status":"draining"}`, the database, …); it is
    // tokenmint's own, small and free of secrets.
    let body = response.text().await.unwrap_or_default();
    let body = body.trim();
    if status == reqwest::StatusCode::OK {
        Ok(format!("healthy: {url} answered {status} {body}"))
    } else {
        bail!("unhealthy: {url} answered {status} {body}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_listen_addresses_are_probed_on_loopback() {
        let probe = |listen: &str| probe_address(listen.parse().unwrap()).to_string();
        assert_eq!(probe("0.0.0.0:8080"), "127.0.0.1:8080");
        assert_eq!(probe("[::]:9000"), "[::1]:9000");
        assert_eq!(probe("10.1.2.3:8080"), "10.1.2.3:8080");
        assert_eq!(probe("[::1]:8080"), "[::1]:8080");
    }
}
