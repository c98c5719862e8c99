//! The command line's arguments, as clap parses them.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::domain::keys::SigningAlgorithm;

/// tokenmint: exchanges an Appwrite session for short-lived access JWTs and rotating refresh
/// tokens that microservices verify locally against a published JWKS.
///
/// Configuration comes from the environment (see docs/reference/configuration.md for every
/// variable) and an optional tokenmint.toml.
#[derive(Debug, Parser)]
#[command(name = "tokenmint", version)]
pub struct Cli {
    /// Configuration file; defaults to ./tokenmint.toml when it exists. Environment
    /// variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// A tokenmint command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (the default): applies migrations and creates the first signing key
    /// when needed.
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage admin keys (credentials for the admin API and introspection).
    #[command(subcommand, name = "admin-keys")]
    AdminKeys(AdminKeysCommand),
    /// See and revoke sessions.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Probe the server on TOKENMINT_LISTEN (a container health check: the image has no curl):
    /// exit 0 when GET /readyz answers 200, 1 otherwise.
    Healthcheck {
        /// Probe liveness (GET /healthz) instead of readiness.
        #[arg(long)]
        liveness: bool,
    },
    /// Try tokenmint in one command: starts it on a throw-away SQLite file beside a local
    /// Appwrite stand-in (NOT Appwrite), then walks through exchange, verification, refresh,
    /// grace retry, reuse detection, admin revocation and the revocation feed, printing each
    /// step as a curl command and its answer. Ignores the configuration of this shell.
    #[cfg(feature = "demo")]
    Demo {
        /// Leave both servers up afterwards, with a fresh Appwrite JWT to exchange, until
        /// ctrl-c.
        #[arg(long)]
        keep_running: bool,
    },
}

/// `tokenmint admin-keys …`
#[derive(Debug, Subcommand)]
pub enum AdminKeysCommand {
    /// Create a key and print it, alone, on standard output. It is shown this once only.
    Create {
        /// A name for humans, e.g. "ops laptop" or "billing-service introspection".
        #[arg(long)]
        name: String,
        /// `admin` (the whole admin API, introspection and the revocation feed), `introspect`
        /// (introspection and the feed) or `feed` (the revocation feed only, for verifiers).
        #[arg(long, default_value = "admin", value_parser = ["admin", "introspect", "feed"])]
        role: String,
    },
    /// List keys (ids, names, roles, states; never secrets).
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key by id. Other replicas stop accepting it within TOKENMINT_ADMIN_KEY_CACHE_TTL.
    Revoke {
        /// The key id (the 16 hex digits after `tma_`).
        id: String,
    },
}

/// `tokenmint sessions …`
#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List a user's sessions, newest first.
    List {
        /// The Appwrite user id.
        #[arg(long)]
        user: String,
        /// Include revoked and expired sessions.
        #[arg(long)]
        all: bool,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke one session, or all of a user's sessions (which also sets the user's not-before).
    #[command(group(clap::ArgGroup::new("target").required(true).args(["session", "user"])))]
    Revoke {
        /// The session id.
        #[arg(long)]
        session: Option<uuid::Uuid>,
        /// The Appwrite user id.
        #[arg(long)]
        user: Option<String>,
    },
}

/// `tokenmint keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys and their states (never shows private keys).
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove a key at once (emergency: it leaked). It leaves the JWKS immediately; if it was
    /// signing, the `next` key, or a new key, signs from now on. Verifiers reject its tokens
    /// once they refetch the JWKS.
    Revoke {
        /// The key id.
        kid: String,
    },
    /// Create the `next` key: published in the JWKS at once, signing after two JWKS cache
    /// lifetimes. Does nothing if a `next` key already exists.
    Rotate {
        /// Algorithm of the new key: ES256, EdDSA or RS256 (default: TOKENMINT_SIGNING_ALG).
        #[arg(long, value_parser = parse_algorithm)]
        alg: Option<SigningAlgorithm>,
    },
}

fn parse_algorithm(value: &str) -> Result<SigningAlgorithm, String> {
    value
        .parse()
        .map_err(|err: crate::crypto::signing::UnknownAlgorithm| err.to_string())
}
