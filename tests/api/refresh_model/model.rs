//! The pure model of the refresh state machine (src/domain/refresh.rs), with no I/O: what every
//! request must answer, and how the session changes. Tokens are named by their place in the
//! session's history (0 = the one the exchange issued); the driver maps them to real text.
//!
//! The rules, as the contract states them:
//! - the current token rotates: a new successor, the old one becomes the previous, the idle end
//!   moves to `now + idle`; the absolute end never moves;
//! - the previous token within the grace window (compared in whole milliseconds, inclusive)
//!   answers **the same** successor, with a fresh access token, and moves nothing;
//! - any other token of a live session is reuse: the session is revoked (so the newest token dies
//!   too) and the answer is `invalid_grant`;
//! - a revoked, idle or absolutely expired session answers `invalid_grant` to every token and
//!   changes nothing. Ends are stored in whole seconds: a session is live while `now < end`.

/// The server's `TOKENMINT_REFRESH_GRACE` in the model test, in milliseconds.
pub const GRACE_MS: i64 = 10_000;
/// `TOKENMINT_REFRESH_IDLE_TTL`.
pub const IDLE_MS: i64 = 10 * 60_000;
/// `TOKENMINT_REFRESH_TOKEN_TTL` (the absolute lifetime).
pub const ABSOLUTE_MS: i64 = 30 * 60_000;
/// `TOKENMINT_ACCESS_TOKEN_TTL`.
pub const ACCESS_MS: i64 = 5 * 60_000;

/// What a request must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// 200 with a refresh token never seen before (history index given), and an access token
    /// living `expires_in` seconds.
    NewSuccessor { token: usize, expires_in: i64 },
    /// 200 with this already-issued refresh token again, and a fresh access token.
    SameSuccessor { token: usize, expires_in: i64 },
    /// 400 `invalid_grant`.
    InvalidGrant,
    /// 204 (self-service revocation of a live session).
    NoContent,
    /// 401 `invalid_token` (the access token's session is revoked).
    Unauthorized,
}

/// One session (refresh-token family) as the model sees it.
#[derive(Debug, Clone)]
pub struct SessionModel {
    /// How many refresh tokens were issued: history indexes `0..issued`.
    pub issued: usize,
    /// The token that rotates.
    pub current: usize,
    /// The token that rotated last, and when (ms).
    pub previous: Option<(usize, i64)>,
    pub revoked: bool,
    /// Idle and absolute ends, unix seconds.
    pub idle_end_s: i64,
    pub absolute_end_s: i64,
    /// Expiry of the newest access token, unix seconds.
    pub access_exp_s: i64,
}

/// Every session of one test case, and the server's clock.
#[derive(Debug, Clone)]
pub struct Model {
    pub now_ms: i64,
    pub sessions: Vec<SessionModel>,
}

impl Model {
    pub fn new(now_ms: i64) -> Self {
        Self {
            now_ms,
            sessions: Vec::new(),
        }
    }

    fn now_s(&self) -> i64 {
        self.now_ms.div_euclid(1000)
    }

    /// Expiry of an access token issued now for a session ending at `absolute_end_s`.
    fn access_exp(&self, absolute_end_s: i64) -> i64 {
        (self.now_ms + ACCESS_MS)
            .div_euclid(1000)
            .min(absolute_end_s)
    }

    /// A token exchange: a new session whose token 0 is current. Returns its index.
    pub fn exchange(&mut self) -> usize {
        let absolute_end_s = (self.now_ms + ABSOLUTE_MS).div_euclid(1000);
        self.sessions.push(SessionModel {
            issued: 1,
            current: 0,
            previous: None,
            revoked: false,
            idle_end_s: (self.now_ms + IDLE_MS).div_euclid(1000).min(absolute_end_s),
            absolute_end_s,
            access_exp_s: self.access_exp(absolute_end_s),
        });
        self.sessions.len() - 1
    }

    /// Whether session `s` can still refresh.
    pub fn is_live(&self, s: usize) -> bool {
        let session = &self.sessions[s];
        !session.revoked
            && self.now_ms < session.absolute_end_s * 1000
            && self.now_ms < session.idle_end_s * 1000
    }

    /// `grant_type=refresh_token` with token `token` of session `s`.
    pub fn refresh(&mut self, s: usize, token: usize) -> Expect {
        if !self.is_live(s) {
            return Expect::InvalidGrant;
        }
        let now_ms = self.now_ms;
        let now_s = self.now_s();
        let access_exp_s = self.access_exp(self.sessions[s].absolute_end_s);
        let session = &mut self.sessions[s];
        if token == session.current {
            let successor = session.issued;
            session.issued += 1;
            session.previous = Some((session.current, now_ms));
            session.current = successor;
            session.idle_end_s = (now_ms + IDLE_MS).div_euclid(1000);
            session.access_exp_s = access_exp_s;
            return Expect::NewSuccessor {
                token: successor,
                expires_in: access_exp_s - now_s,
            };
        }
        match session.previous {
            Some((previous, used_at)) if previous == token && now_ms - used_at <= GRACE_MS => {
                session.access_exp_s = access_exp_s;
                Expect::SameSuccessor {
                    token: session.current,
                    expires_in: access_exp_s - now_s,
                }
            }
            _ => {
                session.revoked = true;
                Expect::InvalidGrant
            }
        }
    }

    /// RFC 7009 or the admin API: the session ends, whatever its state; the answer does not
    /// depend on it.
    pub fn revoke(&mut self, s: usize) {
        self.sessions[s].revoked = true;
    }

    /// `DELETE /v1/me/sessions/{id}` with the session's newest access token; `None` when that
    /// token has expired (the request is not made: the server judges `exp` by the wall clock,
    /// which the test's manual clock has left behind).
    pub fn revoke_self(&mut self, s: usize) -> Option<Expect> {
        let session = &mut self.sessions[s];
        if self.now_ms >= session.access_exp_s * 1000 {
            return None;
        }
        if session.revoked {
            return Some(Expect::Unauthorized);
        }
        session.revoked = true;
        Some(Expect::NoContent)
    }

    /// Moves the clock to `target_ms` if that is later; time never goes back.
    pub fn advance_to(&mut self, target_ms: i64) -> i64 {
        let by = (target_ms - self.now_ms).max(0);
        self.now_ms += by;
        by
    }
}

#[test]
fn the_model_follows_the_contract() {
    let mut model = Model::new(1_000_000);
    let s = model.exchange();
    let first = model.refresh(s, 0);
    assert!(matches!(first, Expect::NewSuccessor { token: 1, .. }));
    model.advance_to(1_000_000 + GRACE_MS);
    assert!(matches!(
        model.refresh(s, 0),
        Expect::SameSuccessor { token: 1, .. }
    ));
    model.advance_to(1_000_000 + GRACE_MS + 1);
    assert_eq!(model.refresh(s, 0), Expect::InvalidGrant);
    assert_eq!(
        model.refresh(s, 1),
        Expect::InvalidGrant,
        "reuse revoked it"
    );
    let t = model.exchange();
    model.advance_to(model.sessions[t].idle_end_s * 1000 - 1);
    assert!(model.is_live(t));
    model.advance_to(model.sessions[t].idle_end_s * 1000);
    assert_eq!(model.refresh(t, 0), Expect::InvalidGrant);
}
