//! The sensitive values an event has carried: recorded before each step while the program declares
//! sensitive fields (`runtime::exec`), so that a value still counts as sensitive after a mapping renamed
//! its field or moved it into a string: the scrubber removes it from what leaves the process about the
//! event, and the guard refuses to send it to a partner (`scrub::guard`).

use crate::scrub::needles::Needles;
use std::sync::{Arc, Mutex};

/// Values of `sensitive_data` fields, with the field each was first seen under. Shared by the clones of
/// an event (branches, retries, elements): what one branch saw, every branch is refused to send.
#[derive(Debug, Default)]
pub struct Carried {
    seen: Mutex<Vec<(String, String)>>,
    /// The guard's compiled forms of `seen`, with how many values they cover: values are only ever added,
    /// so the forms are compiled again only when a step brought a new one.
    compiled: Mutex<Option<Compiled>>,
}

/// The guard's search for the values recorded so far.
type Compiled = (usize, Arc<Vec<String>>, Arc<Needles>);

impl Carried {
    /// Records `value`, seen under `field`, once.
    pub fn record(&self, field: &str, value: &str) {
        // A panic cannot leave the list half-updated (single pushes), so a poisoned lock is still consistent.
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !seen.iter().any(|(_, v)| v == value) {
            seen.push((field.to_string(), value.to_string()));
        }
    }

    /// Every `(field, value)` recorded so far.
    pub fn values(&self) -> Vec<(String, String)> {
        self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The field of each value recorded so far and the forms the partner guard looks for
    /// (`scrub::guard::check`), compiled once per new value rather than once per call.
    pub fn needles(&self) -> (Arc<Vec<String>>, Arc<Needles>) {
        let count = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len();
        // Replaced whole under the lock: a poisoned lock still holds a consistent value.
        let mut compiled = self.compiled.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((n, fields, needles)) = compiled.as_ref() {
            if *n == count {
                return (fields.clone(), needles.clone());
            }
        }
        let seen = self.values();
        let fields: Arc<Vec<String>> = Arc::new(seen.iter().map(|(f, _)| f.clone()).collect());
        let needles = Arc::new(Needles::new(seen.iter().map(|(_, v)| v.as_str()), false));
        *compiled = Some((seen.len(), fields.clone(), needles.clone()));
        (fields, needles)
    }
}
