//! The client of one Appwrite project: verifies a session proof by asking Appwrite, or an
//! OAuth2 token locally, behind the circuit breaker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::DateTime;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

use super::breaker::{CircuitBreaker, Outcome};
use super::model::{Account, AppwriteSession, JwtPayload};
use super::oauth::{OAuthTokenKind, OAuthVerifier};
use super::wire::{RESPONSE_FORMAT, error_for, unreadable};
use super::{directory, lossy};
use crate::domain::events::{Events, IdentityOutcome, NoEvents};
use crate::domain::model::sessions::UserSnapshot;
use crate::domain::ports::{
    BoxError, IdentityError, IdentityProvider, SubjectProof, VerifiedLogin,
};
use crate::domain::text::is_identifier;

/// Client of one Appwrite project.
#[derive(Clone)]
pub struct AppwriteClient {
    http: reqwest::Client,
    endpoint: String,
    endpoint_url: url::Url,
    project_id: String,
    timeout: Duration,
    breaker: Arc<CircuitBreaker>,
    events: Arc<dyn Events>,
    oauth: Option<Arc<OAuthVerifier>>,
}

impl std::fmt::Debug for AppwriteClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppwriteClient")
            .field("endpoint", &self.endpoint)
            .field("project_id", &self.project_id)
            .field("timeout", &self.timeout)
            .field("oauth", &self.oauth)
            .finish_non_exhaustive()
    }
}

/// A 2xx answer in JSON that tokenmint cannot read as the model it expects, even after making
/// its text valid Unicode.
#[derive(Debug, thiserror::Error)]
#[error("Appwrite answered a body tokenmint cannot read")]
struct UnreadableAnswer;

impl AppwriteClient {
    /// A client for `endpoint` (e.g. `https://cloud.appwrite.io/v1`) and `project_id`.
    /// `connect_timeout` bounds each connection attempt; `timeout` bounds a whole verification,
    /// retry included.
    pub fn new(
        endpoint: &str,
        project_id: &str,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Result<Self, BoxError> {
        let http = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tokenmint/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            endpoint_url: url::Url::parse(endpoint)?,
            project_id: project_id.to_owned(),
            timeout,
            breaker: Arc::default(),
            events: Arc::new(NoEvents),
            oauth: None,
        })
    }

    /// Also accepts the tokens of the project's OAuth2 server at `issuer` issued to one of
    /// `client_ids` (verified locally, see [`oauth`]).
    pub fn with_oauth(mut self, issuer: &str, client_ids: Vec<String>) -> Self {
        self.oauth = Some(Arc::new(OAuthVerifier::new(
            self.http.clone(),
            issuer.trim_end_matches('/'),
            client_ids,
        )));
        self
    }

    /// Appwrite's Users API for the reconciler, asked with `api_key` over this client's
    /// connections (and timeouts), never with a user's proof.
    pub fn directory(&self, api_key: SecretString) -> directory::AppwriteDirectory {
        directory::AppwriteDirectory::new(
            self.http.clone(),
            &self.endpoint_url,
            &self.project_id,
            api_key,
        )
    }

    /// The circuit breaker in front of Appwrite (its state is exported as a metric).
    pub fn circuit_breaker(&self) -> Arc<CircuitBreaker> {
        Arc::clone(&self.breaker)
    }

    /// Reports each verification's outcome and duration to `events` (nowhere by default).
    pub fn with_events(mut self, events: Arc<dyn Events>) -> Self {
        self.events = events;
        self
    }

    /// GET `path` with the proof header; one retry when the connection itself fails (the
    /// request is a read, so repeating it is safe).
    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        header: &'static str,
        proof: &SecretString,
    ) -> Result<T, IdentityError> {
        let url = format!("{}{path}", self.endpoint);
        let send = || {
            self.http
                .get(&url)
                .header("X-Appwrite-Project", &self.project_id)
                .header("X-Appwrite-Response-Format", RESPONSE_FORMAT)
                .header(header, proof.expose_secret())
                .send()
        };
        let response = match send().await {
            Err(err) if is_connection_failure(&err) => send().await,
            other => other,
        }
        .map_err(|err| IdentityError::Unavailable(Box::new(err.without_url())))?;
        let status = response.status();
        let rate_limit_reset = response
            .headers()
            .get("x-ratelimit-reset")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i64>().ok());
        let body = response
            .bytes()
            .await
            .map_err(|err| IdentityError::Unavailable(Box::new(err.without_url())))?;
        if status.is_success() {
            // One user's text that is not valid Unicode must not fail their sign-in (see
            // `lossy`); a body still unreadable after that is this answer's problem, not a sign
            // that Appwrite is down (`UnreadableAnswer` does not count towards the breaker).
            let body = lossy::repair(&body);
            return serde_json::from_slice(&body).map_err(|_| {
                // JSON that does not fit the model is about this answer; a body that is not
                // JSON at all (an HTML error page of a proxy) is about the service.
                if serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_ok() {
                    IdentityError::Unavailable(Box::new(UnreadableAnswer))
                } else {
                    unreadable("Appwrite answered a body that is not JSON")
                }
            });
        }
        Err(error_for(status, &body, rate_limit_reset))
    }

    async fn verify_jwt(&self, jwt: &SecretString) -> Result<VerifiedLogin, IdentityError> {
        let account: Account = self.get("/account", "X-Appwrite-JWT", jwt).await?;
        // Appwrite has just vouched for this JWT, so its payload can be read unverified.
        let payload = jwt_payload(jwt.expose_secret()).ok_or(IdentityError::Rejected)?;
        if payload.user_id != account.id {
            tracing::warn!("Appwrite JWT names another user than the account Appwrite returned");
            return Err(IdentityError::Rejected);
        }
        login(account, payload.session_id)
    }

    async fn verify_session(&self, session: &SecretString) -> Result<VerifiedLogin, IdentityError> {
        let (account, current) = tokio::try_join!(
            self.get::<Account>("/account", "X-Appwrite-Session", session),
            self.get::<AppwriteSession>("/account/sessions/current", "X-Appwrite-Session", session),
        )?;
        if current.user_id != account.id {
            return Err(IdentityError::Rejected);
        }
        login(account, current.id)
    }
}

#[async_trait]
impl IdentityProvider for AppwriteClient {
    async fn verify(&self, proof: &SubjectProof) -> Result<VerifiedLogin, IdentityError> {
        let oauth_kind = match proof {
            SubjectProof::AppwriteOAuthAccessToken(token) => {
                Some((token, OAuthTokenKind::AccessToken))
            }
            SubjectProof::AppwriteOAuthIdToken(token) => Some((token, OAuthTokenKind::IdToken)),
            SubjectProof::AppwriteJwt(_) | SubjectProof::AppwriteSession(_) => None,
        };
        if let Some((token, kind)) = oauth_kind {
            // Verified locally: Appwrite's API is not asked, so its breaker is not involved.
            let oauth = self.oauth.as_ref().ok_or(IdentityError::NotAccepted)?;
            let started = Instant::now();
            let result = oauth.verify(token, kind).await;
            self.events
                .identity_verified(outcome_of(&result), started.elapsed());
            return result;
        }
        let permit = self
            .breaker
            .permit()
            .map_err(|retry_after| IdentityError::CircuitOpen { retry_after })?;
        let verification = async {
            match proof {
                SubjectProof::AppwriteJwt(jwt) => self.verify_jwt(jwt).await,
                SubjectProof::AppwriteSession(session) => self.verify_session(session).await,
                SubjectProof::AppwriteOAuthAccessToken(_)
                | SubjectProof::AppwriteOAuthIdToken(_) => Err(IdentityError::NotAccepted),
            }
        };
        let started = Instant::now();
        // The per-request timeout bounds each attempt; this bounds the whole, retry included.
        let (outcome, result) = match tokio::time::timeout(self.timeout, verification).await {
            Ok(result) => (outcome_of(&result), result),
            Err(_) => (
                IdentityOutcome::Timeout,
                Err(unreadable("Appwrite did not answer in time")),
            ),
        };
        self.events.identity_verified(outcome, started.elapsed());
        permit.finish(match &result {
            // Appwrite's health is judged by its transport and status, never by one user's
            // data: a 2xx answer counts as an answer even when tokenmint cannot read it.
            Err(IdentityError::Unavailable(cause)) if !cause.is::<UnreadableAnswer>() => {
                Outcome::Failed
            }
            _ => Outcome::Answered,
        });
        result
    }
}

fn outcome_of(result: &Result<VerifiedLogin, IdentityError>) -> IdentityOutcome {
    match result {
        Ok(_) => IdentityOutcome::Verified,
        Err(IdentityError::Rejected | IdentityError::NotAccepted) => IdentityOutcome::Rejected,
        Err(IdentityError::Blocked) => IdentityOutcome::Blocked,
        Err(IdentityError::PasswordResetRequired) => IdentityOutcome::PasswordResetRequired,
        Err(IdentityError::MoreFactorsRequired) => IdentityOutcome::MoreFactorsRequired,
        Err(IdentityError::RateLimited { .. }) => IdentityOutcome::RateLimited,
        Err(IdentityError::Misconfigured) => IdentityOutcome::Misconfigured,
        // reqwest's own timeout (of one attempt) is as much a timeout as the overall budget's.
        Err(IdentityError::Unavailable(cause))
            if cause
                .downcast_ref::<reqwest::Error>()
                .is_some_and(reqwest::Error::is_timeout) =>
        {
            IdentityOutcome::Timeout
        }
        // Not a call: refused before Appwrite was asked (counted by the breaker itself).
        Err(IdentityError::Unavailable(_) | IdentityError::CircuitOpen { .. }) => {
            IdentityOutcome::Unavailable
        }
    }
}

/// A failure to connect, or a connection dropped before any response: worth one retry.
/// A timeout is not retried: the budget is spent.
fn is_connection_failure(err: &reqwest::Error) -> bool {
    !err.is_timeout() && (err.is_connect() || err.is_request())
}

fn jwt_payload(jwt: &str) -> Option<JwtPayload> {
    let payload = jwt.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?).ok()
}

fn login(account: Account, appwrite_session_id: String) -> Result<VerifiedLogin, IdentityError> {
    if !account.status {
        return Err(IdentityError::Blocked);
    }
    if appwrite_session_id.is_empty() {
        return Err(IdentityError::Rejected);
    }
    if !is_identifier(&account.id) || !is_identifier(&appwrite_session_id) {
        // Not ids Appwrite issues (at most 36 characters of [a-zA-Z0-9._-]): an upstream that
        // misbehaves, never a reason to store something unindexable.
        return Err(unreadable("Appwrite answered ids it does not issue"));
    }
    let updated_at_ms =
        DateTime::parse_from_rfc3339(&account.updated_at).map_or(0, |t| t.timestamp_millis());
    Ok(VerifiedLogin {
        user_id: account.id,
        appwrite_session_id,
        snapshot: UserSnapshot {
            email: account.email,
            email_verified: account.email_verification,
            name: account.name,
            labels: account.labels,
        },
        updated_at_ms,
        impersonator: account
            .impersonator_user_id
            .filter(|id| !id.is_empty() && is_identifier(id)),
        vouched_at: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blocked_account_is_refused_even_with_a_200() {
        let account: Account = serde_json::from_str(
            r#"{"$id":"u1","$updatedAt":"2026-08-02T08:00:00.000+00:00","name":"Jane","status":false,
                "labels":["beta"],"email":"jane@example.com","emailVerification":true}"#,
        )
        .unwrap();
        assert!(matches!(
            login(account, "s1".into()),
            Err(IdentityError::Blocked)
        ));
    }

    #[test]
    fn a_login_carries_the_snapshot_and_update_time() {
        let account: Account = serde_json::from_str(
            r#"{"$id":"u1","$updatedAt":"2026-08-02T08:00:00.000+00:00","name":"Jane","status":true,
                "labels":["beta"],"email":"jane@example.com","emailVerification":true,"prefs":{}}"#,
        )
        .unwrap();
        let login = login(account, "s1".into()).unwrap();
        assert_eq!(login.appwrite_session_id, "s1");
        assert_eq!(login.snapshot.labels, ["beta"]);
        assert_eq!(login.updated_at_ms, 1_785_657_600_000);
    }

    #[test]
    fn jwt_payload_is_read_from_the_middle_segment() {
        let payload = URL_SAFE_NO_PAD.encode(r#"{"userId":"u1","sessionId":"s1","exp":1}"#);
        let parsed = jwt_payload(&format!("eyJ0eXAiOiJKV1QifQ.{payload}.sig")).unwrap();
        assert_eq!(
            (parsed.user_id.as_str(), parsed.session_id.as_str()),
            ("u1", "s1")
        );
        assert!(jwt_payload("garbage").is_none());
    }
}
