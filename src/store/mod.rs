//! Storage adapters: PostgreSQL (production) and SQLite (embedded default), both behind the
//! domain's storage ports. SQL lives only here.
//!
//! Queries are runtime-checked (`FromRow` rows) because one crate cannot compile-check against
//! two dialects; the store contract suite in `tests/api` runs every behaviour against both
//! backends instead.
//!
//! # Layout
//!
//! - `shared/`: the ports, implemented once for both backends (the transactions and their
//!   decisions), over a `dialect::Dialect`.
//! - `shared_sql`: the statements both backends run as written; `postgres/sql.rs` and
//!   `sqlite/sql.rs`: those whose texts differ.
//! - `postgres`, `sqlite`: each backend's store, its connections and its dialect;
//!   `postgres/rotations.rs` and `batch`: group rotation, one statement for concurrent
//!   refreshes.
//! - `pool`, `availability`, `error`, `rows`: connections, what this replica saw of the
//!   database, errors, rows.
//! - `database`, `options`, `status`, `migrations`: the open database as start-up, metrics
//!   and shutdown see it.

mod availability;
mod batch;
mod database;
mod dialect;
mod error;
mod migrations;
mod options;
mod pool;
pub mod postgres;
mod rows;
mod shared;
mod shared_sql;
pub mod sqlite;
mod status;

pub use self::batch::BatchCounts;
pub use self::database::{Database, KeyChangeListener};
pub use self::migrations::{AppliedMigration, MigrationReport};
pub use self::options::{DatabaseOptions, DatabaseTimeouts};
pub use self::status::{DatabaseHealth, PoolStatus};
