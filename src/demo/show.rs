//! The demo's HTTP calls and how they are shown: each as the curl command a user would type
//! (full values, so it can be pasted while the demo keeps running) and the answer (status and
//! JSON, tokens abbreviated).

use anyhow::Context;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// A request the demo sends to tokenmint, as a user with curl would.
pub struct Call {
    method: Method,
    url: String,
    form: Vec<(&'static str, String)>,
    bearer: Option<String>,
}

/// What tokenmint answered.
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The JSON body (`Null` when there was none or it was not JSON).
    pub json: Value,
}

impl Answer {
    /// A string member of the body, or an error naming it.
    pub fn text(&self, member: &str) -> anyhow::Result<String> {
        self.json[member]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("the answer has no {member}: {}", self.json))
    }
}

impl Call {
    /// `GET url`.
    pub fn get(url: String) -> Self {
        Self {
            method: Method::GET,
            url,
            form: Vec::new(),
            bearer: None,
        }
    }

    /// `POST url` with a form body (`curl -d`).
    pub fn post_form(url: String, form: Vec<(&'static str, String)>) -> Self {
        Self {
            method: Method::POST,
            url,
            form,
            bearer: None,
        }
    }

    /// `DELETE url`.
    pub fn delete(url: String) -> Self {
        Self {
            method: Method::DELETE,
            url,
            form: Vec::new(),
            bearer: None,
        }
    }

    /// With `Authorization: Bearer token`.
    pub fn bearer(mut self, token: &str) -> Self {
        self.bearer = Some(token.to_owned());
        self
    }

    /// The command line, one option per line. Every value the demo sends is shell-safe
    /// (URLs, URNs, base64url tokens), so none needs quoting except the header.
    pub fn curl(&self) -> String {
        let mut parts = vec![format!("$ curl -s {}", self.url)];
        if self.method == Method::DELETE {
            parts[0] = format!("$ curl -s -X DELETE {}", self.url);
        }
        if let Some(token) = &self.bearer {
            parts.push(format!("-H \"Authorization: Bearer {token}\""));
        }
        parts.extend(
            self.form
                .iter()
                .map(|(name, value)| format!("-d {name}={value}")),
        );
        parts.join(" \\\n    ")
    }

    /// Prints the command, sends it, prints the answer, and returns it.
    pub async fn run(&self, client: &reqwest::Client) -> anyhow::Result<Answer> {
        println!("{}", self.curl());
        let mut request = client.request(self.method.clone(), &self.url);
        if let Some(token) = &self.bearer {
            request = request.bearer_auth(token);
        }
        if !self.form.is_empty() {
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(self.form.iter().map(|(k, v)| (*k, v.as_str())))
                .finish();
            request = request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{} {} failed", self.method, self.url))?;
        let status = response.status();
        let bytes = response.bytes().await.unwrap_or_default();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        print_answer(status, &json);
        Ok(Answer { status, json })
    }
}

/// `HTTP 200 OK` and the pretty JSON, with tokens abbreviated.
pub fn print_answer(status: StatusCode, json: &Value) {
    println!("HTTP {status}");
    if !json.is_null() {
        let shown = abbreviated(json, None);
        println!(
            "{}",
            serde_json::to_string_pretty(&shown).unwrap_or_default()
        );
    }
}

/// `value` with every token (a member named `…token`) and every long string shortened to its
/// first 12 and last 6 characters.
pub fn abbreviated(value: &Value, member: Option<&str>) -> Value {
    match value {
        Value::String(text) if member.is_some_and(|m| m.ends_with("token")) || text.len() > 64 => {
            Value::String(abbreviate(text))
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| abbreviated(v, None)).collect()),
        Value::Object(members) => Value::Object(
            members
                .iter()
                .map(|(k, v)| (k.clone(), abbreviated(v, Some(k))))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `eyJhbGciOiJF…Xk2Q9w`: enough to tell tokens apart, short enough to read.
pub fn abbreviate(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= 24 {
        return text.to_owned();
    }
    let head: String = chars[..12].iter().collect();
    let tail: String = chars[chars.len() - 6..].iter().collect();
    format!("{head}…{tail}")
}

/// Fails the demo when tokenmint did not answer as the step expects.
pub fn expect(ok: bool, what: &str) -> anyhow::Result<()> {
    if ok {
        Ok(())
    } else {
        anyhow::bail!("the demo expected {what}, and tokenmint answered otherwise (see above)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_long_strings_are_abbreviated_in_answers() {
        let answer = serde_json::json!({
            "access_token": "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9.payload.signature",
            "refresh_token": "tmr_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG",
            "token_type": "Bearer",
            "keys": [{ "x": "x".repeat(80) }],
        });
        let shown = abbreviated(&answer, None);
        assert_eq!(shown["access_token"], "eyJhbGciOiJF…nature");
        assert_eq!(shown["refresh_token"], "tmr_01234567…BCDEFG");
        assert_eq!(shown["token_type"], "Bearer");
        assert_eq!(shown["keys"][0]["x"], "xxxxxxxxxxxx…xxxxxx");
    }

    #[test]
    fn curl_commands_carry_every_value_in_full() {
        let call = Call::post_form(
            "http://127.0.0.1:1234/oauth/token".into(),
            vec![
                ("grant_type", "refresh_token".into()),
                ("refresh_token", "tmr_abc".into()),
            ],
        );
        assert_eq!(
            call.curl(),
            "$ curl -s http://127.0.0.1:1234/oauth/token \\\n    -d grant_type=refresh_token \\\n    -d refresh_token=tmr_abc"
        );
        let call = Call::delete("http://h/admin/v1/sessions/s1".into()).bearer("tma_k");
        assert_eq!(
            call.curl(),
            "$ curl -s -X DELETE http://h/admin/v1/sessions/s1 \\\n    -H \"Authorization: Bearer tma_k\""
        );
    }
}
