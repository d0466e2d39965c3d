//! Errors of the state store: values, never panics, and on open always with the path and the way out.

use std::path::PathBuf;

/// What an operator reads when the state file cannot be used: relais refuses to start rather than reset the
/// state, because an empty store would silently drop every queued message and dead letter in the old one.
pub const CORRUPT_RECOVERY: &str = "relais does not start on a damaged state file, because starting empty would \
silently drop the messages and dead letters it holds. To recover: stop relais, move the file aside (for example \
`mv state.redb state.redb.damaged` in the state directory) and start relais again; it creates an empty state. \
Messages queued in the moved file are not delivered and its dead letters are not listed. Keep the moved file: \
it is the only copy of them (restore the state directory from a backup if you have one)";

/// A boxed underlying error, so the backend's error types stay out of this crate's API.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in a state store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Another process (or another store in this process) has the state file open. redb locks the file, and two
    /// writers would each believe they own every queued message.
    #[error(
        "the state directory {} is in use: another relais process has {} open. Stop that process, or give this \
         one a different state directory",
        dir.display(),
        file.display()
    )]
    InUse {
        /// The state directory.
        dir: PathBuf,
        /// The locked file in it.
        file: PathBuf,
    },

    /// The state directory or file cannot be created or opened at all (permissions, a file where the directory
    /// should be, a full disk...). Nothing is known to be wrong with the state itself.
    #[error("cannot open the state at {}: {what}: {source}", path.display())]
    Open {
        /// The directory or file that could not be opened.
        path: PathBuf,
        /// The step that failed.
        what: &'static str,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },

    /// The state file exists but is damaged or is not a relais state file. Never answered by starting empty.
    #[error("the state file {} is damaged or unreadable: {detail}. {CORRUPT_RECOVERY}", path.display())]
    Corrupt {
        /// The state file.
        path: PathBuf,
        /// What the backend found.
        detail: String,
    },

    /// The state is intact but in a format this version cannot read: a newer relais layout (a redb file or a
    /// PostgreSQL schema migrated by a newer relais), an old redb file format, or something that is not relais
    /// state.
    #[error("the state {state} is in a format this relais cannot read ({detail}); {way_out}")]
    Incompatible {
        /// Which state: `file /var/lib/relais/state.redb`, `schema relais of postgres://relais:***@db/state`.
        state: String,
        /// What differs.
        detail: String,
        /// What the operator can do.
        way_out: &'static str,
    },

    /// The `--state` URL cannot be used as written. The URL is shown with its password replaced.
    #[error("the state URL {url} is not usable: {detail}")]
    BadUrl {
        /// The URL, password replaced by `***`.
        url: String,
        /// What is wrong with it.
        detail: String,
    },

    /// The PostgreSQL database behind the state cannot be reached, or refused the connection. Nothing is known to
    /// be wrong with the state itself; the operation did not take effect.
    #[error("cannot reach the PostgreSQL state at {url} while {operation}: {detail}")]
    Unreachable {
        /// The URL, password replaced by `***`.
        url: String,
        /// What the store was doing.
        operation: &'static str,
        /// The driver's or the pool's reason (never holds the password).
        detail: String,
    },

    /// An operation on an open store failed (an I/O error while committing, a full disk). The operation did not
    /// take effect: a failed commit leaves the previous state.
    #[error("state store failure while {operation}: {source}")]
    Storage {
        /// What the store was doing (`enqueueing a message`...).
        operation: &'static str,
        /// The backend's error.
        #[source]
        source: BoxError,
    },

    /// A record in the store could not be decoded: written by something else, or damaged after the open's
    /// integrity check.
    #[error("unreadable {what} in the state store: {detail}")]
    Record {
        /// Which record (`message 42 of queue orders`...).
        what: String,
        /// Why it could not be decoded.
        detail: String,
    },
}

/// What to do about a redb file this relais cannot read.
pub(crate) const REDB_WAY_OUT: &str =
    "run the relais version that wrote it, or move the file aside to start with an empty state";

impl StoreError {
    /// Whether the failure is the backend being out of reach (a network or server failure), as opposed to a
    /// bad request or bad data: callers answer 503 and retry later.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unreachable { .. })
    }

    /// A failure of an operation on an open store.
    pub(crate) fn storage(operation: &'static str, source: impl Into<BoxError>) -> Self {
        StoreError::Storage { operation, source: source.into() }
    }
}
