//! The connection limits of one server socket (a listener or the admin port), and their defaults.
//!
//! Every limit bounds something an unfriendly or broken client could otherwise hold forever: a descriptor
//! (connections), a connection (header, body and idle timeouts), memory (requests in flight times the body
//! size). A listener's come from its config type (`components::http_listener::ListenerConfig`), with their
//! defaults there.

use std::time::Duration;

/// How long each phase of a connection may take, and how many connections and streams a socket serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once; at the cap the socket stops accepting (new ones wait in the kernel's
    /// backlog) until one closes.
    pub max_connections: usize,
    /// Time for a request's headers to arrive, from its first byte (or from the accept, for a connection's
    /// first request); then 408 (or a silent close when nothing at all was sent).
    pub header_read_timeout: Duration,
    /// Time for a whole request body to arrive; then 408 and the connection closes.
    pub body_read_timeout: Duration,
    /// Idle time an HTTP/1.1 keep-alive connection may wait for its next request.
    pub keep_alive: Duration,
    /// Time an HTTP/2 connection may stay without an open stream; then GOAWAY and close.
    pub http2_idle_timeout: Duration,
    /// Streams one HTTP/2 connection may have open at once.
    pub http2_max_concurrent_streams: u32,
    /// Requests being read or processed at once on the socket: with the body limit, what bounds memory for
    /// flows without a `max_concurrency` of their own.
    pub max_requests_in_flight: usize,
}

impl Limits {
    /// The admin port's limits: it serves monitoring probes and operators, so a small cap is plenty and
    /// keeps a flood of it from taking the descriptors the listeners need.
    pub fn admin() -> Limits {
        Limits {
            max_connections: 64,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            keep_alive: Duration::from_secs(60),
            http2_idle_timeout: Duration::from_secs(60),
            http2_max_concurrent_streams: 16,
            max_requests_in_flight: 64,
        }
    }
}
