//! Request extraction for the OAuth endpoints: parameters from a form (RFC 6749's wire format)
//! or JSON body with the same names, strictly: a repeated parameter, a body that is not UTF-8,
//! an unsupported content type, or one over the size limit is `invalid_request` (never a 500,
//! never a framework-default error body).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::body::to_bytes;
use axum::extract::{ConnectInfo, FromRequest, Request};
use axum::http::header;
use percent_encoding::percent_decode;
use serde::de::{Deserializer, MapAccess, Visitor};

use super::BODY_LIMIT;
use super::error::OAuthError;
use crate::domain::audit::RequestContext;

/// The parameters of an OAuth request, each present at most once.
#[derive(Debug, Default)]
pub struct OAuthParams {
    params: BTreeMap<String, String>,
    /// Where the request came from.
    pub context: RequestContext,
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
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        let body = to_bytes(request.into_body(), BODY_LIMIT)
            .await
            .map_err(|_| {
                OAuthError::invalid_request("the request body is too large or unreadable")
            })?;
        let pairs = match content_type.as_str() {
            "application/x-www-form-urlencoded" => parse_form(&body)?,
            "application/json" => parse_json(&body)?,
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
        Ok(Self { params, context })
    }
}

/// The request id, peer address and `User-Agent` of a request.
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
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip().to_string()),
        user_agent: header("user-agent"),
    }
}

fn parse_form(body: &[u8]) -> Result<Vec<(String, String)>, OAuthError> {
    let decode = |part: &[u8]| {
        let plus_as_space: Vec<u8> = part
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        percent_decode(&plus_as_space)
            .decode_utf8()
            .map(|text| text.into_owned())
            .map_err(|_| OAuthError::invalid_request("the form body is not valid UTF-8"))
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
