//! A model test of the refresh state machine. proptest generates sequences of exchanges,
//! refreshes with the newest token, retries of the previous one (within or past the grace
//! window), replays of older ones, revocations (RFC 7009 with a refresh or an access token,
//! the admin API, self-service `DELETE /v1/me/sessions/{id}`) and clock moves (small, to the
//! millisecond edges of the grace window and the idle and absolute ends, past the access-token
//! lifetime). Each runs against the real server over HTTP, and every answer is checked against
//! the pure model in `refresh_model/model.rs`; a session's newest token is probed at the end of
//! each case. A failure shrinks to a minimal sequence, printed with the step that diverged.
//!
//! One server per backend serves every case (starting one per case would dominate the run);
//! cases stay independent because each uses new sessions of its own users, and no case moves
//! the clock near the one-day margin after which expired sessions are purged. Runs on SQLite
//! and on PostgreSQL. `PROPTEST_CASES=N` runs more cases.

mod model;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use tokenmint::domain::model::admin_keys::AdminRole;

use crate::admin::create_key;
use crate::helpers::Backend;
use crate::oauth_helpers::{Harness, JWT_TYPE};
use model::{Expect, GRACE_MS, Model};

/// The lifetimes the model assumes (`model.rs`); keys never rotate during the run.
const SETTINGS: [(&str, &str); 5] = [
    ("TOKENMINT_REFRESH_GRACE", "10s"),
    ("TOKENMINT_REFRESH_IDLE_TTL", "10m"),
    ("TOKENMINT_REFRESH_TOKEN_TTL", "30m"),
    ("TOKENMINT_ACCESS_TOKEN_TTL", "5m"),
    ("TOKENMINT_KEY_ROTATION", "3650d"),
];

/// Which of a session's refresh tokens a request presents.
#[derive(Debug, Clone, Copy)]
enum Pick {
    Newest,
    /// The one that rotated last (a retry); the newest when none has.
    Previous,
    /// Any issued one, by index modulo the history (a replay, or a retry).
    Older(usize),
}

/// How a session is revoked.
#[derive(Debug, Clone, Copy)]
enum Revoker {
    /// RFC 7009 with one of its refresh tokens (any of them ends the session).
    RefreshToken(Pick),
    /// RFC 7009 with its newest access token.
    AccessToken,
    /// `DELETE /admin/v1/sessions/{id}`.
    Admin,
    /// `DELETE /v1/me/sessions/{id}` with its newest access token.
    SelfService,
}

/// A clock move. Edges name a session by index; with no such edge the move does nothing.
#[derive(Debug, Clone, Copy)]
enum Move {
    Millis(u32),
    Seconds(u32),
    /// To the previous token's use + grace + `past_ms` (0: the last honoured ms; 1: reuse).
    GraceEnd {
        session: usize,
        past_ms: i64,
    },
    /// To the idle end − `before_ms` (1: still live; 0: ended).
    IdleEnd {
        session: usize,
        before_ms: i64,
    },
    /// To the absolute end − `before_ms`.
    AbsoluteEnd {
        session: usize,
        before_ms: i64,
    },
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Exchange,
    Refresh { session: usize, token: Pick },
    Revoke { session: usize, by: Revoker },
    Advance(Move),
}

fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![
        4 => Just(Pick::Newest),
        3 => Just(Pick::Previous),
        2 => (0..8usize).prop_map(Pick::Older),
    ]
}

fn revoker() -> impl Strategy<Value = Revoker> {
    prop_oneof![
        Just(Revoker::Admin),
        Just(Revoker::SelfService),
        Just(Revoker::AccessToken),
        pick().prop_map(Revoker::RefreshToken),
    ]
}

fn clock_move() -> impl Strategy<Value = Move> {
    prop_oneof![
        3 => (0..3_000u32).prop_map(Move::Millis),
        1 => (1..700u32).prop_map(Move::Seconds),
        3 => (0..3usize, 0..=1i64).prop_map(|(session, past_ms)| Move::GraceEnd { session, past_ms }),
        1 => (0..3usize, 0..=1i64).prop_map(|(session, before_ms)| Move::IdleEnd { session, before_ms }),
        1 => (0..3usize, 0..=1i64)
            .prop_map(|(session, before_ms)| Move::AbsoluteEnd { session, before_ms }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..3usize, pick()).prop_map(|(session, token)| Op::Refresh { session, token }),
        5 => clock_move().prop_map(Op::Advance),
        2 => (0..3usize, revoker()).prop_map(|(session, by)| Op::Revoke { session, by }),
        1 => Just(Op::Exchange),
    ]
}

/// Runs the model test on `backend` with `cases` cases (unless `PROPTEST_CASES` says more).
fn check_against_the_model(backend: Backend, cases: u32) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (harness, admin_key) = runtime.block_on(async {
        let harness = Harness::start_with(backend, &SETTINGS).await;
        let (_, key) = create_key(&harness.db, AdminRole::Admin).await;
        (harness, key)
    });
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    config.failure_persistence = None;
    config.max_shrink_iters = 400;
    let mut runner = TestRunner::new(config);
    let result = runner.run(&prop::collection::vec(op(), 1..20), |ops| {
        let mut case = Case::new(&harness, &admin_key);
        runtime
            .block_on(case.run(&ops))
            .map_err(TestCaseError::fail)
    });
    if let Err(err) = result {
        panic!("{backend:?}: the server diverged from the model: {err}");
    }
}

#[test]
fn the_refresh_state_machine_follows_its_model_on_sqlite() {
    check_against_the_model(Backend::Sqlite, 64);
}

#[test]
fn the_refresh_state_machine_follows_its_model_on_postgres() {
    check_against_the_model(Backend::Postgres, 48);
}

/// One test case: the model, and the real tokens and ids behind its names.
struct Case<'h> {
    harness: &'h Harness,
    admin_key: &'h str,
    model: Model,
    /// Each session's refresh tokens, by history index.
    refresh: Vec<Vec<String>>,
    /// Each session's newest access token.
    access: Vec<String>,
    sids: Vec<String>,
    /// Every refresh token any answer carried: a new successor must be none of them.
    seen: HashSet<String>,
}

/// What the server answered. `Debug` (in failure messages) shortens the tokens.
enum Answer {
    Tokens {
        refresh: String,
        access: String,
        expires_in: i64,
    },
    Error {
        status: u16,
        error: String,
    },
    Status {
        status: u16,
        challenge: Option<String>,
    },
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let short = |token: &str| format!("{}…", token.get(..12).unwrap_or(token));
        match self {
            Self::Tokens {
                refresh,
                access,
                expires_in,
            } => write!(
                f,
                "200 {{ refresh_token: {}, access_token: {}, expires_in: {expires_in} }}",
                short(refresh),
                short(access)
            ),
            Self::Error { status, error } => write!(f, "{status} {error}"),
            Self::Status { status, challenge } => write!(f, "{status} {challenge:?}"),
        }
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let text = |name: &str| body[name].as_str().map(str::to_owned);
    match (
        status,
        text("refresh_token"),
        text("access_token"),
        text("error"),
    ) {
        (200, Some(refresh), Some(access), _) => Answer::Tokens {
            refresh,
            access,
            expires_in: body["expires_in"].as_i64().unwrap_or(-1),
        },
        (_, _, _, Some(error)) => Answer::Error { status, error },
        _ => Answer::Status { status, challenge },
    }
}

impl<'h> Case<'h> {
    fn new(harness: &'h Harness, admin_key: &'h str) -> Self {
        use tokenmint::clock::Clock;
        Self {
            harness,
            admin_key,
            model: Model::new(harness.app.clock.now().timestamp_millis()),
            refresh: Vec::new(),
            access: Vec::new(),
            sids: Vec::new(),
            seen: HashSet::new(),
        }
    }

    async fn run(&mut self, ops: &[Op]) -> Result<(), String> {
        self.exchange()
            .await
            .map_err(|e| format!("first exchange: {e}"))?;
        for (step, op) in ops.iter().enumerate() {
            self.apply(op)
                .await
                .map_err(|e| format!("step {step} ({op:?}): {e}"))?;
        }
        for session in 0..self.refresh.len() {
            self.refresh(session, Pick::Newest)
                .await
                .map_err(|e| format!("final probe of session {session}: {e}"))?;
        }
        Ok(())
    }

    async fn apply(&mut self, op: &Op) -> Result<(), String> {
        let sessions = self.refresh.len();
        match *op {
            Op::Exchange => self.exchange().await,
            Op::Refresh { session, token } => self.refresh(session % sessions, token).await,
            Op::Revoke { session, by } => self.revoke(session % sessions, by).await,
            Op::Advance(step) => {
                self.advance(step);
                Ok(())
            }
        }
    }

    async fn exchange(&mut self) -> Result<(), String> {
        static USERS: AtomicUsize = AtomicUsize::new(0);
        let user = format!("model-{}", USERS.fetch_add(1, Ordering::Relaxed));
        let jwt = self.harness.appwrite.signed_in_user(&user).jwt;
        let response = self.harness.app.exchange(JWT_TYPE, &jwt, &[]).await;
        let Answer::Tokens {
            refresh, access, ..
        } = answer(response).await
        else {
            return Err("the exchange failed".into());
        };
        let claims = self.harness.app.verify_access_token(&access, "api").await;
        self.model.exchange();
        self.seen.insert(refresh.clone());
        self.refresh.push(vec![refresh]);
        self.access.push(access);
        self.sids
            .push(claims["sid"].as_str().unwrap_or_default().to_owned());
        Ok(())
    }

    /// The history index `pick` names in session `s`.
    fn token_index(&self, s: usize, pick: Pick) -> usize {
        let session = &self.model.sessions[s];
        match pick {
            Pick::Newest => session.current,
            Pick::Previous => session.previous.map_or(session.current, |(p, _)| p),
            Pick::Older(i) => i % session.issued,
        }
    }

    async fn refresh(&mut self, s: usize, pick: Pick) -> Result<(), String> {
        let index = self.token_index(s, pick);
        let response = self.harness.app.refresh(&self.refresh[s][index]).await;
        let got = answer(response).await;
        let expected = self.model.refresh(s, index);
        let context = format!("refresh with token {index} of session {s}");
        match (expected, got) {
            (Expect::InvalidGrant, Answer::Error { status: 400, error })
                if error == "invalid_grant" =>
            {
                Ok(())
            }
            (
                Expect::NewSuccessor { token, expires_in },
                Answer::Tokens {
                    refresh,
                    access,
                    expires_in: got_in,
                },
            ) => {
                if !self.seen.insert(refresh.clone()) {
                    return Err(format!("{context}: a successor was issued before"));
                }
                if got_in != expires_in {
                    return Err(format!(
                        "{context}: expires_in {got_in}, expected {expires_in}"
                    ));
                }
                debug_assert_eq!(token, self.refresh[s].len());
                self.refresh[s].push(refresh);
                self.access[s] = access;
                Ok(())
            }
            (
                Expect::SameSuccessor { token, expires_in },
                Answer::Tokens {
                    refresh,
                    access,
                    expires_in: got_in,
                },
            ) => {
                if refresh != self.refresh[s][token] {
                    return Err(format!(
                        "{context}: a different successor than token {token}"
                    ));
                }
                if access == self.access[s] || got_in != expires_in {
                    return Err(format!(
                        "{context}: not a fresh access token for {expires_in} s"
                    ));
                }
                self.access[s] = access;
                Ok(())
            }
            (expected, got) => Err(format!("{context}: expected {expected:?}, got {got:?}")),
        }
    }

    async fn revoke(&mut self, s: usize, by: Revoker) -> Result<(), String> {
        let app = &self.harness.app;
        let token_valid = self.model.now_ms < self.model.sessions[s].access_exp_s * 1000;
        let (response, expected) = match by {
            Revoker::RefreshToken(pick) => {
                let token = &self.refresh[s][self.token_index(s, pick)];
                self.model.revoke(s);
                (
                    app.post_form("/oauth/revoke", &[("token", token)]).await,
                    200,
                )
            }
            Revoker::AccessToken if token_valid => {
                self.model.revoke(s);
                let params = [("token", self.access[s].as_str())];
                (app.post_form("/oauth/revoke", &params).await, 200)
            }
            Revoker::Admin => {
                self.model.revoke(s);
                let url = app.url(&format!("/admin/v1/sessions/{}", self.sids[s]));
                let request = app.client.delete(url).bearer_auth(self.admin_key);
                (request.send().await.map_err(|e| e.to_string())?, 200)
            }
            Revoker::SelfService => {
                let Some(expected) = self.model.revoke_self(s) else {
                    return Ok(());
                };
                let url = app.url(&format!("/v1/me/sessions/{}", self.sids[s]));
                let request = app.client.delete(url).bearer_auth(&self.access[s]);
                let response = request.send().await.map_err(|e| e.to_string())?;
                (
                    response,
                    if expected == Expect::NoContent {
                        204
                    } else {
                        401
                    },
                )
            }
            Revoker::AccessToken => return Ok(()),
        };
        match answer(response).await {
            Answer::Status { status, challenge } if status == expected => {
                let challenged = challenge.is_some_and(|c| c.contains("error=\"invalid_token\""));
                if status == 401 && !challenged {
                    return Err("401 without an invalid_token challenge".into());
                }
                Ok(())
            }
            got => Err(format!(
                "revoking session {s} by {by:?}: expected {expected}, got {got:?}"
            )),
        }
    }

    fn advance(&mut self, step: Move) {
        let model = &self.model;
        let session = |s: usize| &model.sessions[s % model.sessions.len()];
        let target = match step {
            Move::Millis(ms) => model.now_ms + i64::from(ms),
            Move::Seconds(s) => model.now_ms + i64::from(s) * 1000,
            Move::GraceEnd {
                session: s,
                past_ms,
            } => match session(s).previous {
                Some((_, used_at)) => used_at + GRACE_MS + past_ms,
                None => return,
            },
            Move::IdleEnd {
                session: s,
                before_ms,
            } => session(s).idle_end_s * 1000 - before_ms,
            Move::AbsoluteEnd {
                session: s,
                before_ms,
            } => session(s).absolute_end_s * 1000 - before_ms,
        };
        let by = self.model.advance_to(target);
        self.harness
            .app
            .clock
            .advance(chrono::Duration::milliseconds(by));
    }
}
