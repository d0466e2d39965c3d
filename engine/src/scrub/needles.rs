//! Sensitive values compiled for searching: every form [`forms::of_sensitive`] gives of each value, in two
//! Aho-Corasick automata (one matching whatever the ASCII case, one exact for base64), so that a text is
//! read once whatever the number of values and forms. Built once per scrub or, for the partner guard, once
//! per set of values an event has carried ([`crate::event::carried::Carried::needles`]).

use super::forms;
use aho_corasick::AhoCorasick;
use std::borrow::Cow;
use std::ops::Range;

/// The forms of some sensitive values, ready to be found in a text.
#[derive(Debug, Default)]
pub struct Needles {
    folded: Option<Search>,
    /// For each pattern of `folded`, the index of the value it is a form of.
    folded_owner: Vec<usize>,
    exact: Option<Search>,
    exact_owner: Vec<usize>,
}

/// One set of patterns: an automaton, or, if it cannot be built (past its size limits, millions of
/// pattern bytes, far above an event's values), the patterns searched one by one, so that the guard never
/// fails open and the scrub never lets a value through.
#[derive(Debug)]
enum Search {
    Automaton(AhoCorasick),
    OneByOne { patterns: Vec<String>, case_insensitive: bool },
}

impl Search {
    fn new(patterns: Vec<String>, case_insensitive: bool) -> Option<Search> {
        if patterns.is_empty() {
            return None;
        }
        match AhoCorasick::builder().ascii_case_insensitive(case_insensitive).build(&patterns) {
            Ok(automaton) => Some(Search::Automaton(automaton)),
            Err(e) => {
                tracing::warn!("{} sensitive forms searched one by one (no automaton: {e})", patterns.len());
                let patterns =
                    if case_insensitive { patterns.iter().map(|p| p.to_ascii_lowercase()).collect() } else { patterns };
                Some(Search::OneByOne { patterns, case_insensitive })
            }
        }
    }

    /// Every match as (pattern index, byte range), overlapping ones included.
    fn matches(&self, text: &str) -> Vec<(usize, Range<usize>)> {
        match self {
            Search::Automaton(a) => {
                a.find_overlapping_iter(text).map(|m| (m.pattern().as_usize(), m.range())).collect()
            }
            Search::OneByOne { patterns, case_insensitive } => {
                // ASCII lower-casing keeps every byte offset.
                let text = if *case_insensitive { Cow::Owned(text.to_ascii_lowercase()) } else { Cow::Borrowed(text) };
                let mut found = Vec::new();
                for (i, p) in patterns.iter().enumerate() {
                    found.extend(text.match_indices(p.as_str()).map(|(at, m)| (i, at..at + m.len())));
                }
                found
            }
        }
    }

    fn find(&self, text: &str) -> Option<usize> {
        match self {
            Search::Automaton(a) => a.find(text).map(|m| m.pattern().as_usize()),
            Search::OneByOne { .. } => self.matches(text).first().map(|(i, _)| *i),
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
        Needles { folded: Search::new(folded, true), folded_owner, exact: Search::new(exact, false), exact_owner }
    }

    /// Whether there is nothing to look for.
    pub fn is_empty(&self) -> bool {
        self.folded.is_none() && self.exact.is_none()
    }

    /// The index (in the order given to [`Needles::new`]) of a value `text` holds in one of its forms.
    pub fn find(&self, text: &str) -> Option<usize> {
        let folded = self.folded.as_ref().and_then(|s| s.find(text)).and_then(|i| self.folded_owner.get(i));
        let found =
            folded.or_else(|| self.exact.as_ref().and_then(|s| s.find(text)).and_then(|i| self.exact_owner.get(i)));
        found.copied()
    }

    /// Pushes onto `out` the byte range of every form found in `text`, overlapping ones included (the runs
    /// of a cut value overlap: their union is what must go).
    pub fn spans(&self, text: &str, out: &mut Vec<Range<usize>>) {
        for search in [&self.folded, &self.exact].into_iter().flatten() {
            out.extend(search.matches(text).into_iter().map(|(_, range)| range));
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
    fn patterns_searched_one_by_one_find_what_the_automaton_finds() {
        let patterns = vec!["KNEE SURG".to_string(), "m4350712".to_string()];
        let lowered = patterns.iter().map(|p| p.to_ascii_lowercase()).collect();
        let one_by_one = Search::OneByOne { patterns: lowered, case_insensitive: true };
        let automaton = Search::new(patterns, true).unwrap();
        for text in ["a knee surgery", "doc=M4350712", "nothing"] {
            assert_eq!(one_by_one.matches(text), automaton.matches(text), "{text}");
        }
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
