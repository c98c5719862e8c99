//! Request extraction, strict and in each route family's error format (never a 500, never a
//! framework-default `text/plain` body):
//! - [`OAuthParams`]: the parameters of an OAuth request, from a form (RFC 6749's wire format)
//!   or a JSON body with the same names; a repeated parameter, a body that is not UTF-8, an
//!   unsupported content type, or one over the size limit is `invalid_request`;
//! - [`QueryParams`] and [`PathParams`]: the query string and path parameters of the other
//!   routes; anything malformed (invalid percent-encoding or UTF-8, a repeated parameter) is a
//!   problem-JSON 400.

use std::collections::BTreeMap;

use axum::body::to_bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use percent_encoding::percent_decode;
use serde::de::{Deserializer, MapAccess, Visitor};

use super::client_ip::ClientIp;
use super::error::{OAuthError, Problem};
use super::limits::BODY_LIMIT;
use crate::domain::model::audit::RequestContext;

/// The parameters of an OAuth request, each present at most once. `Debug` shows the names
/// only: the values are tokens and proofs.
#[derive(Default)]
pub struct OAuthParams {
    params: BTreeMap<String, String>,
    /// Where the request came from.
    pub context: RequestContext,
}

impl std::fmt::Debug for OAuthParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthParams")
            .field("names", &self.params.keys().collect::<Vec<_>>())
            .field("context", &self.context)
            .finish()
    }
}

impl OAuthParams {
    /// Removes and returns a parameter. RFC 6749 §3.1: an empty value counts as omitted.
    pub fn take(&mut self, name: &str) -> Option<String> {
        self.params.remove(name).filter(|value| !value.is_empty())
    }
}

impl<S: Send + Sync> FromRequest<S> for OAuthParams {
    type Rejection = OAuthError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let context = request_context(&request);
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = to_bytes(request.into_body(), BODY_LIMIT)
            .await
            .map_err(|_| {
                OAuthError::invalid_request("the request body is too large or unreadable")
            })?;
        let params = decode_oauth_body(content_type.as_deref(), &body)?;
        Ok(Self { params, context })
    }
}

/// Decodes the body of an OAuth request (RFC 6749's form, or a JSON object of strings with the
/// same names) given its `Content-Type` header: each parameter at most once. Pure, so that it
/// can be fuzzed (`fuzz/fuzz_targets/oauth_body.rs`); [`OAuthParams`] is this plus the request
/// context. Any refusal is `invalid_request`.
pub fn decode_oauth_body(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<BTreeMap<String, String>, OAuthError> {
    let media_type = content_type
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let pairs = match media_type.as_str() {
        "application/x-www-form-urlencoded" => parse_form(body)
            .map_err(|_| OAuthError::invalid_request("the form body is not valid UTF-8"))?,
        "application/json" => parse_json(body)?,
        _ => {
            return Err(OAuthError::invalid_request(
                "Content-Type must be application/x-www-form-urlencoded or application/json",
            ));
        }
    };
    let mut params = BTreeMap::new();
    for (name, value) in pairs {
        if params.insert(name.clone(), value).is_some() {
            return Err(OAuthError::invalid_request(format!(
                "parameter {} is repeated",
                printable(&name)
            )));
        }
    }
    Ok(params)
}

/// The request id, client address (see `client_ip`: the peer, or the client a trusted proxy
/// names) and `User-Agent` of a request.
pub fn request_context(request: &Request) -> RequestContext {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(512).collect::<String>())
    };
    RequestContext {
        request_id: header("x-request-id"),
        ip: request
            .extensions()
            .get::<ClientIp>()
            .map(|ClientIp(address)| address.to_string()),
        user_agent: header("user-agent"),
    }
}

/// Percent-encoded text that does not decode to UTF-8.
#[derive(Debug)]
struct NotUtf8;

/// `application/x-www-form-urlencoded` pairs (a form body or a query string), in order, with
/// duplicates kept so callers can refuse them.
fn parse_form(body: &[u8]) -> Result<Vec<(String, String)>, NotUtf8> {
    let decode = |part: &[u8]| {
        let plus_as_space: Vec<u8> = part
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        percent_decode(&plus_as_space)
            .decode_utf8()
            .map(|text| text.into_owned())
            .map_err(|_| NotUtf8)
    };
    body.split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let mut halves = pair.splitn(2, |&b| b == b'=');
            let name = decode(halves.next().unwrap_or_default())?;
            let value = decode(halves.next().unwrap_or_default())?;
            Ok((name, value))
        })
        .collect()
}

/// The query string of a non-OAuth route, each parameter present at most once.
#[derive(Debug, Default)]
pub struct QueryParams(BTreeMap<String, String>);

impl QueryParams {
    /// A parameter's value, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let malformed = |detail: String| Problem::new(StatusCode::BAD_REQUEST).with_detail(detail);
        let query = parts.uri.query().unwrap_or("");
        let pairs = parse_form(query.as_bytes())
            .map_err(|_| malformed("the query string is not valid UTF-8".into()))?;
        let mut params = BTreeMap::new();
        for (name, value) in pairs {
            let repeated = format!("query parameter {} is repeated", printable(&name));
            if params.insert(name, value).is_some() {
                return Err(malformed(repeated));
            }
        }
        Ok(Self(params))
    }
}

/// Path parameters; a path that does not decode (invalid percent-encoding or UTF-8) is a
/// problem-JSON 400 rather than axum's plain-text one.
pub struct PathParams<T>(pub T);

impl<S, T> FromRequestParts<S> for PathParams<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned + Send,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(_) => {
                Err(Problem::new(StatusCode::BAD_REQUEST).with_detail("the path is malformed"))
            }
        }
    }
}

/// A JSON object whose members are all strings (or null, meaning omitted); duplicate member
/// names are kept so they can be refused rather than silently resolved.
fn parse_json(body: &[u8]) -> Result<Vec<(String, String)>, OAuthError> {
    struct Members(Vec<(String, String)>);
    struct MembersVisitor;
    impl<'de> Visitor<'de> for MembersVisitor {
        type Value = Members;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object of string values")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
            let mut members = Vec::new();
            while let Some((name, value)) = map.next_entry::<String, Option<String>>()? {
                members.push((name, value.unwrap_or_default()));
            }
            Ok(Members(members))
        }
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let members = (&mut deserializer)
        .deserialize_map(MembersVisitor)
        .and_then(|members| deserializer.end().map(|()| members))
        .map_err(|_| {
            OAuthError::invalid_request("the body must be a JSON object whose values are strings")
        })?;
    Ok(members.0)
}

/// A parameter name safe to echo in a description.
fn printable(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauth_params_debug_shows_names_not_values() {
        let params = OAuthParams {
            params: [("refresh_token".to_owned(), "tmr_secret".to_owned())].into(),
            context: RequestContext::default(),
        };
        let debug = format!("{params:?}");
        assert!(
            debug.contains("refresh_token") && !debug.contains("tmr_secret"),
            "{debug}"
        );
    }

    #[test]
    fn forms_decode_percent_and_plus() {
        let pairs = parse_form(b"a=b+c%2Bd&e=&f").unwrap();
        assert_eq!(
            pairs,
            [
                ("a".into(), "b c+d".into()),
                ("e".into(), "".into()),
                ("f".into(), "".into())
            ]
        );
        assert!(parse_form(b"a=%FF%FE").is_err());
        assert!(parse_form(&[b'a', b'=', 0xff]).is_err());
    }

    #[test]
    fn json_must_be_an_object_of_strings_and_keeps_duplicates() {
        assert_eq!(
            parse_json(br#"{"a":"1","b":null}"#).unwrap(),
            [("a".into(), "1".into()), ("b".into(), "".into())]
        );
        assert_eq!(parse_json(br#"{"a":"1","a":"2"}"#).unwrap().len(), 2);
        for bad in [
            &br#"{"a":1}"#[..],
            b"[]",
            b"\"a\"",
            b"{",
            br#"{"a":"1"} x"#,
            b"",
        ] {
            assert!(parse_json(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
