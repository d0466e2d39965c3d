//! The secrets this process has resolved, in every form they travel in: registered where they are resolved
//! (`connectors::secrets`) and where they are combined (Basic auth), read by every scrub. Process-wide because
//! a secret resolved by one program is still a secret after a hot reload replaced it.

use super::forms;
use std::sync::{Arc, RwLock};

/// The forms known so far, longest first; replaced as a whole when a secret is added, so readers take a
/// cheap snapshot.
static KNOWN: RwLock<Option<Arc<Vec<String>>>> = RwLock::new(None);

/// The forms of every secret resolved so far (a snapshot).
pub fn forms() -> Arc<Vec<String>> {
    // A panic cannot leave the value half-written (it is replaced whole), so a poisoned lock is consistent.
    KNOWN.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone().unwrap_or_default()
}

fn add(new: Vec<String>) {
    let mut known = KNOWN.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    let current = known.clone().unwrap_or_default();
    let mut all: Vec<String> = current.iter().cloned().collect();
    let before = all.len();
    for form in new {
        if !all.contains(&form) {
            all.push(form);
        }
    }
    if all.len() != before {
        all.sort_by_key(|f| std::cmp::Reverse(f.len()));
        *known = Some(Arc::new(all));
    }
}

/// Registers a resolved secret, in all its forms.
pub fn remember_secret(secret: &str) {
    add(forms::of_secret(secret));
}

/// Registers the Basic auth pair built from two resolved values.
pub fn remember_basic_pair(username: &str, password: &str) {
    add(forms::of_basic_pair(username, password));
}
