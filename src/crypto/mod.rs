//! Cryptographic building blocks, all on one backend (aws-lc-rs): sealing secrets with
//! AES-256-GCM, the key-encryption key, signing keys and their public JWKs, and JWT signing.
//!
//! Nothing here knows about storage or HTTP; callers decide where bytes come from and go.

pub mod aead;
pub mod jwk;
pub mod kek;
pub mod signing;
pub mod successor;
pub mod validator;

/// A cryptographic operation failed. Deliberately carries no detail: the causes (bad key
/// material, failed authentication) must not be distinguishable by a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cryptographic operation failed")]
pub struct CryptoError;

impl From<aws_lc_rs::error::Unspecified> for CryptoError {
    fn from(_: aws_lc_rs::error::Unspecified) -> Self {
        CryptoError
    }
}

impl From<aws_lc_rs::error::KeyRejected> for CryptoError {
    fn from(_: aws_lc_rs::error::KeyRejected) -> Self {
        CryptoError
    }
}

/// Fills a fresh array with random bytes from aws-lc's CSPRNG (seeded by the operating system;
/// no system call per use, unlike the `getrandom` the `uuid` crate calls every time).
pub fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut bytes = [0u8; N];
    aws_lc_rs::rand::fill(&mut bytes)?;
    Ok(bytes)
}

/// A UUIDv7 for the time `now`, its random bits from [`random_bytes`].
pub fn uuid_v7(now: chrono::DateTime<chrono::Utc>) -> Result<uuid::Uuid, CryptoError> {
    let millis = u64::try_from(now.timestamp_millis()).unwrap_or(0);
    let random = random_bytes::<10>()?;
    Ok(uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid())
}

/// A random UUIDv4 (request ids), its bits from [`random_bytes`].
pub fn uuid_v4() -> Result<uuid::Uuid, CryptoError> {
    Ok(uuid::Builder::from_random_bytes(random_bytes::<16>()?).into_uuid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_have_their_version_and_v7_its_time() {
        let now = chrono::DateTime::from_timestamp_millis(1_795_350_000_123).unwrap();
        let v7 = uuid_v7(now).unwrap();
        assert_eq!(v7.get_version_num(), 7);
        let (seconds, nanos) = v7.get_timestamp().unwrap().to_unix();
        assert_eq!((seconds, nanos / 1_000_000), (1_795_350_000, 123));
        assert_ne!(uuid_v7(now).unwrap(), v7);
        assert_eq!(uuid_v4().unwrap().get_version_num(), 4);
    }
}
