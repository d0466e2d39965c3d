//! The small tokio runtime a [`PgStore`](super::PgStore) owns: the driver and its pool are async, the
//! [`StateStore`](crate::StateStore) trait is synchronous. Each call spawns its work on this runtime and waits
//! for the answer on a channel, so a caller on any thread (an engine worker inside `block_in_place`, a
//! current-thread test runtime, a plain thread) never runs `Runtime::block_on` inside another runtime.
//!
//! The runtime lives on its own thread and is dropped there when the store is dropped: dropping a runtime from
//! async code panics, and the store may well be dropped at the end of the engine's `block_on`.

use crate::error::StoreError;
use std::future::Future;
use std::time::Duration;

/// Worker threads of the store's runtime: the store's work is mostly waiting on sockets; two keep the
/// protocol encoding of concurrent calls off one core.
const WORKERS: usize = 2;

/// How long one call may take in all before it fails, whatever it waits for (a pool connection, a lock held
/// by another replica, a server that stopped answering). A call that times out may or may not have taken
/// effect, which is what at-least-once delivery and idempotency claims already allow for.
pub(super) const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The runtime's handle, and the signal that lets its thread drop it.
pub(super) struct Executor {
    handle: tokio::runtime::Handle,
    /// Dropped (or sent) when the store goes away: the runtime's thread then shuts it down.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Executor {
    /// Starts the runtime on its own thread.
    pub(super) fn start() -> std::io::Result<Executor> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .thread_name("relais-pg")
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new().name("relais-pg-owner".to_string()).spawn(move || {
            // Either a send or the sender's drop ends the wait.
            runtime.block_on(async {
                let _ = stopped.await;
            });
            runtime.shutdown_timeout(Duration::from_secs(1));
        })?;
        Ok(Executor { handle, _stop: stop })
    }

    /// Spawns `work` on the store's runtime (so it can be given to tasks the pool starts there too).
    pub(super) fn spawn<F>(&self, work: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.handle.spawn(work);
    }

    /// Runs `work` on the store's runtime and waits for its result, at most [`CALL_TIMEOUT`]; `timed_out`
    /// builds the error of a call that took longer.
    pub(super) fn run<T, F>(&self, work: F, timed_out: impl FnOnce() -> StoreError) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let (answer, wait) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let result = tokio::time::timeout(CALL_TIMEOUT, work).await;
            let _ = answer.send(result);
        });
        match wait.recv() {
            Ok(Ok(result)) => result,
            Ok(Err(_elapsed)) => Err(timed_out()),
            // The task was dropped without answering: only a runtime shutting down does that.
            Err(_) => Err(StoreError::storage("waiting for PostgreSQL", "the store's runtime stopped")),
        }
    }
}
