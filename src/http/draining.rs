//! Whether shutdown has begun: set by the shutdown sequence, read by readiness.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether the process is draining: set once shutdown has begun, never cleared. While it is
/// set, `/readyz` answers 503 so load balancers stop routing here, and everything else is
/// still served (see `App::run_until`).
#[derive(Debug, Clone, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    /// Marks the process as draining.
    pub fn start(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether draining has started.
    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
