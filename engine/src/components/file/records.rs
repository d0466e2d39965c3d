//! A picked-up file turned into events, whatever brought it (`file.listener` from a directory,
//! `sftp.listener` from a server): the whole file, or one event per line, CSV record or chunk read from any
//! blocking [`Read`] as a stream into a bounded channel (so a million-line CSV never sits in memory; an
//! SFTP file's async reader comes in through `tokio_util::io::SyncIoBridge`), each run until it succeeds
//! or its deliveries are exhausted (then a dead letter), `consumers` at a time, in order.
//!
//! Progress is kept: after each record whose flow ended (in file order, so a prefix), the number handled
//! so far can be recorded, and a file read again after an interruption (a lost connection, a stop) skips
//! that many records instead of running them a second time.

use super::Split;
use crate::event::{Event, FlowError, Payload};
use crate::runtime::Runtime;
use crate::state::object_store::ObjectStore;
use futures_util::StreamExt;
use serde_json::{json, Map, Value as Json};
use std::io::{BufRead, Read};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// One piece of a file read as records.
pub enum Piece {
    /// A record, as its event's payload.
    Record(Payload),
    /// A record that cannot be read (a malformed CSV line): kept as a dead letter, reading goes on.
    Bad(String),
    /// The reading itself failed (a disk error, a lost connection): the last piece sent.
    Broken(String),
}

/// How the records of a file are run.
pub struct Delivery<'a> {
    /// The flow run on each.
    pub flow: &'a str,
    /// Runs of one event's flow before it is kept as a dead letter.
    pub max_deliveries: u32,
    /// Records run at once.
    pub consumers: u32,
}

/// How a file's records went.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Records handled from the start of the file (succeeded, or kept as dead letters), those skipped
    /// included.
    pub handled: u64,
    /// Whether some record failed (is now a dead letter).
    pub failed: bool,
    /// Why the reading stopped before the end, when it did (`Piece::Broken`).
    pub broken: Option<String>,
    /// Whether a stop ended the run before the end of the file.
    pub stopped: bool,
}

/// A media type from a file's extension.
pub fn media_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase()).as_deref() {
        Some("json") => "application/json",
        Some("csv") => "text/csv",
        Some("xml") => "application/xml",
        Some("txt") => "text/plain",
        _ => "application/octet-stream",
    }
}

impl Delivery<'_> {
    /// Runs the flow on one event until it succeeds or its deliveries are exhausted (then a dead letter).
    pub async fn deliver(&self, runtime: &Runtime, event: Event) -> bool {
        let first_failure = crate::state::now();
        let mut delay = Duration::from_millis(200);
        let attempts = self.max_deliveries.max(1);
        for attempt in 1..=attempts {
            let error = match runtime.run_flow(self.flow, event.clone()).await {
                Ok(_) => return true,
                Err(e) => e,
            };
            if attempt >= attempts || runtime.is_closing() {
                crate::runtime::dead_letter::keep(runtime, self.flow, &event, &error, attempt, first_failure, None);
                return false;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(30));
        }
        false
    }

    /// Keeps `event` as a dead letter at once, failed with `error`.
    pub fn refuse(&self, runtime: &Runtime, event: &Event, error: &FlowError) {
        crate::runtime::dead_letter::keep(runtime, self.flow, event, error, 1, crate::state::now(), None);
    }

    /// Runs the records arriving on `pieces`: the first `skip` are counted as handled without running
    /// (a previous read handled them), each other one gets `attributes` plus its `record` number (from 1).
    /// `Bad` pieces are kept as dead letters of type `bad_record`; a `Broken` piece ends the run with
    /// [`Outcome::broken`] (with `broken_is_failure`, it is also a dead letter of type `bad_record`, as the
    /// file listener does). `progress` is told the number handled after each record, in order; a change of
    /// `stop` ends the run between records.
    #[allow(clippy::too_many_arguments)] // one call site per listener; a struct would only rename them
    pub async fn run(
        &self,
        runtime: &Runtime,
        pieces: mpsc::Receiver<Piece>,
        attributes: &Json,
        skip: u64,
        bad_record: &'static str,
        broken_is_failure: bool,
        mut progress: impl FnMut(u64),
        mut stop: watch::Receiver<bool>,
    ) -> Outcome {
        // A stop ends the intake of records; those already running finish (the drain waits for them).
        let cut = std::sync::atomic::AtomicBool::new(false);
        let stopped = async {
            let _ = stop.wait_for(|stopped| *stopped).await;
            cut.store(true, std::sync::atomic::Ordering::Relaxed);
        };
        let mut pieces = pieces;
        let numbered = futures_util::stream::poll_fn(move |cx| pieces.poll_recv(cx));
        let runs = numbered
            .take_until(stopped)
            .enumerate()
            .map(|(i, piece)| {
                let n = i as u64 + 1;
                let mut attributes = attributes.clone();
                attributes["record"] = json!(n);
                async move {
                    if n <= skip && !matches!(piece, Piece::Broken(_)) {
                        return (n, true, None);
                    }
                    let mut event = Event::new(Json::Null);
                    event.attributes = attributes.into();
                    match piece {
                        Piece::Record(payload) => {
                            event.payload = Arc::new(payload);
                            (n, self.deliver(runtime, event).await, None)
                        }
                        Piece::Bad(why) => {
                            self.refuse(runtime, &event, &FlowError::new(bad_record, why));
                            (n, false, None)
                        }
                        Piece::Broken(why) => {
                            if broken_is_failure {
                                self.refuse(runtime, &event, &FlowError::new(bad_record, why.clone()));
                            }
                            (n, !broken_is_failure, Some(why))
                        }
                    }
                }
            })
            .buffered(self.consumers.max(1) as usize);
        futures_util::pin_mut!(runs);
        let mut outcome = Outcome::default();
        while let Some((n, ok, broken)) = runs.next().await {
            outcome.failed |= !ok;
            if let Some(why) = broken {
                outcome.broken = Some(why);
                break;
            }
            outcome.handled = n;
            progress(n);
        }
        outcome.stopped = cut.load(std::sync::atomic::Ordering::Relaxed);
        outcome
    }
}

/// How many records of one file were handled, kept in its listener's store under `progress:<file key>`
/// (durable with `--state DIR`): written every [`PROGRESS_EVERY`] records or [`PROGRESS_AFTER`], and at
/// once when a read ends, so a killed process runs again at most that many.
pub struct Progress<'a> {
    store: &'a ObjectStore,
    key: String,
    flow: &'a str,
    /// The count last written and when.
    last: Mutex<(u64, Instant)>,
}

/// Records handled between two writes of a file's progress at most.
pub const PROGRESS_EVERY: u64 = 1000;
/// Time between two writes of a file's progress at most, while records are handled.
pub const PROGRESS_AFTER: Duration = Duration::from_secs(1);

impl<'a> Progress<'a> {
    /// The progress of the file known as `file_key` (`name:size:mtime`) to `flow`'s listener.
    pub fn new(store: &'a ObjectStore, file_key: &str, flow: &'a str) -> Progress<'a> {
        let key = format!("progress:{file_key}");
        let handled = match store.get(&key) {
            Ok(value) => value.and_then(|v| v.as_u64()).unwrap_or(0),
            Err(why) => {
                tracing::error!(flow, "a listener cannot read the progress of a file: {why}");
                0
            }
        };
        Progress { store, key, flow, last: Mutex::new((handled, Instant::now())) }
    }

    /// The records a previous read handled.
    pub fn handled(&self) -> u64 {
        self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner).0
    }

    /// `handled` records are done: written when `now`, or when enough records or time went by.
    pub fn record(&self, handled: u64, now: bool) {
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let due = handled >= last.0 + PROGRESS_EVERY || last.1.elapsed() >= PROGRESS_AFTER;
        if handled <= last.0 || !(now || due) {
            return;
        }
        match self.store.put(&self.key, json!(handled), None) {
            Ok(()) => *last = (handled, Instant::now()),
            Err(why) => tracing::error!(flow = self.flow, "a listener cannot keep the progress of a file: {why}"),
        }
    }

    /// Removes the record (the file has left the directory).
    pub fn forget(&self) {
        let _ = self.store.remove(&self.key);
    }
}

/// Reads `reader` as records into `tx` (`what` names the file in messages); a failed read is sent as a
/// [`Piece::Broken`], the last piece.
pub fn read_records(reader: impl Read, what: &str, split: Split, chunk: usize, tx: &mpsc::Sender<Piece>) {
    let fail = |e: &dyn std::fmt::Display| format!("cannot read {what}: {e}");
    let mut reader = std::io::BufReader::with_capacity(64 * 1024, reader);
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
                        if tx.blocking_send(Piece::Record(Payload::bytes(text.to_vec(), "text/plain"))).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx.blocking_send(Piece::Broken(fail(&e)));
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
                    let _ = tx.blocking_send(Piece::Broken(fail(&e)));
                    return;
                }
            };
            for record in csv.records() {
                let sent = match record {
                    Ok(record) => {
                        let map: Map<String, Json> =
                            headers.iter().zip(record.iter()).map(|(h, v)| (h.to_string(), json!(v))).collect();
                        tx.blocking_send(Piece::Record(Payload::value(Json::Object(map))))
                    }
                    Err(e) if e.is_io_error() => {
                        let _ = tx.blocking_send(Piece::Broken(fail(&e)));
                        return;
                    }
                    Err(e) => tx.blocking_send(Piece::Bad(fail(&e))),
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
                            let _ = tx.blocking_send(Piece::Broken(fail(&e)));
                            return;
                        }
                    }
                }
                if filled == 0 {
                    return;
                }
                let payload = Payload::bytes(buffer[..filled].to_vec(), "application/octet-stream");
                if tx.blocking_send(Piece::Record(payload)).is_err() || filled < chunk {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &str, split: Split, chunk: usize) -> Vec<String> {
        let (tx, mut rx) = mpsc::channel(1024);
        read_records(text.as_bytes(), "test", split, chunk, &tx);
        drop(tx);
        let mut out = Vec::new();
        while let Ok(piece) = rx.try_recv() {
            out.push(match piece {
                Piece::Record(p) => String::from_utf8_lossy(&p.to_body()).to_string(),
                Piece::Bad(why) => format!("bad: {why}"),
                Piece::Broken(why) => format!("broken: {why}"),
            });
        }
        out
    }

    #[test]
    fn lines_lose_their_line_ends_and_chunks_keep_every_byte() {
        assert_eq!(pieces("a\r\nb\nc", Split::Lines, 0), ["a", "b", "c"]);
        assert_eq!(pieces("abcdefg", Split::Chunks, 3), ["abc", "def", "g"]);
        assert_eq!(pieces("abcdef", Split::Chunks, 3), ["abc", "def"]);
    }

    #[test]
    fn a_malformed_csv_record_is_a_bad_piece_and_reading_goes_on() {
        let got = pieces("id,name\n1,ana\n2\n3,dara\n", Split::Csv, 0);
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[1].starts_with("bad: cannot read test"), "{got:?}");
        assert!(got[2].contains("dara"), "{got:?}");
    }
}
