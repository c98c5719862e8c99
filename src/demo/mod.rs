//! `tokenmint demo`: tokenmint in one command, with nothing to set up. It starts the server
//! in this process on a throw-away SQLite file and a free loopback port, beside a local
//! Appwrite stand-in (the fake Appwrite of the tests, `crates/fake-appwrite`: **not**
//! Appwrite), then walks through the main job over HTTP, as a user with curl would
//! ([`steps`]). The shell's tokenmint configuration is not used: the demo never touches a
//! real database or Appwrite project.
//!
//! - [`steps`]: the walk-through; [`show`]: curl commands and answers; [`verify`]: local
//!   verification against the JWKS.

mod run;
mod scratch;
mod server;
mod show;
mod steps;
mod verify;

pub use self::run::{LOG_FILTER, run};
