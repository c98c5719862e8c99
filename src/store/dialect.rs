//! What the shared store code needs of a database backend, and the statement type it builds.
//!
//! The transactions of `shared` are written once, generic over a [`Dialect`] (PostgreSQL or
//! SQLite). sqlx's generic API would ask every such function to restate which types each
//! database encodes and decodes; instead the few calls that need to know run in each
//! backend's implementation of this trait, where the database is concrete, and the values
//! and rows cross it through [`Param`] and [`Record`], which name both backends' bounds once.

use std::future::Future;

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migrate, MigrateError, Migrator};
use sqlx::postgres::{PgRow, Postgres};
use sqlx::sqlite::{Sqlite, SqliteRow};
use sqlx::{Database, Encode, FromRow, Transaction, Type};

use super::error::store_error;
use super::pool::Checked;
use crate::domain::ports::StoreError;

/// A value bound as a statement parameter on either backend (`'q`: as long as it borrows).
pub(crate) trait Param<'q>:
    Encode<'q, Postgres> + Type<Postgres> + Encode<'q, Sqlite> + Type<Sqlite> + Send
{
}

impl<'q, T> Param<'q> for T where
    T: Encode<'q, Postgres> + Type<Postgres> + Encode<'q, Sqlite> + Type<Sqlite> + Send
{
}

/// A row read on either backend.
pub(crate) trait Record:
    for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, SqliteRow> + Send + Unpin
{
}

impl<T> Record for T where
    T: for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, SqliteRow> + Send + Unpin
{
}

/// A database backend, as the shared store code uses it: its statements' texts where they
/// differ from the other backend's, how a write transaction begins, and how a statement runs.
pub(crate) trait Dialect: Database<Connection: Checked + Migrate> {
    /// This backend's texts of the statements whose texts differ between backends.
    const SQL: Statements;

    /// Begins a write transaction (see each backend for what that takes).
    fn begin_write(
        connection: &mut Self::Connection,
    ) -> impl Future<Output = Result<Transaction<'_, Self>, StoreError>> + Send;

    /// Adds `value` to `arguments`.
    fn add<'q, T: Param<'q>>(arguments: &mut Self::Arguments, value: T) -> Result<(), BoxDynError>;

    /// Runs a statement; returns how many rows it changed.
    fn execute(
        connection: &mut Self::Connection,
        statement: Sql<Self>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Runs a query for all its rows.
    fn fetch_all<R: Record>(
        connection: &mut Self::Connection,
        statement: Sql<Self>,
    ) -> impl Future<Output = Result<Vec<R>, StoreError>> + Send;

    /// Runs a query for at most one row.
    fn fetch_optional<R: Record>(
        connection: &mut Self::Connection,
        statement: Sql<Self>,
    ) -> impl Future<Output = Result<Option<R>, StoreError>> + Send;

    /// Applies `migrator`'s pending migrations on `connection`. (Not `Send`: sqlx's
    /// `Migrator::run` is not, for a connection borrowed for any lifetime; start-up awaits it
    /// in place.)
    fn run_migrations(
        connection: &mut Self::Connection,
        migrator: &'static Migrator,
    ) -> impl Future<Output = Result<(), MigrateError>>;

    /// Lifts the connection's limits on statements and lock waits, for migrating.
    fn lift_limits(
        connection: &mut Self::Connection,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;

    /// Restores the limits [`lift_limits`](Self::lift_limits) lifted.
    fn restore_limits(
        connection: &mut Self::Connection,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;

    /// A statement of this backend with no parameters bound yet.
    fn query(text: &'static str) -> Sql<Self> {
        Sql {
            text,
            arguments: Ok(Self::Arguments::default()),
        }
    }
}

/// A statement and the parameters bound so far.
pub(crate) struct Sql<D: Dialect> {
    /// The statement's text.
    text: &'static str,
    /// Its parameters, or why one could not be encoded (reported when it runs, as sqlx does).
    arguments: Result<D::Arguments, BoxDynError>,
}

impl<D: Dialect> Sql<D> {
    /// The text and the parameters, for the backend to run; a parameter that could not be
    /// encoded fails the statement here, as it would in sqlx.
    pub fn into_parts(self) -> Result<(&'static str, D::Arguments), StoreError> {
        let arguments = self
            .arguments
            .map_err(|err| store_error(sqlx::Error::Encode(err)))?;
        Ok((self.text, arguments))
    }

    /// Binds the next parameter.
    pub fn bind<'q, T: Param<'q>>(mut self, value: T) -> Self {
        if let Ok(arguments) = &mut self.arguments
            && let Err(err) = D::add(arguments, value)
        {
            self.arguments = Err(err);
        }
        self
    }

    /// Runs the statement; returns how many rows it changed.
    pub async fn execute(self, connection: &mut D::Connection) -> Result<u64, StoreError> {
        D::execute(connection, self).await
    }

    /// Runs the query for all its rows.
    pub async fn fetch_all<R: Record>(
        self,
        connection: &mut D::Connection,
    ) -> Result<Vec<R>, StoreError> {
        D::fetch_all(connection, self).await
    }

    /// Runs the query for at most one row.
    pub async fn fetch_optional<R: Record>(
        self,
        connection: &mut D::Connection,
    ) -> Result<Option<R>, StoreError> {
        D::fetch_optional(connection, self).await
    }

    /// Runs the query for the first column of all its rows.
    pub async fn fetch_column<T>(self, connection: &mut D::Connection) -> Result<Vec<T>, StoreError>
    where
        (T,): Record,
    {
        let rows = self.fetch_all::<(T,)>(connection).await?;
        Ok(rows.into_iter().map(|(value,)| value).collect())
    }
}

/// The statements whose texts differ between the backends, one field per statement. The
/// parameters each takes are those the shared code binds, in order.
pub(crate) struct Statements {
    /// Serialises a user's exchanges and revocations for the rest of the transaction: `$1`
    /// user.
    pub lock_user: &'static str,
    /// Serialises revocation-feed writers for the rest of the transaction, so that entry ids
    /// become visible in id order.
    pub lock_feed: &'static str,
    /// Serialises key-lifecycle changes across replicas for the rest of the transaction.
    pub lock_keys: &'static str,
    /// Tells other replicas that the keys changed.
    pub notify_keys: &'static str,
    /// Inserts a session with its first token unless, at `$21` (when Appwrite vouched), the
    /// user's not-before was later or the Appwrite session `$4` was revoked.
    pub insert_session: &'static str,
    /// Records one audit event.
    pub insert_audit_event: &'static str,
    /// A session's columns and token state, by family `$1` or, for a session that has no family
    /// yet, by its current token `$2`.
    pub find_token_family: &'static str,
    /// The rotation of a session that has no family yet: found by its current token `$2`, it
    /// gets the family `$1`.
    pub rotate_unmigrated: &'static str,
    /// A family still at generation `$9` moves to the presented token `$2`, of a later
    /// generation, and its successor `$3`.
    pub roll_forward: &'static str,
    /// Revokes one live session.
    pub revoke_session: &'static str,
    /// A session by id.
    pub find_session: &'static str,
    /// Revokes the live sessions of `$1` created before `$4`; returns their ids.
    pub revoke_user_sessions: &'static str,
    /// Revokes the live sessions of `$1` created from Appwrite session `$4`; returns their ids.
    pub revoke_appwrite_session: &'static str,
    /// Replaces the claims of a user's live sessions holding an older snapshot.
    pub update_user_snapshot: &'static str,
    /// A user's sessions, newest first; with `$2` set, only those active at `$2`.
    pub user_sessions: &'static str,
    /// Audit events, newest first, filtered by user, session and position.
    pub audit_events: &'static str,
    /// Claims due sessions, each for one caller only.
    pub claim_reconciliation: &'static str,
    /// Marks the sessions of the JSON array `$2` as checked at `$1`.
    pub postpone_reconciliation: &'static str,
    /// Adds a revoked session to the feed.
    pub insert_session_revocation: &'static str,
    /// Feed entries after `$1` still mattering at `$2`, oldest first.
    pub revocations_since: &'static str,
    /// A replica's heartbeat: `$1` replica, `$2` started (ms), `$3` now (ms).
    pub heartbeat: &'static str,
    /// The newest heartbeat of a replica other than `$1`.
    pub newest_heartbeat: &'static str,
    /// Marks replica `$1` as stopped on purpose.
    pub mark_stopped: &'static str,
}
