//! AES-256-GCM sealing with a random 96-bit nonce.
//!
//! Sealed format: `version (1 byte) || nonce (12) || ciphertext || tag (16)`. The version byte
//! lets the format change without guessing. Associated data binds a ciphertext to its context
//! (a key id, a token hash), so a sealed value moved to another row fails to open.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use super::{CryptoError, random_bytes};

const FORMAT_V1: u8 = 1;

/// Encrypts and authenticates `plaintext` under `key`, bound to `aad`.
pub fn seal(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key)?);
    let nonce_bytes = random_bytes::<NONCE_LEN>()?;
    let mut in_out = plaintext.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce_bytes),
        Aad::from(aad),
        &mut in_out,
    )?;
    let mut sealed = Vec::with_capacity(1 + NONCE_LEN + in_out.len());
    sealed.push(FORMAT_V1);
    sealed.extend_from_slice(&nonce_bytes);
    sealed.extend_from_slice(&in_out);
    Ok(sealed)
}

/// Decrypts a value made by [`seal`] with the same key and associated data.
///
/// Fails, without saying why, on a wrong key, other associated data, or any altered byte.
pub fn open(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let (version, rest) = sealed.split_first().ok_or(CryptoError)?;
    if *version != FORMAT_V1 || rest.len() < NONCE_LEN {
        return Err(CryptoError);
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce)?;
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key)?);
    let mut in_out = ciphertext.to_vec();
    let plaintext = key.open_in_place(nonce, Aad::from(aad), &mut in_out)?;
    Ok(plaintext.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    #[test]
    fn sealed_values_open_with_the_same_key_and_context() {
        let sealed = seal(&KEY, b"kid-1", b"private key").unwrap();
        assert_eq!(open(&KEY, b"kid-1", &sealed).unwrap(), b"private key");
        assert_ne!(
            seal(&KEY, b"kid-1", b"private key").unwrap(),
            sealed,
            "nonces repeat"
        );
    }

    #[test]
    fn wrong_key_other_context_or_altered_bytes_fail() {
        let sealed = seal(&KEY, b"kid-1", b"private key").unwrap();
        assert_eq!(open(&[8; 32], b"kid-1", &sealed), Err(CryptoError));
        assert_eq!(open(&KEY, b"kid-2", &sealed), Err(CryptoError));
        for i in 0..sealed.len() {
            let mut altered = sealed.clone();
            altered[i] ^= 1;
            assert_eq!(open(&KEY, b"kid-1", &altered), Err(CryptoError), "byte {i}");
        }
        assert_eq!(open(&KEY, b"kid-1", &sealed[..10]), Err(CryptoError));
        assert_eq!(open(&KEY, b"kid-1", &[]), Err(CryptoError));
    }
}
