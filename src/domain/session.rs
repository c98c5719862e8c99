//! Session rules that need more than the session record: when a revocation takes effect, and
//! reading a stored revocation reason back.

use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::model::sessions::RevocationReason;
use super::ports::StoreError;

/// The not-before set by a revocation at `at`: the next whole second, so that tokens issued
/// earlier in the same second (`iat` has whole seconds) are covered by "`iat` before
/// not-before".
pub fn not_before_after(at: DateTime<Utc>) -> DateTime<Utc> {
    let next = at.timestamp().saturating_add(1);
    DateTime::from_timestamp(next, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

// Here rather than beside the type: an unknown name is a storage failure, and the model
// must not depend on the port that defines it.
impl FromStr for RevocationReason {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|reason| reason.as_str() == s)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown revocation reason {s:?}")))
    }
}
