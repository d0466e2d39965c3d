//! The accept loop shared by the listeners and the admin port: a connection cap (the loop stops accepting
//! at the cap and resumes when a connection closes) and a real back-off when accepting fails.
//!
//! An accept that fails for want of descriptors (EMFILE, ENFILE) leaves the connection in the kernel's
//! backlog, so the socket stays readable and an immediate retry fails again: a loop that only `continue`s
//! spins a core until descriptors come back. The loop sleeps instead, doubling up to a second.

use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

/// First pause after a failed accept.
const MIN_BACKOFF: Duration = Duration::from_millis(10);
/// Longest pause between failed accepts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The connection slots of one socket; its size follows the configured cap across reloads.
struct Slots {
    semaphore: Arc<Semaphore>,
    /// The cap the slots were last sized for.
    size: usize,
    /// Slots still to take away after the cap was lowered (taken as connections close).
    owed: usize,
}

impl Slots {
    fn new(size: usize) -> Slots {
        Slots { semaphore: Arc::new(Semaphore::new(size)), size, owed: 0 }
    }

    fn resize(&mut self, wanted: usize) {
        if wanted > self.size {
            let grow = wanted - self.size;
            let cancelled = grow.min(self.owed);
            self.owed -= cancelled;
            self.semaphore.add_permits(grow - cancelled);
        } else {
            self.owed += self.size - wanted;
        }
        self.size = wanted;
        self.owed -= self.semaphore.forget_permits(self.owed);
    }
}

/// Accepts connections on `socket` until `stop` changes, at most `cap()` open at once (read again before
/// each accept, so a reload can change it); `serve` gets each connection with the slot it holds until it
/// drops it.
pub async fn accept_loop(
    socket: TcpListener,
    mut stop: watch::Receiver<bool>,
    cap: impl Fn() -> usize,
    mut serve: impl FnMut(TcpStream, OwnedSemaphorePermit),
) {
    let mut slots = Slots::new(cap().max(1));
    let mut backoff = MIN_BACKOFF;
    loop {
        slots.resize(cap().max(1));
        let slot = tokio::select! {
            s = slots.semaphore.clone().acquire_owned() => s,
            _ = stop.changed() => break,
        };
        // The semaphore is never closed, so acquiring cannot fail.
        let Ok(slot) = slot else { break };
        let accepted = tokio::select! {
            a = socket.accept() => a,
            _ = stop.changed() => break,
        };
        match accepted {
            Ok((stream, _)) => {
                backoff = MIN_BACKOFF;
                serve(stream, slot);
            }
            Err(e) => {
                drop(slot);
                tracing::warn!("accepting a connection failed (retrying in {backoff:?}): {e}");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => break,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowering_the_cap_takes_slots_back_as_they_free_up() {
        let mut slots = Slots::new(4);
        let held: Vec<_> = (0..3).filter_map(|_| slots.semaphore.clone().try_acquire_owned().ok()).collect();
        slots.resize(2);
        assert_eq!(slots.semaphore.available_permits(), 0, "one free slot taken back, one still owed");
        drop(held);
        slots.resize(2);
        assert_eq!(slots.semaphore.available_permits(), 2);
        slots.resize(5);
        assert_eq!(slots.semaphore.available_permits(), 5);
    }

    #[test]
    fn raising_the_cap_first_cancels_what_is_owed() {
        let mut slots = Slots::new(2);
        let held: Vec<_> = (0..2).filter_map(|_| slots.semaphore.clone().try_acquire_owned().ok()).collect();
        slots.resize(1);
        slots.resize(3);
        assert_eq!(slots.semaphore.available_permits(), 1);
        drop(held);
        assert_eq!(slots.semaphore.available_permits(), 3);
    }
}
