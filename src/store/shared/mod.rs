//! The one implementation of the domain's storage ports, for any [`Backend`]: the
//! transactions and their decisions are written once; each backend supplies its [`Dialect`]
//! (the texts of the statements that differ, how a write transaction begins) and how it
//! rotates a current token. Rows are read into the shared structs of `rows`.
//!
//! Every text that came from outside is bound through [`text`], which replaces U+0000 (that
//! PostgreSQL cannot store in `text` or `jsonb`) with U+FFFD.
//!
//! [`Dialect`]: crate::store::dialect::Dialect

mod admin_keys;
mod audit;
mod availability;
mod backend;
mod feed;
mod keys;
mod reconcile;
mod revocations;
mod sessions;
mod tokens;
mod webhook;

pub(crate) use self::backend::{Backend, on_connection, optional_text};
pub(crate) use self::tokens::rotate_alone;
