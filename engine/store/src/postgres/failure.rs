//! How a failed PostgreSQL call becomes a [`StoreError`]: the server or the network out of reach is
//! [`StoreError::Unreachable`] (callers answer 503 and retry), anything else is [`StoreError::Storage`]; a
//! row that cannot be decoded is [`StoreError::Record`]. Messages carry the redacted URL, never the password.

use crate::error::StoreError;

/// A failure inside one call, before the call's name and the URL are attached.
#[derive(Debug)]
pub(super) enum Failed {
    /// The driver failed: a connection, protocol or SQL error.
    Driver(tokio_postgres::Error),
    /// The pool could not give a connection (timed out, or could not open one).
    Pool(deadpool_postgres::PoolError),
    /// A stored value could not be decoded.
    Record { what: String, detail: String },
}

impl From<tokio_postgres::Error> for Failed {
    fn from(e: tokio_postgres::Error) -> Self {
        Failed::Driver(e)
    }
}

impl From<deadpool_postgres::PoolError> for Failed {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Failed::Pool(e)
    }
}

/// Whether a driver error means "PostgreSQL is out of reach" rather than "this statement failed": no SQLSTATE
/// at all (I/O, a closed connection, a timeout), class 08 (connection exception), or class 57P (the server
/// is shutting down, or terminated this backend, as `pg_terminate_backend` does).
fn unreachable(e: &tokio_postgres::Error) -> bool {
    match e.code() {
        None => true,
        Some(code) => {
            let code = code.code();
            code.starts_with("08") || code.starts_with("57P") || code == "53300"
        }
    }
}

/// The driver's message with its cause chain, one line (the driver's Display alone often says only "error
/// connecting to server").
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

impl Failed {
    /// The error an operator reads: `operation` names the call, `shown` is the redacted URL and `url` the
    /// real one, whose password is taken out of the driver's text if it ever appears there.
    pub(super) fn into_store_error(self, operation: &'static str, shown: &str, url: &str) -> StoreError {
        let clean = |text: String| super::target::redact_text(&text, url);
        match self {
            Failed::Driver(e) if unreachable(&e) => {
                StoreError::Unreachable { url: shown.to_string(), operation, detail: clean(describe(&e)) }
            }
            Failed::Driver(e) => StoreError::storage(operation, clean(describe(&e))),
            Failed::Pool(e) => {
                StoreError::Unreachable { url: shown.to_string(), operation, detail: clean(describe(&e)) }
            }
            Failed::Record { what, detail } => StoreError::Record { what, detail },
        }
    }
}
