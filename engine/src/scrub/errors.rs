//! Scrubbing a [`FlowError`] as a whole: its description, its caller summary, its causes and the errors of
//! a router's routes, so that no part of it carries a value the scrub takes out.

use super::Scrub;
use crate::runtime::FlowError;

/// `error` with every text in it scrubbed.
pub(super) fn scrubbed(mut error: FlowError, scrub: &Scrub) -> FlowError {
    if scrub.is_empty() {
        return error;
    }
    error.description = scrub.text(&error.description).into_owned();
    error.upstream_summary = error.upstream_summary.map(|s| scrub.text(&s).into_owned());
    error.location = error.location.map(|s| scrub.text(&s).into_owned());
    error.cause = error.cause.map(|c| Box::new(scrubbed(*c, scrub)));
    error.children = error.children.into_iter().map(|(i, e)| (i, scrubbed(e, scrub))).collect();
    error
}
