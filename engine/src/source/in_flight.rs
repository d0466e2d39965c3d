//! Counting the work sources have started and not finished, for the drain.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Events being processed by any source (requests, scheduled runs, queued messages).
pub type InFlight = Arc<AtomicUsize>;

/// Counts one unit of work in flight until dropped, even if the work's future is cancelled.
pub struct Working(InFlight);

impl Working {
    /// Starts counting.
    pub fn start(counter: &InFlight) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Working(counter.clone())
    }
}

impl Drop for Working {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
