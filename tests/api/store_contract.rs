//! The store contract: one set of behaviours every `Store` implementation must show, run
//! against PostgreSQL and SQLite alike.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokenmint::clock::{Clock, SystemClock};
use tokenmint::crypto::kek::Kek;
use tokenmint::domain::keys::{KeyManager, SigningAlgorithm};
use tokenmint::domain::model::audit::{Actor, AuditEvent, AuditQuery, RequestContext};
use tokenmint::domain::model::keys::{KeyState, SigningKeyRecord};
use tokenmint::domain::ports::Store;

use crate::helpers::{Backend, TEST_KEK, TestDb};
use crate::on_both_backends;

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap()
}

/// The audit event a key insert records with it.
fn key_created() -> AuditEvent {
    AuditEvent::about(
        "key.created",
        Actor::System,
        "contract",
        None,
        &RequestContext::default(),
        at(1),
    )
}

fn record(kid: &str, state: KeyState, created: i64) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.to_owned(),
        algorithm: SigningAlgorithm::EdDsa,
        state,
        public_jwk: format!(r#"{{"kid":"{kid}"}}"#),
        private_key_sealed: vec![1, 0, 255, 3, kid.len() as u8],
        created_at: at(created),
        activates_at: Some(at(created + 600)),
        retired_at: (state == KeyState::Retired).then(|| at(created + 900)),
        publish_until: (state == KeyState::Retired).then(|| at(created + 1800)),
    }
}

async fn store_for(backend: Backend) -> (TestDb, Arc<dyn Store>) {
    let db = TestDb::new(backend).await;
    let store = db.open().await.store();
    (db, store)
}

/// Two replicas on one database: each one's heartbeat is the other's "newest heartbeat", a
/// graceful stop says so, and an outage one of them records is seen by the other.
async fn heartbeats_and_outages_are_shared_by_replicas(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (first, second) = (
        db.open().await.availability(),
        db.open().await.availability(),
    );
    let (a, b) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    assert!(first.writable());
    assert_eq!(first.newest_heartbeat(a).await.unwrap(), None);
    first.heartbeat(a, at(1_000), at(1_005)).await.unwrap();
    first.heartbeat(a, at(1_000), at(1_006)).await.unwrap();
    assert_eq!(
        second.newest_heartbeat(b).await.unwrap(),
        Some((at(1_006), false))
    );
    assert_eq!(
        second.newest_heartbeat(a).await.unwrap(),
        None,
        "not its own"
    );
    first.mark_stopped(a).await.unwrap();
    assert_eq!(
        second.newest_heartbeat(b).await.unwrap(),
        Some((at(1_006), true))
    );

    let outage = tokenmint::domain::ports::Outage {
        start: at(2_000),
        end: at(2_030),
    };
    assert_eq!(first.record_outages(Some(outage)).await.unwrap(), 1);
    assert_eq!(first.record_outages(None).await.unwrap(), 0, "nothing left");
    for (from, to, seen) in [
        (at(1_990), at(2_000), true),
        (at(2_010), at(2_020), true),
        (at(2_030), at(2_100), true),
        (at(2_031), at(2_100), false),
        (at(1_000), at(1_999), false),
    ] {
        let outages = second.outages_between(from, to).await.unwrap();
        assert_eq!(outages == vec![outage], seen, "{from}..{to}: {outages:?}");
    }
}

/// An outage is seen by its replica's refreshes while its row is being written: a retry
/// judged in that moment must not find the grace window closed.
async fn an_outage_being_recorded_is_still_seen(backend: Backend) {
    let db = TestDb::new(backend).await;
    let availability = db.open().await.availability();
    let outage = tokenmint::domain::ports::Outage {
        start: at(3_000),
        end: at(3_020),
    };
    // Another connection holds the `outages` table, so the write below waits.
    let blocker = db.hold_table_for_writes("outages").await;
    let recording = tokio::spawn({
        let availability = Arc::clone(&availability);
        async move { availability.record_outages(Some(outage)).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!recording.is_finished(), "the write waits for the lock");
    let seen = availability
        .outages_between(at(3_010), at(3_015))
        .await
        .unwrap();
    assert_eq!(seen, vec![outage], "seen while its row is being written");
    blocker.release().await;
    assert_eq!(recording.await.unwrap().unwrap(), 1);
    let seen = availability
        .outages_between(at(3_010), at(3_015))
        .await
        .unwrap();
    assert_eq!(seen, vec![outage], "once, from the database");
}

async fn migrations_can_run_again_without_change(backend: Backend) {
    let db = TestDb::new(backend).await;
    let first = db.open().await;
    first
        .store()
        .insert_signing_key(&record("k1", KeyState::Active, 100), &key_created())
        .await
        .unwrap();
    let second = db.open().await;
    assert_eq!(second.store().signing_keys().await.unwrap().len(), 1);
}

async fn signing_keys_round_trip_every_field_oldest_first(backend: Backend) {
    let (_db, store) = store_for(backend).await;
    let keys = [
        record("retired", KeyState::Retired, 100),
        record("next", KeyState::Next, 300),
        record("active", KeyState::Active, 200),
    ];
    for key in &keys {
        assert!(
            store.insert_signing_key(key, &key_created()).await.unwrap(),
            "{}",
            key.kid
        );
    }
    let stored = store.signing_keys().await.unwrap();
    assert_eq!(stored, [keys[0].clone(), keys[2].clone(), keys[1].clone()]);
}

async fn a_second_active_key_is_refused_and_nothing_is_written(backend: Backend) {
    let (_db, store) = store_for(backend).await;
    assert!(
        store
            .insert_signing_key(&record("a1", KeyState::Active, 100), &key_created())
            .await
            .unwrap()
    );
    assert!(
        !store
            .insert_signing_key(&record("a2", KeyState::Active, 200), &key_created())
            .await
            .unwrap()
    );
    let kids: Vec<_> = store
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, ["a1"]);
    let query = AuditQuery {
        limit: 10,
        ..AuditQuery::default()
    };
    assert_eq!(
        store.audit_events(&query).await.unwrap().len(),
        1,
        "the refused key's audit event is not written either"
    );
}

async fn a_second_next_key_is_refused_but_retired_keys_may_be_many(backend: Backend) {
    let (_db, store) = store_for(backend).await;
    assert!(
        store
            .insert_signing_key(&record("n1", KeyState::Next, 100), &key_created())
            .await
            .unwrap()
    );
    assert!(
        !store
            .insert_signing_key(&record("n2", KeyState::Next, 200), &key_created())
            .await
            .unwrap()
    );
    assert!(
        store
            .insert_signing_key(&record("r1", KeyState::Retired, 10), &key_created())
            .await
            .unwrap()
    );
    assert!(
        store
            .insert_signing_key(&record("r2", KeyState::Retired, 20), &key_created())
            .await
            .unwrap()
    );
    assert_eq!(store.signing_keys().await.unwrap().len(), 3);
}

async fn a_duplicate_kid_is_refused(backend: Backend) {
    let (_db, store) = store_for(backend).await;
    assert!(
        store
            .insert_signing_key(&record("same", KeyState::Retired, 10), &key_created())
            .await
            .unwrap()
    );
    assert!(
        !store
            .insert_signing_key(&record("same", KeyState::Next, 20), &key_created())
            .await
            .unwrap()
    );
    assert_eq!(
        store.signing_keys().await.unwrap()[0].state,
        KeyState::Retired
    );
}

/// Eight managers (as eight replicas would) race to create the first key: exactly one wins.
async fn racing_first_key_creation_leaves_exactly_one_active_key(backend: Backend) {
    let (_db, store) = store_for(backend).await;
    let kek = Kek::from_base64(TEST_KEK).unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let attempts = (0..8).map(|_| {
        let manager = KeyManager::new(
            Arc::clone(&store),
            kek.clone(),
            Arc::clone(&clock),
            std::time::Duration::from_secs(300),
        );
        tokio::spawn(async move {
            manager
                .ensure_active_key(SigningAlgorithm::Es256)
                .await
                .unwrap()
        })
    });
    let mut created = 0;
    for attempt in attempts {
        created += usize::from(attempt.await.unwrap().is_some());
    }
    let keys = store.signing_keys().await.unwrap();
    assert_eq!(created, 1);
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].state, KeyState::Active);
}

/// A remembered webhook body keeps the events it was first seen under until it expires; then
/// it counts as new, and the purge (`RevocationFeed::purge`, the background task's pass)
/// deletes it.
async fn remembered_webhook_deliveries_expire_and_are_purged(backend: Backend) {
    use tokenmint::clock::ManualClock;
    use tokenmint::domain::feed::RevocationFeed;
    use tokenmint::domain::webhook::DELIVERY_MEMORY;

    let (db, store) = store_for(backend).await;
    let count = || crate::oauth_helpers::count_rows(&db, "select count(*) from webhook_deliveries");
    let clock = Arc::new(ManualClock::starting_now());
    let now = clock.now();
    let until = now + DELIVERY_MEMORY;
    let digest = [7u8; 32];
    let first = store
        .remember_webhook_delivery(&digest, "users.*.update.name", now, until)
        .await
        .unwrap();
    assert_eq!(first.events, "users.*.update.name");
    assert_eq!(first.at.timestamp(), now.timestamp());
    let relabelled = store
        .remember_webhook_delivery(
            &digest,
            "users.*.delete",
            now + chrono::Duration::hours(1),
            until,
        )
        .await
        .unwrap();
    assert_eq!(relabelled, first, "the first sighting stays");
    store
        .remember_webhook_delivery(
            &[8u8; 32],
            "users.*.delete",
            now,
            now + chrono::Duration::days(30),
        )
        .await
        .unwrap();

    let feed = RevocationFeed::new(Arc::clone(&store), Arc::clone(&clock) as Arc<dyn Clock>);
    feed.purge().await.unwrap();
    assert_eq!(count().await, 2, "nothing has expired yet");
    clock.advance(DELIVERY_MEMORY + chrono::Duration::seconds(1));
    feed.purge().await.unwrap();
    assert_eq!(count().await, 1, "only the expired delivery went");

    // Expired but not purged yet: the body counts as new.
    let later = clock.now();
    store
        .remember_webhook_delivery(&digest, "users.*.update.name", now, until)
        .await
        .unwrap();
    let renewed = store
        .remember_webhook_delivery(&digest, "users.*.delete", later, later + DELIVERY_MEMORY)
        .await
        .unwrap();
    assert_eq!(renewed.events, "users.*.delete");
    assert_eq!(renewed.at.timestamp(), later.timestamp());
}

on_both_backends!(
    remembered_webhook_deliveries_expire_and_are_purged,
    heartbeats_and_outages_are_shared_by_replicas,
    an_outage_being_recorded_is_still_seen,
    migrations_can_run_again_without_change,
    signing_keys_round_trip_every_field_oldest_first,
    a_second_active_key_is_refused_and_nothing_is_written,
    a_second_next_key_is_refused_but_retired_keys_may_be_many,
    a_duplicate_kid_is_refused,
    racing_first_key_creation_leaves_exactly_one_active_key,
);
