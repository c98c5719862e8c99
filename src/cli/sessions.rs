//! `tokenmint sessions list|revoke`.

use std::sync::Arc;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::domain::model::audit::{Actor, RequestContext};
use crate::domain::model::sessions::{RevocationReason, Session};
use crate::domain::session_admin::SessionAdmin;
use crate::startup::{self};

use super::args::SessionsCommand;
use super::output::print_rows;

/// Runs a `sessions` subcommand.
pub(super) async fn run_sessions(command: SessionsCommand, config: &Config) -> anyhow::Result<()> {
    let database = startup::open_database(config, Arc::new(SystemClock)).await?;
    let clock = Arc::new(SystemClock);
    let access_ttl = startup::token_policy(config).access_ttl;
    let sessions = SessionAdmin::new(database.store(), clock.clone(), access_ttl);
    let context = RequestContext::default();
    match command {
        SessionsCommand::List { user, all, json } => {
            let mut rows = Vec::new();
            let mut cursor = None;
            loop {
                let page = sessions.list(&user, all, cursor, Some(200)).await?;
                rows.extend(page.items.iter().map(|s| session_row(s, clock.now())));
                match page.next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            print_rows(
                &rows,
                json,
                &[
                    "id",
                    "active",
                    "created_at",
                    "last_used_at",
                    "device_name",
                    "revoked_reason",
                ],
            )?;
        }
        SessionsCommand::Revoke {
            session: Some(id), ..
        } => {
            match sessions
                .revoke(id, RevocationReason::Admin, Actor::System, &context)
                .await?
            {
                Some(_) => println!("session {id} is revoked"),
                None => anyhow::bail!("no session {id}"),
            }
        }
        SessionsCommand::Revoke {
            user: Some(user), ..
        } => {
            let revoked = sessions
                .revoke_all(
                    &user,
                    RevocationReason::UserRevokeAll,
                    Actor::System,
                    &context,
                )
                .await?;
            println!(
                "revoked {} session(s) of user {user}; access tokens issued before {} are no longer valid",
                revoked.sessions.len(),
                revoked.not_before.to_rfc3339()
            );
        }
        SessionsCommand::Revoke { .. } => anyhow::bail!("give --session ID or --user ID"),
    }
    database.close().await;
    Ok(())
}

fn session_row(session: &Session, now: chrono::DateTime<chrono::Utc>) -> serde_json::Value {
    serde_json::json!({
        "id": session.id.to_string(), "user_id": session.user_id, "active": session.is_active(now),
        "client_id": session.client_id, "device_name": session.device_name,
        "created_at": session.created_at.to_rfc3339(), "last_used_at": session.last_used_at.to_rfc3339(),
        "revoked_at": session.revoked_at.map(|t| t.to_rfc3339()),
        "revoked_reason": session.revoked_reason.map(|r| r.as_str()),
    })
}
