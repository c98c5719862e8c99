//! The Appwrite client: asks Appwrite once who a session proof belongs to. Implements the
//! domain's [`IdentityProvider`] port; Appwrite's wire details stay in this module.
//!
//! It sends only `X-Appwrite-Project`, the response format it reads
//! ([`RESPONSE_FORMAT`]) and the proof (`X-Appwrite-JWT` or `X-Appwrite-Session`): never an
//! `Origin`, a cookie or an API key. It never logs the proof and never passes Appwrite's body
//! on. The error `type` decides the outcome, not the status alone (appwrite-contract.md §3).
//! Tokens of Appwrite's OAuth2 server are verified locally instead ([`oauth`]).

pub mod breaker;
mod client;
pub mod directory;
mod jwks;
mod lossy;
pub mod model;
pub mod oauth;
pub mod webhook;
mod webhook_signature;
mod wire;

pub use self::client::AppwriteClient;
pub use self::wire::RESPONSE_FORMAT;
