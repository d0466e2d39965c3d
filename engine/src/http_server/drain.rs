//! The drain of one socket's connections at shutdown, in two stages the daemon moves through.
//!
//! - [`Drain::start`]: every connection is asked to close. An idle HTTP/1.1 keep-alive connection closes
//!   at once; a busy one answers its request with `Connection: close` and closes after it; an HTTP/2
//!   connection gets a GOAWAY and closes once its open streams end (hyper's `graceful_shutdown` does all
//!   three).
//! - [`Drain::cut`]: the drain deadline has passed. Every request still running is answered 503 (the
//!   server is shutting down) instead of being dropped with its connection, and reported.
//!
//! The daemon then waits, briefly, for the connections to finish writing those answers
//! ([`Drain::exchanges`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::watch;

/// Where a socket's drain is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    /// Serving as usual.
    Serving,
    /// Connections close once their requests are answered.
    Draining,
    /// Requests still running are answered 503.
    Cut,
}

/// The drain of one socket: shared by the daemon (which moves it on), the socket's connections and their
/// requests. Cheap to clone.
#[derive(Clone)]
pub struct Drain(Arc<Inner>);

struct Inner {
    stage: watch::Sender<Stage>,
    /// Connections whose HTTP exchange is not over (the close that follows is not counted).
    exchanges: AtomicUsize,
    /// Requests being handled.
    requests: AtomicUsize,
    /// Requests answered 503 because the deadline passed.
    cut: AtomicUsize,
}

impl Default for Drain {
    fn default() -> Self {
        Drain(Arc::new(Inner {
            stage: watch::Sender::new(Stage::Serving),
            exchanges: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
            cut: AtomicUsize::new(0),
        }))
    }
}

/// Decrements a counter of a [`Drain`] when dropped, even if the future holding it is cancelled.
pub struct Counted {
    drain: Drain,
    which: fn(&Inner) -> &AtomicUsize,
}

impl Drop for Counted {
    fn drop(&mut self) {
        (self.which)(&self.drain.0).fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drain {
    /// Asks every connection to close once its requests are answered.
    pub fn start(&self) {
        self.0.stage.send_if_modified(|stage| advance(stage, Stage::Draining));
    }

    /// The deadline passed: requests still running are answered 503.
    pub fn cut(&self) {
        self.0.stage.send_if_modified(|stage| advance(stage, Stage::Cut));
    }

    /// Resolves once the drain has started (at once if it has).
    pub async fn started(&self) {
        let mut stage = self.0.stage.subscribe();
        // The sender lives in `self`, so waiting cannot fail while we hold it.
        let _ = stage.wait_for(|s| *s >= Stage::Draining).await;
    }

    /// Resolves once the deadline has passed (at once if it has).
    pub async fn deadline_passed(&self) {
        let mut stage = self.0.stage.subscribe();
        // As in `started`.
        let _ = stage.wait_for(|s| *s >= Stage::Cut).await;
    }

    fn count(&self, which: fn(&Inner) -> &AtomicUsize) -> Counted {
        which(&self.0).fetch_add(1, Ordering::SeqCst);
        Counted { drain: self.clone(), which }
    }

    /// Counts one connection's exchange until the guard is dropped.
    pub fn exchange(&self) -> Counted {
        self.count(|i| &i.exchanges)
    }

    /// Counts one request until the guard is dropped.
    pub fn request(&self) -> Counted {
        self.count(|i| &i.requests)
    }

    /// Notes a request answered 503 because the deadline passed.
    pub fn note_cut(&self) {
        self.0.cut.fetch_add(1, Ordering::SeqCst);
    }

    /// Connections still exchanging requests and answers.
    pub fn exchanges(&self) -> usize {
        self.0.exchanges.load(Ordering::SeqCst)
    }

    /// Requests being handled.
    pub fn requests(&self) -> usize {
        self.0.requests.load(Ordering::SeqCst)
    }

    /// Requests answered 503 because the deadline passed.
    pub fn cut_requests(&self) -> usize {
        self.0.cut.load(Ordering::SeqCst)
    }
}

/// Moves `stage` forward to `to`, never back; true when it changed.
fn advance(stage: &mut Stage, to: Stage) -> bool {
    if *stage < to {
        *stage = to;
        true
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_stages_only_move_forward_and_waiters_see_them() {
        let drain = Drain::default();
        drain.cut();
        drain.start();
        // Both resolve: cutting implies the drain started, and starting after it does not go back.
        drain.started().await;
        drain.deadline_passed().await;
    }

    #[test]
    fn guards_count_until_dropped() {
        let drain = Drain::default();
        let (a, b) = (drain.exchange(), drain.request());
        assert_eq!((drain.exchanges(), drain.requests()), (1, 1));
        drop((a, b));
        assert_eq!((drain.exchanges(), drain.requests()), (0, 0));
    }
}
