//! Obtaining the key-encryption key that seals the signing keys at rest.

use anyhow::bail;
use secrecy::ExposeSecret;

use crate::config::Config;
use crate::crypto::kek::Kek;
use crate::store::Database;

/// The KEK from `TOKENMINT_KEK`; for SQLite without one, the KEK file beside the database
/// (created on first use). PostgreSQL without a KEK is refused: a generated key would have to
/// live on one replica's disk, and losing it would lose every signing key.
pub fn key_encryption_key(config: &Config, database: &Database) -> anyhow::Result<Kek> {
    if let Some(kek) = &config.kek {
        return Ok(Kek::from_base64(kek.expose_secret())?);
    }
    if database.is_postgres() {
        bail!(
            "TOKENMINT_KEK is required with PostgreSQL: generate one with `openssl rand -base64 32`, \
             keep it in your secret store, and set TOKENMINT_KEK (or TOKENMINT_KEK_FILE)"
        );
    }
    let Some(database_file) = database.sqlite_file() else {
        tracing::warn!(
            "in-memory database without TOKENMINT_KEK: using a throw-away key-encryption key"
        );
        return Ok(Kek::generate()?);
    };
    let mut kek_file = database_file.as_os_str().to_owned();
    kek_file.push(".kek");
    let kek_file = std::path::PathBuf::from(kek_file);
    let (kek, created) = Kek::load_or_create_file(&kek_file)?;
    if created {
        tracing::warn!(
            path = %kek_file.display(),
            "created a key-encryption key file (mode 0600) beside the SQLite database; back it up \
             with the database, or set TOKENMINT_KEK"
        );
    } else {
        tracing::info!(path = %kek_file.display(), "using the key-encryption key file");
    }
    Ok(kek)
}
