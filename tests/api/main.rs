//! The integration suite: one binary (each test file would otherwise be another slow link).
//! Tests start the real server on port 0 over real PostgreSQL (one database per test) and
//! real SQLite files.

mod helpers;

mod cli;
mod discovery;
mod health;
mod jwks;
mod startup;
mod store_contract;
