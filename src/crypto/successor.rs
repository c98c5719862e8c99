//! Sealing a successor refresh token under a key derived from the token it replaces.
//!
//! Within the grace window a used refresh token may be presented again (a retry after a lost
//! response, two threads refreshing at once) and must get **the same** successor. The
//! successor is kept only sealed under HKDF-SHA256(presented token) → AES-256-GCM, with the
//! presented token's hash as associated data: the database alone, which holds only hashes,
//! never yields a usable refresh token.

use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};

use super::{CryptoError, aead};

const SALT: &[u8] = b"tokenmint/refresh-successor/v1";

fn derive_key(presented_token: &str) -> Result<[u8; 32], CryptoError> {
    let prk = Salt::new(HKDF_SHA256, SALT).extract(presented_token.as_bytes());
    let mut key = [0u8; 32];
    prk.expand(&[b"aes-256-gcm"], HKDF_SHA256)?.fill(&mut key)?;
    Ok(key)
}

/// Seals `successor` for whoever holds `presented_token`; `presented_hash` binds it to the row.
pub fn seal(
    presented_token: &str,
    presented_hash: &[u8],
    successor: &str,
) -> Result<Vec<u8>, CryptoError> {
    aead::seal(
        &derive_key(presented_token)?,
        presented_hash,
        successor.as_bytes(),
    )
}

/// Opens a successor sealed by [`seal`] for the same presented token.
pub fn open(
    presented_token: &str,
    presented_hash: &[u8],
    sealed: &[u8],
) -> Result<String, CryptoError> {
    let plaintext = aead::open(&derive_key(presented_token)?, presented_hash, sealed)?;
    String::from_utf8(plaintext).map_err(|_| CryptoError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_presented_token_opens_its_successor() {
        let sealed = seal("tmr_presented", b"hash-1", "tmr_successor").unwrap();
        assert_eq!(
            open("tmr_presented", b"hash-1", &sealed).unwrap(),
            "tmr_successor"
        );
        assert!(open("tmr_other", b"hash-1", &sealed).is_err());
        assert!(open("tmr_presented", b"hash-2", &sealed).is_err());
    }
}
