//! The HTTP adapter: routes, middleware and the mapping of domain results to responses.
//! Handlers extract, call the domain, and map; they hold no business rules and no SQL.
//!
//! This file only declares the modules and names what the rest of the crate uses; the
//! children import from each other, never through here.

mod admin;
mod auth;
pub mod client_ip;
mod cors;
mod docs;
mod draining;
mod envelope;
mod error;
mod extract;
mod family;
mod feed;
mod forwarded;
mod health;
mod limits;
mod me;
mod metrics;
mod oauth;
mod openapi;
mod rate_limit;
mod request_metrics;
mod router;
mod routes;
mod state;
mod views;
mod webhooks;
mod wellknown;

pub use self::draining::Draining;
pub use self::error::{OAuthError, Problem};
pub use self::extract::decode_oauth_body;
pub use self::family::ErrorFamily;
pub use self::limits::{BODY_LIMIT, REQUEST_TIMEOUT};
pub use self::metrics::{METRICS_PATH, metrics_router};
pub use self::router::router;
pub use self::routes::{Endpoint, endpoints};
pub use self::state::{AppState, Services};
