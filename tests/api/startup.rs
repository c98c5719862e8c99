//! Start-up with and without a key-encryption key.

use crate::helpers::{TEST_KEK, TestApp, TestDb};

async fn start_error(config: tokenmint::Config) -> String {
    match TestApp::try_spawn(config).await {
        Ok(_) => panic!("start-up should have failed"),
        Err(err) => format!("{err:#}"),
    }
}

#[tokio::test]
async fn postgres_without_a_kek_refuses_to_start_naming_the_variable() {
    let db = TestDb::postgres().await;
    let mut config = db.config();
    config.kek = None;
    let message = start_error(config).await;
    assert!(
        message.contains("TOKENMINT_KEK is required with PostgreSQL"),
        "{message}"
    );
    assert!(
        db.open()
            .await
            .store()
            .signing_keys()
            .await
            .unwrap()
            .is_empty(),
        "no key without a KEK"
    );
}

#[tokio::test]
async fn a_malformed_kek_is_refused_naming_the_variable() {
    let db = TestDb::postgres().await;
    let config = db.config_with(&[("TOKENMINT_KEK", "dG9vLXNob3J0")]);
    let message = start_error(config).await;
    assert!(
        message.contains("TOKENMINT_KEK must be base64 of exactly 32 bytes"),
        "{message}"
    );
}

#[tokio::test]
async fn a_wrong_kek_is_a_clear_start_up_error_not_garbage_keys() {
    let db = TestDb::postgres().await;
    TestApp::spawn(db.config()).await.stop().await;
    let other_kek = "T1RIRVJPVEhFUk9USEVST1RIRVJPVEhFUk9USEVSISE=";
    assert_ne!(other_kek, TEST_KEK);

    let message = start_error(db.config_with(&[("TOKENMINT_KEK", other_kek)])).await;

    assert!(
        message.contains("does not decrypt signing key"),
        "{message}"
    );
    assert!(message.contains("TOKENMINT_KEK"), "{message}");
    assert_eq!(
        db.open().await.store().signing_keys().await.unwrap().len(),
        1,
        "nothing replaced"
    );
}

#[tokio::test]
async fn sqlite_without_a_kek_creates_an_owner_only_kek_file_and_reuses_it() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(db.config()).await;
    let kid = app.get_json("/.well-known/jwks.json").await["keys"][0]["kid"].clone();
    app.stop().await;

    let kek_file = db.dir.path().join("tokenmint.db.kek");
    let content = std::fs::read_to_string(&kek_file).unwrap();
    assert!(tokenmint::crypto::kek::Kek::from_base64(&content).is_ok());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&kek_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let again = TestApp::spawn(db.config()).await;
    assert_eq!(
        again.get_json("/.well-known/jwks.json").await["keys"][0]["kid"],
        kid
    );
}

#[tokio::test]
async fn sqlite_with_a_replaced_kek_file_refuses_to_start() {
    let db = TestDb::sqlite();
    TestApp::spawn(db.config()).await.stop().await;
    std::fs::write(
        db.dir.path().join("tokenmint.db.kek"),
        format!("{TEST_KEK}\n"),
    )
    .unwrap();
    let message = start_error(db.config()).await;
    assert!(
        message.contains("does not decrypt signing key"),
        "{message}"
    );
}

#[tokio::test]
async fn sqlite_with_an_explicit_kek_writes_no_kek_file() {
    let db = TestDb::sqlite();
    let app = TestApp::spawn(db.config_with(&[("TOKENMINT_KEK", TEST_KEK)])).await;
    app.stop().await;
    assert!(!db.dir.path().join("tokenmint.db.kek").exists());
}

#[tokio::test]
async fn a_moved_sealed_key_does_not_open() {
    // Two keys whose sealed private parts are swapped: the kid is bound to each ciphertext,
    // so the swap is detected rather than publishing a key under another key's id.
    let db = TestDb::sqlite();
    let config = db.config();
    TestApp::spawn(config.clone()).await.stop().await;
    let manager = db.key_manager(&config).await;
    manager
        .create_next_key(
            tokenmint::domain::keys::SigningAlgorithm::Es256,
            tokenmint::domain::model::audit::Actor::System,
            &Default::default(),
        )
        .await
        .unwrap();
    db.execute(
        "update signing_keys set private_key_sealed = \
         (select private_key_sealed from signing_keys s where s.kid <> signing_keys.kid)",
    )
    .await;
    let message = start_error(config).await;
    assert!(
        message.contains("does not decrypt signing key"),
        "{message}"
    );
}

/// Only a `next` key exists (made by `keys rotate` before the first start) and the server
/// starts with another KEK: it must fail before creating an active key under the wrong KEK.
#[tokio::test]
async fn a_wrong_kek_creates_no_key_of_its_own() {
    let db = TestDb::postgres().await;
    let config = db.config();
    let manager = db.key_manager(&config).await;
    manager
        .create_next_key(
            tokenmint::domain::keys::SigningAlgorithm::Es256,
            tokenmint::domain::model::audit::Actor::System,
            &Default::default(),
        )
        .await
        .unwrap();
    let other_kek = "T1RIRVJPVEhFUk9USEVST1RIRVJPVEhFUk9USEVSISE=";

    let message = start_error(db.config_with(&[("TOKENMINT_KEK", other_kek)])).await;

    assert!(
        message.contains("does not decrypt signing key"),
        "{message}"
    );
    let keys = db.open().await.store().signing_keys().await.unwrap();
    assert_eq!(
        keys.len(),
        1,
        "a key was created under the wrong KEK: {keys:?}"
    );
}
