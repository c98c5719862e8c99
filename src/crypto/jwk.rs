//! Public JSON Web Keys (RFC 7517/7518) and their RFC 7638 thumbprints.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// A public signing key as published in the JWKS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    /// Key type: `EC`, `OKP` or `RSA`.
    pub kty: String,
    /// Curve, for `EC` and `OKP` keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// Public x coordinate (EC) or public key (OKP), base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// Public y coordinate (EC), base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus, base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent, base64url.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// Key id: the RFC 7638 thumbprint.
    pub kid: String,
    /// The one algorithm this key is used with (RFC 7517 §4.4), so verifiers can pin it.
    pub alg: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub use_: String,
}

impl PublicJwk {
    /// An EC P-256 key from its uncompressed point (`0x04 || x || y`).
    pub fn ec_p256(uncompressed_point: &[u8], alg: &str) -> Option<Self> {
        let (&tag, coordinates) = uncompressed_point.split_first()?;
        if tag != 0x04 || coordinates.len() != 64 {
            return None;
        }
        let (x, y) = coordinates.split_at(32);
        Some(Self::with_thumbprint(Self {
            kty: "EC".into(),
            crv: Some("P-256".into()),
            x: Some(b64(x)),
            y: Some(b64(y)),
            ..Self::empty(alg)
        }))
    }

    /// An Ed25519 key from its 32 public bytes.
    pub fn ed25519(public_key: &[u8], alg: &str) -> Self {
        Self::with_thumbprint(Self {
            kty: "OKP".into(),
            crv: Some("Ed25519".into()),
            x: Some(b64(public_key)),
            ..Self::empty(alg)
        })
    }

    /// An RSA key from its big-endian modulus and exponent.
    pub fn rsa(modulus: &[u8], exponent: &[u8], alg: &str) -> Self {
        Self::with_thumbprint(Self {
            kty: "RSA".into(),
            n: Some(b64(modulus)),
            e: Some(b64(exponent)),
            ..Self::empty(alg)
        })
    }

    fn empty(alg: &str) -> Self {
        Self {
            kty: String::new(),
            crv: None,
            x: None,
            y: None,
            n: None,
            e: None,
            kid: String::new(),
            alg: alg.to_owned(),
            use_: "sig".into(),
        }
    }

    fn with_thumbprint(mut self) -> Self {
        self.kid = self.thumbprint();
        self
    }

    /// RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace.
    /// The members are base64url text and fixed names, so no JSON escaping can be needed.
    pub fn thumbprint(&self) -> String {
        let field = |value: &Option<String>| value.clone().unwrap_or_default();
        let canonical = match self.kty.as_str() {
            "EC" => format!(
                r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                field(&self.crv),
                field(&self.x),
                field(&self.y)
            ),
            "OKP" => format!(
                r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#,
                field(&self.crv),
                field(&self.x)
            ),
            _ => format!(
                r#"{{"e":"{}","kty":"{}","n":"{}"}}"#,
                field(&self.e),
                self.kty,
                field(&self.n)
            ),
        };
        b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes()).as_ref())
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of RFC 7638 §3.1.
    #[test]
    fn rsa_thumbprint_matches_rfc_7638_example() {
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let jwk = PublicJwk {
            kty: "RSA".into(),
            n: Some(n.into()),
            e: Some("AQAB".into()),
            ..PublicJwk::empty("RS256")
        };
        assert_eq!(
            jwk.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn serializes_only_the_members_of_its_key_type() {
        let jwk = PublicJwk::ed25519(&[1; 32], "EdDSA");
        let json = serde_json::to_value(&jwk).unwrap();
        let mut keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["alg", "crv", "kid", "kty", "use", "x"]);
        assert_eq!(json["use"], "sig");
        assert_eq!(jwk.kid, jwk.thumbprint());
    }

    #[test]
    fn ec_points_must_be_uncompressed_p256() {
        assert!(PublicJwk::ec_p256(&[4; 65], "ES256").is_some());
        assert!(PublicJwk::ec_p256(&[2; 33], "ES256").is_none());
        assert!(PublicJwk::ec_p256(&[], "ES256").is_none());
    }
}
