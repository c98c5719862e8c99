//! Forged access tokens for the JWT attack suites: this file is compiled into
//! `tests/api/jwt_attacks.rs` (against the server) and `crates/verify/tests/jwt_attacks.rs`
//! (against tokenmint-verify), so both are held to the same list. Headers and payloads are
//! written as raw JSON text, so that repeated member names can be sent.

#![allow(dead_code)] // each suite uses part of it

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use tokenmint::crypto::signing::{SigningAlgorithm, SigningKey};

/// An ES256 key that signs whatever it is given.
pub struct Es256 {
    pair: EcdsaKeyPair,
    /// Its RFC 7638 thumbprint, as tokenmint names it.
    pub kid: String,
    /// Its public JWK as tokenmint publishes it.
    pub jwk: Value,
}

impl Es256 {
    /// The key of a PKCS#8 document (as tokenmint stores it).
    pub fn from_pkcs8(der: &[u8]) -> Self {
        let key = SigningKey::from_pkcs8(SigningAlgorithm::Es256, der).unwrap();
        Self {
            pair: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der).unwrap(),
            kid: key.kid().to_owned(),
            jwk: serde_json::to_value(key.public_jwk()).unwrap(),
        }
    }

    /// A new key, and tokenmint's signing key for the same private key.
    pub fn generate() -> (Self, SigningKey) {
        let (key, pkcs8) = SigningKey::generate(SigningAlgorithm::Es256).unwrap();
        (Self::from_pkcs8(&pkcs8), key)
    }

    /// `header.payload.signature` over the given JSON texts.
    pub fn sign(&self, header: &str, payload: &str) -> String {
        let input = signing_input(header, payload);
        let signature = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .unwrap();
        format!("{input}.{}", b64(signature.as_ref()))
    }

    /// The header tokenmint writes, with this key's `kid`.
    pub fn header(&self) -> String {
        format!(r#"{{"alg":"ES256","typ":"at+jwt","kid":"{}"}}"#, self.kid)
    }

    /// The uncompressed public point `04 || x || y`.
    pub fn point(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    /// SubjectPublicKeyInfo DER: the P-256 prefix and the point.
    pub fn spki_der(&self) -> Vec<u8> {
        const PREFIX: &str = "3059301306072a8648ce3d020106082a8648ce3d030107034200";
        let mut der: Vec<u8> = (0..PREFIX.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&PREFIX[i..i + 2], 16).unwrap())
            .collect();
        der.extend(self.point());
        der
    }

    /// The public key as PEM, the way `openssl pkey -pubout` writes it.
    pub fn spki_pem(&self) -> String {
        let body = STANDARD.encode(self.spki_der());
        let lines: Vec<&str> = (0..body.len())
            .step_by(64)
            .map(|i| &body[i..(i + 64).min(body.len())])
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        )
    }
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn signing_input(header: &str, payload: &str) -> String {
    format!("{}.{}", b64(header), b64(payload))
}

/// HS256 over the JSON texts with `secret` as the HMAC key.
pub fn hs256(secret: &[u8], header: &str, payload: &str) -> String {
    let input = signing_input(header, payload);
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    format!("{input}.{}", b64(hmac::sign(&key, input.as_bytes())))
}

/// The JSON texts with a given (base64url) signature segment.
pub fn with_signature(header: &str, payload: &str, signature: &str) -> String {
    format!("{}.{signature}", signing_input(header, payload))
}

/// A TCP listener that counts connections: a URL an attacker's header points at, which nothing
/// may ever dial.
pub struct Tripwire {
    pub base: String,
    connections: Arc<AtomicUsize>,
}

impl Tripwire {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&connections);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        Self { base, connections }
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// A named forged token.
pub struct Forged {
    pub name: String,
    pub token: String,
}

fn forged(name: impl Into<String>, token: String) -> Forged {
    Forged {
        name: name.into(),
        token,
    }
}

/// `claims` (a genuine token's) as JSON text with `member` written a second time, first or
/// last, with `other` as its other value.
fn repeated_claim(claims: &Value, member: &str, other: Value, other_first: bool) -> String {
    let mut rest = claims.clone();
    let value = rest.as_object_mut().unwrap().remove(member).unwrap();
    let rest = serde_json::to_string(&rest).unwrap();
    let (first, last) = if other_first {
        (other, value)
    } else {
        (value, other)
    };
    format!(
        r#"{{"{member}":{first},{},"{member}":{last}}}"#,
        &rest[1..rest.len() - 1]
    )
}

/// Every token that must be rejected, whatever the endpoint: `genuine` is the key the verifier
/// trusts, `attacker` one it has never seen, `claims` a genuine token's claims, `tripwire` a
/// URL the attacker controls.
pub fn attacks(genuine: &Es256, attacker: &Es256, claims: &Value, tripwire: &str) -> Vec<Forged> {
    let payload = serde_json::to_string(claims).unwrap();
    let kid = &genuine.kid;
    let mut out = Vec::new();
    let header = |alg: &str| format!(r#"{{"alg":"{alg}","typ":"at+jwt","kid":"{kid}"}}"#);

    // alg none, unsigned or carrying a genuine signature over its own input.
    for alg in ["none", "None", "NONE", "nOnE"] {
        out.push(forged(
            format!("alg {alg}, no signature"),
            with_signature(&header(alg), &payload, ""),
        ));
    }
    out.push(forged(
        "alg none with a genuine signature",
        genuine.sign(&header("none"), &payload),
    ));
    // HS256 keyed with the public key, in every form a confused verifier might use.
    let jwk_text = serde_json::to_string(&genuine.jwk).unwrap();
    let secrets: [(&str, Vec<u8>); 5] = [
        ("PEM", genuine.spki_pem().into_bytes()),
        (
            "PEM without its final newline",
            genuine.spki_pem().trim_end().into(),
        ),
        ("DER", genuine.spki_der()),
        ("JWK JSON", jwk_text.into_bytes()),
        ("raw point", genuine.point()),
    ];
    for (form, secret) in secrets {
        out.push(forged(
            format!("HS256 keyed with the public key as {form}"),
            hs256(&secret, &header("HS256"), &payload),
        ));
    }
    for alg in ["ES384", "RS256", "EdDSA", "PS256"] {
        out.push(forged(
            format!("alg {alg} over an ES256 signature"),
            genuine.sign(&header(alg), &payload),
        ));
    }
    out.extend(kid_tricks(genuine, &payload));
    out.extend(key_location_headers(genuine, attacker, &payload, tripwire));
    out.extend(crit_headers(genuine, &payload));
    out.extend(oversized(genuine, claims));
    out.extend(repeated_members(genuine, claims));
    for typ in [
        r#""JWT""#,
        r#""jwt""#,
        r#""at+jwt ""#,
        r#""application/jwt""#,
        r#""""#,
        "null",
        r#"["at+jwt"]"#,
    ] {
        let header = format!(r#"{{"alg":"ES256","typ":{typ},"kid":"{kid}"}}"#);
        out.push(forged(
            format!("typ {typ}"),
            genuine.sign(&header, &payload),
        ));
    }
    let no_typ = format!(r#"{{"alg":"ES256","kid":"{kid}"}}"#);
    out.push(forged("no typ", genuine.sign(&no_typ, &payload)));
    out.extend(broken_structure(genuine, attacker, claims));
    out
}

fn kid_tricks(genuine: &Es256, payload: &str) -> Vec<Forged> {
    let long = format!(r#""{}""#, "k".repeat(9000));
    let kids = [
        r#""../../../../../../etc/passwd""#,
        r#""../../../../dev/null""#,
        r#""' or 1=1--""#,
        r#""x' union select kid from signing_keys--""#,
        long.as_str(),
        r#""""#,
        r#""k\u0000""#,
        "42",
        "true",
        "null",
        "[]",
        r#"{"kid":"k"}"#,
    ];
    let mut out: Vec<Forged> = kids
        .iter()
        .map(|kid| {
            let header = format!(r#"{{"alg":"ES256","typ":"at+jwt","kid":{kid}}}"#);
            let name: String = format!("kid {kid}").chars().take(60).collect();
            forged(name, genuine.sign(&header, payload))
        })
        .collect();
    let with_genuine_kid = format!(
        r#"{{"alg":"ES256","typ":"at+jwt","kid":"{}/../{}"}}"#,
        genuine.kid, genuine.kid
    );
    out.push(forged(
        "kid path around the genuine kid",
        genuine.sign(&with_genuine_kid, payload),
    ));
    out.push(forged(
        "no kid",
        genuine.sign(r#"{"alg":"ES256","typ":"at+jwt"}"#, payload),
    ));
    out
}

/// `jku`, `x5u`, `jwk` and `x5c` pointing at, or carrying, the attacker's key: signed by it.
fn key_location_headers(
    genuine: &Es256,
    attacker: &Es256,
    payload: &str,
    tripwire: &str,
) -> Vec<Forged> {
    let attacker_jwk = serde_json::to_string(&attacker.jwk).unwrap();
    let fake_cert = STANDARD.encode(attacker.spki_der());
    let mut out = Vec::new();
    for kid in [&attacker.kid, &genuine.kid] {
        let whose = if kid == &attacker.kid {
            "the attacker's kid"
        } else {
            "the genuine kid"
        };
        let start = format!(r#"{{"alg":"ES256","typ":"at+jwt","kid":"{kid}""#);
        for (member, value) in [
            ("jku", format!(r#""{tripwire}/jwks.json""#)),
            ("x5u", format!(r#""{tripwire}/cert.pem""#)),
            ("jwk", attacker_jwk.clone()),
            ("x5c", format!(r#"["{fake_cert}"]"#)),
        ] {
            let header = format!(r#"{start},"{member}":{value}}}"#);
            out.push(forged(
                format!("{member} to the attacker's key, {whose}"),
                attacker.sign(&header, payload),
            ));
        }
    }
    let embedded_only = format!(r#"{{"alg":"ES256","typ":"at+jwt","jwk":{attacker_jwk}}}"#);
    out.push(forged(
        "jwk with the attacker's key and no kid",
        attacker.sign(&embedded_only, payload),
    ));
    out.push(forged(
        "an unknown key",
        attacker.sign(&attacker.header(), payload),
    ));
    out
}

/// RFC 7515 §4.1.11: `crit` names extensions the recipient must understand, or reject.
fn crit_headers(genuine: &Es256, payload: &str) -> Vec<Forged> {
    let kid = &genuine.kid;
    [
        r#""crit":["tmx"],"tmx":true"#,
        r#""crit":["b64"],"b64":false"#,
        r#""crit":["exp"],"exp":1"#,
        r#""crit":[]"#,
        r#""crit":"tmx","tmx":true"#,
    ]
    .iter()
    .map(|members| {
        let header = format!(r#"{{"alg":"ES256","typ":"at+jwt","kid":"{kid}",{members}}}"#);
        forged(format!("crit: {members}"), genuine.sign(&header, payload))
    })
    .collect()
}

/// Genuinely signed, but over the 16 KiB limit.
fn oversized(genuine: &Es256, claims: &Value) -> Vec<Forged> {
    let payload = serde_json::to_string(claims).unwrap();
    let pad = "p".repeat(17 * 1024);
    let big_header = format!(
        r#"{{"alg":"ES256","typ":"at+jwt","kid":"{}","pad":"{pad}"}}"#,
        genuine.kid
    );
    let mut big_claims = claims.clone();
    big_claims["pad"] = json!(pad);
    let big_payload = serde_json::to_string(&big_claims).unwrap();
    vec![
        forged("a 17 KiB header", genuine.sign(&big_header, &payload)),
        forged(
            "a 17 KiB payload",
            genuine.sign(&genuine.header(), &big_payload),
        ),
    ]
}

/// Genuinely signed, with a member name repeated: verifiers whose JSON parser keeps the first
/// and those keeping the last would read different tokens, so every one is rejected.
fn repeated_members(genuine: &Es256, claims: &Value) -> Vec<Forged> {
    let payload = serde_json::to_string(claims).unwrap();
    let kid = &genuine.kid;
    let mut out = Vec::new();
    for (what, header) in [
        (
            "kid",
            format!(r#"{{"alg":"ES256","typ":"at+jwt","kid":"other","kid":"{kid}"}}"#),
        ),
        (
            "kid",
            format!(r#"{{"alg":"ES256","typ":"at+jwt","kid":"{kid}","kid":"other"}}"#),
        ),
        (
            "typ",
            format!(r#"{{"alg":"ES256","typ":"JWT","typ":"at+jwt","kid":"{kid}"}}"#),
        ),
        (
            "alg",
            format!(r#"{{"alg":"HS256","alg":"ES256","typ":"at+jwt","kid":"{kid}"}}"#),
        ),
        (
            "an unknown member",
            format!(r#"{{"alg":"ES256","typ":"at+jwt","kid":"{kid}","x":1,"x":2}}"#),
        ),
    ] {
        out.push(forged(
            format!("header with {what} repeated: {header}"),
            genuine.sign(&header, &payload),
        ));
    }
    let header = genuine.header();
    for (member, other) in [
        ("sub", json!("victim")),
        ("aud", json!("admin")),
        ("exp", json!(1)),
        ("sid", json!("00000000-0000-7000-8000-000000000000")),
        ("client_id", json!("admin-console")),
    ] {
        for other_first in [true, false] {
            let payload = repeated_claim(claims, member, other.clone(), other_first);
            out.push(forged(
                format!("payload with {member} repeated ({payload})"),
                genuine.sign(&header, &payload),
            ));
        }
    }
    let text = serde_json::to_string(claims).unwrap();
    let unknown = format!(r#"{{"x":1,"x":2,{}"#, &text[1..]);
    out.push(forged(
        "payload with an unknown member repeated",
        genuine.sign(&header, &unknown),
    ));
    let nested = format!(r#"{{"x":{{"y":1,"y":2}},{}"#, &text[1..]);
    out.push(forged(
        "payload with a nested member repeated",
        genuine.sign(&header, &nested),
    ));
    out
}

/// Valid parts put together wrongly.
fn broken_structure(genuine: &Es256, attacker: &Es256, claims: &Value) -> Vec<Forged> {
    let header = genuine.header();
    let payload = serde_json::to_string(claims).unwrap();
    let token = genuine.sign(&header, &payload);
    let (input, signature) = token.rsplit_once('.').unwrap();
    let mut tampered = claims.clone();
    tampered["sub"] = json!("victim");
    let tampered = serde_json::to_string(&tampered).unwrap();
    vec![
        forged(
            "another sub under the genuine signature",
            with_signature(&header, &tampered, signature),
        ),
        forged(
            "the attacker's signature under the genuine kid",
            attacker.sign(&header, &payload),
        ),
        forged(
            "a truncated signature",
            format!("{input}.{}", &signature[..signature.len() - 4]),
        ),
        forged("an empty signature", format!("{input}.")),
        forged("a fourth segment", format!("{token}.{signature}")),
        forged("two segments", input.to_owned()),
        forged(
            "standard base64 with padding",
            format!("{input}.{}=", signature.replace('-', "+")),
        ),
        forged(
            "a payload that is not an object",
            genuine.sign(&header, "[1,2]"),
        ),
        forged(
            "a payload that is not JSON",
            genuine.sign(&header, "sub=victim"),
        ),
    ]
}

/// Genuinely signed tokens carrying key-location headers: they must be accepted, judged by the
/// published key alone, and the URLs never dialled.
pub fn ignored_headers(
    genuine: &Es256,
    attacker: &Es256,
    claims: &Value,
    tripwire: &str,
) -> Vec<Forged> {
    let payload = serde_json::to_string(claims).unwrap();
    let attacker_jwk = serde_json::to_string(&attacker.jwk).unwrap();
    let start = format!(r#"{{"alg":"ES256","typ":"at+jwt","kid":"{}""#, genuine.kid);
    [
        ("jku", format!(r#""{tripwire}/jwks.json""#)),
        ("x5u", format!(r#""{tripwire}/cert.pem""#)),
        ("jwk", attacker_jwk),
    ]
    .into_iter()
    .map(|(member, value)| {
        let header = format!(r#"{start},"{member}":{value}}}"#);
        forged(
            format!("genuine, with {member}"),
            genuine.sign(&header, &payload),
        )
    })
    .collect()
}
