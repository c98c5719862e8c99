//! A replica dies (`kill -9`) in the middle of refresh load; its clients move to the other
//! replica and retry with the token they hold. A refresh the dead replica had committed but not
//! answered comes back as a retry within the grace window and gets the same successor: no chain
//! lost, none forked, no session revoked.

use std::time::Duration;

use tokenmint_fake_appwrite::FakeAppwrite;

use super::chains::{self, Load};
use super::process::ServerProcess;
use super::{revoked_sessions, server_env};
use crate::helpers::TestDb;

const CHAINS: usize = 16;
const KILLS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "fault scenario (~15 s): cargo test --test api -- --ignored faults::"]
async fn a_replica_killed_mid_load_loses_no_chain() {
    let db = TestDb::postgres().await;
    let appwrite = FakeAppwrite::start().await;
    let env = server_env(&db.url, &appwrite, &[]);
    let mut doomed = ServerProcess::start(db.dir.path(), "doomed", &env);
    let survivor = ServerProcess::start(db.dir.path(), "survivor", &env);
    let tokens = chains::seed(&doomed.url, &appwrite, CHAINS).await;

    let load = Load::start(vec![doomed.url.clone(), survivor.url.clone()], tokens);
    // Killed again and again (restarted on its port in between), so that many requests die
    // in flight, some of them after their rotation committed.
    let address = doomed.url.trim_start_matches("http://").to_owned();
    let mut on_same_port = env.clone();
    on_same_port.push(("TOKENMINT_LISTEN".to_owned(), address));
    for kill in 1..=KILLS {
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        doomed.kill();
        if kill < KILLS {
            tokio::time::sleep(Duration::from_millis(300)).await;
            doomed = tokio::task::block_in_place(|| {
                ServerProcess::start(db.dir.path(), &format!("doomed-{kill}"), &on_same_port)
            });
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let what = format!("kill -9 of one of two replicas, {KILLS} times");
    let tally = load.finish_and_check(&survivor.url, &what).await;
    assert!(
        tally.transport_errors > 0,
        "no chain noticed the killed replica: {}",
        tally.summary()
    );
    assert_eq!(
        revoked_sessions(&db.url).await,
        0,
        "sessions revoked by mistake"
    );
}
