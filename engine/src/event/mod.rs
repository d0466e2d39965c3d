//! The event a flow processes: payload, attributes, variables, correlation id and, in handlers, the error.
//!
//! Cloning an event is cheap (reference counts), because routers copy events per branch and retries keep
//! the event as it was before the scope; variables are copy-on-write.

pub mod attributes;
pub mod carried;
pub mod error;
mod json_check;
mod json_scan;
mod name_map;
pub mod payload;

pub use crate::state::claims::Claim;
pub use attributes::Attributes;
pub use error::FlowError;
pub use name_map::NameMap;
pub use payload::Payload;
use serde_json::{Map, Value as Json};
use std::sync::Arc;

/// One message through a flow.
#[derive(Debug, Clone)]
pub struct Event {
    /// The payload.
    pub payload: Arc<Payload>,
    /// What the source knows (HTTP method, path, params, headers; scheduler fire time), built when first
    /// read.
    pub attributes: Attributes,
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
    /// The sensitive values this event has carried (see [`carried`]); made at the first step of a program
    /// that guards partner calls, so that other events allocate nothing for it.
    pub carried: Option<Arc<carried::Carried>>,
    /// The span this event is in (`crate::trace`): a source sets the remote parent it was given (a request's
    /// `traceparent`, a message's), the runtime the flow run's span; outbound calls make their spans under
    /// it and send it on. `None` when tracing is off.
    pub trace: Option<crate::trace::TraceContext>,
    /// The message the flow started with and the flow that received it, set when the event enters its
    /// first flow (`Runtime::run_flow`): what `dead_letter.write` keeps for a replay, whatever the steps
    /// did to the payload since. Two reference counts, shared with the event's first payload.
    pub origin: Option<Arc<Origin>>,
}

/// The message an event's first flow received (see [`Event::origin`]).
#[derive(Debug)]
pub struct Origin {
    /// The flow that received it: a dead letter is filed under it.
    pub flow: Arc<str>,
    /// The payload as it came.
    pub payload: Arc<Payload>,
    /// The attributes as the source gave them.
    pub attributes: Attributes,
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
            attributes: Attributes::none(),
            vars: no_vars(),
            correlation_id: new_shared_correlation_id(),
            error: None,
            claims: no_claims(),
            deadline: None,
            carried: None,
            origin: None,
            trace: None,
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

/// The variables of an event that has none yet: one shared empty map, so that making an event allocates
/// none (a step setting a variable copies it first, see [`Event::set_var`]).
pub fn no_vars() -> Arc<Map<String, Json>> {
    static EMPTY: std::sync::OnceLock<Arc<Map<String, Json>>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(Arc::default).clone()
}

/// The claims of an event that holds none: one shared empty list, as [`no_vars`].
pub fn no_claims() -> Arc<Vec<Claim>> {
    static EMPTY: std::sync::OnceLock<Arc<Vec<Claim>>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(Arc::default).clone()
}

/// A random correlation id (UUID v4 text), for events whose source gave none: unique across processes and
/// restarts without coordination, and telling nothing of when or where it was made.
///
/// The operating system's generator seeds each thread once; the ids that follow come from that seed by
/// splitmix64 over a counter (a bijection, so a thread never repeats one). A correlation id names an event,
/// it guards nothing, so it needs unpredictability across processes, not a system call per request: that
/// call measured 2.6 % of the daemon's CPU answering a fixed JSON body.
pub fn new_correlation_id() -> String {
    let mut text = uuid::Uuid::encode_buffer();
    next_correlation_uuid().hyphenated().encode_lower(&mut text).to_owned()
}

/// [`new_correlation_id`] as the shared text an [`Event`] holds, written once (no `String` in between).
pub fn new_shared_correlation_id() -> Arc<str> {
    let mut text = uuid::Uuid::encode_buffer();
    Arc::from(&*next_correlation_uuid().hyphenated().encode_lower(&mut text))
}

/// The next id of this thread's sequence (see [`new_correlation_id`]).
fn next_correlation_uuid() -> uuid::Uuid {
    use std::cell::Cell;
    thread_local! {
        static NEXT: Cell<(u64, u64)> = Cell::new(uuid::Uuid::new_v4().as_u64_pair());
    }
    let (a, b) = NEXT.with(|next| {
        let (counter, salt) = next.get();
        let counter = counter.wrapping_add(0x9e37_79b9_7f4a_7c15);
        next.set((counter, salt));
        (splitmix(counter), splitmix(counter ^ salt))
    });
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.to_le_bytes());
    bytes[8..].copy_from_slice(&b.to_le_bytes());
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// One step of splitmix64's output function: a bijection of `u64` mixing every input bit into every output
/// bit.
fn splitmix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The longest correlation id taken from a caller.
pub const MAX_CORRELATION_ID_LEN: usize = 128;

/// A caller's correlation id (`X-Correlation-ID`), when it is fit to keep: 1 to [`MAX_CORRELATION_ID_LEN`]
/// visible ASCII characters, no space or control character. The id is written on every log line of the
/// event, quoted in problem bodies and sent on as a header, so it must need no escaping and stay short; a
/// caller's UUID, ULID or trace id passes. `None` means: replace it with [`new_correlation_id`].
pub fn given_correlation_id(given: &[u8]) -> Option<&str> {
    let fit = !given.is_empty() && given.len() <= MAX_CORRELATION_ID_LEN && given.iter().all(u8::is_ascii_graphic);
    // Every byte is ASCII, so this is valid UTF-8.
    fit.then(|| std::str::from_utf8(given).ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_ids_are_unique_uuid_v4_text() {
        let a = new_correlation_id();
        let b = new_correlation_id();
        assert_ne!(a, b);
        let parsed = uuid::Uuid::parse_str(&a).ok();
        assert_eq!(parsed.map(|u| u.get_version_num()), Some(4), "{a}");
        assert_eq!(a.len(), 36);
        assert_eq!(given_correlation_id(a.as_bytes()), Some(a.as_str()), "our own ids are kept when they come back");
    }

    #[test]
    fn correlation_ids_made_on_several_threads_never_repeat_and_are_all_version_4() {
        let threads: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..25_000).map(|_| new_correlation_id()).collect::<Vec<_>>()))
            .collect();
        let mut seen = std::collections::HashSet::new();
        for thread in threads {
            for id in thread.join().unwrap_or_default() {
                let parsed = uuid::Uuid::parse_str(&id).ok();
                assert_eq!(parsed.map(|u| (u.get_version_num(), u.get_variant())), Some((4, uuid::Variant::RFC4122)));
                assert!(seen.insert(id), "an id was made twice");
            }
        }
        assert_eq!(seen.len(), 100_000);
    }

    #[test]
    fn a_given_correlation_id_is_kept_only_when_short_visible_ascii() {
        let longest = "x".repeat(MAX_CORRELATION_ID_LEN);
        for kept in ["abc-1", "01HZX3Q5R8", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &longest] {
            assert_eq!(given_correlation_id(kept.as_bytes()), Some(kept));
        }
        let too_long = "x".repeat(MAX_CORRELATION_ID_LEN + 1);
        for replaced in ["", "two words", "tab\there", "line\nbreak", "caf\u{e9}", "nul\0", &too_long] {
            assert_eq!(given_correlation_id(replaced.as_bytes()), None, "{replaced:?}");
        }
        assert_eq!(given_correlation_id(b"\xff\xfe"), None);
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
