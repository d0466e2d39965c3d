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
//! record removed after the move. A process stopped during a flow runs that file again (at least once).

use super::{glob, ListenerParams, Split};
use crate::event::{Event, FlowError, Payload};
use crate::runtime::Runtime;
use crate::source::{InFlight, Working};
use crate::state::object_store::ObjectStore;
use futures_util::StreamExt;
use serde_json::{json, Map, Value as Json};
use std::collections::HashMap;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
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

/// A media type from a file's extension.
fn media_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase()).as_deref() {
        Some("json") => "application/json",
        Some("csv") => "text/csv",
        Some("xml") => "application/xml",
        Some("txt") => "text/plain",
        _ => "application/octet-stream",
    }
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
                            self.take(&runtime, name, *seen).await;
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

    /// Handles one stable file.
    async fn take(&self, runtime: &Runtime, name: &str, (size, modified): Seen) {
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
                split => self.split(runtime, &path, split, attributes).await,
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
            crate::runtime::dead_letter::keep(runtime, &self.flow, &event, &error, 1, crate::state::now(), None);
            return false;
        }
        match tokio::fs::read(path).await {
            Ok(bytes) => {
                let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
                event.payload = Arc::new(Payload::bytes(bytes, media_type(&name)));
                self.deliver(runtime, event).await
            }
            Err(e) => {
                let error = FlowError::new("FILE:READ", format!("cannot read {}: {e}", path.display()));
                crate::runtime::dead_letter::keep(runtime, &self.flow, &event, &error, 1, crate::state::now(), None);
                false
            }
        }
    }

    /// One event per record, read on a blocking thread into a bounded channel (constant memory), run
    /// `consumers` at a time. True when every record succeeded.
    async fn split(&self, runtime: &Runtime, path: &Path, split: Split, attributes: Json) -> bool {
        let (tx, rx) = mpsc::channel::<Result<Payload, String>>(64);
        let (path, chunk) = (path.to_path_buf(), self.settings.chunk_size.max(1) as usize);
        let reader = tokio::task::spawn_blocking(move || read_records(&path, split, chunk, &tx));
        let records = futures_util::stream::unfold((rx, 0u64), |(mut rx, n)| async move {
            rx.recv().await.map(|record| ((n + 1, record), (rx, n + 1)))
        });
        let results: Vec<bool> = records
            .map(|(n, record)| {
                let mut attributes = attributes.clone();
                attributes["record"] = json!(n);
                async move {
                    let mut event = Event::new(Json::Null);
                    event.attributes = attributes.into();
                    match record {
                        Ok(payload) => {
                            event.payload = Arc::new(payload);
                            self.deliver(runtime, event).await
                        }
                        Err(why) => {
                            let error = FlowError::new("FILE:READ", why);
                            crate::runtime::dead_letter::keep(
                                runtime,
                                &self.flow,
                                &event,
                                &error,
                                1,
                                crate::state::now(),
                                None,
                            );
                            false
                        }
                    }
                }
            })
            .buffered(self.settings.consumers.max(1) as usize)
            .collect()
            .await;
        let _ = reader.await;
        results.iter().all(|ok| *ok)
    }

    /// Runs the flow on one event until it succeeds or its deliveries are exhausted (then a dead letter).
    async fn deliver(&self, runtime: &Runtime, event: Event) -> bool {
        let first_failure = crate::state::now();
        let mut delay = Duration::from_millis(200);
        let attempts = self.settings.max_deliveries.max(1);
        for attempt in 1..=attempts {
            let error = match runtime.run_flow(&self.flow, event.clone()).await {
                Ok(_) => return true,
                Err(e) => e,
            };
            if attempt >= attempts || runtime.is_closing() {
                crate::runtime::dead_letter::keep(runtime, &self.flow, &event, &error, attempt, first_failure, None);
                return false;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(30));
        }
        false
    }
}

/// Reads `path` as records into `tx`; a read error is sent as the last record.
fn read_records(path: &Path, split: Split, chunk: usize, tx: &mpsc::Sender<Result<Payload, String>>) {
    let fail = |e: &dyn std::fmt::Display| format!("cannot read {}: {e}", path.display());
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            let _ = tx.blocking_send(Err(fail(&e)));
            return;
        }
    };
    let mut reader = std::io::BufReader::new(file);
    match split {
        Split::None => {}
        Split::Lines => {
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) => return,
                    Ok(_) => {
                        let text = line.strip_suffix(b"\n").unwrap_or(&line);
                        let text = text.strip_suffix(b"\r").unwrap_or(text);
                        if tx.blocking_send(Ok(Payload::bytes(text.to_vec(), "text/plain"))).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx.blocking_send(Err(fail(&e)));
                        return;
                    }
                }
            }
        }
        Split::Csv => {
            let mut csv = csv::ReaderBuilder::new().flexible(false).from_reader(reader);
            let headers = match csv.headers() {
                Ok(h) => h.clone(),
                Err(e) => {
                    let _ = tx.blocking_send(Err(fail(&e)));
                    return;
                }
            };
            for record in csv.records() {
                let sent = match record {
                    Ok(record) => {
                        let map: Map<String, Json> =
                            headers.iter().zip(record.iter()).map(|(h, v)| (h.to_string(), json!(v))).collect();
                        tx.blocking_send(Ok(Payload::value(Json::Object(map))))
                    }
                    Err(e) => tx.blocking_send(Err(fail(&e))),
                };
                if sent.is_err() {
                    return;
                }
            }
        }
        Split::Chunks => {
            let mut buffer = vec![0u8; chunk];
            loop {
                let mut filled = 0;
                while filled < chunk {
                    match reader.read(&mut buffer[filled..]) {
                        Ok(0) => break,
                        Ok(n) => filled += n,
                        Err(e) => {
                            let _ = tx.blocking_send(Err(fail(&e)));
                            return;
                        }
                    }
                }
                if filled == 0 {
                    return;
                }
                if tx.blocking_send(Ok(Payload::bytes(buffer[..filled].to_vec(), "application/octet-stream"))).is_err()
                {
                    return;
                }
                if filled < chunk {
                    return;
                }
            }
        }
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
