//! `sftp.listener` at run time: `file.listener`'s semantics over the config's SFTP connection. It lists
//! the remote directory every `frequency`, takes each file whose name matches once two listings in a row
//! saw the same size and modification time (an upload still going changes between them), runs the flow on
//! it (whole, or one event per line, CSV record or chunk, streamed from the server through the splitter
//! `file.listener` uses, so a large file never sits in memory), then renames it into `processed/` or
//! `failed/` on the server.
//!
//! Never read twice: the state store keeps, under `sftp.listener:<flow>`, a done record per file
//! (`name:size:mtime`, written before the move, so a file found again after a stop between the two is
//! moved without running) and the number of its records handled so far (so a file whose reading broke,
//! the server gone or the connection lost, or that a stop interrupted, resumes after the last record
//! handled instead of running them again). A lost connection leaves the file in place; the listener lists
//! again after a backoff (from `frequency`, doubled up to 30 s) and the connection is opened again.

use super::connection::Fault;
use super::write::{create_dirs, remote_path};
use super::{ListenerParams, Sftp};
use crate::components::file::glob;
use crate::components::file::records::{media_type, read_records, Delivery, Piece, Progress};
use crate::components::file::Split;
use crate::event::{Event, FlowError, Payload};
use crate::runtime::Runtime;
use crate::source::{InFlight, Working};
use crate::state::object_store::ObjectStore;
use russh_sftp::client::SftpSession;
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// What two listings compare: size and modification time (seconds, as SFTP gives it).
type Seen = (u64, u32);

/// The longest wait between two listings while the server cannot be reached.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// One flow's watch on its remote directory.
pub struct Poller {
    flow: String,
    settings: Arc<ListenerParams>,
    sftp: Arc<Sftp>,
    store: Arc<ObjectStore>,
    directory: String,
}

/// How taking a file ended.
enum Taken {
    /// Run and moved (or left for the next listing to move, when only the move failed).
    Handled,
    /// Left in place: the connection broke or a stop came; the next listing takes it up again.
    Interrupted(String),
}

impl Poller {
    /// The poller of flow `flow`.
    pub fn new(flow: &str, settings: Arc<ListenerParams>, sftp: Arc<Sftp>, runtime: &Runtime) -> Poller {
        let store = runtime.program().state.store(&format!("sftp.listener:{flow}"), None, true);
        let directory = settings.directory.trim_end_matches('/').to_string();
        Poller { flow: flow.to_string(), settings, sftp, store, directory }
    }

    /// Lists the directory until stopped.
    pub async fn run(self, runtime: Runtime, mut stop: watch::Receiver<bool>, in_flight: InFlight) {
        let mut previous: BTreeMap<String, Seen> = BTreeMap::new();
        let mut complaint: Option<String> = None;
        let mut wait = self.settings.frequency.0;
        loop {
            // A stop does not wait for a connection attempt (up to `connect_timeout`) to end.
            let looked = tokio::select! {
                looked = self.look() => looked,
                _ = stop.changed() => return,
            };
            let problem = match looked {
                Ok((session, now)) => {
                    let mut problem = None;
                    for (name, seen) in &now {
                        if *stop.borrow() {
                            return;
                        }
                        if previous.get(name) == Some(seen) {
                            let _working = Working::start(&in_flight);
                            if let Taken::Interrupted(why) = self.take(&runtime, &session, name, *seen, &stop).await {
                                problem = Some(why);
                                break;
                            }
                        }
                    }
                    previous = now;
                    problem
                }
                Err(e) => Some(e.description),
            };
            if *stop.borrow() {
                return;
            }
            match problem {
                None => {
                    if complaint.take().is_some() {
                        tracing::info!(flow = %self.flow, config = %self.sftp.name(), "sftp.listener lists its directory again");
                    }
                    wait = self.settings.frequency.0;
                }
                Some(why) => {
                    if complaint.as_ref() != Some(&why) {
                        tracing::error!(flow = %self.flow, config = %self.sftp.name(), "sftp.listener: {why}; trying again");
                    }
                    complaint = Some(why);
                    wait = (wait * 2).clamp(self.settings.frequency.0, MAX_BACKOFF.max(self.settings.frequency.0));
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// The session and the matching regular files of the directory (created if missing) as they are now.
    async fn look(&self) -> Result<(Arc<SftpSession>, BTreeMap<String, Seen>), FlowError> {
        let session = self.sftp.session().await?;
        let listing = match session.read_dir(self.directory.clone()).await {
            Err(e) if super::write::no_such_file(&e) => {
                if let Err(e) = create_dirs(&session, &self.directory).await {
                    let what = format!("create the directory {}", self.directory);
                    return Err(self.sftp.failed(&session, &what, e).await);
                }
                session.read_dir(self.directory.clone()).await
            }
            other => other,
        };
        let listing = match listing {
            Ok(listing) => listing,
            Err(e) => return Err(self.sftp.failed(&session, &format!("list {}", self.directory), e).await),
        };
        let mut found = BTreeMap::new();
        for entry in listing {
            let name = entry.file_name();
            if name.starts_with('.') || !glob::matches(&self.settings.pattern, &name) {
                continue;
            }
            let meta = entry.metadata();
            if meta.is_regular() {
                found.insert(name, (meta.size.unwrap_or(0), meta.mtime.unwrap_or(0)));
            }
        }
        Ok((session, found))
    }

    /// How this listener runs a file's events.
    fn delivery(&self) -> Delivery<'_> {
        Delivery { flow: &self.flow, max_deliveries: self.settings.max_deliveries, consumers: self.settings.consumers }
    }

    /// Handles one stable file.
    async fn take(
        &self,
        runtime: &Runtime,
        session: &Arc<SftpSession>,
        name: &str,
        (size, mtime): Seen,
        stop: &watch::Receiver<bool>,
    ) -> Taken {
        let key = format!("{name}:{size}:{mtime}");
        let done_before = matches!(self.store.get(&key), Ok(Some(_)));
        let succeeded = if done_before {
            tracing::info!(flow = %self.flow, file = name, "file handled before a stop; moving it without running again");
            true
        } else {
            let modified = chrono::DateTime::<chrono::Utc>::from_timestamp(i64::from(mtime), 0).unwrap_or_default();
            let attributes = json!({
                "file": name, "directory": self.directory, "size": size, "modified": modified.to_rfc3339(),
                "config": self.sftp.name(),
            });
            let path = remote_path(&self.directory, name);
            let ran = match self.settings.split {
                Split::None => self.whole(runtime, session, &path, size, attributes).await,
                split => {
                    let progress = Progress::new(&self.store, &key, &self.flow);
                    self.split(runtime, session, &path, split, attributes, &progress, stop).await
                }
            };
            let ok = match ran {
                Ok(ok) => ok,
                Err(why) => return Taken::Interrupted(why),
            };
            if ok {
                if let Err(why) = self.store.put(&key, json!(true), None) {
                    tracing::error!(flow = %self.flow, file = name, "sftp.listener cannot record a done file: {why}");
                }
            }
            ok
        };
        let to = if succeeded { "processed" } else { "failed" };
        match self.move_into(session, name, to).await {
            Ok(()) => {
                let _ = self.store.remove(&key);
                Progress::new(&self.store, &key, &self.flow).forget();
                Taken::Handled
            }
            Err(e) => Taken::Interrupted(format!("cannot move {name} to {to}/: {}", e.description)),
        }
    }

    /// The whole file as one event; `Err` when the connection broke before it was read.
    async fn whole(
        &self,
        runtime: &Runtime,
        session: &Arc<SftpSession>,
        path: &str,
        size: u64,
        attributes: Json,
    ) -> Result<bool, String> {
        let mut event = Event::new(Json::Null);
        event.attributes = attributes.into();
        if size > self.settings.max_size {
            let error = FlowError::new(
                "FILE:TOO_LARGE",
                format!("{path} has {size} bytes, over `max_size` ({}); use `split`", self.settings.max_size),
            );
            self.delivery().refuse(runtime, &event, &error);
            return Ok(false);
        }
        match session.read(path.to_string()).await {
            Ok(bytes) => {
                event.payload = Arc::new(Payload::bytes(bytes, media_type(path)));
                Ok(self.delivery().deliver(runtime, event).await)
            }
            Err(e) => match Fault::from(e) {
                Fault::Refused(why) => {
                    let error = FlowError::new("FILE:READ", format!("cannot read {path}: {why}"));
                    self.delivery().refuse(runtime, &event, &error);
                    Ok(false)
                }
                lost => Err(self.sftp.failed(session, &format!("read {path}"), lost).await.description),
            },
        }
    }

    /// One event per record, streamed from the server on a blocking thread into a bounded channel, run
    /// `consumers` at a time, skipping those a previous read handled. `Ok(true)` when every record
    /// succeeded; `Err` when the reading broke or a stop came (the file stays for the next listing).
    #[allow(clippy::too_many_arguments)] // the one call site; each is a different thing
    async fn split(
        &self,
        runtime: &Runtime,
        session: &Arc<SftpSession>,
        path: &str,
        split: Split,
        attributes: Json,
        progress: &Progress<'_>,
        stop: &watch::Receiver<bool>,
    ) -> Result<bool, String> {
        let file = match session.open(path.to_string()).await {
            Ok(file) => file,
            Err(e) => {
                return match Fault::from(e) {
                    Fault::Refused(why) => {
                        let mut event = Event::new(Json::Null);
                        event.attributes = attributes.into();
                        let error = FlowError::new("FILE:READ", format!("cannot read {path}: {why}"));
                        self.delivery().refuse(runtime, &event, &error);
                        Ok(false)
                    }
                    lost => Err(self.sftp.failed(session, &format!("open {path}"), lost).await.description),
                }
            }
        };
        let (tx, rx) = mpsc::channel::<Piece>(64);
        let chunk = self.settings.chunk_size.max(1) as usize;
        let (what, handle) = (format!("{path} on {}", self.sftp.target()), tokio::runtime::Handle::current());
        let reader = tokio::task::spawn_blocking(move || {
            read_records(tokio_util::io::SyncIoBridge::new_with_handle(file, handle), &what, split, chunk, &tx)
        });
        let skip = progress.handled();
        let outcome = self
            .delivery()
            .run(runtime, rx, &attributes, skip, "FILE:READ", false, |n| progress.record(n, false), stop.clone())
            .await;
        let _ = reader.await;
        progress.record(outcome.handled, true);
        if let Some(why) = outcome.broken {
            let what = format!("read {path} after {} records", outcome.handled);
            return Err(self.sftp.failed(session, &what, Fault::Lost(why)).await.description);
        }
        if outcome.stopped {
            return Err(format!("stopped while reading {path}, after {} records", outcome.handled));
        }
        Ok(!outcome.failed)
    }

    /// Renames `name` into `into/` on the server, under a new name if one of that name is there already.
    async fn move_into(&self, session: &Arc<SftpSession>, name: &str, into: &str) -> Result<(), FlowError> {
        let target_dir = remote_path(&self.directory, into);
        if let Err(e) = create_dirs(session, &target_dir).await {
            return Err(self.sftp.failed(session, &format!("create {target_dir}"), e).await);
        }
        let source = remote_path(&self.directory, name);
        let mut target = remote_path(&target_dir, name);
        if session.try_exists(target.clone()).await.unwrap_or(false) {
            let stamp = crate::state::now();
            target = remote_path(&target_dir, &format!("{name}.{stamp}"));
        }
        match session.rename(source.clone(), target.clone()).await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.sftp.failed(session, &format!("rename {source} to {target}"), e).await),
        }
    }
}
