//! `GET /docs`: Swagger UI over `/openapi.json`, served by tokenmint alone. One test reads the
//! page and its assets (relative references only, no external URL, a Content-Security-Policy
//! that allows nothing but this server); the other renders the page in headless Chromium,
//! finds the API's operations in the rendered DOM, and reads Chromium's network log to prove
//! that every request the page made went to the test server on loopback.
//!
//! `.ci/run` installs Debian's `chromium` and sets `TOKENMINT_BROWSER=required`, so in CI a
//! missing browser fails the test. Elsewhere the test says it was skipped.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{Backend, TestApp, TestDb};
use crate::openapi::operations;

const CHROMIUM: &str = "chromium";

/// `http://` and `https://` URLs in `text`, except XML namespace names (in the inline SVG
/// images of the style sheets), which identify and are never fetched.
fn external_urls(text: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for scheme in ["http://", "https://"] {
        for (start, _) in text.match_indices(scheme) {
            let url: String = text[start..]
                .chars()
                .take_while(|c| !c.is_whitespace() && !"\"'()<>\\".contains(*c))
                .collect();
            if url != "http://www.w3.org/2000/svg" {
                urls.push(url);
            }
        }
    }
    urls
}

/// The values of the `src` and `href` attributes of an HTML page.
fn references(html: &str) -> Vec<String> {
    ["src=\"", "href=\""]
        .iter()
        .flat_map(|attribute| html.match_indices(attribute).map(|(i, a)| i + a.len()))
        .map(|start| html[start..].split('"').next().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn docs_page_and_its_assets_come_from_tokenmint_alone() {
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::spawn(db.config()).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let redirect = client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(redirect.status(), 303);
    assert_eq!(redirect.headers()["location"], "docs/");
    let page = client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.starts_with("default-src 'none';"), "{policy}");
    for source in policy.split(';').flat_map(|d| d.split_whitespace().skip(1)) {
        assert!(
            source.starts_with('\'') || source == "data:",
            "the policy allows {source}: {policy}"
        );
    }
    let html = page.text().await.unwrap();
    assert_eq!(external_urls(&html), Vec::<String>::new());

    let assets = references(&html);
    assert!(assets.len() >= 5, "{assets:?}");
    for asset in &assets {
        assert!(
            !asset.contains(':') && !asset.starts_with('/'),
            "{asset} is not relative to /docs/"
        );
        let path = format!("/docs/{}", asset.trim_start_matches("./"));
        let response = client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            response.headers()["content-security-policy"],
            policy.as_str()
        );
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        let body = response.bytes().await.unwrap();
        // The Swagger UI bundle names URLs (JSON Schema dialects, its licence) that it never
        // fetches: Chromium's network log, in the test below, is the proof for scripts.
        if content_type.starts_with("text/css") || path.ends_with("swagger-initializer.js") {
            let text = String::from_utf8_lossy(&body);
            assert_eq!(external_urls(&text), Vec::<String>::new(), "{path}");
        }
    }
    let initializer = app
        .get("/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        initializer.contains(r#""url": "../openapi.json""#),
        "{initializer}"
    );
    assert!(
        initializer.contains(r#""validatorUrl": "none""#),
        "{initializer}"
    );

    let missing = app.get("/docs/no-such-asset.js").await;
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.headers()["content-type"],
        "application/problem+json"
    );
}

/// Runs Chromium headless on `url`: the rendered DOM, and the network log it wrote.
fn render(url: &str, dir: &Path) -> (String, Value) {
    let net_log = dir.join("net-log.json");
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            // Chromium's own background calls (updates, accounts) cannot resolve: a test
            // never talks to the internet. They still show in the network log, attributed to
            // the browser rather than the page.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            // Virtual time runs only while the page has work: Swagger UI fetches and renders
            // the document long before this budget is spent.
            "--virtual-time-budget=30000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("--log-net-log={}", net_log.display()))
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut dom = String::new();
        stdout.read_to_string(&mut dom).unwrap();
        dom
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("chromium did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let dom = reader.join().unwrap();
    let log = std::fs::read_to_string(&net_log).unwrap();
    // The log is one JSON object; read it as a stream so trailing bytes do not matter.
    let log = serde_json::Deserializer::from_str(&log)
        .into_iter::<Value>()
        .next()
        .unwrap()
        .unwrap();
    (dom, log)
}

/// The URLs of the requests made on behalf of a page whose top frame is on `site`, and all
/// requested URLs, from a Chromium network log. A page's requests (its navigation, scripts,
/// style sheets, images, fetches, frames) carry the page's site first in their network
/// isolation key; the browser's own background calls carry another or none.
fn requested_urls(log: &Value, site: &str) -> (Vec<String>, Vec<String>) {
    let start_job = &log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"];
    let (mut by_page, mut all) = (Vec::new(), Vec::new());
    for event in log["events"].as_array().unwrap() {
        if &event["type"] != start_job {
            continue;
        }
        let Some(url) = event["params"]["url"].as_str().map(str::to_owned) else {
            continue;
        };
        let key = event["params"]["network_isolation_key"]
            .as_str()
            .unwrap_or("");
        if key.split(' ').next() == Some(site) {
            by_page.push(url.clone());
        }
        all.push(url);
    }
    (by_page, all)
}

#[tokio::test]
async fn docs_page_renders_the_api_in_headless_chromium_without_leaving_loopback() {
    if !Command::new(CHROMIUM)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        assert!(
            std::env::var("TOKENMINT_BROWSER").as_deref() != Ok("required"),
            "chromium is missing (apt-get install chromium)"
        );
        eprintln!("docs page test skipped: chromium is not installed");
        return;
    }
    let db = TestDb::new(Backend::Sqlite).await;
    let app = TestApp::spawn(db.config()).await;
    let document: Value = app.get_json("/openapi.json").await;
    let dir = tempfile::tempdir().unwrap();
    let url = app.url("/docs");
    let profile = dir.path().to_owned();

    let (dom, log) = tokio::task::spawn_blocking(move || render(&url, &profile))
        .await
        .unwrap();

    let (by_page, all) = requested_urls(&log, "http://127.0.0.1");
    let origin = format!("{}/", app.address);
    let external: Vec<_> = by_page.iter().filter(|u| !u.starts_with(&origin)).collect();
    assert!(external.is_empty(), "the page requested {external:?}");
    for expected in [
        "docs/",
        "docs/swagger-ui-bundle.js",
        "docs/swagger-ui.css",
        "openapi.json",
    ] {
        assert!(
            by_page.contains(&format!("{origin}{expected}")),
            "the network log does not show the page requesting /{expected}: {by_page:?}"
        );
    }
    let unattributed: Vec<_> = all
        .iter()
        .filter(|u| u.starts_with("http://127.0.0.1") && !by_page.contains(u))
        .collect();
    assert!(unattributed.is_empty(), "{unattributed:?}");
    // The page rendered: Swagger UI drew every operation of the document.
    assert!(
        dom.contains(r#"data-path="/oauth/token""#),
        "no token endpoint in:\n{dom}"
    );
    for (_, path) in operations(&document) {
        assert!(
            dom.contains(&format!("data-path=\"{path}\"")),
            "{path} is not on the rendered page"
        );
    }
}
