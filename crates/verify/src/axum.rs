//! The axum extractor (feature `axum`): [`VerifiedClaims`] verifies the request's bearer token
//! with the [`Verifier`] in the router state.
//!
//! ```no_run
//! use axum::{Router, extract::FromRef, routing::get};
//! use tokenmint_verify::{Verifier, axum::VerifiedClaims};
//!
//! #[derive(Clone, FromRef)]
//! struct AppState { verifier: Verifier }
//!
//! async fn whoami(VerifiedClaims(claims): VerifiedClaims) -> String {
//!     format!("hello {}", claims.sub)
//! }
//!
//! # fn router(verifier: Verifier) -> Router {
//! Router::new().route("/whoami", get(whoami)).with_state(AppState { verifier })
//! # }
//! ```

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::{Claims, Verifier, VerifyError};

/// The claims of the request's valid access token.
#[derive(Debug, Clone)]
pub struct VerifiedClaims(pub Claims);

/// Why a request was refused: 401 with a `WWW-Authenticate: Bearer` challenge (RFC 6750 §3).
#[derive(Debug)]
pub struct Unauthorized(Option<VerifyError>);

impl Unauthorized {
    /// The verification failure, if a token was presented.
    pub fn error(&self) -> Option<&VerifyError> {
        self.0.as_ref()
    }
}

impl IntoResponse for Unauthorized {
    fn into_response(self) -> Response {
        let challenge = match self.0 {
            // No credentials: a bare challenge, no error code (RFC 6750 §3.1).
            None => HeaderValue::from_static("Bearer"),
            Some(_) => HeaderValue::from_static("Bearer error=\"invalid_token\""),
        };
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, challenge)],
        )
            .into_response()
    }
}

impl<S> FromRequestParts<S> for VerifiedClaims
where
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Unauthorized;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or(Unauthorized(None))?;
        let verifier = Verifier::from_ref(state);
        verifier
            .verify(token)
            .await
            .map(Self)
            .map_err(|err| Unauthorized(Some(err)))
    }
}
