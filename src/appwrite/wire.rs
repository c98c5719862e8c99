//! Reading Appwrite's answers: the response format asked for, and what an error answer means
//! (its `type` decides, not the status alone: appwrite-contract.md §3).

use reqwest::StatusCode;

use super::model::ErrorBody;
use crate::domain::ports::IdentityError;

/// `X-Appwrite-Response-Format`: the model version this client reads (appwrite-contract.md
/// §2: every version from 1.9.0 has the fields read here, `impersonatorUserId` included).
/// Pinned, as Appwrite's SDKs pin theirs, so that a newer Appwrite answers the shapes this
/// client was written against; fields it adds are ignored anyway.
pub const RESPONSE_FORMAT: &str = "1.9.0";

/// Seconds to wait after a 429 when Appwrite gives no usable `X-RateLimit-Reset`.
const DEFAULT_RATE_LIMIT_WAIT: u64 = 60;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Unreadable(&'static str);

pub(super) fn unreadable(what: &'static str) -> IdentityError {
    IdentityError::Unavailable(Box::new(Unreadable(what)))
}

pub(super) fn error_for(
    status: StatusCode,
    body: &[u8],
    rate_limit_reset: Option<i64>,
) -> IdentityError {
    if status == StatusCode::TOO_MANY_REQUESTS {
        let retry_after = rate_limit_reset
            .and_then(|reset| u64::try_from(reset - crate::clock::unix_now()).ok())
            .filter(|wait| (1..=3600).contains(wait))
            .unwrap_or(DEFAULT_RATE_LIMIT_WAIT);
        return IdentityError::RateLimited { retry_after };
    }
    if status.is_server_error() {
        return unreadable("Appwrite answered a server error");
    }
    let Ok(error) = serde_json::from_slice::<ErrorBody>(body) else {
        return unreadable("Appwrite answered an unreadable error");
    };
    match error.kind.as_str() {
        "general_unauthorized_scope"
        | "user_jwt_invalid"
        | "user_session_not_found"
        | "user_jwt_and_cookie_set" => IdentityError::Rejected,
        "user_blocked" => IdentityError::Blocked,
        "user_password_reset_required" => IdentityError::PasswordResetRequired,
        "user_more_factors_required" => IdentityError::MoreFactorsRequired,
        "project_not_found" => IdentityError::Misconfigured,
        other => {
            tracing::warn!(
                appwrite_error_type = other,
                status = status.as_u16(),
                "unexpected Appwrite error; treating the proof as rejected"
            );
            IdentityError::Rejected
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_type_decides_not_status() {
        let body = |kind: &str| {
            format!(r#"{{"message":"m","code":401,"type":"{kind}","version":"1.9.6"}}"#)
        };
        let cases = [
            (401, "general_unauthorized_scope", "Rejected"),
            (401, "user_jwt_invalid", "Rejected"),
            (404, "user_session_not_found", "Rejected"),
            (403, "user_blocked", "Blocked"),
            (412, "user_password_reset_required", "PasswordResetRequired"),
            (401, "user_more_factors_required", "MoreFactorsRequired"),
            (404, "project_not_found", "Misconfigured"),
        ];
        for (status, kind, expected) in cases {
            let error = error_for(
                StatusCode::from_u16(status).unwrap(),
                body(kind).as_bytes(),
                None,
            );
            assert!(
                format!("{error:?}").starts_with(expected),
                "{kind}: {error:?}"
            );
        }
        assert!(matches!(
            error_for(StatusCode::TOO_MANY_REQUESTS, b"", None),
            IdentityError::RateLimited { retry_after: 60 }
        ));
        assert!(matches!(
            error_for(StatusCode::BAD_GATEWAY, b"<html>", None),
            IdentityError::Unavailable(_)
        ));
        assert!(matches!(
            error_for(StatusCode::UNAUTHORIZED, b"<html>", None),
            IdentityError::Unavailable(_)
        ));
    }
}
