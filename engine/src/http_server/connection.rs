//! Serving one accepted connection under its [`Limits`]: HTTP/1.1 or HTTP/2 (hyper's auto builder), with
//! the header timeout (408), the HTTP/1.1 keep-alive and HTTP/2 idle timeouts, and a lingering close.
//!
//! hyper's own header timeout starts when a connection waits for its next request, so it cannot tell an
//! idle keep-alive connection from a slow request, and it closes without a response. The timers here
//! follow the connection's phase instead ([`Tracker`]): waiting idle, receiving a request's head, or
//! with requests open. The connection's stream is shared with hyper ([`Shared`]) so that once hyper is
//! done, this module still holds it: to write the 408 hyper cannot, and to close without a reset.
//!
//! At shutdown ([`Drain::start`]) a listener connection is told to close as an idle one is: hyper closes
//! an idle HTTP/1.1 connection at once, answers a busy one's request with `Connection: close` and closes
//! after it, and sends an HTTP/2 connection a GOAWAY.

use super::drain::Drain;
use super::limits::Limits;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// How long a closing connection keeps reading (and discarding) what the client still sends, so that the
/// client, busy sending a body the server refused, reads the response instead of a reset (a socket closed
/// with unread data answers RST). nginx's lingering close does the same (`lingering_time` 30s there).
const LINGER: Duration = Duration::from_secs(10);

/// Longest wait for more bytes while lingering (nginx's `lingering_timeout`, 5s there): a client that
/// has stopped sending but does not close is not waited for.
const LINGER_IDLE: Duration = Duration::from_secs(2);

/// How long a connection told to close (HTTP/2 GOAWAY) may take to finish once it has no request open
/// before it is dropped: an HTTP/2 client that never acknowledges the GOAWAY's PING does not hold it open.
const CLOSING_GRACE: Duration = Duration::from_secs(5);

/// What a connection is doing, for its timers.
struct Phase {
    /// Requests (HTTP/2 streams) being handled.
    open: usize,
    /// When the head of the next request began (its first byte, or the accept for a first request).
    head_since: Option<Instant>,
    /// Whether any byte of that head arrived (a connection that sent nothing is closed silently).
    head_bytes: bool,
    /// When the last request ended (or the connection was accepted).
    idle_since: Instant,
    /// The client speaks HTTP/2: streams, not heads, and the HTTP/2 idle timeout.
    http2: bool,
    /// The first bytes were looked at for the HTTP/2 preface.
    sniffed: bool,
    /// When the connection's timer wakes next to look at the phase again (`None`: only when told of a
    /// change). A change is told only when it brings the deadline before this instant.
    wakes: Option<Instant>,
}

/// The connection's timeouts the [`Tracker`] follows.
#[derive(Clone, Copy)]
struct Timeouts {
    header_read: Duration,
    keep_alive: Duration,
    http2_idle: Duration,
}

impl Timeouts {
    /// How far ahead the timer wakes at most: the shortest timeout. A deadline a request moves is then
    /// never before the wake already set (a head starting now ends `header_read` from now at the earliest,
    /// an idle time `keep_alive` from now), so the requests of a busy connection tell the timer nothing;
    /// it wakes once per horizon, finds the deadline moved, and sleeps again.
    fn horizon(&self) -> Duration {
        self.header_read.min(self.keep_alive).min(self.http2_idle).max(Duration::from_millis(10))
    }
}

impl Phase {
    /// The next deadline and what it would mean, `None` while requests are open.
    fn due(&self, timeouts: &Timeouts) -> Option<(Instant, Expiry)> {
        if self.open > 0 {
            None
        } else if self.http2 {
            Some((self.idle_since + timeouts.http2_idle, Expiry::Idle))
        } else if let Some(since) = self.head_since {
            let why = if self.head_bytes { Expiry::Head } else { Expiry::Idle };
            Some((since + timeouts.header_read, why))
        } else {
            Some((self.idle_since + timeouts.keep_alive, Expiry::Idle))
        }
    }

    /// Whether the timer must be told of a change: its deadline is now before the wake set.
    fn sooner(&self, timeouts: &Timeouts) -> bool {
        match (self.due(timeouts), self.wakes) {
            (Some((at, _)), Some(wakes)) => at < wakes,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }
}

/// Follows one connection's phase; the service marks each request with [`Tracker::open`], the shared
/// stream reports bytes read.
pub struct Tracker {
    phase: Mutex<Phase>,
    timeouts: Timeouts,
    /// Woken when the phase changes (a single waiter: the connection's timer).
    changed: Notify,
}

/// Why a connection's timer fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    /// Nothing to do for too long: close quietly (HTTP/2: GOAWAY).
    Idle,
    /// A request's head started and did not finish in time: 408.
    Head,
}

impl Tracker {
    fn new(limits: &Limits) -> Tracker {
        let now = Instant::now();
        Tracker {
            phase: Mutex::new(Phase {
                open: 0,
                head_since: Some(now),
                head_bytes: false,
                idle_since: now,
                http2: false,
                sniffed: false,
                wakes: None,
            }),
            timeouts: Timeouts {
                header_read: limits.header_read_timeout,
                keep_alive: limits.keep_alive,
                http2_idle: limits.http2_idle_timeout,
            },
            changed: Notify::new(),
        }
    }

    fn phase(&self) -> MutexGuard<'_, Phase> {
        // A panic while holding this lock leaves plain counters behind, still meaningful.
        self.phase.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Tells the timer of a change to `phase` if it brings the deadline before the timer's next wake.
    fn changed(&self, phase: MutexGuard<'_, Phase>) {
        let tell = phase.sooner(&self.timeouts);
        drop(phase);
        if tell {
            self.changed.notify_one();
        }
    }

    /// Counts `req` as open until the returned guard is dropped (when its response is ready).
    pub fn open<B>(self: &Arc<Self>, req: &Request<B>) -> Open {
        let mut phase = self.phase();
        phase.open += 1;
        phase.head_since = None;
        phase.head_bytes = false;
        phase.http2 |= req.version() == hyper::Version::HTTP_2;
        self.changed(phase);
        Open(self.clone())
    }

    fn on_read(&self, bytes: &[u8]) {
        let mut phase = self.phase();
        let mut changed = false;
        if !phase.sniffed && bytes.len() >= 3 {
            phase.sniffed = true;
            if bytes.starts_with(b"PRI") {
                phase.http2 = true;
                phase.head_since = None;
                changed = true;
            }
        }
        if !phase.http2 && phase.open == 0 && !phase.head_bytes {
            phase.head_bytes = true;
            phase.head_since.get_or_insert_with(Instant::now);
            changed = true;
        }
        if changed {
            self.changed(phase);
        }
    }

    /// Resolves when one of the connection's timers runs out.
    async fn expired(&self) -> Expiry {
        loop {
            // Created before the phase is read: a change after the read wakes it (notify_one keeps a permit).
            let changed = self.changed.notified();
            let now = Instant::now();
            let wake = {
                let mut phase = self.phase();
                let due = phase.due(&self.timeouts);
                if let Some((at, why)) = due {
                    if at <= now {
                        return why;
                    }
                }
                // Never further than the horizon: the requests to come then need not tell (see there).
                let horizon = now + self.timeouts.horizon();
                let wake = due.map_or(horizon, |(at, _)| at.min(horizon));
                phase.wakes = Some(wake);
                wake
            };
            tokio::select! {
                _ = changed => {}
                _ = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    /// Resolves [`CLOSING_GRACE`] after both `since` and the end of the last open request, with none open
    /// since: how long a connection told to close at `since` is given to finish.
    async fn settled(&self, since: Instant) {
        loop {
            // As in `expired`.
            let changed = self.changed.notified();
            let at = {
                let mut phase = self.phase();
                // Every change that leaves a deadline is told while this waits.
                phase.wakes = None;
                (phase.open == 0).then(|| phase.idle_since.max(since) + CLOSING_GRACE)
            };
            match at {
                None => changed.await,
                Some(at) => tokio::select! {
                    _ = changed => {}
                    _ = tokio::time::sleep_until(at) => return,
                },
            }
        }
    }
}

/// One open request of a connection; dropping it ends the request for the connection's timers.
pub struct Open(Arc<Tracker>);

impl Drop for Open {
    fn drop(&mut self) {
        let mut phase = self.0.phase();
        phase.open = phase.open.saturating_sub(1);
        if phase.open == 0 {
            phase.idle_since = Instant::now();
        }
        self.0.changed(phase);
    }
}

/// A connection's stream, shared between hyper and this module, reporting reads to the [`Tracker`].
struct Shared<I> {
    io: Arc<Mutex<I>>,
    tracker: Arc<Tracker>,
}

impl<I> Clone for Shared<I> {
    fn clone(&self) -> Self {
        Shared { io: self.io.clone(), tracker: self.tracker.clone() }
    }
}

impl<I> Shared<I> {
    fn io(&self) -> MutexGuard<'_, I> {
        // Only one side uses the stream at a time (hyper while it serves, then the close): the lock is
        // never contended, and a panic inside an I/O call leaves a stream that simply fails next time.
        self.io.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Shared<I> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut *self.io()).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let read = &buf.filled()[before..];
            if !read.is_empty() {
                self.tracker.on_read(read);
            }
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Shared<I> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.io()).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.io()).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io().is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.io()).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.io()).poll_shutdown(cx)
    }
}

/// The 408 written when a request's head does not arrive in time (hyper has given up on the request,
/// so there is no route, flow or correlation id from the client).
fn head_timeout_response(limits: &Limits) -> Vec<u8> {
    let cid = crate::event::new_correlation_id();
    let detail = format!("the request headers did not arrive within {:?}", limits.header_read_timeout);
    let body = super::problem::problem(408, "Request Timeout", &detail, &cid, None);
    let mut out = format!(
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/problem+json\r\nconnection: close\r\n\
         x-correlation-id: {cid}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

/// Closes without a reset: ends the sending side, then reads and drops what the client still sends, for
/// at most [`LINGER`] and as long as bytes keep coming within [`LINGER_IDLE`].
async fn linger<I: AsyncRead + AsyncWrite + Unpin>(mut io: Shared<I>) {
    let _ = tokio::time::timeout(LINGER, async {
        let _ = io.shutdown().await;
        let mut scratch = vec![0u8; 16 * 1024];
        while let Ok(Ok(n)) = tokio::time::timeout(LINGER_IDLE, io.read(&mut scratch)).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// Serves `io` under `limits` with the service `make` builds (given the connection's [`Tracker`], whose
/// [`Tracker::open`] the service calls for each request), then closes it. With a `drain` (listener
/// connections; the admin port has none), the connection counts as one of its exchanges until hyper is
/// done with it, and is told to close when the drain starts.
pub async fn serve<I, S, M>(io: I, limits: &Limits, drain: Option<&Drain>, make: M)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    M: FnOnce(Arc<Tracker>) -> S,
    S: hyper::service::Service<
            Request<Incoming>,
            Response = Response<http_body_util::Full<Bytes>>,
            Error = std::convert::Infallible,
        > + Send
        + 'static,
    S::Future: Send + 'static,
{
    let exchange = drain.map(Drain::exchange);
    let tracker = Arc::new(Tracker::new(limits));
    let shared = Shared { io: Arc::new(Mutex::new(io)), tracker: tracker.clone() };
    let mut builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    // The head timer is ours (see the module comment).
    builder.http1().timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(None);
    builder
        .http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .max_concurrent_streams(limits.http2_max_concurrent_streams);
    let mut conn =
        Box::pin(builder.serve_connection(hyper_util::rt::TokioIo::new(shared.clone()), make(tracker.clone())));
    // When the connection was told to close (idle, or the drain started).
    let mut closing: Option<Instant> = None;
    let head_timed_out = loop {
        tokio::select! {
            _ = conn.as_mut() => break false,
            why = tracker.expired(), if closing.is_none() => match why {
                Expiry::Idle => {
                    conn.as_mut().graceful_shutdown();
                    closing = Some(Instant::now());
                }
                Expiry::Head => break true,
            },
            _ = drained(drain), if closing.is_none() => {
                conn.as_mut().graceful_shutdown();
                closing = Some(Instant::now());
            }
            _ = tracker.settled(closing.unwrap_or_else(Instant::now)), if closing.is_some() => break false,
        }
    };
    // hyper lets go of its handle; the stream is ours alone from here.
    drop(conn);
    if head_timed_out {
        tracing::debug!("request headers timed out: 408");
        let mut io = shared.clone();
        let _ = tokio::time::timeout(LINGER_IDLE, io.write_all(&head_timeout_response(limits))).await;
    }
    // Every answer is written: what the drain waits for. Lingering is only the polite close.
    drop(exchange);
    linger(shared).await;
}

/// Resolves when `drain` starts; never without one.
async fn drained(drain: Option<&Drain>) {
    match drain {
        Some(drain) => drain.started().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            keep_alive: Duration::from_secs(60),
            http2_idle_timeout: Duration::from_secs(30),
            ..Limits::admin()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_sends_nothing_is_idle_after_the_header_timeout() {
        let tracker = Tracker::new(&limits());
        let started = Instant::now();
        assert_eq!(tracker.expired().await, Expiry::Idle);
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_started_head_expires_as_a_head_timeout() {
        let tracker = Tracker::new(&limits());
        tracker.on_read(b"GET / HT");
        assert_eq!(tracker.expired().await, Expiry::Head);
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_request_the_keep_alive_timer_runs_and_http2_uses_its_own() {
        let tracker = Arc::new(Tracker::new(&limits()));
        drop(tracker.open(&Request::new(())));
        let started = Instant::now();
        assert_eq!(tracker.expired().await, Expiry::Idle);
        assert_eq!(started.elapsed(), Duration::from_secs(60));

        let h2 = Arc::new(Tracker::new(&limits()));
        h2.on_read(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
        let started = Instant::now();
        assert_eq!(h2.expired().await, Expiry::Idle);
        assert_eq!(started.elapsed(), Duration::from_secs(30));
    }
}
