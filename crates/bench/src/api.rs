//! The requests the driver sends to tokenmint (or to the peer, node-oidc-provider), and how a
//! failed one is named in the report.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

/// `grant_type` of a token exchange (RFC 8693).
const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// `subject_token_type` of an Appwrite JWT.
const APPWRITE_JWT: &str = "urn:tokenmint:params:token-type:appwrite-jwt";
/// Longer than the server's own 15 s request timeout, so its 503 is seen rather than ours.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a request failed; its `Display` is the key of the report's error breakdown.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Failure {
    /// A status other than 200, with the OAuth `error` code of the body if it had one.
    Status(u16, Option<String>),
    /// 200, but a token response without a `refresh_token`.
    NoRefreshToken,
    /// No HTTP answer: connection refused or reset, timeout, broken body.
    Network(&'static str),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status(status, Some(code)) => write!(f, "HTTP {status} {code}"),
            Self::Status(status, None) => write!(f, "HTTP {status}"),
            Self::NoRefreshToken => f.write_str("HTTP 200 without refresh_token"),
            Self::Network(kind) => write!(f, "network: {kind}"),
        }
    }
}

/// A plain-HTTP/1.1 client whose pool keeps one idle connection per worker, so each worker
/// reuses a keep-alive connection. No proxy: the driver only talks to loopback.
///
/// # Errors
/// When the client cannot be built.
pub fn client(workers: u16) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .http1_only()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(usize::from(workers))
        .pool_idle_timeout(None)
        .connect_timeout(Duration::from_secs(5))
        .timeout(REQUEST_TIMEOUT)
        .build()
}

/// The server under test.
#[derive(Debug, Clone)]
pub struct Target {
    /// `http://host:port`, no trailing slash.
    pub base: String,
    /// Its process id, when known (for CPU and memory readings).
    pub pid: Option<u32>,
    /// Set when the server is the peer: the client it authenticates on its token endpoint.
    pub peer: Option<PeerClient>,
}

/// A client of the peer's token endpoint (`client_secret_post`).
#[derive(Debug, Clone)]
pub struct PeerClient {
    /// `client_id`.
    pub id: String,
    /// `client_secret`.
    pub secret: String,
}

impl Target {
    /// tokenmint at `base`.
    pub fn tokenmint(base: String, pid: Option<u32>) -> Self {
        Self {
            base,
            pid,
            peer: None,
        }
    }

    /// The absolute URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// Exchanges an Appwrite JWT; returns the new refresh token.
///
/// # Errors
/// The failure, as the report names it.
pub async fn exchange(
    client: &reqwest::Client,
    target: &Target,
    jwt: &str,
) -> Result<String, Failure> {
    let form = [
        ("grant_type", EXCHANGE),
        ("subject_token", jwt),
        ("subject_token_type", APPWRITE_JWT),
    ];
    token_request(client.post(target.url("/oauth/token")).form(&form)).await
}

/// Rotates a refresh token; returns its successor. The peer's token endpoint is `/token` and
/// wants its client authenticated; tokenmint's is `/oauth/token` and serves public clients.
///
/// # Errors
/// The failure, as the report names it.
pub async fn refresh(
    client: &reqwest::Client,
    target: &Target,
    token: &str,
) -> Result<String, Failure> {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    let path = match &target.peer {
        None => "/oauth/token",
        Some(peer) => {
            form.extend([("client_id", &*peer.id), ("client_secret", &*peer.secret)]);
            "/token"
        }
    };
    token_request(client.post(target.url(path)).form(&form)).await
}

/// Asks the peer's bench-only seeding route for `count` new refresh chains, for accounts
/// `bench-user-<from>` onwards; returns their first refresh tokens.
///
/// # Errors
/// The failure, as the report names it.
pub async fn peer_chains(
    client: &reqwest::Client,
    target: &Target,
    from: u64,
    count: u32,
) -> Result<Vec<String>, Failure> {
    let url = target.url(&format!("/bench/seed?from={from}&count={count}"));
    let body = answer(client.post(url)).await?;
    serde_json::from_slice::<Value>(body.as_ref())
        .ok()
        .and_then(|body| {
            body["refresh_tokens"]
                .as_array()?
                .iter()
                .map(|token| token.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        })
        .filter(|tokens| tokens.len() == count as usize)
        .ok_or(Failure::NoRefreshToken)
}

/// `GET url`, expecting 200; the body is read in full.
///
/// # Errors
/// The failure, as the report names it.
pub async fn get(client: &reqwest::Client, url: &str) -> Result<(), Failure> {
    answer(client.get(url)).await.map(drop)
}

async fn token_request(request: reqwest::RequestBuilder) -> Result<String, Failure> {
    let body = answer(request).await?;
    serde_json::from_slice::<Value>(body.as_ref())
        .ok()
        .and_then(|body| body["refresh_token"].as_str().map(str::to_owned))
        .ok_or(Failure::NoRefreshToken)
}

/// Sends the request and reads the whole body; anything but 200 is a failure.
async fn answer(request: reqwest::RequestBuilder) -> Result<impl AsRef<[u8]>, Failure> {
    let response = request.send().await.map_err(network)?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(network)?;
    if status == 200 {
        return Ok(body);
    }
    let code = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|body| body["error"].as_str().map(str::to_owned));
    Err(Failure::Status(status, code))
}

fn network(err: reqwest::Error) -> Failure {
    Failure::Network(if err.is_timeout() {
        "timeout"
    } else if err.is_connect() {
        "connect"
    } else if err.is_body() || err.is_decode() {
        "body"
    } else {
        "request"
    })
}
