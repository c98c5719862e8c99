//! Token introspection (RFC 7662) for access and refresh tokens. Anything expired, revoked,
//! used, unknown or malformed is simply inactive: the answer never says which.

use super::error::TokenError;
use super::grants::TokenService;
use super::token::{ANONYMOUS_CLIENT, RefreshToken};

/// What introspection tells about an active token (RFC 7662 §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveToken {
    /// `access_token` or `refresh_token`.
    pub token_type: &'static str,
    /// The user.
    pub sub: String,
    /// The audience.
    pub aud: String,
    /// The issuer.
    pub iss: String,
    /// Expiry, unix seconds.
    pub exp: i64,
    /// Issue time, unix seconds (access tokens).
    pub iat: Option<i64>,
    /// The client.
    pub client_id: String,
    /// The scope.
    pub scope: Option<String>,
    /// The session.
    pub sid: String,
    /// The token id (access tokens).
    pub jti: Option<String>,
}

impl TokenService {
    /// Introspects `token`: `None` means inactive.
    pub async fn introspect(&self, token: &str) -> Result<Option<ActiveToken>, TokenError> {
        if let Some(refresh) = RefreshToken::parse(token) {
            return self.introspect_refresh_token(&refresh).await;
        }
        let Some((claims, _session)) = self.authorize_access_token(token).await? else {
            return Ok(None);
        };
        Ok(Some(ActiveToken {
            token_type: "access_token",
            sub: claims.sub,
            aud: claims.aud,
            iss: claims.iss,
            exp: claims.exp,
            iat: Some(claims.iat),
            client_id: claims.client_id,
            scope: claims.scope,
            sid: claims.sid,
            jti: Some(claims.jti),
        }))
    }

    async fn introspect_refresh_token(
        &self,
        token: &RefreshToken,
    ) -> Result<Option<ActiveToken>, TokenError> {
        let now = self.clock.now();
        let Some(family) = self
            .store
            .token_family(&token.family(), &token.hash())
            .await?
        else {
            return Ok(None);
        };
        let session = family.session;
        if family.current != Some(token.hash()) || !session.is_active(now) {
            return Ok(None);
        }
        Ok(Some(ActiveToken {
            token_type: "refresh_token",
            exp: session
                .absolute_expires_at
                .min(session.idle_expires_at)
                .timestamp(),
            iat: None,
            client_id: session
                .client_id
                .unwrap_or_else(|| ANONYMOUS_CLIENT.to_owned()),
            iss: self.policy.issuer.clone(),
            sid: session.id.to_string(),
            sub: session.user_id,
            aud: session.audience,
            scope: session.scope,
            jti: None,
        }))
    }
}
