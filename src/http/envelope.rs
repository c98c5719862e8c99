//! The envelope every routed request runs in: its client IP resolved once ([`ClientIp`]), the
//! request timeout ([`REQUEST_TIMEOUT`], answered 503 in the route's error format), and the
//! request metrics (route template, method, status, latency).
//!
//! These were three `axum::middleware::from_fn` layers. Each of those clones its state and the
//! rest of the stack and boxes a future on every request; on a refresh the three cost about as
//! much CPU as the database statement (docs/design/decisions.md, "The request envelope"). One tower service
//! with one unboxed future does the same work. The per-IP rate limit stays a route layer
//! (`rate_limit`): it runs inside CORS, so a browser can read its 429.
//!
//! [`ClientIp`]: super::client_ip::ClientIp
//! [`REQUEST_TIMEOUT`]: super::limits::REQUEST_TIMEOUT

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::response::Response;
use ipnet::IpNet;
use pin_project_lite::pin_project;
use std::net::SocketAddr;
use tokio::time::Timeout;
use tower::{Layer, Service};

use super::client_ip::{ClientIp, client_ip};
use super::error;
use super::family::ErrorFamily;
use super::limits::REQUEST_TIMEOUT;
use super::request_metrics::{HttpMetrics, method_column};
use crate::config::ClientIpHeader;

/// Wraps each route of a router in the envelope.
#[derive(Clone)]
pub struct EnvelopeLayer(Arc<Envelope>);

struct Envelope {
    trusted_proxies: Arc<[IpNet]>,
    client_ip_header: ClientIpHeader,
    metrics: Arc<HttpMetrics>,
}

impl EnvelopeLayer {
    /// An envelope that believes the proxy header `client_ip_header` only from
    /// `trusted_proxies` and records into `metrics`.
    pub fn new(
        trusted_proxies: &[IpNet],
        client_ip_header: ClientIpHeader,
        metrics: Arc<HttpMetrics>,
    ) -> Self {
        Self(Arc::new(Envelope {
            trusted_proxies: trusted_proxies.into(),
            client_ip_header,
            metrics,
        }))
    }
}

impl<S> Layer<S> for EnvelopeLayer {
    type Service = EnvelopeService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        EnvelopeService {
            inner,
            envelope: Arc::clone(&self.0),
        }
    }
}

/// A route inside the envelope.
#[derive(Clone)]
pub struct EnvelopeService<S> {
    inner: S,
    envelope: Arc<Envelope>,
}

impl<S> Service<Request> for EnvelopeService<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = EnvelopeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let envelope = &self.envelope;
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip());
        if let Some(peer) = peer {
            let client = client_ip(
                peer,
                request.headers(),
                &envelope.trusted_proxies,
                envelope.client_ip_header,
            );
            request.extensions_mut().insert(ClientIp(client));
        }
        let row = envelope
            .metrics
            .row(request.extensions().get::<MatchedPath>());
        let method = method_column(request.method());
        let family = ErrorFamily::of(request.uri().path());
        EnvelopeFuture {
            inner: tokio::time::timeout(REQUEST_TIMEOUT, self.inner.call(request)),
            metrics: Arc::clone(&envelope.metrics),
            started: Instant::now(),
            row,
            method,
            family,
        }
    }
}

pin_project! {
    /// The answer of a route inside the envelope.
    pub struct EnvelopeFuture<F> {
        #[pin]
        inner: Timeout<F>,
        metrics: Arc<HttpMetrics>,
        started: Instant,
        row: usize,
        method: usize,
        family: ErrorFamily,
    }
}

impl<F> Future for EnvelopeFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = match ready!(this.inner.poll(cx)) {
            Ok(Ok(response)) => response,
            Ok(Err(never)) => match never {},
            Err(_elapsed) => {
                tracing::warn!("request timed out");
                error::timed_out(*this.family)
            }
        };
        this.metrics.record(
            *this.row,
            *this.method,
            response.status(),
            this.started.elapsed(),
        );
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use axum::body::{Body, to_bytes};
    use axum::http::StatusCode;
    use tower::ServiceExt as _;

    use super::*;
    use crate::prometheus::Metrics;

    const PATHS: [&str; 2] = ["/oauth/token", "/v1/sessions"];

    /// A router whose routes never answer, inside the envelope; and its metrics.
    fn hanging_router(trusted: &[IpNet]) -> (axum::Router, Arc<Metrics>) {
        let metrics = Arc::new(Metrics::new());
        let tracking = Arc::new(HttpMetrics::new(Arc::clone(&metrics), &PATHS));
        let hang = || async { std::future::pending::<Response>().await };
        let router = axum::Router::new()
            .route(PATHS[0], axum::routing::post(hang))
            .route(PATHS[1], axum::routing::get(hang))
            .route(
                "/ip",
                axum::routing::get(|request: Request| async move {
                    format!("{:?}", request.extensions().get::<ClientIp>())
                }),
            )
            .layer(EnvelopeLayer::new(
                trusted,
                ClientIpHeader::XForwardedFor,
                tracking,
            ));
        (router, metrics)
    }

    fn request(method: &str, path: &str, peer: IpAddr) -> Request {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("x-forwarded-for", "203.0.113.9")
            .body(Body::empty())
            .unwrap();
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(peer, 4711)));
        request
    }

    async fn body(response: Response) -> String {
        String::from_utf8(to_bytes(response.into_body(), 4096).await.unwrap().to_vec()).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_that_outlives_the_timeout_gets_503_in_its_routes_format_and_is_counted() {
        let (router, metrics) = hanging_router(&[]);
        let peer = IpAddr::V4(Ipv4Addr::LOCALHOST);
        for (method, path, content_type, error) in [
            (
                "POST",
                PATHS[0],
                "application/json",
                "temporarily_unavailable",
            ),
            (
                "GET",
                PATHS[1],
                "application/problem+json",
                "\"status\":503",
            ),
        ] {
            let started = tokio::time::Instant::now();
            let response = router.clone().oneshot(request(method, path, peer)).await;
            let response = response.unwrap();
            assert_eq!(started.elapsed(), REQUEST_TIMEOUT, "{path}");
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
            assert!(response.headers().contains_key("retry-after"), "{path}");
            let header = &response.headers()["content-type"];
            assert!(header.to_str().unwrap().starts_with(content_type), "{path}");
            assert!(body(response).await.contains(error), "{path}");
        }
        let exposition = metrics.render();
        for (method, path) in [("POST", PATHS[0]), ("GET", PATHS[1])] {
            let line = format!(
                "tokenmint_http_requests_total{{route=\"{path}\",method=\"{method}\",status=\"503\"}} 1"
            );
            assert!(
                exposition.contains(&line),
                "{line} missing from:\n{exposition}"
            );
        }
    }

    #[tokio::test]
    async fn the_client_ip_is_the_peer_unless_the_peer_is_a_trusted_proxy() {
        let proxy = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let (router, _) = hanging_router(&["10.0.0.0/8".parse().unwrap()]);
        let untrusted = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        for (peer, client) in [(untrusted, "192.0.2.1"), (proxy, "203.0.113.9")] {
            let response = router.clone().oneshot(request("GET", "/ip", peer)).await;
            let seen = body(response.unwrap()).await;
            assert_eq!(seen, format!("Some(ClientIp({client}))"));
        }
    }
}
