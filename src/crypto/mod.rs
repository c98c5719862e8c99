//! Cryptographic building blocks, all on one backend (aws-lc-rs): sealing secrets with
//! AES-256-GCM, the key-encryption key, signing keys and their public JWKs, and JWT signing.
//!
//! Nothing here knows about storage or HTTP; callers decide where bytes come from and go.

pub mod aead;
pub mod jwk;
pub mod kek;
pub mod signing;
pub mod successor;

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

/// Fills a fresh array with bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut bytes = [0u8; N];
    aws_lc_rs::rand::fill(&mut bytes)?;
    Ok(bytes)
}
