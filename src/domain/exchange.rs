//! The token-exchange grant (RFC 8693): proof of an Appwrite session in, a new session with
//! its first refresh token and an access token out. Appwrite is called once, here.

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::error::{InvalidGrantReason, TokenError};
use super::events::GrantType;
use super::grants::{IssuedTokens, TokenService, check_visible_ascii};
use super::model::audit::{Actor, AuditEvent, RequestContext};
use super::model::sessions::Session;
use super::ports::{IdentityError, NewSession, SubjectProof, VerifiedLogin};
use super::token::{RefreshToken, parse_scope};
use crate::clock::later;

/// `subject_token_type` of an Appwrite JWT.
pub const APPWRITE_JWT_TOKEN_TYPE: &str = "urn:tokenmint:params:token-type:appwrite-jwt";
/// `subject_token_type` of an Appwrite session value.
pub const APPWRITE_SESSION_TOKEN_TYPE: &str = "urn:tokenmint:params:token-type:appwrite-session";
/// `subject_token_type` of an access token of Appwrite's OAuth2 server (RFC 8693 §3).
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// `subject_token_type` of an ID token of Appwrite's OAuth2 server (RFC 8693 §3).
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";

/// Longest subject token accepted: Appwrite JWTs and session values are a few hundred bytes.
const MAX_SUBJECT_TOKEN_LEN: usize = 4096;
/// Longest client id, audience or device name accepted.
const MAX_NAME_LEN: usize = 255;

/// A token-exchange request, its parameters as received. `Debug` never shows the subject
/// token.
#[derive(Clone, Default)]
pub struct ExchangeRequest {
    /// `subject_token`.
    pub subject_token: Option<String>,
    /// `subject_token_type`.
    pub subject_token_type: Option<String>,
    /// `audience`.
    pub audience: Option<String>,
    /// `scope`.
    pub scope: Option<String>,
    /// `client_id`.
    pub client_id: Option<String>,
    /// `device_name`.
    pub device_name: Option<String>,
    /// `requested_token_type`; only an access token can be requested.
    pub requested_token_type: Option<String>,
    /// Where the request came from.
    pub context: RequestContext,
}

impl std::fmt::Debug for ExchangeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExchangeRequest")
            .field("subject_token", &self.subject_token.as_ref().map(|_| "…"))
            .field("subject_token_type", &self.subject_token_type)
            .field("audience", &self.audience)
            .field("scope", &self.scope)
            .field("client_id", &self.client_id)
            .field("device_name", &self.device_name)
            .field("requested_token_type", &self.requested_token_type)
            .field("context", &self.context)
            .finish()
    }
}

struct ValidExchange {
    proof: SubjectProof,
    audience: String,
    scope: Option<String>,
    client_id: Option<String>,
    device_name: Option<String>,
}

impl TokenService {
    /// Runs the token-exchange grant.
    pub async fn exchange(&self, request: ExchangeRequest) -> Result<IssuedTokens, TokenError> {
        let result = self.exchange_proof(request).await;
        self.events
            .grant_completed(GrantType::TokenExchange, result.as_ref().map(|_| ()));
        result
    }

    async fn exchange_proof(&self, request: ExchangeRequest) -> Result<IssuedTokens, TokenError> {
        let identity = self
            .identity
            .clone()
            .ok_or(TokenError::ExchangeNotConfigured)?;
        let valid = self.validate_exchange(&request)?;
        // Taken before Appwrite is asked: a revocation recorded after this moment may not be
        // reflected in Appwrite's answer, so it refuses the session (see `create_session`).
        let asked_at = self.clock.now();
        let login = identity
            .verify(&valid.proof)
            .await
            .map_err(identity_error)?;
        // A token verified locally was vouched for when Appwrite issued it: a revocation since
        // then refuses it too.
        let verified_at = login.vouched_at.map_or(asked_at, |at| at.min(asked_at));
        if let Some(impersonator) = &login.impersonator
            && !self.policy.allow_impersonation
        {
            tracing::info!(
                impersonator = %impersonator,
                "exchange refused: Appwrite reports an impersonation and TOKENMINT_IMPERSONATION=deny"
            );
            return Err(TokenError::invalid_grant(
                InvalidGrantReason::ImpersonationDenied,
            ));
        }
        // Counted only once Appwrite has vouched (the user is unknown before), and before
        // anything is written: a refused exchange creates no session.
        if let Err(limited) = self.user_limit.check_user(&login.user_id) {
            tracing::info!("exchange refused: the user's exchange rate limit is reached");
            return Err(TokenError::SlowDown {
                retry_after: limited.retry_after,
            });
        }
        let now = self.clock.now();
        let session = self.new_session(valid, login, &request.context, now);
        let refresh_token = RefreshToken::first(&self.validators)?;
        // An impersonated sign-in is recorded as the impersonator's act, not the user's.
        let actor = session
            .impersonator
            .clone()
            .map_or(Actor::User, Actor::Impersonator);
        let audit = AuditEvent::session(
            "session.created",
            actor,
            &session.user_id,
            session.id,
            None,
            &request.context,
            now,
        );
        let new = NewSession {
            family: refresh_token.family(),
            token: refresh_token.hash(),
            generation: 1,
            verified_at,
            session,
        };
        if !self.store.create_session(&new, &audit).await? {
            tracing::info!(
                "exchange refused: the user or the Appwrite session was revoked meanwhile"
            );
            return Err(TokenError::invalid_grant(
                InvalidGrantReason::RevokedDuringExchange,
            ));
        }
        let session = new.session;
        tracing::info!(sid = %session.id, "session created by token exchange");
        self.issue(
            &session.grant(),
            session.scope.as_deref(),
            refresh_token,
            now,
        )
    }

    fn validate_exchange(&self, request: &ExchangeRequest) -> Result<ValidExchange, TokenError> {
        let token = request
            .subject_token
            .as_deref()
            .ok_or_else(|| TokenError::invalid_request("subject_token is required"))?;
        check_visible_ascii("subject_token", token, MAX_SUBJECT_TOKEN_LEN)?;
        let token = SecretString::from(token.to_owned());
        let proof = match request.subject_token_type.as_deref() {
            Some(APPWRITE_JWT_TOKEN_TYPE) => SubjectProof::AppwriteJwt(token),
            Some(APPWRITE_SESSION_TOKEN_TYPE) => SubjectProof::AppwriteSession(token),
            Some(ACCESS_TOKEN_TYPE) => SubjectProof::AppwriteOAuthAccessToken(token),
            Some(ID_TOKEN_TYPE) => SubjectProof::AppwriteOAuthIdToken(token),
            Some(_) => {
                return Err(TokenError::invalid_request(
                    "unsupported subject_token_type",
                ));
            }
            None => {
                return Err(TokenError::invalid_request(
                    "subject_token_type is required",
                ));
            }
        };
        match request.requested_token_type.as_deref() {
            None | Some("urn:ietf:params:oauth:token-type:access_token") => {}
            Some(_) => {
                return Err(TokenError::invalid_request(
                    "unsupported requested_token_type",
                ));
            }
        }
        let audience = match request.audience.as_deref() {
            None => self.policy.audiences[0].clone(),
            Some(audience) if self.policy.audiences.iter().any(|a| a == audience) => {
                audience.to_owned()
            }
            Some(_) => {
                return Err(TokenError::InvalidTarget(
                    "the audience is not allowed".into(),
                ));
            }
        };
        let scope = match request.scope.as_deref() {
            None => None,
            Some(scope) => Some(
                parse_scope(scope)
                    .ok_or_else(|| TokenError::InvalidScope("scope is malformed".into()))?
                    .join(" "),
            ),
        };
        if let Some(client_id) = &request.client_id {
            check_visible_ascii("client_id", client_id, MAX_NAME_LEN)?;
        }
        if let Some(name) = &request.device_name {
            let printable = !name.is_empty()
                && name.chars().count() <= MAX_NAME_LEN
                && !name.chars().any(char::is_control);
            if !printable {
                return Err(TokenError::invalid_request(
                    "device_name must be 1 to 255 characters, none of them control characters",
                ));
            }
        }
        Ok(ValidExchange {
            proof,
            audience,
            scope,
            client_id: request.client_id.clone(),
            device_name: request.device_name.clone(),
        })
    }

    fn new_session(
        &self,
        valid: ValidExchange,
        login: VerifiedLogin,
        context: &RequestContext,
        now: DateTime<Utc>,
    ) -> Session {
        let absolute_expires_at = later(now, self.policy.refresh_ttl);
        Session {
            // uuid's own v7: monotonic within a millisecond, so listings newest-first (by id)
            // keep creation order. (Exchanges are not the hot path; its `getrandom` is fine.)
            id: uuid::Uuid::now_v7(),
            user_id: login.user_id,
            client_id: valid.client_id,
            appwrite_session_id: login.appwrite_session_id,
            audience: valid.audience,
            scope: valid.scope,
            auth_time: now,
            created_at: now,
            last_used_at: now,
            absolute_expires_at,
            idle_expires_at: later(now, self.policy.idle_ttl).min(absolute_expires_at),
            revoked_at: None,
            revoked_reason: None,
            device_name: valid.device_name,
            user_agent: context.user_agent.clone(),
            ip: context.ip.clone(),
            // Stored and issued exactly alike: NUL replaced, lengths bounded.
            claims: login.snapshot.into_storable(),
            claims_updated_at_ms: login.updated_at_ms,
            impersonator: login.impersonator,
        }
    }
}

/// RFC 8693 §2.2.2: a rejected subject token is `invalid_grant`; the description says why
/// where the user can act on it, and nothing of Appwrite's own answer.
fn identity_error(err: IdentityError) -> TokenError {
    match err {
        IdentityError::Rejected => TokenError::invalid_grant(InvalidGrantReason::SubjectRejected),
        // RFC 8693 §2.2.2: a subject token type the server does not support.
        IdentityError::NotAccepted => TokenError::invalid_request(
            "unsupported subject_token_type: this server accepts no Appwrite OAuth2 tokens",
        ),
        IdentityError::Blocked => TokenError::invalid_grant(InvalidGrantReason::UserBlocked),
        IdentityError::PasswordResetRequired => {
            TokenError::invalid_grant(InvalidGrantReason::PasswordResetRequired)
        }
        IdentityError::MoreFactorsRequired => {
            TokenError::invalid_grant(InvalidGrantReason::MoreFactorsRequired)
        }
        IdentityError::RateLimited { retry_after } => TokenError::SlowDown { retry_after },
        IdentityError::Misconfigured => {
            tracing::error!("Appwrite does not know APPWRITE_PROJECT_ID: check the configuration");
            TokenError::UpstreamMisconfigured
        }
        IdentityError::Unavailable(cause) => {
            tracing::warn!(error = %cause, "Appwrite unavailable");
            TokenError::TemporarilyUnavailable {
                what: "the identity provider",
                retry_after: 5,
            }
        }
        // Logged when the circuit opened, not once per refused exchange.
        IdentityError::CircuitOpen { retry_after } => TokenError::TemporarilyUnavailable {
            what: "the identity provider",
            retry_after,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_subject_token() {
        let request = ExchangeRequest {
            subject_token: Some("eyJhbGciOiJIUzI1NiJ9.secret-proof".into()),
            ..ExchangeRequest::default()
        };
        let proof = SubjectProof::AppwriteSession(SecretString::from("secret-proof"));
        let debug = format!("{request:?} {proof:?}");
        assert!(!debug.contains("secret-proof"), "{debug}");
    }
}
