//! Ports: the traits the domain needs from the outside world, implemented by adapters
//! (`crate::store` for PostgreSQL and SQLite, `crate::appwrite` for Appwrite), and the values
//! that cross them.
//!
//! Storage is split by concern (`stores`): keys, sessions, refresh tokens, revocations,
//! reconciliation, the feed, webhook deliveries, audit, admin keys; [`Store`] is all of them.

mod availability;
mod error;
mod feed;
mod identity;
mod outage;
mod revocation;
mod sessions;
mod stores;
mod tokens;
mod webhook;

pub use self::availability::Availability;
pub use self::error::{BoxError, StoreError};
pub use self::feed::{FeedEntry, PurgeCutoffs};
pub use self::identity::{
    AppwriteUserState, IdentityError, IdentityProvider, SubjectProof, UserDirectory, VerifiedLogin,
};
pub use self::outage::Outage;
pub use self::revocation::{Revocation, RevokedUser, UserRevocation};
pub use self::sessions::{ReconcileClaim, SessionQuery};
pub use self::stores::{
    AdminKeyStore, AuditStore, FeedStore, KeyStore, ReconcileStore, RefreshTokenStore,
    RevocationStore, SessionStore, Store, WebhookStore,
};
pub use self::tokens::{NewSession, PreviousToken, Rotation, TokenFamily};
pub use self::webhook::FirstSighting;
