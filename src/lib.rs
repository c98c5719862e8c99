//! tokenmint: exchanges proof of an Appwrite session for tokenmint's own short-lived access
//! JWTs and rotating refresh tokens; microservices verify the JWTs locally against its JWKS.
//!
//! # Layout
//!
//! Dependencies point one way: `http → domain → crypto, clock`; `store`, `appwrite`,
//! `prometheus` and `limiter` implement the domain's ports; `startup` wires them together.
//! `.ci/check-architecture` enforces it (docs/design/architecture.md).
//!
//! - [`config`]: settings from defaults, `tokenmint.toml` and the environment, validated.
//! - [`domain`]: what tokenmint does; its records, and the ports it needs; no HTTP, no SQL.
//! - [`store`]: the PostgreSQL and SQLite implementations of the domain's storage ports.
//! - [`crypto`]: sealing, the key-encryption key, signing keys and JWKs (aws-lc-rs).
//! - [`http`]: routes and middleware; thin adapters over the domain.
//! - [`limiter`]: the rate limiters (governor) behind the HTTP limits and the domain's
//!   per-user exchange limit.
//! - [`prometheus`]: the metrics registry, counting the domain's events for `/metrics`.
//! - [`startup`]: building and running the service; [`cli`]: the command line.
//! - [`clock`]: the only wall-clock read; [`telemetry`]: logging.
//! - [`healthcheck`]: the container's health probe; `demo`: the guided tour (cargo feature
//!   `demo`, on by default).

pub mod appwrite;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
#[cfg(feature = "demo")]
pub mod demo;
pub mod domain;
pub mod healthcheck;
pub mod http;
pub mod limiter;
pub mod prometheus;
mod shutdown;
pub mod startup;
pub mod store;
pub mod telemetry;

pub use config::Config;
pub use startup::App;
