//! The batcher's behaviour: sharing, ordering, limits, failures, withdrawals.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::*;

/// Records each batch it runs; an item `(target, value)` outputs `value`; a batch holding
/// the value 0 fails as a whole.
#[derive(Default)]
struct Recorder {
    batches: Mutex<Vec<Vec<(u32, u32)>>>,
    running: AtomicUsize,
    most_running: AtomicUsize,
    delay: Duration,
}

impl BatchRunner for Arc<Recorder> {
    type Item = (u32, u32);
    type Output = u32;

    fn same_target(a: &Self::Item, b: &Self::Item) -> bool {
        a.0 == b.0
    }

    async fn run(&self, items: Vec<Self::Item>) -> Result<Vec<u32>, StoreError> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_running.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        self.running.fetch_sub(1, Ordering::SeqCst);
        self.batches.lock().unwrap().push(items.clone());
        if items.iter().any(|&(_, value)| value == 0) {
            return Err(StoreError::Unavailable("down".into()));
        }
        Ok(items.into_iter().map(|(_, value)| value).collect())
    }
}

fn recorder(delay_ms: u64) -> Arc<Recorder> {
    Arc::new(Recorder {
        delay: Duration::from_millis(delay_ms),
        ..Recorder::default()
    })
}

async fn submit_all(
    batcher: &Batcher<Arc<Recorder>>,
    items: &[(u32, u32)],
) -> Vec<Result<u32, StoreError>> {
    let tasks: Vec<_> = items
        .iter()
        .map(|&item| {
            let batcher = batcher.clone();
            tokio::spawn(async move { batcher.submit(item).await })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

#[tokio::test]
async fn a_lone_item_runs_at_once_as_a_batch_of_one() {
    let runner = recorder(0);
    let batcher = Batcher::new(Arc::clone(&runner), 2, 8);
    let output = tokio::time::timeout(Duration::from_secs(5), batcher.submit((1, 7)))
        .await
        .expect("no waiting for company");
    assert_eq!(output.unwrap(), 7);
    assert_eq!(*runner.batches.lock().unwrap(), vec![vec![(1, 7)]]);
    assert_eq!(
        batcher.counts(),
        BatchCounts {
            batches: 1,
            items: 1,
            withdrawn: 0
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_items_share_batches_and_each_gets_its_own_output() {
    let runner = recorder(20);
    let batcher = Batcher::new(Arc::clone(&runner), 2, 64);
    let items: Vec<(u32, u32)> = (1..=40).map(|i| (i, i * 10)).collect();
    let results = submit_all(&batcher, &items).await;
    for (result, (_, value)) in results.into_iter().zip(&items) {
        assert_eq!(result.unwrap(), *value);
    }
    let batches = runner.batches.lock().unwrap();
    assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 40);
    assert!(
        batches.len() < 40,
        "40 concurrent items behind 2 workers must share batches: {} batches",
        batches.len()
    );
    assert!(runner.most_running.load(Ordering::SeqCst) <= 2);
    assert_eq!(
        batcher.counts(),
        BatchCounts {
            batches: batches.len() as u64,
            items: 40,
            withdrawn: 0
        },
        "the counts say what was sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_on_one_target_never_share_a_batch_and_keep_their_order() {
    let runner = recorder(5);
    let batcher = Batcher::new(Arc::clone(&runner), 1, 64);
    // Hold the only worker so that everything below queues behind it.
    let first = {
        let batcher = batcher.clone();
        tokio::spawn(async move { batcher.submit((9, 1)).await })
    };
    tokio::time::sleep(Duration::from_millis(2)).await;
    let items = [(1, 11), (1, 12), (2, 21), (1, 13), (2, 22)];
    // Submitted from one task, in this order: spawned submissions (`submit_all`) may reach
    // the queue in any order on a multi-threaded runtime, and the order is what is tested.
    // `join_all` polls its futures in order, and a submission queues on its first poll.
    let results =
        futures_util::future::join_all(items.iter().map(|&item| batcher.submit(item))).await;
    assert_eq!(first.await.unwrap().unwrap(), 1);
    assert!(results.iter().all(Result::is_ok));
    let batches = runner.batches.lock().unwrap();
    for batch in batches.iter() {
        let mut targets: Vec<u32> = batch.iter().map(|item| item.0).collect();
        targets.sort_unstable();
        targets.dedup();
        assert_eq!(targets.len(), batch.len(), "a target twice in {batch:?}");
    }
    let order_of = |target: u32| -> Vec<u32> {
        batches
            .iter()
            .flatten()
            .filter(|item| item.0 == target)
            .map(|item| item.1)
            .collect()
    };
    assert_eq!(order_of(1), vec![11, 12, 13]);
    assert_eq!(order_of(2), vec![21, 22]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_batch_runs_only_when_the_backlog_outgrows_one() {
    // A backlog that one batch can hold: one batch at a time.
    let runner = recorder(10);
    let batcher = Batcher::new(Arc::clone(&runner), 4, 16);
    let items: Vec<(u32, u32)> = (1..=12).map(|i| (i, i)).collect();
    assert!(submit_all(&batcher, &items).await.iter().all(Result::is_ok));
    assert_eq!(runner.most_running.load(Ordering::SeqCst), 1);

    // A backlog of many batches' worth: more run at once, never more than allowed.
    let runner = recorder(10);
    let batcher = Batcher::new(Arc::clone(&runner), 3, 4);
    let items: Vec<(u32, u32)> = (1..=60).map(|i| (i, i)).collect();
    assert!(submit_all(&batcher, &items).await.iter().all(Result::is_ok));
    let most = runner.most_running.load(Ordering::SeqCst);
    assert!((2..=3).contains(&most), "{most} batches at once");
}

#[tokio::test]
async fn batches_hold_at_most_max_batch_items() {
    let runner = recorder(5);
    let batcher = Batcher::new(Arc::clone(&runner), 1, 3);
    let items: Vec<(u32, u32)> = (1..=10).map(|i| (i, i)).collect();
    let results = submit_all(&batcher, &items).await;
    assert!(results.iter().all(Result::is_ok));
    let batches = runner.batches.lock().unwrap();
    assert!(batches.iter().all(|batch| batch.len() <= 3), "{batches:?}");
    assert_eq!(batches.iter().map(Vec::len).sum::<usize>(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_batch_fails_each_of_its_items_with_the_same_kind_of_error() {
    // Long enough for the three below to queue even on a loaded machine.
    let runner = recorder(200);
    let batcher = Batcher::new(Arc::clone(&runner), 1, 64);
    let first = {
        let batcher = batcher.clone();
        tokio::spawn(async move { batcher.submit((9, 9)).await })
    };
    while runner.running.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // These three queue behind the first batch and then run together, failing together.
    let results = submit_all(&batcher, &[(1, 1), (2, 0), (3, 3)]).await;
    assert_eq!(first.await.unwrap().unwrap(), 9);
    for result in results {
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "{result:?}"
        );
    }
    // And the batcher still works afterwards.
    assert_eq!(batcher.submit((4, 4)).await.unwrap(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_whose_requester_gave_up_before_a_batch_took_it_is_never_run() {
    let runner = recorder(50);
    let batcher = Batcher::new(Arc::clone(&runner), 1, 64);
    // Holds the only worker while the next item waits.
    let first = {
        let batcher = batcher.clone();
        tokio::spawn(async move { batcher.submit((1, 1)).await })
    };
    tokio::time::sleep(Duration::from_millis(5)).await;
    let gave_up = tokio::time::timeout(Duration::from_millis(5), batcher.submit((2, 2))).await;
    assert!(gave_up.is_err(), "its deadline passed while it waited");
    let kept = batcher.submit((3, 3));
    assert_eq!(kept.await.unwrap(), 3);
    assert_eq!(first.await.unwrap().unwrap(), 1);
    let ran: Vec<u32> = runner
        .batches
        .lock()
        .unwrap()
        .iter()
        .flatten()
        .map(|item| item.0)
        .collect();
    assert_eq!(ran, vec![1, 3], "the withdrawn item was never run");
    assert_eq!(batcher.counts().withdrawn, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requester_that_goes_away_does_not_cancel_its_batch() {
    let runner = recorder(30);
    let batcher = Batcher::new(Arc::clone(&runner), 1, 64);
    let abandoned = {
        let batcher = batcher.clone();
        tokio::spawn(async move { batcher.submit((1, 1)).await })
    };
    let kept = {
        let batcher = batcher.clone();
        tokio::spawn(async move { batcher.submit((2, 2)).await })
    };
    tokio::time::sleep(Duration::from_millis(5)).await;
    abandoned.abort();
    assert_eq!(kept.await.unwrap().unwrap(), 2);
    let ran: usize = runner.batches.lock().unwrap().iter().map(Vec::len).sum();
    assert_eq!(ran, 2, "the abandoned item still ran");
}
