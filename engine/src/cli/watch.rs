//! Noticing that the flows changed on disk, for `relais run`'s hot reload: the operating system's file
//! events (inotify, FSEvents, ReadDirectoryChangesW, through `notify` and its debouncer), so nothing is
//! read until something changes. When the system cannot watch (no inotify instance or watch left, an
//! unsupported file system), the run falls back to comparing fingerprints of the files
//! ([`crate::daemon::reload::Fingerprint`]) every `--watch-interval`, and says so in its log.
//!
//! A change counts when it is an edit, a creation, a removal or a rename of a path under a watched
//! directory, none of whose components below that directory is hidden (so a `.relais` state directory,
//! `.git` or an editor's `.flows.yaml.swp` never reload), or of a watched file itself (a file given on the
//! command line is watched through its directory, so an editor that saves by writing a temporary file and
//! renaming it over the original is seen). Opening and reading a file is not a change: the reload itself
//! reads every file.

use crate::daemon::reload::Fingerprint;
use notify_debouncer_full::notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{new_debouncer, DebounceEventResult, DebouncedEvent, Debouncer, RecommendedCache};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;

/// What the watcher thread tells the run.
enum Note {
    /// Something relevant changed.
    Changed,
    /// The watcher reported a failure (events may have been lost).
    Failed(String),
}

/// How changes are noticed.
enum Mode {
    /// `--no-watch`: only SIGHUP reloads.
    Off,
    /// File events; the debouncer stops when dropped.
    Events {
        _debouncer: Debouncer<notify_debouncer_full::notify::RecommendedWatcher, RecommendedCache>,
        notes: mpsc::UnboundedReceiver<Note>,
        settle: Duration,
    },
    /// Fingerprints compared every `interval`.
    Polling { paths: Vec<PathBuf>, interval: Duration, seen: Fingerprint },
}

/// How the run watches its files, for its log line at start.
pub enum Started {
    /// Not at all (`--no-watch`).
    Off,
    /// Through file events.
    Events,
    /// By polling, because file events could not be had (the reason).
    Polling(String),
}

/// The watch over a run's flow files.
pub struct Watch {
    mode: Mode,
}

impl Watch {
    /// Starts watching `paths` (files or directories). Call it before the files are read, so that an edit
    /// made while the run starts is seen. `window` is `--watch-interval`: a reload waits until no change
    /// has arrived for about that long (an editor or a `git checkout` finishing its writes).
    pub fn start(paths: &[PathBuf], window: Duration, enabled: bool) -> (Watch, Started) {
        if !enabled {
            return (Watch { mode: Mode::Off }, Started::Off);
        }
        let window = window.max(Duration::from_millis(50));
        match events(paths, window) {
            Ok(mode) => (Watch { mode }, Started::Events),
            Err(why) => {
                let mode = Mode::Polling { paths: paths.to_vec(), interval: window, seen: Fingerprint::of(paths) };
                (Watch { mode }, Started::Polling(why))
            }
        }
    }

    /// Resolves when the files changed and have been quiet for the window. Cancel-safe in the sense a
    /// `select!` needs: a change noticed by a cancelled call is covered by the reload that cancelled it.
    pub async fn changed(&mut self) {
        match &mut self.mode {
            Mode::Off => std::future::pending().await,
            Mode::Events { notes, settle, .. } => {
                loop {
                    match notes.recv().await {
                        Some(Note::Changed) => break,
                        Some(Note::Failed(why)) => warn(&why),
                        None => std::future::pending().await,
                    }
                }
                // Each event arrives once it is `settle` old; wait for one more `settle` without any.
                while let Ok(Some(note)) = tokio::time::timeout(*settle, notes.recv()).await {
                    if let Note::Failed(why) = note {
                        warn(&why);
                    }
                }
            }
            Mode::Polling { paths, interval, seen } => {
                while Fingerprint::of(paths) == *seen {
                    tokio::time::sleep(*interval).await;
                }
                // Let an editor or a `git checkout` finish writing before reading anything.
                loop {
                    let before = Fingerprint::of(paths);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    *seen = Fingerprint::of(paths);
                    if *seen == before {
                        break;
                    }
                }
            }
        }
    }

    /// Forgets the changes noticed so far: a reload for another reason (SIGHUP) is about to read them.
    pub fn resync(&mut self) {
        match &mut self.mode {
            Mode::Off => {}
            Mode::Events { notes, .. } => while notes.try_recv().is_ok() {},
            Mode::Polling { paths, seen, .. } => *seen = Fingerprint::of(paths),
        }
    }
}

fn warn(why: &str) {
    tracing::warn!("file watching: {why}; a change may be missed until the next one (SIGHUP reloads)");
}

/// File events over `paths`, or why they cannot be had.
fn events(paths: &[PathBuf], window: Duration) -> Result<Mode, String> {
    let roots: Vec<Root> = paths.iter().map(|p| Root::of(p)).collect();
    let watched: Vec<(PathBuf, RecursiveMode)> = roots.iter().map(Root::watched).collect();
    let (tell, notes) = mpsc::unbounded_channel();
    let settle = window / 2;
    let on_events = move |result: DebounceEventResult| match result {
        Ok(events) => {
            if events.iter().any(|e| relevant(&roots, e)) {
                let _ = tell.send(Note::Changed);
            } else {
                tracing::trace!("file events ignored (reads, hidden paths or other files): {events:?}");
            }
        }
        Err(errors) => {
            for e in errors {
                let _ = tell.send(Note::Failed(e.to_string()));
            }
        }
    };
    let mut debouncer = new_debouncer(settle, None, on_events).map_err(|e| e.to_string())?;
    for (path, mode) in &watched {
        debouncer.watch(path, *mode).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(Mode::Events { _debouncer: debouncer, notes, settle })
}

/// One path given to the run.
struct Root {
    /// As given, made absolute (the form file events name it by).
    path: PathBuf,
    /// With symbolic links resolved, in case events name it that way.
    canonical: Option<PathBuf>,
    /// A directory (everything not hidden under it counts) or one file.
    dir: bool,
}

impl Root {
    fn of(path: &Path) -> Root {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        Root { canonical: std::fs::canonicalize(&path).ok(), dir: path.is_dir(), path }
    }

    /// What to hand the watcher: a directory recursively, a file through its directory (a watch on the
    /// file itself would be lost when an editor renames a new file over it).
    fn watched(&self) -> (PathBuf, RecursiveMode) {
        match (self.dir, self.path.parent()) {
            (false, Some(parent)) => (parent.to_path_buf(), RecursiveMode::NonRecursive),
            _ => (self.path.clone(), RecursiveMode::Recursive),
        }
    }

    /// Whether a change to `changed` is a change to this root's flows.
    fn counts(&self, changed: &Path) -> bool {
        let below = |root: &Path| changed.strip_prefix(root).ok().map(Path::to_path_buf);
        let Some(relative) = below(&self.path).or_else(|| self.canonical.as_deref().and_then(below)) else {
            return false;
        };
        if self.dir {
            !relative.components().any(|c| matches!(c, Component::Normal(n) if n.to_string_lossy().starts_with('.')))
        } else {
            relative.as_os_str().is_empty()
        }
    }
}

/// Whether an event is a change to the flows under `roots`.
fn relevant(roots: &[Root], event: &DebouncedEvent) -> bool {
    if event.need_rescan() {
        // The system dropped events: anything may have changed.
        return true;
    }
    match event.kind {
        EventKind::Access(_) | EventKind::Other => false,
        EventKind::Any | EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) => {
            event.paths.iter().any(|p| roots.iter().any(|r| r.counts(p)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify_debouncer_full::notify::event::{AccessKind, CreateKind, DataChange, ModifyKind, RenameMode};
    use notify_debouncer_full::notify::Event;

    fn event(kind: EventKind, paths: &[&Path]) -> DebouncedEvent {
        let mut event = Event::new(kind);
        for p in paths {
            event = event.add_path(p.to_path_buf());
        }
        DebouncedEvent::new(event, std::time::Instant::now())
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("relais-watch-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).ok();
        dir
    }

    #[test]
    fn edits_under_a_directory_count_but_reads_and_hidden_paths_do_not() {
        let dir = temp_dir("dir");
        let roots = [Root::of(&dir)];
        let edit = EventKind::Modify(ModifyKind::Data(DataChange::Content));
        assert!(relevant(&roots, &event(edit, &[&dir.join("flows.yaml")])));
        assert!(relevant(&roots, &event(EventKind::Create(CreateKind::File), &[&dir.join("sub/new.flow")])));
        assert!(!relevant(&roots, &event(EventKind::Access(AccessKind::Any), &[&dir.join("flows.yaml")])));
        assert!(!relevant(&roots, &event(edit, &[&dir.join(".relais/state/state.redb")])));
        assert!(!relevant(&roots, &event(edit, &[&dir.join("sub/.flows.yaml.swp")])));
        assert!(!relevant(&roots, &event(edit, &[Path::new("/elsewhere/flows.yaml")])));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_rename_from_a_hidden_temporary_file_onto_a_flow_counts() {
        let dir = temp_dir("rename");
        let roots = [Root::of(&dir)];
        let rename = EventKind::Modify(ModifyKind::Name(RenameMode::Both));
        assert!(relevant(&roots, &event(rename, &[&dir.join(".flows.yaml.tmp"), &dir.join("flows.yaml")])));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_root_is_watched_through_its_directory_and_only_it_counts() {
        let dir = temp_dir("file");
        let file = dir.join("flows.yaml");
        std::fs::write(&file, "flows: {}").ok();
        let root = Root::of(&file);
        assert_eq!(root.watched(), (dir.clone(), RecursiveMode::NonRecursive));
        let edit = EventKind::Modify(ModifyKind::Data(DataChange::Content));
        assert!(relevant(std::slice::from_ref(&root), &event(edit, &[&file])));
        assert!(!relevant(std::slice::from_ref(&root), &event(edit, &[&dir.join("relais.log")])));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Edits `file` until `watch` reports a change (each edit is seen by at most one call), failing after 20 s.
    async fn edited_and_noticed(watch: &mut Watch, file: &Path) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let noticed = async {
            watch.changed().await;
        };
        tokio::pin!(noticed);
        let mut n = 0;
        loop {
            n += 1;
            std::fs::write(file, format!("flows: {{}} # edit {n}")).ok();
            if tokio::time::timeout(Duration::from_millis(500), &mut noticed).await.is_ok() {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "no change noticed within 20 s");
        }
    }

    #[tokio::test]
    async fn file_events_and_the_polling_fallback_both_notice_an_edit() {
        let dir = temp_dir("live");
        let file = dir.join("flows.yaml");
        std::fs::write(&file, "flows: {}").ok();
        let paths = [dir.clone()];
        let (mut watch, started) = Watch::start(&paths, Duration::from_millis(50), true);
        if let Started::Polling(why) = &started {
            eprintln!("file events unavailable here ({why}); the polling mode is tested instead");
        }
        edited_and_noticed(&mut watch, &file).await;
        let seen = Fingerprint::of(&paths);
        let mut polling =
            Watch { mode: Mode::Polling { paths: paths.to_vec(), interval: Duration::from_millis(50), seen } };
        edited_and_noticed(&mut polling, &file).await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn watching_off_never_starts_a_watcher() {
        assert!(matches!(Watch::start(&[PathBuf::from("flows")], Duration::from_secs(1), false).1, Started::Off));
    }

    #[test]
    fn a_root_inside_a_hidden_directory_still_counts_its_own_files() {
        let dir = temp_dir("hidden-parent").join(".config/flows");
        std::fs::create_dir_all(&dir).ok();
        let roots = [Root::of(&dir)];
        let edit = EventKind::Modify(ModifyKind::Data(DataChange::Content));
        assert!(relevant(&roots, &event(edit, &[&dir.join("flows.yaml")])));
        let _ = std::fs::remove_dir_all(dir.parent().and_then(Path::parent).unwrap_or(&dir));
    }
}
