//! The claims of a tokenmint access token (RFC 9068 plus the session id and user snapshot).

use serde::{Deserialize, Serialize};

/// An access token's claims (RFC 9068 §2.2, plus the tokenmint session id and a snapshot of
/// the user): what tokenmint signs and what verifiers hand to their callers. Every claim that is
/// not an `Option` is required: a token missing one is rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// The Appwrite user id.
    pub sub: String,
    /// Audience.
    pub aud: String,
    /// Expiry, unix seconds.
    pub exp: i64,
    /// Issued at, unix seconds.
    pub iat: i64,
    /// Token id.
    pub jti: String,
    /// The client the token was issued to (`anonymous` when none was named).
    pub client_id: String,
    /// The tokenmint session id.
    pub sid: String,
    /// When Appwrite vouched for the login, unix seconds.
    pub auth_time: i64,
    /// Granted scope, space-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The user's email, when tokenmint is configured to include it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether Appwrite verified the email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Appwrite labels, usable as roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// RFC 8693 §4.1: who acts as the user, when Appwrite reported an impersonation at
    /// sign-in (`act.sub` is the impersonator's Appwrite user id). Absent for the user
    /// themselves; a service that must tell the two apart checks it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
}

/// The `act` claim (RFC 8693 §4.1): the party acting as the token's subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The acting party: the impersonator's Appwrite user id.
    pub sub: String,
}

impl Claims {
    /// Who acts as the user, when someone impersonates them (the `act.sub` claim).
    pub fn impersonator(&self) -> Option<&str> {
        self.act.as_ref().map(|act| act.sub.as_str())
    }

    /// Whether the token grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope
            .as_deref()
            .is_some_and(|s| s.split(' ').any(|granted| granted == scope))
    }

    /// Whether the user carries the Appwrite label `label`.
    pub fn has_label(&self, label: &str) -> bool {
        self.labels
            .as_ref()
            .is_some_and(|labels| labels.iter().any(|l| l == label))
    }
}
