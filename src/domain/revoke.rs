//! Token revocation (RFC 7009): a refresh token, or an access token, ends its whole session.
//! Unknown and invalid tokens are not errors (§2.2): the answer must not tell a caller whether
//! a token existed. Possession of the token is the authority; no client binding is checked,
//! since revoking only ever takes access away.

use uuid::Uuid;

use super::access::verify_access_token;
use super::error::TokenError;
use super::grants::{TokenService, check_visible_ascii};
use super::model::audit::{Actor, AuditEvent, RequestContext};
use super::model::sessions::RevocationReason;
use super::ports::Revocation;
use super::token::RefreshToken;

/// A revocation request, its parameters as received. `Debug` never shows the token.
#[derive(Clone, Default)]
pub struct RevokeRequest {
    /// `token`.
    pub token: Option<String>,
    /// `token_type_hint`: only a hint (§2.1); both kinds are tried whatever it says.
    pub token_type_hint: Option<String>,
    /// Where the request came from.
    pub context: RequestContext,
}

impl std::fmt::Debug for RevokeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevokeRequest")
            .field("token", &self.token.as_ref().map(|_| "…"))
            .field("token_type_hint", &self.token_type_hint)
            .field("context", &self.context)
            .finish()
    }
}

impl TokenService {
    /// Revokes the session of the given token, if it is one of ours. Idempotent.
    pub async fn revoke(&self, request: RevokeRequest) -> Result<(), TokenError> {
        let token = request
            .token
            .as_deref()
            .ok_or_else(|| TokenError::invalid_request("token is required"))?;
        check_visible_ascii("token", token, super::access::MAX_ACCESS_TOKEN_LEN)?;
        let Some((session_id, user_id)) = self.session_of(token).await? else {
            return Ok(());
        };
        let now = self.clock.now();
        let reason = RevocationReason::Logout;
        let audit = AuditEvent::session(
            "session.revoked",
            Actor::User,
            &user_id,
            session_id,
            Some(reason.as_str()),
            &request.context,
            now,
        );
        if self
            .store
            .revoke_session(
                session_id,
                &Revocation::new(reason, now, self.policy.access_ttl),
                &audit,
            )
            .await?
        {
            self.events.sessions_revoked(reason, 1);
            tracing::info!(sid = %session_id, "session revoked by its holder");
        }
        Ok(())
    }

    async fn session_of(&self, token: &str) -> Result<Option<(Uuid, String)>, TokenError> {
        if let Some(refresh) = RefreshToken::parse(token) {
            // Any token tokenmint issued for the family, used or not: holding one is the
            // authority to end it. A selector with a made-up tail is not (a truncated token in
            // a log keeps the selector): it ends nothing.
            let family = self
                .store
                .token_family(&refresh.family(), &refresh.hash())
                .await?;
            let hash = refresh.hash();
            let issued = |family: &super::ports::TokenFamily| {
                refresh.generation(&self.validators).is_some()
                    || family.current == Some(hash)
                    || family.previous.as_ref().is_some_and(|p| p.hash == hash)
            };
            return Ok(family
                .filter(issued)
                .map(|f| (f.session.id, f.session.user_id)));
        }
        let keys = self.keys.current();
        let claims = verify_access_token(&keys, &self.policy.issuer, token)
            .filter(|claims| self.policy.allows_self_service(&claims.aud));
        Ok(claims.and_then(|c| Some((c.sid.parse().ok()?, c.sub))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_token() {
        let request = RevokeRequest {
            token: Some("tmr_secret-token".into()),
            ..RevokeRequest::default()
        };
        assert!(!format!("{request:?}").contains("secret"));
    }
}
