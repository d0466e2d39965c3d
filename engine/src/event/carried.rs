//! The sensitive values an event has carried: recorded before each step while the program declares
//! sensitive fields (`runtime::exec`), so that a value still counts as sensitive after a mapping renamed
//! its field or moved it into a string: the scrubber removes it from what leaves the process about the
//! event, and the guard refuses to send it to a partner (`scrub::guard`).

use std::sync::Mutex;

/// Values of `sensitive_data` fields, with the field each was first seen under. Shared by the clones of
/// an event (branches, retries, elements): what one branch saw, every branch is refused to send.
#[derive(Debug, Default)]
pub struct Carried(Mutex<Vec<(String, String)>>);

impl Carried {
    /// Records `value`, seen under `field`, once.
    pub fn record(&self, field: &str, value: &str) {
        // A panic cannot leave the list half-updated (single pushes), so a poisoned lock is still consistent.
        let mut seen = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !seen.iter().any(|(_, v)| v == value) {
            seen.push((field.to_string(), value.to_string()));
        }
    }

    /// Every `(field, value)` recorded so far.
    pub fn values(&self) -> Vec<(String, String)> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}
