//! The shutdown sequence's two clocks (see `App::run_until`): the delay during which a draining
//! server still accepts connections, and the timeout for requests in flight once it no longer
//! does.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

use crate::http::Draining;

/// The graceful-shutdown signal handed to axum: waits for `shutdown`, marks the app draining,
/// keeps serving (and accepting) for `delay`, then completes, which closes the listener. It
/// tells `closing` when it does, which starts the shutdown timeout.
pub(crate) async fn drain_then_close(
    shutdown: impl Future<Output = ()>,
    draining: Draining,
    delay: Duration,
    closing: watch::Sender<bool>,
) {
    shutdown.await;
    draining.start();
    tracing::info!(
        delay = ?delay,
        "draining: /readyz answers 503; still accepting connections for TOKENMINT_SHUTDOWN_DELAY"
    );
    tokio::time::sleep(delay).await;
    tracing::info!("no longer accepting connections; finishing requests in flight");
    let _ = closing.send(true);
}

/// Completes `timeout` after the listener closed; never, if it never closes.
pub(crate) async fn deadline_after_close(mut closed: watch::Receiver<bool>, timeout: Duration) {
    if closed.wait_for(|closed| *closed).await.is_err() {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(timeout).await;
}
