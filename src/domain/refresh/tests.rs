use super::*;

#[test]
fn scope_may_only_narrow() {
    assert_eq!(
        narrowed_scope(Some("a b"), None).unwrap(),
        Some("a b".into())
    );
    assert_eq!(
        narrowed_scope(Some("a b"), Some("b")).unwrap(),
        Some("b".into())
    );
    assert!(matches!(
        narrowed_scope(Some("a b"), Some("a c")),
        Err(TokenError::InvalidScope(_))
    ));
    assert!(matches!(
        narrowed_scope(None, Some("a")),
        Err(TokenError::InvalidScope(_))
    ));
    assert!(matches!(
        narrowed_scope(Some("a"), Some("a  b")),
        Err(TokenError::InvalidScope(_))
    ));
}

#[test]
fn a_bound_session_needs_its_client() {
    assert!(check_client(None, None).is_ok());
    assert!(check_client(None, Some("x")).is_ok());
    assert!(check_client(Some("app"), Some("app")).is_ok());
    assert!(check_client(Some("app"), None).is_err());
    assert!(check_client(Some("app"), Some("other")).is_err());
}

#[test]
fn the_request_debug_hides_the_token() {
    let request = RefreshRequest {
        refresh_token: Some("tmr_secret-token-text".into()),
        ..RefreshRequest::default()
    };
    assert!(!format!("{request:?}").contains("secret"));
}
