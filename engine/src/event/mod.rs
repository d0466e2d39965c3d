//! The event a flow processes: payload, attributes, variables, correlation id and, in handlers, the error.
//!
//! Cloning an event is cheap (reference counts), because routers copy events per branch and retries keep
//! the event as it was before the scope; variables are copy-on-write.

pub mod error;
pub mod payload;

pub use crate::state::claims::Claim;
pub use error::FlowError;
pub use payload::Payload;
use serde_json::{Map, Value as Json};
use std::sync::Arc;

/// One message through a flow.
#[derive(Debug, Clone)]
pub struct Event {
    /// The payload.
    pub payload: Arc<Payload>,
    /// What the source knows (HTTP method, path, params, headers; scheduler fire time).
    pub attributes: Arc<Json>,
    /// Flow variables.
    pub vars: Arc<Map<String, Json>>,
    /// Correlation id, propagated on outbound calls and log lines.
    pub correlation_id: Arc<str>,
    /// The error being handled (inside `on_error` handlers only).
    pub error: Option<Arc<FlowError>>,
    /// Idempotency keys this event holds pending, innermost block last: each block confirms the claims it
    /// made when it completes and releases them when it fails (see [`crate::state::claims`]).
    pub claims: Arc<Vec<Claim>>,
    /// When whoever waits for this event stops waiting (an HTTP request's `request_timeout`): a script still
    /// running then is interrupted with `EXPRESSION:LIMIT` instead of burning a thread for nobody. `None`: only
    /// the script budget applies.
    pub deadline: Option<std::time::Instant>,
}

impl Event {
    /// An event with a JSON payload and no attributes.
    pub fn new(payload: Json) -> Self {
        Event::with_payload(Payload::value(payload))
    }

    /// An event with a given payload and a fresh correlation id.
    pub fn with_payload(payload: Payload) -> Self {
        Event {
            payload: Arc::new(payload),
            attributes: Arc::new(Json::Object(Map::new())),
            vars: Arc::new(Map::new()),
            correlation_id: new_correlation_id().into(),
            error: None,
            claims: Arc::default(),
            deadline: None,
        }
    }

    /// Replaces the payload.
    pub fn set_payload(&mut self, payload: Payload) {
        self.payload = Arc::new(payload);
    }

    /// Sets a variable (copying the variable map only if another event shares it).
    pub fn set_var(&mut self, name: &str, value: Json) {
        Arc::make_mut(&mut self.vars).insert(name.to_string(), value);
    }

    /// Removes a variable.
    pub fn remove_var(&mut self, name: &str) {
        if self.vars.contains_key(name) {
            Arc::make_mut(&mut self.vars).remove(name);
        }
    }
}

/// A random correlation id (UUID v4 text), for events whose source gave none.
pub fn new_correlation_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let a = splitmix(seed ^ n.rotate_left(32));
    let b = splitmix(a ^ n);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_ids_are_unique_uuid_shaped_text() {
        let a = new_correlation_id();
        let b = new_correlation_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
    }

    #[test]
    fn variables_are_copied_only_when_shared() {
        let mut e = Event::new(Json::Null);
        e.set_var("a", Json::from(1));
        let copy = e.clone();
        e.set_var("a", Json::from(2));
        assert_eq!(copy.vars["a"], 1);
        assert_eq!(e.vars["a"], 2);
    }
}
