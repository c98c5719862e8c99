//! The integration suite: one binary (each test file would otherwise be another slow link).
//! Tests start the real server on port 0 over real PostgreSQL (one database per test) and
//! real SQLite files.

// Test code: a failed unwrap is a failed test, with the error in its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod db_proxy;
mod helpers;
mod metrics_helpers;
mod oauth_helpers;

mod admin;
mod appwrite_faults;
mod appwrite_intake;
mod cli;
mod cors;
#[cfg(feature = "demo")]
mod demo;
mod discovery;
mod docs_page;
mod exchange;
mod faults;
mod feed;
mod health;
mod healthcheck;
mod hostile_input;
mod interop;
mod introspect;
mod jwks;
mod jwt_attacks;
mod jwt_forge;
mod log_hygiene;
mod me;
mod metrics;
mod migration;
mod oauth_input;
mod openapi;
mod openapi_conformance;
mod outages;
mod rate_limits;
mod reconcile;
mod refresh;
mod refresh_model;
mod revocation_races;
mod revoke;
mod rotation;
mod schemathesis;
mod shutdown;
mod startup;
mod store_contract;
mod token_generations;
mod verifier;
mod webhooks;
