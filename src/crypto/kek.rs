//! The key-encryption key (KEK): 32 bytes that seal every private signing key at rest.
//!
//! It comes from `TOKENMINT_KEK` (base64). For the embedded SQLite default only, a missing KEK
//! is generated once into a file beside the database, created with mode 0600, so that
//! `cargo run` works out of the box while the database file alone still reveals no key.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

use super::{CryptoError, aead, random_bytes};

/// The key-encryption key. `Debug` never shows it.
#[derive(Clone)]
pub struct Kek([u8; 32]);

/// Why a KEK could not be obtained.
#[derive(Debug, thiserror::Error)]
pub enum KekError {
    /// The configured value is not base64 of exactly 32 bytes.
    #[error(
        "TOKENMINT_KEK must be base64 of exactly 32 bytes (generate one with `openssl rand -base64 32`)"
    )]
    Malformed,
    /// The KEK file exists but does not hold a valid key.
    #[error("the key-encryption key file {0} is not base64 of exactly 32 bytes")]
    MalformedFile(PathBuf),
    /// The KEK file could not be read or created.
    #[error("cannot use the key-encryption key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O failure.
        source: std::io::Error,
    },
    /// The random generator failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Kek([redacted])")
    }
}

impl Kek {
    /// Parses base64 (standard or URL-safe, padded or not) of exactly 32 bytes.
    pub fn from_base64(value: &str) -> Result<Self, KekError> {
        let value = value.trim();
        let decoded = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(value).ok())
            .ok_or(KekError::Malformed)?;
        let bytes: [u8; 32] = decoded.try_into().map_err(|_| KekError::Malformed)?;
        Ok(Self(bytes))
    }

    /// A fresh random KEK.
    pub fn generate() -> Result<Self, KekError> {
        Ok(Self(random_bytes()?))
    }

    /// The KEK's base64 form, for writing it to its file.
    fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Reads the KEK from `path`, or creates the file (mode 0600) with a new KEK when it does
    /// not exist. Returns whether it was created.
    pub fn load_or_create_file(path: &Path) -> Result<(Self, bool), KekError> {
        let io_error = |source| KekError::Io {
            path: path.to_path_buf(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(content) => {
                let kek = Self::from_base64(&content)
                    .map_err(|_| KekError::MalformedFile(path.to_path_buf()))?;
                Ok((kek, false))
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let kek = Self::generate()?;
                let mut options = std::fs::OpenOptions::new();
                // create_new: if two processes race, one fails here instead of overwriting the
                // other's key; a restart then reads the winner's file.
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(path).map_err(io_error)?;
                file.write_all(format!("{}\n", kek.to_base64()).as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(io_error)?;
                Ok((kek, true))
            }
            Err(err) => Err(io_error(err)),
        }
    }

    /// A 32-byte key for one purpose (`info`), derived from this KEK with HKDF-SHA256: the KEK
    /// itself seals only signing keys, each other use gets a key of its own.
    pub fn derive(&self, info: &[u8]) -> Result<[u8; 32], CryptoError> {
        use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
        let prk = Salt::new(HKDF_SHA256, b"tokenmint/kek-derived/v1").extract(&self.0);
        let mut key = [0u8; 32];
        prk.expand(&[info], HKDF_SHA256)?.fill(&mut key)?;
        Ok(key)
    }

    /// Seals `plaintext` under this KEK, bound to `aad`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        aead::seal(&self.0, aad, plaintext)
    }

    /// Opens a value sealed by [`Kek::seal`] with the same associated data.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        aead::open(&self.0, aad, sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_base64_of_32_bytes_in_every_common_alphabet() {
        let bytes = [0xfbu8; 32];
        for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
            let kek = Kek::from_base64(&engine.encode(bytes)).unwrap();
            assert_eq!(kek.0, bytes);
        }
    }

    #[test]
    fn rejects_other_lengths_and_garbage() {
        for value in [
            "",
            "not base64!",
            &STANDARD.encode([1u8; 31]),
            &STANDARD.encode([1u8; 33]),
        ] {
            assert!(
                matches!(Kek::from_base64(value), Err(KekError::Malformed)),
                "{value}"
            );
        }
    }

    #[test]
    fn debug_hides_the_key() {
        let kek = Kek::from_base64(&STANDARD.encode([0x41u8; 32])).unwrap();
        assert_eq!(format!("{kek:?}"), "Kek([redacted])");
    }

    #[test]
    fn the_file_is_created_once_with_owner_only_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenmint.db.kek");
        let (first, created) = Kek::load_or_create_file(&path).unwrap();
        assert!(created);
        let (second, created_again) = Kek::load_or_create_file(&path).unwrap();
        assert!(!created_again);
        assert_eq!(first.0, second.0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_corrupt_file_is_an_error_not_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenmint.db.kek");
        std::fs::write(&path, "garbage").unwrap();
        assert!(matches!(
            Kek::load_or_create_file(&path),
            Err(KekError::MalformedFile(_))
        ));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "garbage");
    }
}
