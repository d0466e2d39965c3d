//! `file.listener` at run time: looks at a directory every `frequency`, takes each file whose name matches
//! the pattern once two looks in a row saw the same size and modification time (a file still being
//! written changes between them), runs the flow on it (whole, or one event per line, CSV record or chunk,
//! read as a stream so a large file never sits in memory), then moves it to `processed/` when every event
//! succeeded or to `failed/` otherwise. An event whose flow keeps failing is kept as a dead letter after
//! `max_deliveries` runs.
//!
//! Never read twice: a file leaves the directory once handled (the move). The gap between a success and
//! the move is closed by the state store: before moving, the listener records `name:size:mtime` as done
//! under `file.listener:<flow>` (durable with `relais run --state DIR`); a file found again with a done
//! record (the process stopped between the record and the move) is moved without being run again, and the
//! record removed after the move. With `split`, the number of records handled is recorded as the file is
//! read (`progress:` records, [`super::records`]), so a file taken again after a stop in its middle
//! skips what was done; a process killed runs again at most the records since the last record kept (at
//! least once).

use super::records::{media_type, read_records, Delivery, Piece, Progress};
use super::{glob, ListenerParams, Split};
use crate::event::{Event, FlowError, Payload};
use crate::runtime::Runtime;
use crate::source::{InFlight, Working};
use crate::state::object_store::ObjectStore;
use serde_json::{json, Value as Json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::{mpsc, watch};

/// What two looks compare: size and modification time.
type Seen = (u64, SystemTime);

/// One flow's watch on its directory.
pub struct Watcher {
    flow: String,
    settings: Arc<ListenerParams>,
    directory: PathBuf,
    store: Arc<ObjectStore>,
}

impl Watcher {
    /// The watcher of flow `flow`.
    pub fn new(flow: &str, settings: Arc<ListenerParams>, runtime: &Runtime) -> Watcher {
        let store = runtime.program().state.store(&format!("file.listener:{flow}"), None, true);
        Watcher { flow: flow.to_string(), directory: PathBuf::from(&settings.directory), settings, store }
    }

    /// Looks at the directory until stopped.
    pub async fn run(self, runtime: Runtime, mut stop: watch::Receiver<bool>, in_flight: InFlight) {
        let mut previous: HashMap<String, Seen> = HashMap::new();
        let mut complained = false;
        loop {
            match self.look().await {
                Ok(now) => {
                    complained = false;
                    for (name, seen) in &now {
                        if *stop.borrow() {
                            return;
                        }
                        if previous.get(name) == Some(seen) {
                            let _working = Working::start(&in_flight);
                            self.take(&runtime, name, *seen, &stop).await;
                        }
                    }
                    previous = now;
                }
                Err(e) if !complained => {
                    complained = true;
                    tracing::error!(flow = %self.flow, directory = %self.directory.display(), "file.listener cannot read its directory: {e}");
                }
                Err(_) => {}
            }
            tokio::select! {
                _ = tokio::time::sleep(self.settings.frequency.0) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// The matching regular files of the directory and what they look like now.
    async fn look(&self) -> std::io::Result<HashMap<String, Seen>> {
        let (directory, pattern) = (self.directory.clone(), self.settings.pattern.clone());
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&directory)?;
            let mut found = HashMap::new();
            for entry in std::fs::read_dir(&directory)? {
                let entry = entry?;
                let Ok(name) = entry.file_name().into_string() else { continue };
                if name.starts_with('.') || !glob::matches(&pattern, &name) {
                    continue;
                }
                let meta = entry.metadata()?;
                if meta.is_file() {
                    found.insert(name, (meta.len(), meta.modified()?));
                }
            }
            Ok(found)
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// How this listener runs a file's events.
    fn delivery(&self) -> Delivery<'_> {
        Delivery { flow: &self.flow, max_deliveries: self.settings.max_deliveries, consumers: self.settings.consumers }
    }

    /// Handles one stable file: leaves it in place when a stop came in its middle (the next start resumes).
    async fn take(&self, runtime: &Runtime, name: &str, (size, modified): Seen, stop: &watch::Receiver<bool>) {
        let stamp = modified.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_millis();
        let key = format!("{name}:{size}:{stamp}");
        let done_before = matches!(self.store.get(&key), Ok(Some(_)));
        let succeeded = if done_before {
            tracing::info!(flow = %self.flow, file = name, "file handled before a stop; moving it without running again");
            true
        } else {
            let path = self.directory.join(name);
            let attributes = json!({
                "file": name, "directory": self.directory.display().to_string(), "size": size,
                "modified": chrono::DateTime::<chrono::Utc>::from(modified).to_rfc3339(),
            });
            let ok = match self.settings.split {
                Split::None => self.whole(runtime, &path, size, attributes).await,
                split => {
                    let progress = Progress::new(&self.store, &key, &self.flow);
                    match self.split(runtime, &path, split, attributes, &progress, stop).await {
                        Some(ok) => ok,
                        None => return,
                    }
                }
            };
            if ok {
                if let Err(why) = self.store.put(&key, json!(true), None) {
                    tracing::error!(flow = %self.flow, file = name, "file.listener cannot record a done file: {why}");
                }
            }
            ok
        };
        let to = if succeeded { "processed" } else { "failed" };
        match move_into(&self.directory, name, to) {
            Ok(()) => {
                let _ = self.store.remove(&key);
                Progress::new(&self.store, &key, &self.flow).forget();
            }
            Err(e) => {
                tracing::error!(flow = %self.flow, file = name, "file.listener cannot move the file to {to}/: {e}")
            }
        }
    }

    /// The whole file as one event.
    async fn whole(&self, runtime: &Runtime, path: &Path, size: u64, attributes: Json) -> bool {
        let mut event = Event::new(Json::Null);
        event.attributes = attributes.into();
        if size > self.settings.max_size {
            let error = FlowError::new(
                "FILE:TOO_LARGE",
                format!(
                    "{} has {size} bytes, over `max_size` ({}); use `split`",
                    path.display(),
                    self.settings.max_size
                ),
            );
            self.delivery().refuse(runtime, &event, &error);
            return false;
        }
        match tokio::fs::read(path).await {
            Ok(bytes) => {
                let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
                event.payload = Arc::new(Payload::bytes(bytes, media_type(&name)));
                self.delivery().deliver(runtime, event).await
            }
            Err(e) => {
                let error = FlowError::new("FILE:READ", format!("cannot read {}: {e}", path.display()));
                self.delivery().refuse(runtime, &event, &error);
                false
            }
        }
    }

    /// One event per record, read on a blocking thread into a bounded channel (constant memory), run
    /// `consumers` at a time, skipping those a previous read handled. True when every record succeeded;
    /// `None` when a stop came first.
    async fn split(
        &self,
        runtime: &Runtime,
        path: &Path,
        split: Split,
        attributes: Json,
        progress: &Progress<'_>,
        stop: &watch::Receiver<bool>,
    ) -> Option<bool> {
        let (tx, rx) = mpsc::channel::<Piece>(64);
        let (path, chunk) = (path.to_path_buf(), self.settings.chunk_size.max(1) as usize);
        let reader = tokio::task::spawn_blocking(move || match std::fs::File::open(&path) {
            Ok(file) => read_records(file, &path.display().to_string(), split, chunk, &tx),
            Err(e) => {
                let _ = tx.blocking_send(Piece::Broken(format!("cannot read {}: {e}", path.display())));
            }
        });
        let skip = progress.handled();
        let outcome = self
            .delivery()
            .run(runtime, rx, &attributes, skip, "FILE:READ", true, |n| progress.record(n, false), stop.clone())
            .await;
        let _ = reader.await;
        progress.record(outcome.handled, true);
        if outcome.stopped {
            return None;
        }
        Some(!outcome.failed)
    }
}

/// Moves `directory/name` into `directory/into/`, under a new name if one of that name is there already.
fn move_into(directory: &Path, name: &str, into: &str) -> std::io::Result<()> {
    let target_dir = directory.join(into);
    std::fs::create_dir_all(&target_dir)?;
    let mut target = target_dir.join(name);
    if target.exists() {
        let stamp = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_millis();
        target = target_dir.join(format!("{name}.{stamp}"));
    }
    std::fs::rename(directory.join(name), target)
}
