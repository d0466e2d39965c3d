//! Serving HTTP on a socket, whatever is served: the accept loop (connection cap, back-off when descriptors
//! run out), one connection's timers (slow heads get 408, keep-alive and HTTP/2 idle limits, lingering
//! close), the limits themselves, and problem+json, the one builder of error bodies. Shared by the
//! `http.listener` source and the admin port.

pub mod accept;
pub mod connection;
pub mod drain;
pub mod limits;
pub mod problem;
