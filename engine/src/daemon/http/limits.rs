//! The connection limits of one server socket (a listener or the admin port), and their defaults.
//!
//! Every limit bounds something an unfriendly or broken client could otherwise hold forever: a descriptor
//! (connections), a connection (header, body and idle timeouts), memory (requests in flight times the body
//! size). The defaults are the README's ("Limits and what a caller gets"), chosen in line with nginx and
//! Envoy's edge recommendations.

use crate::components::http_listener::ListenerConfig;
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

/// Default [`Limits::max_connections`] of a listener: far above what one engine instance serves usefully,
/// and low enough that the raised descriptor limit (see [`crate::daemon::descriptors`]) is never reached first.
pub const MAX_CONNECTIONS: usize = 10_000;
/// Default [`Limits::header_read_timeout`]: any real client sends its headers in well under a second.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`Limits::body_read_timeout`]: a 10 MiB body at 175 KB/s.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Default [`Limits::keep_alive`].
pub const KEEP_ALIVE: Duration = Duration::from_secs(60);
/// Default [`Limits::http2_idle_timeout`]: the same as HTTP/1.1 keep-alive, as nginx does.
pub const HTTP2_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default [`Limits::http2_max_concurrent_streams`]: RFC 9113's recommended minimum, Envoy's edge value.
pub const HTTP2_MAX_CONCURRENT_STREAMS: u32 = 100;
/// Default [`Limits::max_requests_in_flight`]: with the default 10 MiB body limit, at most 2.5 GiB of bodies.
pub const MAX_REQUESTS_IN_FLIGHT: usize = 256;

impl Limits {
    /// A listener's limits: its config's values, defaults for the rest.
    pub fn of_listener(settings: &ListenerConfig) -> Limits {
        let or = |d: &Option<crate::components::types::DurationText>, default| d.as_ref().map_or(default, |d| d.0);
        Limits {
            max_connections: settings.max_connections.map_or(MAX_CONNECTIONS, |n| (n as usize).max(1)),
            header_read_timeout: or(&settings.header_read_timeout, HEADER_READ_TIMEOUT),
            body_read_timeout: or(&settings.body_read_timeout, BODY_READ_TIMEOUT),
            keep_alive: or(&settings.keep_alive, KEEP_ALIVE),
            http2_idle_timeout: or(&settings.http2_idle_timeout, HTTP2_IDLE_TIMEOUT),
            http2_max_concurrent_streams: settings.http2_max_concurrent_streams.unwrap_or(HTTP2_MAX_CONCURRENT_STREAMS),
            max_requests_in_flight: settings
                .max_requests_in_flight
                .map_or(MAX_REQUESTS_IN_FLIGHT, |n| (n as usize).max(1)),
        }
    }

    /// The admin port's limits: it serves monitoring probes and operators, so a small cap is plenty and
    /// keeps a flood of it from taking the descriptors the listeners need.
    pub fn admin() -> Limits {
        Limits {
            max_connections: 64,
            header_read_timeout: HEADER_READ_TIMEOUT,
            body_read_timeout: Duration::from_secs(10),
            keep_alive: KEEP_ALIVE,
            http2_idle_timeout: HTTP2_IDLE_TIMEOUT,
            http2_max_concurrent_streams: 16,
            max_requests_in_flight: 64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_config_sets_its_limits_and_the_rest_keep_their_defaults() {
        let config: ListenerConfig = serde_json::from_value(serde_json::json!({
            "port": 0, "max_connections": 4, "header_read_timeout": "1s", "http2_max_concurrent_streams": 8
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let limits = Limits::of_listener(&config);
        assert_eq!(limits.max_connections, 4);
        assert_eq!(limits.header_read_timeout, Duration::from_secs(1));
        assert_eq!(limits.http2_max_concurrent_streams, 8);
        assert_eq!(limits.body_read_timeout, BODY_READ_TIMEOUT);
        assert_eq!(limits.keep_alive, KEEP_ALIVE);
        assert_eq!(limits.http2_idle_timeout, HTTP2_IDLE_TIMEOUT);
        assert_eq!(limits.max_requests_in_flight, MAX_REQUESTS_IN_FLIGHT);
    }
}
