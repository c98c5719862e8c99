//! Serving a built app until shutdown, with its background tasks beside it.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use super::app::App;
use super::background::{BackgroundTasks, purge_expired, reconcile_periodically};
use super::key_refresh::{follow_key_changes, maintain_keys};
use super::signal::shutdown_signal;
use crate::http;
use crate::shutdown;

impl App {
    /// The address the listener is bound to (the real port when configured with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The address of the separate metrics listener (`TOKENMINT_METRICS_LISTEN`), if any.
    pub fn metrics_addr(&self) -> Option<std::io::Result<SocketAddr>> {
        self.metrics_listener.as_ref().map(TcpListener::local_addr)
    }

    /// Serves until SIGTERM or ctrl-c, then shuts down as [`App::run_until`] describes.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `shutdown` completes, then shuts down the way orchestrators expect:
    ///
    /// 1. at once, `/readyz` answers 503 `draining` (everything else is still served);
    /// 2. for `TOKENMINT_SHUTDOWN_DELAY` new connections are still accepted, so requests a load
    ///    balancer sends before it notices are not refused;
    /// 3. then the listener closes (new connections are refused), idle keep-alive connections
    ///    are closed, and requests in flight finish, for at most `TOKENMINT_SHUTDOWN_TIMEOUT`;
    /// 4. whatever is still running then is abandoned, and the database pool is closed.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        // Stopped when serving ends, and also if this future is dropped half-way.
        let mut background = BackgroundTasks::default();
        if let Some(listener) = self.key_changes {
            background.spawn(follow_key_changes(
                listener,
                self.key_manager.clone(),
                self.state.keys.clone(),
            ));
        }
        background.spawn(maintain_keys(
            self.key_manager,
            self.state.keys.clone(),
            self.state.config.signing_alg,
            self.state.config.key_reload_interval,
        ));
        background.spawn(purge_expired(self.state.feed.clone()));
        if let Some((reconciler, period)) = self.reconciler {
            background.spawn(reconcile_periodically(reconciler, period));
        }
        let availability = self.state.availability.clone();
        background.spawn(availability.clone().run());
        background.spawn(crate::limiter::sweep_periodically(
            self.state.rate_limits.clone(),
        ));
        background.spawn(crate::prometheus::keep_up(Arc::clone(&self.state.metrics)));
        // Scrapes need no draining: this listener simply stops with the main one.
        if let Some(listener) = self.metrics_listener {
            let router = http::metrics_router(self.state.clone());
            background.spawn(async move {
                if let Err(err) = axum::serve(listener, router).await {
                    tracing::error!(error = %err, "the metrics listener failed");
                }
            });
        }
        let address = self.listener.local_addr()?;
        tracing::info!(%address, issuer = %self.state.config.issuer, "tokenmint is serving");
        let (closing, closed) = tokio::sync::watch::channel(false);
        let stop_accepting = shutdown::drain_then_close(
            shutdown,
            self.state.draining.clone(),
            self.state.config.shutdown_delay,
            closing,
        );
        let timeout = self.state.config.shutdown_timeout;
        let router = http::router(self.state).into_make_service_with_connect_info::<SocketAddr>();
        let serve = axum::serve(self.listener, router).with_graceful_shutdown(stop_accepting);
        let served = tokio::select! {
            served = serve.into_future() => served,
            () = shutdown::deadline_after_close(closed, timeout) => {
                tracing::warn!(
                    timeout = ?timeout,
                    "requests still in flight after TOKENMINT_SHUTDOWN_TIMEOUT; exiting without them"
                );
                Ok(())
            }
        };
        drop(background);
        availability.stopped().await;
        self.database.close().await;
        tracing::info!("tokenmint stopped");
        served.context("the HTTP server failed")
    }
}
