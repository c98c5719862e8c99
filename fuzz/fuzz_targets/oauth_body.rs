//! The OAuth request-body decoder (`tokenmint::http::decode_oauth_body`): the first byte picks
//! the `Content-Type`, the rest is the body. Never a panic; whatever it accepts, encoded again
//! as a form and as JSON, decodes to the same parameters (the two formats agree); an
//! unsupported type is always refused.

#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use tokenmint::http::decode_oauth_body;

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";
const CONTENT_TYPES: [Option<&str>; 6] = [
    Some(FORM),
    Some(JSON),
    Some("Application/X-WWW-Form-Urlencoded; charset=UTF-8"),
    Some("application/json;charset=utf-8"),
    Some("text/plain"),
    None,
];

fn as_form(params: &BTreeMap<String, String>) -> String {
    let encode = |text: &str| utf8_percent_encode(text, NON_ALPHANUMERIC).to_string();
    params
        .iter()
        .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(selector) % CONTENT_TYPES.len()];
    let result = decode_oauth_body(content_type, body);
    let supported = content_type.is_some_and(|t| t != "text/plain");
    let Ok(params) = result else {
        return;
    };
    assert!(supported, "accepted {content_type:?}");
    let form = as_form(&params);
    let again = decode_oauth_body(Some(FORM), form.as_bytes()).expect("its own form encoding");
    assert_eq!(again, params, "form round trip of {form:?}");
    let json = serde_json::to_string(&params).expect("a map of strings serializes");
    let again = decode_oauth_body(Some(JSON), json.as_bytes()).expect("its own JSON encoding");
    assert_eq!(again, params, "JSON round trip of {json}");
});
