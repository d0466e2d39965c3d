//! The common shape of a source unit that is one background task (a schedule, a queue consumer): started
//! with a stop signal, replaced as a whole on reload.

use super::{InFlight, Planned, Running, Stage};
use futures_util::future::BoxFuture;
use std::sync::Mutex;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What a task unit runs: given the stop signal and the in-flight counter, the task's handle.
pub type Spawn = Box<dyn FnOnce(watch::Receiver<bool>, InFlight) -> JoinHandle<()> + Send>;

/// A planned task unit.
pub struct TaskPlanned {
    key: String,
    stage: Stage,
    spawn: Spawn,
}

impl TaskPlanned {
    /// A unit known as `key` that runs `spawn` when started.
    pub fn planned(key: String, stage: Stage, spawn: Spawn) -> Box<dyn Planned> {
        Box::new(TaskPlanned { key, stage, spawn })
    }
}

impl Planned for TaskPlanned {
    fn key(&self) -> String {
        self.key.clone()
    }

    fn prepare<'a>(&'a mut self, _: Option<&'a dyn Running>) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }

    /// The previous task of the key stops taking work (what it started finishes on its program).
    fn start(
        self: Box<Self>,
        previous: Option<Box<dyn Running>>,
        in_flight: &InFlight,
    ) -> Result<Box<dyn Running>, String> {
        if let Some(previous) = previous {
            previous.stop();
        }
        let (stop, stop_rx) = watch::channel(false);
        let handle = (self.spawn)(stop_rx, in_flight.clone());
        Ok(Box::new(TaskRunning { stage: self.stage, stop, handle: Mutex::new(Some(handle)) }))
    }
}

/// A running task unit.
struct TaskRunning {
    stage: Stage,
    stop: watch::Sender<bool>,
    handle: Mutex<Option<JoinHandle<()>>>,
}

impl Running for TaskRunning {
    fn stage(&self) -> Stage {
        self.stage
    }

    fn stop(&self) {
        self.stop.send_replace(true);
    }

    fn abort(&self) {
        // A poisoned lock only means a panic while taking the handle; the handle is still whole.
        if let Some(handle) = self.handle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            handle.abort();
        }
    }
}
