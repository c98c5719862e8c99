//! Which error format a route answers in, decided by its path alone so that the envelope can
//! tell it before routing (a timeout) and the router after (a 405).

/// The error format of a route: what its refusals look like, including 405 and malformed
/// paths or queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorFamily {
    /// RFC 6749 §5.2 `{"error","error_description"}`: every `/oauth/*` route.
    OAuth,
    /// RFC 9457 `application/problem+json`: everything else.
    Problem,
}

impl ErrorFamily {
    /// The format of the route at `path`.
    pub(super) fn of(path: &str) -> Self {
        if path.starts_with("/oauth/") {
            Self::OAuth
        } else {
            Self::Problem
        }
    }
}
