//! Connection pools: deadpool over sqlx connections, for both backends.
//!
//! sqlx's own pool tests every connection as it goes back — a round trip to PostgreSQL (a
//! `Sync` and its `ReadyForQuery`), a hop to SQLite's worker thread, and a spawned task — on
//! every request, on top of the request's own statements: for a refresh, which is one statement,
//! that doubled the database round trips. Here a connection goes back as it is, and nothing is
//! tested on the way out either.
//!
//! What keeps the pool healthy instead: an operation that fails with an I/O or protocol error
//! (`StoreError::Unavailable`) closes its connection rather than returning it — and the idle
//! ones too, since whatever broke it (a database restart, a failover) has most likely broken
//! them as well; an operation dropped half-way (a client that went away) closes its own. A
//! statement that failed on its data (a constraint, a serialization failure) leaves the
//! connection in service. So after a restart at most one request answers 503 (it changes
//! nothing; its client retries), and the next ones get fresh connections.

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use deadpool::managed::{self, Metrics, Object, PoolError, RecycleResult};

use super::error::store_error;
use crate::domain::ports::StoreError;

/// Opens connections of type `C` with fixed options.
pub(crate) struct Connector<C: sqlx::Connection> {
    options: C::Options,
}

impl<C: sqlx::Connection> managed::Manager for Connector<C> {
    type Type = C;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<C, sqlx::Error> {
        C::connect_with(&self.options).await
    }

    async fn recycle(&self, _: &mut C, _: &Metrics) -> RecycleResult<sqlx::Error> {
        Ok(())
    }
}

/// A pool of at most `max_size` connections of type `C`.
pub(crate) struct Connections<C: sqlx::Connection>(managed::Pool<Connector<C>>);

impl<C: sqlx::Connection> Clone for Connections<C> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<C: sqlx::Connection> std::fmt::Debug for Connections<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = self.0.status();
        f.debug_struct("Connections")
            .field("size", &status.size)
            .field("available", &status.available)
            .finish()
    }
}

impl<C: sqlx::Connection> Connections<C> {
    /// A pool that opens connections with `options` on demand; a request waits at most `wait`
    /// for one (then the database counts as unavailable).
    pub fn new(options: C::Options, max_size: usize, wait: Duration) -> Result<Self, StoreError> {
        managed::Pool::builder(Connector { options })
            .max_size(max_size)
            .wait_timeout(Some(wait))
            .create_timeout(Some(wait))
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map(Self)
            .map_err(|err| StoreError::Query(Box::new(err)))
    }

    /// A connection, opened if none is idle.
    pub async fn get(&self) -> Result<Pooled<C>, StoreError> {
        match self.0.get().await {
            Ok(object) => Ok(Pooled {
                object: Some(object),
                keep: false,
                broken: false,
            }),
            Err(PoolError::Backend(err)) => Err(store_error(err)),
            Err(err) => Err(StoreError::Unavailable(Box::new(err))),
        }
    }

    /// The pool's state now.
    pub fn status(&self) -> super::PoolStatus {
        let status = self.0.status();
        super::PoolStatus {
            size: status.size,
            idle: status.available,
            max_size: status.max_size,
            waiting: status.waiting,
        }
    }

    /// Closes the pool: idle connections now, politely (the server is told), the others as
    /// they come back.
    pub async fn close(&self) {
        let idle = self.0.retain(|_, _| false).removed;
        self.0.close();
        for connection in idle {
            let _ = connection.close().await;
        }
    }
}

/// A connection out of the pool. It goes back only through [`Pooled::finish`] with a result
/// that did not find it broken; dropped otherwise (a cancelled operation), it is closed.
pub(crate) struct Pooled<C: sqlx::Connection> {
    object: Option<Object<Connector<C>>>,
    keep: bool,
    broken: bool,
}

impl<C: sqlx::Connection> Pooled<C> {
    /// Ends the use of the connection with `result`: back to the pool unless the result says
    /// the connection is broken. Returns `result`.
    pub fn finish<T>(mut self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        self.broken = matches!(result, Err(StoreError::Unavailable(_)));
        self.keep = !self.broken;
        result
    }
}

impl<C: sqlx::Connection> Drop for Pooled<C> {
    fn drop(&mut self) {
        if !self.keep
            && let Some(object) = self.object.take()
        {
            if self.broken
                && let Some(pool) = Object::pool(&object)
            {
                drop(pool.retain(|_, _| false));
            }
            // Out of the pool, then dropped: its socket closes.
            drop(Object::take(object));
        }
    }
}

impl<C: sqlx::Connection> Deref for Pooled<C> {
    type Target = C;

    fn deref(&self) -> &C {
        self.object
            .as_deref()
            .unwrap_or_else(|| unreachable_connection())
    }
}

impl<C: sqlx::Connection> DerefMut for Pooled<C> {
    fn deref_mut(&mut self) -> &mut C {
        self.object
            .as_deref_mut()
            .unwrap_or_else(|| unreachable_connection())
    }
}

/// The object is only taken in `drop`, after which nothing can dereference it.
#[allow(clippy::panic)]
fn unreachable_connection() -> ! {
    panic!("BUG: a pooled connection was used after it was released")
}
