//! The domain core: what tokenmint does, free of HTTP, SQL and Appwrite's wire format.
//!
//! It must not import axum, sqlx, reqwest or http (CI greps for them). Storage is reached
//! through the ports in [`ports`]; time through [`crate::clock::Clock`].

pub mod keys;
pub mod ports;
