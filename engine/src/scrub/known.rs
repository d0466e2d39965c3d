//! The secrets this process has resolved, in every form they travel in: registered where they are resolved
//! (`connectors::secrets`), where they are combined (Basic auth) and where they are obtained at run time
//! (OAuth2 access tokens), read by every scrub. Process-wide because a secret resolved by one program is
//! still a secret after a hot reload replaced it.

use super::forms;
use std::collections::VecDeque;
use std::sync::{Arc, RwLock};

/// Access tokens remembered: a token is replaced every few minutes for as long as the daemon runs, so only
/// the latest ones are kept (older ones have expired, and an unbounded list would slow every scrub).
const TOKENS_KEPT: usize = 16;

#[derive(Default)]
struct Known {
    /// Forms of the configured secrets and pairs (a finite set: what the flows reference).
    fixed: Vec<String>,
    /// Forms of the latest access tokens, oldest first.
    tokens: VecDeque<Vec<String>>,
    /// Every form, longest first: the snapshot scrubs read.
    all: Arc<Vec<String>>,
}

impl Known {
    fn rebuild(&mut self) {
        let mut all = self.fixed.clone();
        for forms in &self.tokens {
            all.extend(forms.iter().filter(|f| !self.fixed.contains(f)).cloned());
        }
        all.sort_by_key(|f| std::cmp::Reverse(f.len()));
        all.dedup();
        self.all = Arc::new(all);
    }
}

static KNOWN: RwLock<Option<Known>> = RwLock::new(None);

/// The forms of every secret known so far (a snapshot).
pub fn forms() -> Arc<Vec<String>> {
    // A panic cannot leave the value half-written (the snapshot is replaced whole), so a poisoned lock is
    // still consistent.
    let known = KNOWN.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    known.as_ref().map(|k| k.all.clone()).unwrap_or_default()
}

fn update(change: impl FnOnce(&mut Known) -> bool) {
    let mut known = KNOWN.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    let known = known.get_or_insert_with(Known::default);
    if change(known) {
        known.rebuild();
    }
}

fn add_fixed(new: Vec<String>) {
    update(|known| {
        let before = known.fixed.len();
        for form in new {
            if !known.fixed.contains(&form) {
                known.fixed.push(form);
            }
        }
        known.fixed.len() != before
    });
}

/// Registers a resolved secret, in all its forms.
pub fn remember_secret(secret: &str) {
    add_fixed(forms::of_secret(secret));
}

/// Registers the Basic auth pair built from two resolved values.
pub fn remember_basic_pair(username: &str, password: &str) {
    add_fixed(forms::of_basic_pair(username, password));
}

/// Shortest access token remembered: real ones are long random strings; a test server's `t1` would
/// otherwise be taken out of every text that happens to contain it.
const TOKEN_MIN_LEN: usize = 8;

/// Registers an access token obtained at run time (OAuth2), in all its forms; the oldest of more than
/// [`TOKENS_KEPT`] is forgotten.
pub fn remember_token(token: &str) {
    if token.len() < TOKEN_MIN_LEN {
        return;
    }
    let new = forms::of_secret(token);
    update(|known| {
        if known.tokens.contains(&new) {
            return false;
        }
        known.tokens.push_back(new);
        if known.tokens.len() > TOKENS_KEPT {
            known.tokens.pop_front();
        }
        true
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_latest_access_tokens_are_kept() {
        for n in 0..=TOKENS_KEPT {
            remember_token(&format!("known-token-{n:04}"));
        }
        let all = forms();
        assert!(!all.contains(&"known-token-0000".to_string()), "the oldest token is forgotten");
        assert!(all.contains(&format!("known-token-{TOKENS_KEPT:04}")));
    }
}
