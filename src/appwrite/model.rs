//! Appwrite's wire models, only the fields tokenmint reads (appwrite-contract.md §2, §3.1).
//! Unknown fields are ignored, so newer Appwrite versions that add fields keep working.

use serde::Deserialize;

/// `GET /v1/account` → the Account model.
#[derive(Debug, Deserialize)]
pub struct Account {
    /// The user id.
    #[serde(rename = "$id")]
    pub id: String,
    /// Last update, e.g. `2026-08-02T08:00:00.000+00:00`.
    #[serde(rename = "$updatedAt", default)]
    pub updated_at: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// `false` for a blocked user (normally answered with 403 instead).
    pub status: bool,
    /// Labels.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Email, `""` when none.
    #[serde(default)]
    pub email: String,
    /// Whether the email is verified.
    #[serde(rename = "emailVerification", default)]
    pub email_verification: bool,
    /// Who is impersonating the user in this request (appwrite-contract.md §2: `null` unless
    /// impersonating; absent before format 1.9.0).
    #[serde(rename = "impersonatorUserId", default)]
    pub impersonator_user_id: Option<String>,
}

/// `GET /v1/account/sessions/current` → the Session model.
#[derive(Debug, Deserialize)]
pub struct AppwriteSession {
    /// The session id.
    #[serde(rename = "$id")]
    pub id: String,
    /// The user it belongs to.
    #[serde(rename = "userId")]
    pub user_id: String,
}

/// Appwrite's error body: `{message, code, type, version}`. Only `type` decides.
#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    /// E.g. `user_jwt_invalid`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// The payload of an Appwrite JWT (appwrite-contract.md §4).
#[derive(Debug, Deserialize)]
pub struct JwtPayload {
    /// The user id.
    #[serde(rename = "userId")]
    pub user_id: String,
    /// The Appwrite session id.
    #[serde(rename = "sessionId")]
    pub session_id: String,
}
