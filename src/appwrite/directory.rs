//! Appwrite's Users API with a server API key (`APPWRITE_API_KEY`, scope `users.read`): what
//! the reconciler asks about a user. Separate from the proof-verification client on purpose:
//! the key never travels with a user's proof, and a user's proof never with the key.
//!
//! Per user, `GET /v1/users/{id}` (404 `user_not_found`: deleted; `status: false`: blocked),
//! then, for an active user, `GET /v1/users/{id}/sessions`, whose list includes expired
//! sessions (docs/appwrite-2026.md §5). Bodies are never logged: for an API key the User model
//! carries the password hash.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::wire::{RESPONSE_FORMAT, error_for, unreadable};
use crate::domain::ports::{AppwriteUserState, IdentityError, UserDirectory};

/// The Users API of one Appwrite project.
pub struct AppwriteDirectory {
    http: reqwest::Client,
    endpoint: url::Url,
    project_id: String,
    api_key: SecretString,
}

impl std::fmt::Debug for AppwriteDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppwriteDirectory")
            .field("endpoint", &self.endpoint.as_str())
            .field("project_id", &self.project_id)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct User {
    status: bool,
}

#[derive(Deserialize)]
struct SessionList {
    sessions: Vec<Session>,
}

#[derive(Deserialize)]
struct Session {
    #[serde(rename = "$id")]
    id: String,
    /// RFC 3339, e.g. `2027-08-02T08:00:00.000+00:00`.
    expire: String,
}

impl AppwriteDirectory {
    /// The directory of `project_id` at `endpoint` (e.g. `https://cloud.appwrite.io/v1`),
    /// asked over `http` with `api_key`.
    pub fn new(
        http: reqwest::Client,
        endpoint: &url::Url,
        project_id: &str,
        api_key: SecretString,
    ) -> Self {
        Self {
            http,
            endpoint: endpoint.clone(),
            project_id: project_id.to_owned(),
            api_key,
        }
    }

    /// `{endpoint}/users/{user_id}{tail}`, the id percent-encoded as one path segment.
    fn url(&self, user_id: &str, tail: Option<&str>) -> Result<url::Url, IdentityError> {
        let mut url = self.endpoint.clone();
        url.path_segments_mut()
            .map_err(|()| IdentityError::Misconfigured)?
            .pop_if_empty()
            .push("users")
            .push(user_id)
            .extend(tail);
        Ok(url)
    }

    /// GETs `url`; `None` for 404 `user_not_found`.
    async fn get<T: DeserializeOwned>(&self, url: url::Url) -> Result<Option<T>, IdentityError> {
        let response = self
            .http
            .get(url)
            .header("X-Appwrite-Project", &self.project_id)
            .header("X-Appwrite-Key", self.api_key.expose_secret())
            .header("X-Appwrite-Response-Format", RESPONSE_FORMAT)
            .send()
            .await
            .map_err(|err| IdentityError::Unavailable(Box::new(err.without_url())))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|err| IdentityError::Unavailable(Box::new(err.without_url())))?;
        if status.is_success() {
            return serde_json::from_slice(&super::lossy::repair(&body))
                .map(Some)
                .map_err(|_| unreadable("Appwrite answered a body tokenmint cannot read"));
        }
        if status == StatusCode::NOT_FOUND && is_user_not_found(&body) {
            return Ok(None);
        }
        Err(match error_for(status, &body, None) {
            // The key lacks `users.read`, or is not a key of this project.
            IdentityError::Rejected => {
                tracing::error!(
                    "Appwrite refused APPWRITE_API_KEY: it needs the users.read scope of APPWRITE_PROJECT_ID"
                );
                IdentityError::Misconfigured
            }
            other => other,
        })
    }
}

fn is_user_not_found(body: &[u8]) -> bool {
    serde_json::from_slice::<super::model::ErrorBody>(body)
        .is_ok_and(|error| error.kind == "user_not_found")
}

#[async_trait]
impl UserDirectory for AppwriteDirectory {
    async fn user_state(&self, user_id: &str) -> Result<AppwriteUserState, IdentityError> {
        let Some(user) = self.get::<User>(self.url(user_id, None)?).await? else {
            return Ok(AppwriteUserState::Deleted);
        };
        if !user.status {
            return Ok(AppwriteUserState::Blocked);
        }
        let Some(list) = self
            .get::<SessionList>(self.url(user_id, Some("sessions"))?)
            .await?
        else {
            return Ok(AppwriteUserState::Deleted);
        };
        let sessions = list
            .sessions
            .into_iter()
            .map(|session| {
                // An expiry tokenmint cannot read counts as expired: erring towards revoking
                // would log users out on an Appwrite format change, so it is an error instead.
                DateTime::parse_from_rfc3339(&session.expire)
                    .map(|at| (session.id, at.with_timezone(&Utc)))
                    .map_err(|_| {
                        unreadable("Appwrite answered a session expiry tokenmint cannot read")
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(AppwriteUserState::Active { sessions })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_id_is_one_path_segment_whatever_it_holds() {
        let directory = AppwriteDirectory::new(
            reqwest::Client::new(),
            &url::Url::parse("https://cloud.appwrite.io/v1/").unwrap(),
            "p1",
            SecretString::from("key"),
        );
        assert_eq!(
            directory.url("u1", Some("sessions")).unwrap().as_str(),
            "https://cloud.appwrite.io/v1/users/u1/sessions"
        );
        assert_eq!(
            directory.url("../a/b?c", None).unwrap().as_str(),
            "https://cloud.appwrite.io/v1/users/..%2Fa%2Fb%3Fc"
        );
        assert!(
            directory
                .url("..", Some("sessions"))
                .unwrap()
                .as_str()
                .starts_with("https://cloud.appwrite.io/v1/users/")
        );
    }
}
