//! A request body: read under the size limit and the body read timeout, then checked against its media type,
//! off the async workers when it is large.
//!
//! A JSON body is checked without building its value ([`Payload::check`]): a flow that forwards or echoes
//! it never pays for a tree, and one that reads it parses it then, once. Other formats are parsed by the
//! check and the value kept in the payload, so the flow does not parse them again. Checking a
//! multi-megabyte body takes a worker thread for a long while; on the async workers that stalls every other
//! request of the process. Above [`PARSE_OFF_WORKER_ABOVE`] it runs on tokio's blocking pool instead.

use crate::runtime::{FlowError, Payload, Runtime};
use http_body_util::{BodyExt, Limited};
use hyper::body::Bytes;
use std::sync::Arc;
use std::time::Duration;

/// Bodies larger than this are checked on the blocking pool (smaller ones cost less than the hand-off).
pub const PARSE_OFF_WORKER_ABOVE: usize = 64 * 1024;

/// Why a body could not be read.
#[derive(Debug)]
pub enum Unread {
    /// Over the size limit: 413.
    TooLarge(usize),
    /// Not all there within the body read timeout: 408.
    TooSlow(Duration),
    /// The connection broke or the framing was wrong: 400.
    Broken(String),
}

/// Reads `body`: at most `max` bytes, all within `timeout` (an endless chunked body ends here too).
pub async fn read<B>(body: B, max: usize, timeout: Duration) -> Result<Bytes, Unread>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // A request without a body (a `GET`, `Content-Length: 0`) has nothing to wait for: no timer, no collecting.
    if body.is_end_stream() {
        return Ok(Bytes::new());
    }
    match tokio::time::timeout(timeout, Limited::new(body, max).collect()).await {
        Err(_) => Err(Unread::TooSlow(timeout)),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(Unread::TooLarge(max)),
        Ok(Err(e)) => Err(Unread::Broken(format!("cannot read the body: {e}"))),
    }
}

/// Checks `payload` with the program's readers (a 400 when it is not what its media type says), on the
/// blocking pool when it is larger than [`PARSE_OFF_WORKER_ABOVE`].
pub async fn check(runtime: &Runtime, payload: &Arc<Payload>, len: usize) -> Result<(), FlowError> {
    if len <= PARSE_OFF_WORKER_ABOVE {
        return payload.check(&runtime.program().readers);
    }
    let (runtime, payload) = (runtime.clone(), payload.clone());
    tokio::task::spawn_blocking(move || payload.check(&runtime.program().readers))
        .await
        .unwrap_or_else(|e| Err(FlowError::new("RUNTIME:INTERNAL", format!("parsing the body failed: {e}"))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Empty, Full};

    #[tokio::test]
    async fn a_request_without_a_body_reads_as_no_bytes() {
        let got = read(Empty::<Bytes>::new(), 10, Duration::from_secs(30)).await;
        assert!(matches!(got, Ok(b) if b.is_empty()));
        let got = read(Full::new(Bytes::new()), 10, Duration::from_secs(30)).await;
        assert!(matches!(got, Ok(b) if b.is_empty()));
    }

    #[tokio::test]
    async fn a_body_is_read_whole_under_its_limit_and_refused_over_it() {
        let got = read(Full::new(Bytes::from_static(b"{\"a\":1}")), 7, Duration::from_secs(30)).await;
        assert!(matches!(got, Ok(b) if b.as_ref() == b"{\"a\":1}"));
        let got = read(Full::new(Bytes::from_static(b"{\"a\":1}")), 6, Duration::from_secs(30)).await;
        assert!(matches!(got, Err(Unread::TooLarge(6))));
    }
}
