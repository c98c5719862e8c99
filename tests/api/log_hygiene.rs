//! No secret and no personal data in logs, error bodies or metrics: the real binary, logging
//! everything at debug (its own modules at trace), runs a full flow with failures on
//! PostgreSQL; its log, every error answer it gave and its `/metrics` hold none of the tokens,
//! proofs, admin secrets, KEK, webhook key, emails or names that went through it.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;
use tokenmint::domain::model::admin_keys::AdminRole;

use crate::admin::create_key;
use crate::helpers::{TEST_KEK, TestDb};
use crate::oauth_helpers::{EXCHANGE, JWT_TYPE, SESSION_TYPE};
use crate::webhooks::{Delivery, KEY, appwrite_time, sign};
use tokenmint_fake_appwrite::{Failure, FakeAppwrite, PROJECT_ID};

const EMAIL: &str = "jane.private@example.com";
const NAME: &str = "Jane Privatperson";
const OTHER_EMAIL: &str = "secret.person@example.com";
const OTHER_NAME: &str = "Sekret Persona";

struct Server {
    child: Child,
    log: std::path::PathBuf,
    url: String,
}

impl Server {
    fn start(db: &TestDb, appwrite: &FakeAppwrite) -> Self {
        let log = db.dir.path().join("server.log");
        let file = std::fs::File::create(&log).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_tokenmint"));
        for variable in tokenmint::config::VARIABLES {
            command.env_remove(variable);
        }
        let child = command
            .current_dir(db.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(file))
            .env("DATABASE_URL", &db.url)
            .env("TOKENMINT_KEK", TEST_KEK)
            .env("TOKENMINT_LISTEN", "127.0.0.1:0")
            .env("TOKENMINT_LOG_FORMAT", "json")
            .env("RUST_LOG", "debug,tokenmint=trace")
            .env("APPWRITE_ENDPOINT", &appwrite.endpoint)
            .env("APPWRITE_PROJECT_ID", PROJECT_ID)
            .env("TOKENMINT_APPWRITE_WEBHOOK_KEY", KEY)
            .env("TOKENMINT_REFRESH_GRACE", "0s")
            .spawn()
            .unwrap();
        // From here on `Drop` stops the process, whatever happens.
        let mut server = Self {
            child,
            log,
            url: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while server.url.is_empty() {
            assert!(
                Instant::now() < deadline,
                "the server never said it was serving"
            );
            let text = std::fs::read_to_string(&server.log).unwrap_or_default();
            let address = text
                .lines()
                .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                .find(|event| event["message"] == "tokenmint is serving")
                .and_then(|event| event["address"].as_str().map(str::to_owned));
            match address {
                Some(address) => server.url = format!("http://{address}"),
                None => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        server
    }

    /// Stops the server (SIGTERM, so it logs its shutdown) and returns everything it logged.
    fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        std::fs::read_to_string(&self.log).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn form(client: &reqwest::Client, url: String, params: &[(&str, &str)]) -> Value {
    let response = client.post(url).form(params).send().await.unwrap();
    response.json().await.unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_full_flow_with_failures_leaks_no_secret_in_logs_error_bodies_or_metrics() {
    let db = TestDb::postgres().await;
    let (_, admin) = create_key(&db, AdminRole::Admin).await;
    let appwrite = FakeAppwrite::start().await;
    let server = Server::start(&db, &appwrite);
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", server.url);
    appwrite.add_user("u1");
    appwrite.update_user("u1", |user| {
        user.email = EMAIL.into();
        user.name = NAME.into();
    });
    let (appwrite_session, session_value) = appwrite.create_session("u1");
    let jwt = appwrite.create_jwt("u1", &appwrite_session);
    let mut secrets = vec![
        jwt.clone(),
        session_value.clone(),
        admin.clone(),
        admin[21..].to_owned(),
        KEY.to_owned(),
        TEST_KEK.to_owned(),
        EMAIL.to_owned(),
        NAME.to_owned(),
        OTHER_EMAIL.to_owned(),
        OTHER_NAME.to_owned(),
    ];

    // Exchange with a JWT and with a session value; refuse a forged JWT.
    let exchange = |token: String, kind: &'static str| {
        let (client, url) = (client.clone(), url("/oauth/token"));
        async move {
            let params = [
                ("grant_type", EXCHANGE),
                ("subject_token", token.as_str()),
                ("subject_token_type", kind),
            ];
            form(&client, url, &params).await
        }
    };
    let first = exchange(jwt.clone(), JWT_TYPE).await;
    let second = exchange(session_value.clone(), SESSION_TYPE).await;
    let forged = format!("{}x", &jwt[..jwt.len() - 1]);
    secrets.push(forged.clone());
    // Every answer that is not a grant, to be searched for secrets at the end.
    let mut answers: Vec<String> = Vec::new();
    let refused = exchange(forged, JWT_TYPE).await;
    assert_eq!(refused["error"], "invalid_grant");
    answers.push(refused.to_string());
    // Appwrite failing, then a proof it never issued of the session kind.
    appwrite.fail_with(Some(Failure::Status(503)));
    let unavailable = exchange(jwt.clone(), JWT_TYPE).await;
    assert_eq!(unavailable["error"], "temporarily_unavailable");
    answers.push(unavailable.to_string());
    appwrite.fail_with(None);
    let bad_session = format!("{session_value}AAAA");
    secrets.push(bad_session.clone());
    answers.push(exchange(bad_session, SESSION_TYPE).await.to_string());
    let refresh = |token: String| {
        let (client, url) = (client.clone(), url("/oauth/token"));
        async move {
            let params = [
                ("grant_type", "refresh_token"),
                ("refresh_token", token.as_str()),
            ];
            form(&client, url, &params).await
        }
    };
    let first_refresh = first["refresh_token"].as_str().unwrap().to_owned();
    let rotated = refresh(first_refresh.clone()).await;
    // Reuse (the grace window is 0 s): the whole session is revoked.
    let reused = refresh(first_refresh.clone()).await;
    assert_eq!(reused["error"], "invalid_grant");
    let unknown = refresh(format!("tmr_{}", "A".repeat(43))).await;
    assert_eq!(unknown["error"], "invalid_grant");
    answers.extend([reused.to_string(), unknown.to_string()]);
    for tokens in [&first, &second, &rotated] {
        for field in ["access_token", "refresh_token"] {
            if let Some(token) = tokens[field].as_str() {
                secrets.push(token.to_owned());
                secrets.push(token[token.len() - 30..].to_owned());
            }
        }
    }

    // Introspection, self-service, admin API (with a right and a wrong key), revocation.
    let second_access = second["access_token"].as_str().unwrap();
    let second_refresh = second["refresh_token"].as_str().unwrap();
    for token in [second_access, second_refresh] {
        let active = client
            .post(url("/oauth/introspect"))
            .bearer_auth(&admin)
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(active.status(), 200);
    }
    let mine = client
        .get(url("/v1/me/sessions"))
        .bearer_auth(second_access)
        .send()
        .await
        .unwrap();
    assert_eq!(mine.status(), 200);
    let wrong_admin = format!("{}{}", &admin[..admin.len() - 1], "Q");
    secrets.push(wrong_admin.clone());
    for key in [admin.as_str(), wrong_admin.as_str()] {
        let answer = client
            .request(Method::GET, url("/admin/v1/users/u1/sessions"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        answers.push(answer.text().await.unwrap());
    }
    let stranger = client
        .get(url("/v1/me/sessions"))
        .bearer_auth(format!("{second_access}x"))
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), 401);
    let challenge = format!("{:?}", stranger.headers());
    answers.push(format!("{challenge} {}", stranger.text().await.unwrap()));

    // Webhooks: a signed name change, a bad signature, a signed deletion.
    let now = appwrite_time(tokenmint::clock::Clock::now(&tokenmint::clock::SystemClock));
    let renamed = format!(
        r#"{{"$id":"u1","$updatedAt":"{now}","name":"{OTHER_NAME}","email":"{OTHER_EMAIL}","emailVerification":true,"status":true,"labels":[]}}"#
    );
    for (body, signature) in [
        (renamed.clone(), sign(crate::webhooks::URL, &renamed)),
        (renamed.clone(), "bm9wZQ==".to_owned()),
    ] {
        let delivery = Delivery {
            signature: Some(signature),
            ..Delivery::new("users.u1.update.name", body)
        };
        answers.push(send_webhook(&client, &url("/webhooks/appwrite"), &delivery).await);
    }
    let revoked = client
        .post(url("/oauth/revoke"))
        .form(&[("token", second_refresh)])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);

    // A database failure carrying row data (a constraint added behind tokenmint's back).
    appwrite.add_user("u2");
    appwrite.update_user("u2", |user| {
        user.email = OTHER_EMAIL.into();
        user.name = OTHER_NAME.into();
    });
    let (u2_session, _) = appwrite.create_session("u2");
    db.execute(
        "alter table sessions add constraint no_secret_person \
         check (claims->>'email' <> 'secret.person@example.com') not valid",
    )
    .await;
    let failed = exchange(appwrite.create_jwt("u2", &u2_session), JWT_TYPE).await;
    assert_eq!(failed["error"], "server_error", "{failed}");
    answers.push(failed.to_string());

    let metrics = client.get(url("/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    let metrics = metrics.text().await.unwrap();
    assert!(metrics.contains("tokenmint_token_requests_total"));
    let log = server.stop();
    assert!(log.contains("tokenmint is serving"));
    assert!(
        log.contains("23514") || log.contains("no_secret_person"),
        "the database failure is logged by SQLSTATE or constraint"
    );
    let answers = answers.join("\n");
    for (what, text) in [
        ("the log", &log),
        ("an error answer", &answers),
        ("/metrics", &metrics),
    ] {
        for secret in &secrets {
            if let Some(line) = text.lines().find(|line| line.contains(secret.as_str())) {
                panic!(
                    "{what} holds {:?}…: {line}",
                    &secret[..secret.len().min(12)]
                );
            }
        }
    }
}

/// Delivers a webhook; returns the answer's body.
async fn send_webhook(client: &reqwest::Client, url: &str, delivery: &Delivery) -> String {
    client
        .post(url)
        .header("content-type", "application/json")
        .header(
            "x-appwrite-webhook-events",
            crate::webhooks::expanded("users.u1.update.name"),
        )
        .header(
            "x-appwrite-webhook-signature",
            delivery.signature.clone().unwrap_or_default(),
        )
        .body(delivery.body.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}
