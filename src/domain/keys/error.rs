//! What can go wrong with signing keys, and reading a stored key state back.

use std::str::FromStr;

use crate::crypto::CryptoError;
use crate::domain::model::keys::KeyState;
use crate::domain::ports::StoreError;

/// Why keys could not be created or loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A stored key does not open under the configured KEK.
    #[error(
        "the key-encryption key does not decrypt signing key {kid}: is TOKENMINT_KEK the key \
         these signing keys were created with?"
    )]
    WrongKek {
        /// The key that failed to open.
        kid: String,
    },
    /// A stored key opened but is not a valid key of its algorithm.
    #[error("signing key {kid} is corrupt")]
    Corrupt {
        /// The damaged key.
        kid: String,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Key generation failed.
    #[error("could not generate a signing key")]
    Generate(#[from] CryptoError),
}

impl KeyError {
    /// Whether the database was unreachable or busy: a passing outage (logged once as it
    /// begins and ends), not a fault of the keys.
    pub fn is_outage(&self) -> bool {
        matches!(
            self,
            Self::Store(StoreError::Unavailable(_) | StoreError::Busy(_))
        )
    }
}

// Here rather than beside the type: an unknown state is a storage failure, and the model
// must not depend on the port that defines it.
impl FromStr for KeyState {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "next" => Ok(Self::Next),
            "active" => Ok(Self::Active),
            "retired" => Ok(Self::Retired),
            other => Err(StoreError::Corrupt(format!("unknown key state {other:?}"))),
        }
    }
}
