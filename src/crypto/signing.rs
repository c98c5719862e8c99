//! Signing keys: generation, parsing from PKCS#8, the public JWK, and compact JWS signing.
//!
//! Keys are parsed once into aws-lc-rs key pairs and kept: `jsonwebtoken::encode` re-parses
//! the private key on every call (`benches/signing.rs`: 1.45x slower for ES256, 1.66x for
//! EdDSA) and needs PKCS#1 for RSA, which aws-lc-rs does not export. Assembling a compact JWS
//! is three base64url parts;
//! verification, the part where mistakes let attackers in, stays with jsonwebtoken and is
//! cross-checked by independent libraries in CI.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256,
    RsaKeyPair,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use super::CryptoError;
use super::jwk::PublicJwk;

/// A JWS algorithm tokenmint signs with. There is deliberately no `none` and no HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SigningAlgorithm {
    /// ECDSA P-256 with SHA-256: the default.
    Es256,
    /// Ed25519.
    EdDsa,
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys.
    Rs256,
}

impl SigningAlgorithm {
    /// Every algorithm, in preference order.
    pub const ALL: [SigningAlgorithm; 3] = [Self::Es256, Self::EdDsa, Self::Rs256];

    /// The JWA name (`ES256`, `EdDSA`, `RS256`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
            Self::Rs256 => "RS256",
        }
    }
}

impl fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not a supported algorithm name.
#[derive(Debug, thiserror::Error)]
#[error("unsupported signing algorithm; expected ES256, EdDSA or RS256")]
pub struct UnknownAlgorithm;

impl FromStr for SigningAlgorithm {
    type Err = UnknownAlgorithm;

    /// Accepts the exact JWA names only: `es256` is not `ES256` in a JOSE header either.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|alg| alg.as_str() == s)
            .ok_or(UnknownAlgorithm)
    }
}

enum KeyPair {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
    Rs256(RsaKeyPair),
}

/// A private signing key, ready to sign, with its public JWK.
pub struct SigningKey {
    pair: KeyPair,
    jwk: PublicJwk,
    algorithm: SigningAlgorithm,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.jwk.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct JwsHeader<'a> {
    alg: &'static str,
    typ: &'a str,
    kid: &'a str,
}

impl SigningKey {
    /// Generates a new key; returns it with its PKCS#8 (v1) DER encoding for storage.
    /// RSA generation takes tens of milliseconds: call it off the async runtime.
    pub fn generate(algorithm: SigningAlgorithm) -> Result<(Self, Vec<u8>), CryptoError> {
        let pkcs8 = match algorithm {
            SigningAlgorithm::Es256 => EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)?
                .to_pkcs8v1()?
                .as_ref()
                .to_vec(),
            SigningAlgorithm::EdDsa => Ed25519KeyPair::generate()?.to_pkcs8v1()?.as_ref().to_vec(),
            SigningAlgorithm::Rs256 => {
                let pair = aws_lc_rs::rsa::KeyPair::generate(KeySize::Rsa2048)?;
                AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair)?
                    .as_ref()
                    .to_vec()
            }
        };
        Ok((Self::from_pkcs8(algorithm, &pkcs8)?, pkcs8))
    }

    /// Parses a PKCS#8 private key for `algorithm`; the public JWK is derived from it, never
    /// taken from elsewhere.
    pub fn from_pkcs8(algorithm: SigningAlgorithm, der: &[u8]) -> Result<Self, CryptoError> {
        let alg = algorithm.as_str();
        let (pair, jwk) = match algorithm {
            SigningAlgorithm::Es256 => {
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)?;
                let jwk = PublicJwk::ec_p256(pair.public_key().as_ref(), alg).ok_or(CryptoError)?;
                (KeyPair::Es256(pair), jwk)
            }
            SigningAlgorithm::EdDsa => {
                let pair = Ed25519KeyPair::from_pkcs8(der)?;
                let jwk = PublicJwk::ed25519(pair.public_key().as_ref(), alg);
                (KeyPair::EdDsa(pair), jwk)
            }
            SigningAlgorithm::Rs256 => {
                let pair = RsaKeyPair::from_pkcs8(der)?;
                let public = pair.public_key();
                let jwk = PublicJwk::rsa(
                    public.modulus().big_endian_without_leading_zero(),
                    public.exponent().big_endian_without_leading_zero(),
                    alg,
                );
                (KeyPair::Rs256(pair), jwk)
            }
        };
        Ok(Self {
            pair,
            jwk,
            algorithm,
        })
    }

    /// The key id (the JWK thumbprint).
    pub fn kid(&self) -> &str {
        &self.jwk.kid
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.algorithm
    }

    /// The public half, as published in the JWKS.
    pub fn public_jwk(&self) -> &PublicJwk {
        &self.jwk
    }

    /// Signs `claims` as a compact JWS with header `{"alg","typ","kid"}`.
    pub fn sign_jwt<C: Serialize>(&self, typ: &str, claims: &C) -> Result<String, CryptoError> {
        let header = JwsHeader {
            alg: self.algorithm.as_str(),
            typ,
            kid: self.kid(),
        };
        let header = serde_json::to_vec(&header).map_err(|_| CryptoError)?;
        let claims = serde_json::to_vec(claims).map_err(|_| CryptoError)?;
        let mut token = URL_SAFE_NO_PAD.encode(header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(claims, &mut token);
        let signature = self.sign(token.as_bytes())?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        match &self.pair {
            KeyPair::Es256(pair) => Ok(pair.sign(&SystemRandom::new(), message)?.as_ref().to_vec()),
            KeyPair::EdDsa(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            KeyPair::Rs256(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut signature,
                )?;
                Ok(signature)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::jwk::Jwk;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};

    #[derive(Serialize, serde::Deserialize)]
    struct Claims {
        sub: String,
        exp: u64,
    }

    fn verify_with_published_jwk(key: &SigningKey, token: &str) -> Claims {
        let jwk: Jwk =
            serde_json::from_value(serde_json::to_value(key.public_jwk()).unwrap()).unwrap();
        let decoding = DecodingKey::from_jwk(&jwk).unwrap();
        let alg = match key.algorithm() {
            SigningAlgorithm::Es256 => Algorithm::ES256,
            SigningAlgorithm::EdDsa => Algorithm::EdDSA,
            SigningAlgorithm::Rs256 => Algorithm::RS256,
        };
        let mut validation = Validation::new(alg);
        validation.validate_aud = false;
        decode::<Claims>(token, &decoding, &validation)
            .unwrap()
            .claims
    }

    #[test]
    fn every_algorithm_signs_tokens_its_public_jwk_verifies() {
        for algorithm in SigningAlgorithm::ALL {
            let (key, pkcs8) = SigningKey::generate(algorithm).unwrap();
            let reparsed = SigningKey::from_pkcs8(algorithm, &pkcs8).unwrap();
            assert_eq!(reparsed.public_jwk(), key.public_jwk(), "{algorithm}");
            let claims = Claims {
                sub: "u1".into(),
                exp: 4_000_000_000,
            };
            let token = reparsed.sign_jwt("at+jwt", &claims).unwrap();
            let header = decode_header(&token).unwrap();
            assert_eq!(header.typ.as_deref(), Some("at+jwt"));
            assert_eq!(header.kid.as_deref(), Some(key.kid()));
            assert_eq!(
                verify_with_published_jwk(&key, &token).sub,
                "u1",
                "{algorithm}"
            );
        }
    }

    #[test]
    fn a_key_does_not_parse_as_another_algorithm() {
        let (_, ec) = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
        assert!(SigningKey::from_pkcs8(SigningAlgorithm::EdDsa, &ec).is_err());
        assert!(SigningKey::from_pkcs8(SigningAlgorithm::Rs256, &ec).is_err());
        assert!(SigningKey::from_pkcs8(SigningAlgorithm::Es256, b"garbage").is_err());
    }

    #[test]
    fn algorithm_names_are_exact() {
        assert_eq!(
            "EdDSA".parse::<SigningAlgorithm>().unwrap(),
            SigningAlgorithm::EdDsa
        );
        for bad in ["es256", "HS256", "none", ""] {
            assert!(bad.parse::<SigningAlgorithm>().is_err(), "{bad}");
        }
    }
}
