//! The integration suite: one binary (each test file would otherwise be another slow link).
//! Tests start the real server on port 0 over real PostgreSQL (one database per test) and
//! real SQLite files.

// Test code: a failed unwrap is a failed test, with the error in its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;
mod oauth_helpers;

mod admin;
mod cli;
mod cors;
mod discovery;
mod exchange;
mod feed;
mod health;
mod hostile_input;
mod interop;
mod introspect;
mod jwks;
mod jwt_attacks;
mod jwt_forge;
mod log_hygiene;
mod me;
mod migration;
mod oauth_input;
mod refresh;
mod refresh_model;
mod revocation_races;
mod revoke;
mod rotation;
mod startup;
mod store_contract;
mod verifier;
mod webhooks;
