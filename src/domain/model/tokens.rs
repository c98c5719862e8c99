//! The stored forms of refresh tokens: hashes only, never the token.

use std::fmt;

/// The SHA-256 of a refresh token. Lookups go by hashes through a database index, so no
/// secret-dependent comparison happens in tokenmint's own code.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

/// The SHA-256 of a refresh token's selector: names its family (its session).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FamilyHash(pub [u8; 32]);

impl fmt::Debug for FamilyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FamilyHash({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}
