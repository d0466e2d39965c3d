//! The process's descriptor limit: raised at start from its soft value to its hard one.
//!
//! Every connection takes a descriptor. The soft limit is often 1024 while the hard one is far higher
//! (a login session, systemd, a container runtime), and a server that keeps the soft value runs out of
//! descriptors long before the listeners' `max_connections`; nginx (`worker_rlimit_nofile`), Envoy's
//! deployment guides and most Go servers raise it the same way. Accepting still backs off when it fails
//! for want of descriptors (see `http::accept`).

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, logging the result; returns the soft limit in force
/// (`None` where the platform has none or it cannot be read).
pub fn raise_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => {
            tracing::debug!("descriptor limit: {limit}");
            Some(limit)
        }
        Err(e) => {
            tracing::warn!("the descriptor limit could not be raised: {e}");
            None
        }
    }
}
