//! What can go wrong with admin keys, and reading a stored role back.

use std::str::FromStr;

use crate::crypto::CryptoError;
use crate::domain::model::admin_keys::AdminRole;
use crate::domain::ports::StoreError;

/// Why admin-key operations failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminKeyError {
    /// The presented key is malformed, unknown, wrong or revoked.
    #[error("invalid admin key")]
    InvalidKey,
    /// A verification for this key id failed a moment ago: retry after this many seconds.
    #[error("too many failed attempts for this key; retry later")]
    Throttled {
        /// Seconds before a retry makes sense.
        retry_after: u64,
    },
    /// The name is empty or too long.
    #[error("the name must be 1 to 100 characters")]
    InvalidName,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Randomness or hashing failed.
    #[error("cannot create the key")]
    Crypto,
}

impl From<CryptoError> for AdminKeyError {
    fn from(_: CryptoError) -> Self {
        Self::Crypto
    }
}

// Here rather than beside the type: an unknown role is a storage failure, and the model
// must not depend on the port that defines it.
impl FromStr for AdminRole {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Self::Admin),
            "introspect" => Ok(Self::Introspect),
            "feed" => Ok(Self::Feed),
            other => Err(StoreError::Corrupt(format!("unknown admin role {other:?}"))),
        }
    }
}
