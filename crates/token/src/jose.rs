//! Strict reading of a compact JWS before jsonwebtoken verifies it, for what jsonwebtoken lets
//! through:
//! - **Repeated member names** in the header or the claims, at any depth. RFC 7515 §4 and
//!   RFC 7519 §4 let a recipient reject them; JSON parsers that keep the first and those that
//!   keep the last would read such a token differently (another `sub`, `aud` or `exp` than the
//!   one checked here), and serde ignores repeats of members it does not know.
//! - **`crit`** (RFC 7515 §4.1.11): it names extensions the recipient must understand or reject
//!   the token. None is understood, so any `crit` is refused (an empty one is invalid anyway).
//!
//! Exactly three segments; the header and claims must be JSON objects. Everything else (the
//! algorithm, the signature, the claims' values) is jsonwebtoken's, afterwards.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{Deserialize, DeserializeSeed, Deserializer, Error, MapAccess, SeqAccess, Visitor};

/// Whether `token` passes the checks of this module.
pub fn is_strict_compact_jws(token: &str) -> bool {
    let mut segments = token.split('.');
    let (Some(header), Some(claims), Some(_signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return false;
    };
    let decode = |segment: &str| URL_SAFE_NO_PAD.decode(segment).ok();
    let (Some(header), Some(claims)) = (decode(header), decode(claims)) else {
        return false;
    };
    object_names(&header).is_some_and(|names| names.binary_search(&Cow::Borrowed("crit")).is_err())
        && object_names(&claims).is_some()
}

/// The member names of the JSON object `json`, sorted, if it is one in which no object, at any
/// depth, repeats a name. Names without escapes are borrowed from `json`: this runs before every
/// verification, so it allocates one list per object and no string per name.
fn object_names(json: &[u8]) -> Option<Vec<Cow<'_, str>>> {
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let names = deserializer.deserialize_map(UniqueNames).ok()?;
    deserializer.end().ok()?;
    Some(names)
}

/// Any JSON value whose objects name each member once (serde_json bounds the nesting depth).
struct Unique;

impl<'de> Deserialize<'de> for Unique {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueNames).map(|_| Unique)
    }
}

/// Visits a JSON value; an object yields its member names, sorted.
struct UniqueNames;

impl<'de> Visitor<'de> for UniqueNames {
    type Value = Vec<Cow<'de, str>>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON without repeated member names")
    }

    fn visit_bool<E: Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_i64<E: Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_u64<E: Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_f64<E: Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_str<E: Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<Unique>()?.is_some() {}
        Ok(Vec::new())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut names = Vec::new();
        while let Some(name) = map.next_key_seed(Name)? {
            map.next_value::<Unique>()?;
            names.push(name);
        }
        // Sorted, a repeat sits next to its twin: O(n log n) however many members a hostile
        // token carries.
        names.sort_unstable();
        if names.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(A::Error::custom("a member name is repeated"));
        }
        Ok(names)
    }
}

/// A member name: borrowed from the input unless it had escapes to resolve.
struct Name;

impl<'de> DeserializeSeed<'de> for Name {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Name {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a member name")
    }

    fn visit_borrowed_str<E: Error>(self, name: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(name))
    }

    fn visit_str<E: Error>(self, name: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(name.to_owned()))
    }
}

/// Whether a `typ` header names an access token: RFC 9068 §4 has resource servers accept
/// `at+jwt` and its full media type `application/at+jwt`, compared without regard to case
/// (RFC 7515 §4.1.9 lets the `application/` prefix be left out).
pub fn is_access_token_type(typ: Option<&str>) -> bool {
    let Some(typ) = typ else { return false };
    let short = match typ.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
        _ => typ,
    };
    short.eq_ignore_ascii_case("at+jwt")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_token_types_follow_rfc_9068() {
        for typ in [
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "Application/At+JWT",
        ] {
            assert!(is_access_token_type(Some(typ)), "{typ}");
        }
        for typ in [
            "JWT",
            "jwt",
            "application/jwt",
            "at+jwt ",
            "applicationat+jwt",
            "x/at+jwt",
            "",
        ] {
            assert!(!is_access_token_type(Some(typ)), "{typ}");
        }
        assert!(!is_access_token_type(None));
    }

    fn token(header: &str, claims: &str) -> String {
        format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    #[test]
    fn unique_objects_without_crit_pass() {
        let header = r#"{"alg":"ES256","typ":"at+jwt","kid":"k","x":{"a":[{"b":1},{"b":2}]}}"#;
        assert!(is_strict_compact_jws(&token(
            header,
            r#"{"sub":"u","n":null,"f":1.5}"#
        )));
    }

    #[test]
    fn many_members_are_checked_in_one_sort() {
        let members: Vec<String> = (0..5000).map(|i| format!("\"m{i}\":{i}")).collect();
        let claims = format!("{{{}}}", members.join(","));
        let header = r#"{"alg":"ES256","kid":"k"}"#;
        assert!(is_strict_compact_jws(&token(header, &claims)));
        let repeated = format!("{{{},\"m0\":0}}", members.join(","));
        assert!(!is_strict_compact_jws(&token(header, &repeated)));
    }

    #[test]
    fn repeated_names_crit_and_non_objects_fail() {
        let good = r#"{"alg":"ES256","kid":"k"}"#;
        for (header, claims) in [
            (r#"{"alg":"ES256","kid":"k","kid":"j"}"#, "{}"),
            (r#"{"alg":"ES256","k\u0069d":"k","kid":"j"}"#, "{}"),
            (good, r#"{"sub":"a","sub":"b"}"#),
            (good, r#"{"x":[{"y":1,"y":2}]}"#),
            (r#"{"alg":"ES256","crit":["x"],"x":1}"#, "{}"),
            (r#"{"alg":"ES256","crit":[]}"#, "{}"),
            (good, "[]"),
            ("null", "{}"),
            (good, "{} {}"),
            (good, "{"),
        ] {
            assert!(
                !is_strict_compact_jws(&token(header, claims)),
                "{header} {claims}"
            );
        }
        let valid = token(good, "{}");
        assert!(!is_strict_compact_jws(&format!("{valid}.x")));
        assert!(!is_strict_compact_jws(valid.rsplit_once('.').unwrap().0));
        assert!(!is_strict_compact_jws("e30=.e30.c2ln"));
    }
}
