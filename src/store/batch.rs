//! Group execution: concurrent requests for the same kind of statement share one round trip.
//!
//! A refresh on PostgreSQL is one statement, and what it costs the service and the database is
//! mostly per round trip, not per row: the system calls and wake-ups on both sides, the TLS
//! records, sqlx's bookkeeping, PostgreSQL's parse-bind-execute and its commit (a WAL flush).
//! Under load many refreshes wait at once, so a [`Batcher`] hands them to a worker that takes
//! everything that is waiting (up to `max_batch` items) and runs it as one unit; more workers
//! (at most `max_running`) start only while more items wait than the running ones can take.
//! Nothing waits to fill a batch: a lone request is sent at once, as a batch of one; batches
//! grow only while a worker is busy, which is exactly when sharing pays.
//!
//! Each batch runs in a spawned task, so a request whose client goes away does not cancel the
//! statement of the others that share its batch; an item whose requester has given up before
//! a batch took it is withdrawn, never sent. Items that [`BatchRunner::same_target`] says
//! touch the same row never share a batch: the later one waits for the next, so it sees what
//! the earlier one wrote, exactly as if the two had raced on the row's lock.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

use crate::domain::ports::StoreError;

/// Runs batches of one kind of item.
pub(crate) trait BatchRunner: Send + Sync + 'static {
    /// What one request asks for.
    type Item: Send + 'static;
    /// What one request gets back.
    type Output: Send + 'static;

    /// Whether `a` and `b` touch the same row, and so must not share a batch.
    fn same_target(a: &Self::Item, b: &Self::Item) -> bool;

    /// Runs `items` as one unit: one output per item, in the order of `items`, or one error
    /// for all of them.
    fn run(
        &self,
        items: Vec<Self::Item>,
    ) -> impl Future<Output = Result<Vec<Self::Output>, StoreError>> + Send;
}

/// Groups concurrent [`Batcher::submit`] calls into batches for its runner.
pub(crate) struct Batcher<R: BatchRunner>(Arc<Shared<R>>);

impl<R: BatchRunner> Clone for Batcher<R> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<R: BatchRunner> std::fmt::Debug for Batcher<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher")
            .field("max_running", &self.0.max_running)
            .field("max_batch", &self.0.max_batch)
            .finish_non_exhaustive()
    }
}

struct Shared<R: BatchRunner> {
    runner: R,
    max_running: usize,
    max_batch: usize,
    queue: Mutex<Queue<R>>,
}

struct Queue<R: BatchRunner> {
    waiting: VecDeque<Pending<R>>,
    /// Workers started and not yet ended.
    running: usize,
    /// What was sent so far, kept under the same lock as the queue so a reader sees the two
    /// counts of one moment.
    sent: BatchCounts,
}

/// How many batches a [`Batcher`] has sent since it was made, and how many items they carried
/// (`items ÷ batches` is the mean batch size).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchCounts {
    /// Batches formed and handed to the runner.
    pub batches: u64,
    /// Items those batches carried.
    pub items: u64,
    /// Items withdrawn before any batch took them: their requester had given up.
    pub withdrawn: u64,
}

struct Pending<R: BatchRunner> {
    item: R::Item,
    reply: oneshot::Sender<Result<R::Output, StoreError>>,
}

impl<R: BatchRunner> Batcher<R> {
    /// A batcher running at most `max_running` batches at a time, each of at most `max_batch`
    /// items (both at least 1).
    pub fn new(runner: R, max_running: usize, max_batch: usize) -> Self {
        Self(Arc::new(Shared {
            runner,
            max_running: max_running.max(1),
            max_batch: max_batch.max(1),
            queue: Mutex::new(Queue {
                waiting: VecDeque::new(),
                running: 0,
                sent: BatchCounts::default(),
            }),
        }))
    }

    /// What this batcher has sent so far.
    pub fn counts(&self) -> BatchCounts {
        self.0.lock().sent
    }

    /// Runs `item` in the next batch that has room for it, and returns its output.
    pub async fn submit(&self, item: R::Item) -> Result<R::Output, StoreError> {
        let (reply, answer) = oneshot::channel();
        let start_worker = {
            let mut queue = self.0.lock();
            queue.waiting.push_back(Pending { item, reply });
            self.0.claim_worker(&mut queue)
        };
        if start_worker {
            Worker::start(Arc::clone(&self.0));
        }
        // A worker that ended without answering (it panicked, or the runtime is shutting down)
        // dropped the reply: nothing is known to have been written.
        answer.await.unwrap_or_else(|_| {
            Err(StoreError::Unavailable(
                "the batch carrying this statement was abandoned".into(),
            ))
        })
    }
}

impl<R: BatchRunner> Shared<R> {
    fn lock(&self) -> MutexGuard<'_, Queue<R>> {
        // The queue is consistent at every unlock, so a panic elsewhere leaves it usable.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the caller should start a worker for what is waiting: one when none runs, and
    /// another only when more items wait than the running workers' next batches can hold.
    /// Fewer, fuller batches are what saves the round trips; a second worker pays only when the
    /// queue outgrows them. Counted here, under the queue's lock, so an item is never left
    /// waiting with no worker to take it.
    fn claim_worker(&self, queue: &mut Queue<R>) -> bool {
        let backlog = queue.waiting.len() > queue.running * self.max_batch;
        let start = backlog && queue.running < self.max_running;
        if start {
            queue.running += 1;
        }
        start
    }

    /// The next batch: waiting items in arrival order, up to `max_batch`, skipping those that
    /// share a target with one already taken (they stay first in line for the next batch) and
    /// dropping those whose requester has gone. `None` when nothing waits: the calling worker
    /// then ends, and no longer counts as running (under the queue's lock, so an item that
    /// arrives next starts a new worker).
    fn next_batch(&self) -> Option<Vec<Pending<R>>> {
        let mut queue = self.lock();
        // A requester that gave up (its deadline passed) was answered without its item: an
        // item written now could only surprise it.
        let waiting = queue.waiting.len();
        queue.waiting.retain(|pending| !pending.reply.is_closed());
        queue.sent.withdrawn += (waiting - queue.waiting.len()) as u64;
        if queue.waiting.is_empty() {
            queue.running -= 1;
            return None;
        }
        let mut batch: Vec<Pending<R>> =
            Vec::with_capacity(queue.waiting.len().min(self.max_batch));
        let mut index = 0;
        while index < queue.waiting.len() && batch.len() < self.max_batch {
            let clashes = batch
                .iter()
                .any(|taken| R::same_target(&taken.item, &queue.waiting[index].item));
            if clashes {
                index += 1;
            } else if let Some(pending) = queue.waiting.remove(index) {
                batch.push(pending);
            }
        }
        queue.sent.batches += 1;
        queue.sent.items += batch.len() as u64;
        Some(batch)
    }
}

/// Runs batches until none is waiting. A worker that ends any other way (a panic, or its task
/// dropped mid-batch) uncounts itself in `Drop` and hands what waits to a new worker, so no
/// item is stranded.
struct Worker<R: BatchRunner> {
    shared: Arc<Shared<R>>,
    counted: bool,
}

impl<R: BatchRunner> Worker<R> {
    /// Spawns a worker already counted in `running`. The guard is made inside the task: a task
    /// dropped before it ever ran (a runtime shutting down) starts no successor.
    fn start(shared: Arc<Shared<R>>) {
        tokio::spawn(async move {
            let worker = Self {
                shared,
                counted: true,
            };
            worker.work().await;
        });
    }

    async fn work(mut self) {
        while let Some(batch) = self.shared.next_batch() {
            self.run(batch).await;
        }
        self.counted = false;
    }

    async fn run(&self, batch: Vec<Pending<R>>) {
        let (items, replies): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .map(|pending| (pending.item, pending.reply))
            .unzip();
        match self.shared.runner.run(items).await {
            Ok(outputs) => {
                debug_assert_eq!(outputs.len(), replies.len(), "one output per item");
                // A reply whose requester has gone is simply dropped.
                for (reply, output) in replies.into_iter().zip(outputs) {
                    let _ = reply.send(Ok(output));
                }
            }
            Err(err) => {
                let err = Arc::new(err);
                for reply in replies {
                    let _ = reply.send(Err(shared_error(&err)));
                }
            }
        }
    }
}

impl<R: BatchRunner> Drop for Worker<R> {
    fn drop(&mut self) {
        if !self.counted {
            return;
        }
        let mut queue = self.shared.lock();
        queue.running -= 1;
        if self.shared.claim_worker(&mut queue) {
            drop(queue);
            if tokio::runtime::Handle::try_current().is_ok() {
                Worker::start(Arc::clone(&self.shared));
            } else {
                // No runtime to run it on: what waits is being dropped along with it.
                self.shared.lock().running -= 1;
            }
        }
    }
}

/// The error of a whole batch, for each of its items: the same kind (which decides what the
/// domain and the pool do with it), with the original as its source.
fn shared_error(err: &Arc<StoreError>) -> StoreError {
    let cause = || -> crate::domain::ports::BoxError { Box::new(Arc::clone(err)) };
    match &**err {
        StoreError::Unavailable(_) => StoreError::Unavailable(cause()),
        StoreError::Busy(_) => StoreError::Busy(cause()),
        StoreError::Conflict(_) => StoreError::Conflict(cause()),
        StoreError::Query(_) => StoreError::Query(cause()),
        StoreError::Corrupt(what) => StoreError::Corrupt(what.clone()),
    }
}

#[cfg(test)]
mod tests;
