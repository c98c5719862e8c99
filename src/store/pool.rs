//! Connection pools: deadpool over sqlx connections, for both backends.
//!
//! sqlx's own pool tests every connection as it goes back — a round trip to PostgreSQL (a
//! `Sync` and its `ReadyForQuery`), a hop to SQLite's worker thread, and a spawned task — on
//! every request, on top of the request's own statements: for a refresh, which is one statement,
//! that doubled the database round trips. Here a connection goes back as it is, and nothing is
//! tested on the way out either.
//!
//! What keeps the pool healthy instead:
//! - a new connection must take writes (`Checked`): on PostgreSQL a standby, or a primary set
//!   read-only, is refused (after a couple more tries, in case a proxy routes the next
//!   connection elsewhere), so an address that still names a demoted node (DNS or a managed
//!   endpoint not yet moved, a proxy whose health check has not noticed) gives 503s until it
//!   names the primary again, never a connection that fails each write;
//! - an operation that fails with `StoreError::Unavailable` (an I/O or protocol error, a
//!   server shutting down, a read-only server, no answer within the operation deadline) closes
//!   its connection, and every connection opened before it: each carries the pool's *epoch*
//!   at its opening, the failure moves the epoch on, and an older connection is closed when
//!   it next leaves or comes back to the pool. After a restart or a failover every replica
//!   reconnects at once instead of finding its stale connections one failed request at a time;
//! - an operation dropped half-way (a client that went away) closes its own connection.
//!
//! A statement that failed on its data (a constraint, a serialization failure) or was
//! cancelled by a lock or statement timeout (`StoreError::Busy`) leaves the connection in
//! service. Every outcome is reported to the replica's [`Observer`].

use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool::managed::{self, Metrics, Object, PoolError, RecycleError, RecycleResult};

use super::availability::{Cause, Observer};
use super::error::store_error;
use crate::domain::ports::StoreError;

/// A connection type the pool can check before use.
pub(crate) trait Checked: sqlx::Connection {
    /// Whether this newly opened connection can take writes (`false`: it reached a standby,
    /// or a server in read-only mode).
    fn is_writable(&mut self) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Connection attempts that may land on a server taking no writes before the pool gives up:
/// behind a proxy whose health check has not yet noticed a switchover, the next connection
/// usually reaches the new primary.
const READ_ONLY_ATTEMPTS: usize = 3;

/// A connection and the pool epoch it was opened in.
pub(crate) struct Tagged<C> {
    connection: C,
    epoch: u64,
}

/// What the pool's parts share.
struct Shared {
    observer: Observer,
    /// Moves on each time a connection is found broken; connections of an older epoch are
    /// closed rather than used again.
    epoch: AtomicU64,
    /// The longest an operation may wait for the database's answer.
    deadline: Duration,
}

/// Opens connections of type `C` with fixed options.
pub(crate) struct Connector<C: sqlx::Connection> {
    options: C::Options,
    shared: Arc<Shared>,
}

impl<C: Checked> managed::Manager for Connector<C> {
    type Type = Tagged<C>;
    type Error = StoreError;

    async fn create(&self) -> Result<Tagged<C>, StoreError> {
        let epoch = self.shared.epoch.load(Ordering::Acquire);
        for _ in 0..READ_ONLY_ATTEMPTS {
            let mut connection = C::connect_with(&self.options).await.map_err(store_error)?;
            match connection.is_writable().await {
                Ok(true) => return Ok(Tagged { connection, epoch }),
                Ok(false) => {
                    let _ = connection.close().await;
                }
                Err(err) => {
                    let _ = connection.close().await;
                    return Err(err);
                }
            }
        }
        Err(StoreError::Unavailable(
            "the server takes no writes (a standby, or a primary in read-only mode); \
             DATABASE_URL must reach the primary"
                .into(),
        ))
    }

    async fn recycle(&self, tagged: &mut Tagged<C>, _: &Metrics) -> RecycleResult<StoreError> {
        if tagged.epoch < self.shared.epoch.load(Ordering::Acquire) {
            return Err(RecycleError::message(
                "opened before the database last failed",
            ));
        }
        Ok(())
    }
}

/// A pool of at most `max_size` connections of type `C`.
pub(crate) struct Connections<C: Checked> {
    pool: managed::Pool<Connector<C>>,
    shared: Arc<Shared>,
}

impl<C: Checked> Clone for Connections<C> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<C: Checked> std::fmt::Debug for Connections<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = self.pool.status();
        f.debug_struct("Connections")
            .field("size", &status.size)
            .field("available", &status.available)
            .finish()
    }
}

impl<C: Checked> Connections<C> {
    /// A pool that opens connections with `options` on demand. A request waits at most `wait`
    /// for a connection and `deadline` for the database's answer to an operation; either
    /// running out makes the database count as unavailable. Outcomes go to `observer`.
    pub fn new(
        options: C::Options,
        max_size: usize,
        wait: Duration,
        deadline: Duration,
        observer: Observer,
    ) -> Result<Self, StoreError> {
        let shared = Arc::new(Shared {
            observer,
            epoch: AtomicU64::new(0),
            deadline,
        });
        let connector = Connector {
            options,
            shared: Arc::clone(&shared),
        };
        managed::Pool::builder(connector)
            .max_size(max_size)
            .wait_timeout(Some(wait))
            .create_timeout(Some(wait))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map(|pool| Self { pool, shared })
            .map_err(|err| StoreError::Query(Box::new(err)))
    }

    /// Another pool of at most `max_size` connections opened with `options`, reporting to the
    /// same observer and sharing the epoch: a failure found by either closes the other's
    /// older connections too.
    pub fn sibling(&self, options: C::Options, max_size: usize) -> Result<Self, StoreError> {
        let timeouts = self.pool.timeouts();
        let connector = Connector {
            options,
            shared: Arc::clone(&self.shared),
        };
        managed::Pool::builder(connector)
            .max_size(max_size)
            .timeouts(timeouts)
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map(|pool| Self {
                pool,
                shared: Arc::clone(&self.shared),
            })
            .map_err(|err| StoreError::Query(Box::new(err)))
    }

    /// A connection, opened if none is idle.
    pub async fn get(&self) -> Result<Pooled<C>, StoreError> {
        let started = self.shared.observer.now();
        let err = match self.pool.get().await {
            Ok(object) => {
                return Ok(Pooled {
                    object: Some(object),
                    keep: false,
                    started,
                    shared: Arc::clone(&self.shared),
                });
            }
            Err(PoolError::Backend(err)) => err,
            Err(err) => StoreError::Unavailable(Box::new(err)),
        };
        if matches!(err, StoreError::Unavailable(_)) {
            self.shared.observer.failed(started, &Cause(&err));
        }
        Err(err)
    }

    /// What this pool reports to.
    pub fn observer(&self) -> &Observer {
        &self.shared.observer
    }

    /// The longest an operation waits for the database's answer.
    pub fn deadline(&self) -> Duration {
        self.shared.deadline
    }

    /// The pool's state now.
    pub fn status(&self) -> super::status::PoolStatus {
        let status = self.pool.status();
        super::status::PoolStatus {
            size: status.size,
            idle: status.available,
            max_size: status.max_size,
            waiting: status.waiting,
        }
    }

    /// Closes the pool: idle connections now, politely (the server is told), the others as
    /// they come back.
    pub async fn close(&self) {
        let idle = self.pool.retain(|_, _| false).removed;
        self.pool.close();
        for tagged in idle {
            let _ = tagged.connection.close().await;
        }
    }
}

/// `operation`'s result, or `StoreError::Unavailable` when the database has not answered
/// within `deadline`. The operation is then dropped mid-statement — it may still run, and
/// commit, on the server — so its connection must be closed: `Pooled::finish` does that for
/// an `Unavailable` result.
pub(crate) async fn within<T>(
    deadline: Duration,
    operation: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(deadline, operation).await {
        Ok(result) => result,
        Err(_) => Err(StoreError::Unavailable(
            format!(
                "no answer from the database within {} ms",
                deadline.as_millis()
            )
            .into(),
        )),
    }
}

/// A connection out of the pool. It goes back only through [`Pooled::finish`] with a result
/// that did not find it broken; dropped otherwise (a cancelled operation), it is closed.
pub(crate) struct Pooled<C: Checked> {
    object: Option<Object<Connector<C>>>,
    keep: bool,
    /// When the operation began (it waited for this connection from then).
    started: DateTime<Utc>,
    shared: Arc<Shared>,
}

impl<C: Checked> Pooled<C> {
    /// Ends the use of the connection with `result`, reporting it to the observer: back to the
    /// pool unless the result says the connection is broken. Returns `result`.
    pub fn finish<T>(mut self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        match &result {
            Err(err @ StoreError::Unavailable(_)) => {
                self.shared.observer.failed(self.started, &Cause(err));
                if let Some(object) = &self.object {
                    let epoch = object.epoch;
                    // Once per failure, however many connections find it: those opened
                    // before it are not used again.
                    let _ = self.shared.epoch.compare_exchange(
                        epoch,
                        epoch + 1,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    );
                    if let Some(pool) = Object::pool(object) {
                        let current = self.shared.epoch.load(Ordering::Acquire);
                        drop(pool.retain(|tagged, _| tagged.epoch >= current));
                    }
                }
            }
            // Cancelled by a timeout: the database answered, the connection is fine.
            Err(StoreError::Busy(_)) => self.keep = true,
            _ => {
                self.shared.observer.succeeded();
                self.keep = true;
            }
        }
        result
    }
}

impl<C: Checked> Drop for Pooled<C> {
    fn drop(&mut self) {
        if !self.keep
            && let Some(object) = self.object.take()
        {
            // Out of the pool, then dropped: its socket closes.
            drop(Object::take(object));
        }
    }
}

impl<C: Checked> Deref for Pooled<C> {
    type Target = C;

    fn deref(&self) -> &C {
        self.object
            .as_deref()
            .map(|tagged| &tagged.connection)
            .unwrap_or_else(|| unreachable_connection())
    }
}

impl<C: Checked> DerefMut for Pooled<C> {
    fn deref_mut(&mut self) -> &mut C {
        self.object
            .as_deref_mut()
            .map(|tagged| &mut tagged.connection)
            .unwrap_or_else(|| unreachable_connection())
    }
}

/// The object is only taken in `drop`, after which nothing can dereference it.
#[allow(clippy::panic)]
fn unreachable_connection() -> ! {
    panic!("BUG: a pooled connection was used after it was released")
}
