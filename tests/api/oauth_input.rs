//! Malformed requests to the OAuth endpoints: always a 4xx RFC 6749 error, never a 500,
//! nothing written, and nothing forwarded to Appwrite.

use crate::helpers::Backend;
use crate::oauth_helpers::{EXCHANGE, Harness, JWT_TYPE, oauth_error};

struct Case {
    name: &'static str,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    expected: &'static str,
}

fn case(
    name: &'static str,
    content_type: &'static str,
    body: impl Into<Vec<u8>>,
    expected: &'static str,
) -> Case {
    Case {
        name,
        content_type: Some(content_type),
        body: body.into(),
        expected,
    }
}

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";

fn exchange_form(extra: &str) -> String {
    format!(
        "grant_type={}&subject_token_type={}{extra}",
        urlencode(EXCHANGE),
        urlencode(JWT_TYPE)
    )
}

fn urlencode(text: &str) -> String {
    text.replace(':', "%3A")
}

fn cases(jwt: &str) -> Vec<Case> {
    let long_token = "a".repeat(5000);
    vec![
        Case {
            name: "no content type",
            content_type: None,
            body: b"grant_type=refresh_token".to_vec(),
            expected: "invalid_request",
        },
        case(
            "text/plain",
            "text/plain",
            "grant_type=refresh_token",
            "invalid_request",
        ),
        case(
            "multipart",
            "multipart/form-data; boundary=x",
            "--x--",
            "invalid_request",
        ),
        case("empty form", FORM, "", "invalid_request"),
        case(
            "missing grant_type",
            FORM,
            "refresh_token=tmr_x",
            "invalid_request",
        ),
        case(
            "unknown grant_type",
            FORM,
            "grant_type=password&username=a&password=b",
            "unsupported_grant_type",
        ),
        case(
            "authorization_code",
            FORM,
            "grant_type=authorization_code&code=x",
            "unsupported_grant_type",
        ),
        case(
            "repeated grant_type",
            FORM,
            "grant_type=refresh_token&grant_type=refresh_token&refresh_token=x",
            "invalid_request",
        ),
        case(
            "repeated subject_token",
            FORM,
            exchange_form(&format!("&subject_token={jwt}&subject_token={jwt}")),
            "invalid_request",
        ),
        case(
            "missing subject_token",
            FORM,
            exchange_form(""),
            "invalid_request",
        ),
        case(
            "missing subject_token_type",
            FORM,
            format!("grant_type={}&subject_token={jwt}", urlencode(EXCHANGE)),
            "invalid_request",
        ),
        case(
            "unsupported subject_token_type",
            FORM,
            format!(
                "grant_type={}&subject_token={jwt}&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt",
                urlencode(EXCHANGE)
            ),
            "invalid_request",
        ),
        case(
            "unsupported requested_token_type",
            FORM,
            exchange_form(&format!(
                "&subject_token={jwt}&requested_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aid_token"
            )),
            "invalid_request",
        ),
        case(
            "CR/LF in subject_token",
            FORM,
            exchange_form("&subject_token=abc%0D%0AX-Injected%3A%201"),
            "invalid_request",
        ),
        case(
            "space in subject_token",
            FORM,
            exchange_form("&subject_token=abc+def"),
            "invalid_request",
        ),
        case(
            "NUL in subject_token",
            FORM,
            exchange_form("&subject_token=abc%00def"),
            "invalid_request",
        ),
        case(
            "oversized subject_token",
            FORM,
            exchange_form(&format!("&subject_token={long_token}")),
            "invalid_request",
        ),
        case(
            "malformed scope",
            FORM,
            exchange_form(&format!("&subject_token={jwt}&scope=read%20%20write")),
            "invalid_scope",
        ),
        case(
            "control character in device_name",
            FORM,
            exchange_form(&format!("&subject_token={jwt}&device_name=a%07b")),
            "invalid_request",
        ),
        case(
            "CR/LF in client_id",
            FORM,
            exchange_form(&format!("&subject_token={jwt}&client_id=a%0D%0Ab")),
            "invalid_request",
        ),
        case(
            "missing refresh_token",
            FORM,
            "grant_type=refresh_token",
            "invalid_request",
        ),
        case(
            "CR/LF in refresh_token",
            FORM,
            "grant_type=refresh_token&refresh_token=tmr_abc%0D%0A",
            "invalid_request",
        ),
        case(
            "percent-encoded invalid UTF-8",
            FORM,
            "grant_type=refresh_token&refresh_token=%FF%FE",
            "invalid_request",
        ),
        case(
            "raw invalid UTF-8",
            FORM,
            b"grant_type=refresh_token&refresh_token=\xff\xfe".to_vec(),
            "invalid_request",
        ),
        case("JSON array", JSON, "[]", "invalid_request"),
        case(
            "JSON number value",
            JSON,
            r#"{"grant_type":"refresh_token","refresh_token":12}"#,
            "invalid_request",
        ),
        case(
            "JSON nested object",
            JSON,
            r#"{"grant_type":{"a":"b"}}"#,
            "invalid_request",
        ),
        case(
            "JSON duplicate member",
            JSON,
            r#"{"grant_type":"refresh_token","grant_type":"refresh_token","refresh_token":"x"}"#,
            "invalid_request",
        ),
        case(
            "truncated JSON",
            JSON,
            r#"{"grant_type":"refresh_tok"#,
            "invalid_request",
        ),
        case(
            "JSON with trailing data",
            JSON,
            r#"{"grant_type":"refresh_token"} {}"#,
            "invalid_request",
        ),
        case(
            "invalid UTF-8 in JSON",
            JSON,
            b"{\"grant_type\":\"\xff\"}".to_vec(),
            "invalid_request",
        ),
        case("empty JSON object", JSON, "{}", "invalid_request"),
    ]
}

#[tokio::test]
async fn malformed_token_requests_get_oauth_errors_and_change_nothing() {
    let harness = Harness::start(Backend::Sqlite).await;
    let user = harness.signed_in("u1");

    for case in cases(&user.jwt) {
        let mut request = harness
            .app
            .client
            .post(harness.app.url("/oauth/token"))
            .body(case.body.clone());
        if let Some(content_type) = case.content_type {
            request = request.header("content-type", content_type);
        }
        let (status, error, body) = oauth_error(request.send().await.unwrap()).await;
        assert_eq!(
            (status, error.as_str()),
            (400, case.expected),
            "{}: {body}",
            case.name
        );
    }

    assert!(
        harness.appwrite.requests().is_empty(),
        "a malformed request reached Appwrite"
    );
    assert_eq!(harness.count("select count(*) from sessions").await, 0);
}

#[tokio::test]
async fn a_one_megabyte_body_is_refused_with_invalid_request() {
    let harness = Harness::start(Backend::Sqlite).await;
    let body = format!(
        "grant_type=refresh_token&refresh_token={}",
        "a".repeat(1024 * 1024)
    );
    let response = harness
        .app
        .client
        .post(harness.app.url("/oauth/token"))
        .header("content-type", FORM)
        .body(body)
        .send()
        .await
        .unwrap();
    let (status, error, _) = oauth_error(response).await;
    assert_eq!((status, error.as_str()), (400, "invalid_request"));
}

#[tokio::test]
async fn a_refused_refresh_token_request_does_not_burn_the_token() {
    let harness = Harness::start(Backend::Sqlite).await;
    let issued = harness.login("u1").await;
    let token = issued.refresh_token.as_str();
    let bad = [
        format!("grant_type=refresh_token&refresh_token={token}&scope=admin"),
        format!("grant_type=refresh_token&refresh_token={token}&refresh_token={token}"),
    ];
    for body in bad {
        let response = harness
            .app
            .client
            .post(harness.app.url("/oauth/token"))
            .header("content-type", FORM)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
    }
    let rotated = crate::oauth_helpers::tokens(harness.app.refresh(token).await).await;
    let family = harness.token_family(&rotated.refresh_token).await;
    assert_eq!(
        family.previous.map(|p| p.hash),
        tokenmint::domain::token::RefreshToken::parse(token).map(|t| t.hash()),
        "the refused requests did not rotate the token; the good one did, once"
    );
}
