use super::*;
use crate::clock::{Clock, ManualClock};

const TTL: chrono::Duration = chrono::Duration::minutes(15);

fn now() -> DateTime<Utc> {
    ManualClock::starting_now().now()
}

#[test]
fn an_event_acts_as_of_its_own_time_plus_the_margin_rounded_up() {
    let now = now();
    let at = now - chrono::Duration::hours(3) + chrono::Duration::milliseconds(250);
    let revocation = user_revocation(
        RevocationReason::AppwritePasswordChanged,
        Some(at),
        now,
        TTL,
    );
    let expected = DateTime::from_timestamp(at.timestamp() + 6, 0).unwrap();
    assert_eq!(revocation.created_before, Some(expected));
    assert_eq!(revocation.not_before, expected);
}

#[test]
fn an_event_from_the_future_moves_the_not_before_at_most_a_minute_ahead() {
    let now = now();
    let at = now + chrono::Duration::days(365);
    let revocation = user_revocation(RevocationReason::AppwriteUserBlocked, Some(at), now, TTL);
    assert_eq!(revocation.not_before, now + chrono::Duration::seconds(60));
}

#[test]
fn a_redelivered_deletion_acts_as_of_its_first_receipt() {
    let first = now() - chrono::Duration::hours(2);
    let deletion = WebhookAction::RevokeUser {
        user_id: "u1".into(),
        reason: RevocationReason::AppwriteUserDeleted,
        as_of: None,
    };
    assert!(matches!(
        deletion.redelivered(first),
        WebhookAction::RevokeUser { as_of: Some(at), .. } if at == first
    ));
    let password = WebhookAction::RevokeUser {
        user_id: "u1".into(),
        reason: RevocationReason::AppwritePasswordChanged,
        as_of: Some(first - chrono::Duration::days(1)),
    };
    assert_eq!(password.clone().redelivered(first), password);
}

#[test]
fn a_deletion_revokes_everything_as_of_now() {
    let now = now();
    let revocation = user_revocation(RevocationReason::AppwriteUserDeleted, None, now, TTL);
    assert_eq!(revocation.created_before, None);
    assert_eq!(revocation.not_before, not_before_after(now));
}
