//! Opt-in CORS (`TOKENMINT_CORS_ORIGINS`): exact origins may call the OAuth and well-known
//! endpoints from a browser (preflight answered, no credentials); never the admin API; nothing
//! at all by default.

use reqwest::Method;

use crate::helpers::Backend;
use crate::oauth_helpers::Harness;

const APP: &str = "https://app.example.com";

async fn request(
    harness: &Harness,
    method: Method,
    path: &str,
    origin: &str,
    preflight_for: Option<&str>,
) -> reqwest::Response {
    let mut request = harness
        .app
        .client
        .request(method, harness.app.url(path))
        .header("origin", origin);
    if let Some(method) = preflight_for {
        request = request
            .header("access-control-request-method", method)
            .header("access-control-request-headers", "content-type");
    }
    request.send().await.unwrap()
}

fn allowed_origin(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn configured_origins_may_call_the_public_endpoints_and_nothing_else() {
    let harness = Harness::start_with(
        Backend::Sqlite,
        &[(
            "TOKENMINT_CORS_ORIGINS",
            "https://app.example.com, http://localhost:3000",
        )],
    )
    .await;

    for path in ["/oauth/token", "/oauth/revoke", "/oauth/introspect"] {
        let preflight = request(&harness, Method::OPTIONS, path, APP, Some("POST")).await;
        assert!(
            preflight.status().is_success(),
            "{path}: {}",
            preflight.status()
        );
        assert_eq!(allowed_origin(&preflight).as_deref(), Some(APP), "{path}");
        assert!(
            preflight
                .headers()
                .get("access-control-allow-credentials")
                .is_none(),
            "{path}: credentials must not be allowed"
        );
        let methods = preflight.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(methods.contains("POST"), "{path}: {methods}");
    }
    let token = request(&harness, Method::POST, "/oauth/token", APP, None).await;
    assert_eq!(
        token.status(),
        400,
        "an empty token request is still refused"
    );
    assert_eq!(
        allowed_origin(&token).as_deref(),
        Some(APP),
        "errors are readable too"
    );
    for path in [
        "/.well-known/jwks.json",
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let response = request(&harness, Method::GET, path, "http://localhost:3000", None).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            allowed_origin(&response).as_deref(),
            Some("http://localhost:3000"),
            "{path}"
        );
    }

    let stranger = request(
        &harness,
        Method::POST,
        "/oauth/token",
        "https://evil.example.com",
        None,
    )
    .await;
    assert_eq!(allowed_origin(&stranger), None, "an unlisted origin");
    let stranger = request(
        &harness,
        Method::OPTIONS,
        "/oauth/token",
        "https://evil.example.com",
        Some("POST"),
    )
    .await;
    assert_eq!(
        allowed_origin(&stranger),
        None,
        "an unlisted origin's preflight"
    );
    for (method, path) in [
        (Method::GET, "/admin/v1/keys"),
        (Method::OPTIONS, "/admin/v1/keys"),
        (Method::GET, "/v1/revocations"),
        (Method::GET, "/healthz"),
    ] {
        let preflight_for = (method == Method::OPTIONS).then_some("GET");
        let response = request(&harness, method.clone(), path, APP, preflight_for).await;
        assert_eq!(allowed_origin(&response), None, "{method} {path}");
    }
}

#[tokio::test]
async fn without_configured_origins_no_cors_headers_are_sent() {
    let harness = Harness::start(Backend::Sqlite).await;
    for (method, path, preflight_for) in [
        (Method::OPTIONS, "/oauth/token", Some("POST")),
        (Method::POST, "/oauth/token", None),
        (Method::GET, "/.well-known/jwks.json", None),
    ] {
        let response = request(&harness, method.clone(), path, APP, preflight_for).await;
        assert_eq!(allowed_origin(&response), None, "{method} {path}");
    }
}
