//! The command line: `tokenmint [serve]`, `migrate`, `keys list|rotate|revoke`, `admin-keys
//! create|list|revoke`, `sessions list|revoke`, `healthcheck`, `demo`. Commands use the same
//! configuration, store and domain services as the HTTP API.

mod admin_keys;
mod args;
mod keys;
mod output;
mod run;
mod sessions;

pub use self::args::{AdminKeysCommand, Cli, Command, KeysCommand, SessionsCommand};
pub use self::run::run;
