//! The Appwrite webhook parser (`tokenmint::appwrite::webhook`): the signature check and the
//! event/payload translation. The input is five fields split at 0xFF bytes (which UTF-8 text
//! never contains): key, URL, events header, signature header, body. Never a panic; a
//! signature the target computes itself over the configured URL verifies, and stops verifying
//! when the body's last byte changes; an action names only the events the contract lists, and
//! user and session ids that could be Appwrite's.

#![no_main]

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use tokenmint::appwrite::webhook::{EVENTS, action_for, signature_is_valid};
use tokenmint::domain::text::is_identifier;
use tokenmint::domain::webhook::WebhookAction;

fn sign(key: &str, url: &str, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key.as_bytes());
    let mut message = url.as_bytes().to_vec();
    message.extend_from_slice(body);
    STANDARD.encode(hmac::sign(&key, &message).as_ref())
}

fn check_signatures(key: &str, url: &str, signature: &str, body: &[u8]) {
    let _ = signature_is_valid(key, url, body, signature);
    let genuine = sign(key, url, body);
    assert!(signature_is_valid(key, url, body, &genuine));
    if let Some((last, rest)) = body.split_last() {
        let mut changed = rest.to_vec();
        changed.push(last ^ 1);
        assert!(!signature_is_valid(key, url, &changed, &genuine));
    }
}

fn check_action(events: &str, body: &[u8]) {
    let Ok((event, action)) = action_for(events, body) else {
        return;
    };
    // An empty event: the delivery named no event the contract lists.
    assert!(
        event.is_empty() || EVENTS.contains(&event.as_str()),
        "{event}"
    );
    match action {
        WebhookAction::RevokeUser { user_id, .. }
        | WebhookAction::UpdateSnapshot { user_id, .. } => {
            assert!(is_identifier(&user_id), "{user_id:?}");
        }
        WebhookAction::RevokeAppwriteSession {
            user_id,
            appwrite_session_id,
        } => {
            assert!(is_identifier(&user_id) && is_identifier(&appwrite_session_id));
        }
        WebhookAction::Ignore => {}
    }
    if event.is_empty() {
        assert!(matches!(
            action_for(events, body),
            Ok((_, WebhookAction::Ignore))
        ));
    }
}

fuzz_target!(|data: &[u8]| {
    let mut fields = data.splitn(5, |&b| b == 0xff);
    let mut text = || std::str::from_utf8(fields.next().unwrap_or_default()).ok();
    let (Some(key), Some(url), Some(events), Some(signature)) = (text(), text(), text(), text())
    else {
        return;
    };
    let body = fields.next().unwrap_or_default();
    check_signatures(key, url, signature, body);
    check_action(events, body);
});
