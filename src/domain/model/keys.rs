//! Signing keys as stored: their lifecycle state and their sealed private keys.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::crypto::signing::SigningAlgorithm;

/// Where a key is in its lifecycle: `next` → `active` → `retired` → removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyState {
    /// Signs new tokens. At most one key is active.
    Active,
    /// Published but not signing yet, so verifiers learn it before it is used.
    Next,
    /// No longer signs; published until every token it signed has expired.
    Retired,
}

impl KeyState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Active => "active",
            Self::Retired => "retired",
        }
    }
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A signing key as stored: metadata, the public JWK (for listing), and the private key
/// sealed under the KEK.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// The RFC 7638 thumbprint of the public key.
    pub kid: String,
    /// The algorithm the key signs with.
    pub algorithm: SigningAlgorithm,
    /// Lifecycle state.
    pub state: KeyState,
    /// The public key, as JSON; informational only (see the module docs).
    pub public_jwk: String,
    /// The PKCS#8 private key sealed with [`crate::crypto::kek::Kek::seal`] under
    /// [`crate::domain::keys::sealing_context`].
    pub private_key_sealed: Vec<u8>,
    /// When the key was created.
    pub created_at: DateTime<Utc>,
    /// For `next`: the earliest time it may start signing; otherwise when it did.
    pub activates_at: Option<DateTime<Utc>>,
    /// When it stopped signing.
    pub retired_at: Option<DateTime<Utc>>,
    /// For `retired`: when it leaves the JWKS (every token it signed has expired by then).
    pub publish_until: Option<DateTime<Utc>>,
}

impl fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("state", &self.state)
            .field("created_at", &self.created_at)
            .field("activates_at", &self.activates_at)
            .field("retired_at", &self.retired_at)
            .field("publish_until", &self.publish_until)
            .finish_non_exhaustive()
    }
}
