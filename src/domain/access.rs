//! Verifying tokenmint's own access tokens (revocation, self-service and introspection):
//! signature by a published key with the key's own algorithm, `typ` `at+jwt`, `iss`, `exp`; no
//! repeated JSON member names and no `crit` (see [`tokenmint_token::jose`]). Key-location headers (`jku`,
//! `x5u`, `jwk`, `x5c`) are never read: only the published keys count.

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use super::keys::KeySet;
use super::token::AccessClaims;

/// Access tokens larger than this are refused before any parsing.
pub const MAX_ACCESS_TOKEN_LEN: usize = 16 * 1024;

/// Leeway for `exp` and `iat`, in seconds: clocks of replicas drift a little.
const LEEWAY_SECONDS: u64 = 30;

/// The claims of `token` if it is a valid, unexpired access token signed by one of `keys`.
pub fn verify_access_token(keys: &KeySet, issuer: &str, token: &str) -> Option<AccessClaims> {
    if token.len() > MAX_ACCESS_TOKEN_LEN || !tokenmint_token::jose::is_strict_compact_jws(token) {
        return None;
    }
    let header = jsonwebtoken::decode_header(token).ok()?;
    if !tokenmint_token::jose::is_access_token_type(header.typ.as_deref()) {
        return None;
    }
    let kid = header.kid?;
    let published = keys.published().iter().find(|k| k.jwk.kid == kid)?;
    // The algorithm comes from our key, never from the token's header.
    let algorithm = match published.jwk.alg.as_str() {
        "ES256" => Algorithm::ES256,
        "EdDSA" => Algorithm::EdDSA,
        "RS256" => Algorithm::RS256,
        _ => return None,
    };
    let jwk: Jwk = serde_json::from_value(serde_json::to_value(&published.jwk).ok()?).ok()?;
    let key = DecodingKey::from_jwk(&jwk).ok()?;
    let mut validation = Validation::new(algorithm);
    validation.set_issuer(&[issuer]);
    validation.validate_aud = false;
    validation.leeway = LEEWAY_SECONDS;
    validation.set_required_spec_claims(&["exp", "iss", "sub"]);
    jsonwebtoken::decode::<AccessClaims>(token, &key, &validation)
        .ok()
        .map(|data| data.claims)
}

impl super::grants::TokenService {
    /// As [`Self::authorize_access_token`], for the caller's own sessions (`/v1/me`): when
    /// `TOKENMINT_SELF_SERVICE_AUDIENCE` is set, only a token minted for that audience counts.
    /// A resource server that receives a user's token for its own audience must not be able to
    /// list the user's devices or log them out.
    pub async fn authorize_self_service(
        &self,
        token: &str,
    ) -> Result<Option<(AccessClaims, super::model::sessions::Session)>, super::error::TokenError>
    {
        let authorized = self.authorize_access_token(token).await?;
        Ok(authorized.filter(|(claims, _)| self.policy.allows_self_service(&claims.aud)))
    }

    /// The claims and session of `token` if it is a valid access token whose session is not
    /// revoked and which was issued after its user's not-before; `None` otherwise.
    pub async fn authorize_access_token(
        &self,
        token: &str,
    ) -> Result<Option<(AccessClaims, super::model::sessions::Session)>, super::error::TokenError>
    {
        let keys = self.keys.current();
        let Some(claims) = verify_access_token(&keys, &self.policy.issuer, token) else {
            return Ok(None);
        };
        let Ok(sid) = claims.sid.parse() else {
            return Ok(None);
        };
        let Some(session) = self.store.find_session(sid).await? else {
            return Ok(None);
        };
        if session.revoked_at.is_some() || session.user_id != claims.sub {
            return Ok(None);
        }
        let not_before = self.store.user_not_before(&claims.sub).await?;
        if not_before.is_some_and(|nb| claims.iat < nb.timestamp()) {
            return Ok(None);
        }
        Ok(Some((claims, session)))
    }
}
