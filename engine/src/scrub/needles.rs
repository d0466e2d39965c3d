//! Sensitive values compiled for searching: every form [`forms::of_sensitive`] gives of each value, in two
//! Aho-Corasick automata (one matching whatever the ASCII case, one exact for base64), so that a text is
//! read once whatever the number of values and forms. Built once per scrub or, for the partner guard, once
//! per set of values an event has carried ([`crate::event::carried::Carried::needles`]).

use super::forms;
use aho_corasick::AhoCorasick;
use std::ops::Range;

/// The forms of some sensitive values, ready to be found in a text.
#[derive(Debug, Default)]
pub struct Needles {
    folded: Option<AhoCorasick>,
    /// For each pattern of `folded`, the index of the value it is a form of.
    folded_owner: Vec<usize>,
    exact: Option<AhoCorasick>,
    exact_owner: Vec<usize>,
}

fn automaton(patterns: &[String], case_insensitive: bool) -> Option<AhoCorasick> {
    if patterns.is_empty() {
        return None;
    }
    // Building fails only past size limits (millions of pattern bytes), far above the forms of an event's
    // values; such a scrub would then find nothing, so it falls back to refusing nothing but is logged.
    match AhoCorasick::builder().ascii_case_insensitive(case_insensitive).build(patterns) {
        Ok(automaton) => Some(automaton),
        Err(e) => {
            tracing::error!("cannot compile {} sensitive forms for scrubbing: {e}", patterns.len());
            None
        }
    }
}

impl Needles {
    /// The forms of `values`; with `short: false`, values shorter than [`forms::MIN_VALUE`] are left out
    /// (the guard does not look for them), else they are looked for as written.
    pub fn new<'a>(values: impl IntoIterator<Item = &'a str>, short: bool) -> Needles {
        let (mut folded, mut folded_owner, mut exact, mut exact_owner) = (vec![], vec![], vec![], vec![]);
        for (i, value) in values.into_iter().enumerate() {
            if !short && value.chars().count() < forms::MIN_VALUE {
                continue;
            }
            let (f, e) = forms::of_sensitive(value);
            folded_owner.extend(std::iter::repeat_n(i, f.len()));
            exact_owner.extend(std::iter::repeat_n(i, e.len()));
            folded.extend(f);
            exact.extend(e);
        }
        Needles {
            folded: automaton(&folded, true),
            folded_owner,
            exact: automaton(&exact, false),
            exact_owner,
        }
    }

    /// Whether there is nothing to look for.
    pub fn is_empty(&self) -> bool {
        self.folded.is_none() && self.exact.is_none()
    }

    /// The index (in the order given to [`Needles::new`]) of a value `text` holds in one of its forms.
    pub fn find(&self, text: &str) -> Option<usize> {
        let folded = self.folded.as_ref().and_then(|a| a.find(text)).map(|m| self.folded_owner[m.pattern()]);
        folded.or_else(|| self.exact.as_ref().and_then(|a| a.find(text)).map(|m| self.exact_owner[m.pattern()]))
    }

    /// Pushes onto `out` the byte range of every form found in `text`, overlapping ones included (the runs
    /// of a cut value overlap: their union is what must go).
    pub fn spans(&self, text: &str, out: &mut Vec<Range<usize>>) {
        for automaton in [&self.folded, &self.exact].into_iter().flatten() {
            out.extend(automaton.find_overlapping_iter(text).map(|m| m.range()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_found_upper_cased_cut_or_inside_a_longer_string_and_short_values_only_when_asked() {
        let needles = Needles::new(["ab", "knee surgery 2023", "M4350712"], false);
        assert_eq!(needles.find("note: KNEE SURGERY"), Some(1));
        assert_eq!(needles.find("doc=m4350712&x=1"), Some(2));
        assert_eq!(needles.find("surgery"), None, "seven characters are not a run");
        assert_eq!(needles.find("ab"), None);
        assert_eq!(Needles::new(["ab"], true).find("xaby"), Some(0));
    }

    #[test]
    fn every_overlapping_form_of_a_cut_value_is_spanned() {
        let needles = Needles::new(["allergy: penicillin"], false);
        let text = "notes: gy: penicil!";
        let mut spans = Vec::new();
        needles.spans(text, &mut spans);
        let start = spans.iter().map(|r| r.start).min();
        let end = spans.iter().map(|r| r.end).max();
        assert_eq!((start, end), (Some(7), Some(18)), "{spans:?}");
    }
}
