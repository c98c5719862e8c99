//! The domain core: what tokenmint does, free of HTTP, SQL and Appwrite's wire format.
//!
//! It must not import axum, sqlx, reqwest or http (CI greps for them). Storage and Appwrite
//! are reached through the ports in [`ports`]; time through [`crate::clock::Clock`].

pub mod access;
pub mod admin_keys;
pub mod availability;
pub mod error;
pub mod events;
pub mod exchange;
pub mod feed;
pub mod grace;
pub mod grants;
pub mod introspect;
pub mod keys;
pub mod model;
pub mod ports;
pub mod rate_limit;
pub mod readiness;
pub mod reconcile;
pub mod refresh;
pub mod revoke;
pub mod session;
pub mod session_admin;
pub mod text;
pub mod token;
pub mod webhook;
