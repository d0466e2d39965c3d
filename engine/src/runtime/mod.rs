//! The runtime: events, the executor driving plans on tokio, and error handling.
