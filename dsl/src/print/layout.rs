//! The layout choices of a YAML source that `relais fmt` keeps: anchors and aliases, collections written in
//! flow style (`{ ... }` / `[ ... ]`), blank lines between entries, and the spelling of scalars (a duration's
//! unit, a quoted or plain string) when it reads back as the same value.
//!
//! The IR has no room for them, and serde_yaml expands aliases before the tree is built, so they are found
//! in the source text through the spans of the source tree and named by path from the root, the same way
//! comments are ([`super::comments`]): the canonical tree shares its paths with the source tree. The printer
//! uses a choice only where it cannot change the meaning: an alias is printed only when the node at its place
//! equals its anchor's node and the anchor is already written; a written spelling only when it reads back as
//! the canonical value (or denotes the same duration).

use super::comments::{Path, Seg};
use crate::syntax::{Node, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Layout choices of one source document, by path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    /// Nodes that carried an anchor (`&name`), with its name.
    pub anchors: BTreeMap<Path, String>,
    /// Nodes written as an alias (`*name`), with the anchor's name.
    pub aliases: BTreeMap<Path, String>,
    /// Collections written in flow style.
    pub flow: BTreeSet<Path>,
    /// Map entries and list items preceded by a blank line.
    pub blank_before: BTreeSet<Path>,
    /// Flow collections written on one line: kept on one line whatever their width.
    pub one_line: BTreeSet<Path>,
    /// The written text of single-line scalars.
    pub spelling: BTreeMap<Path, String>,
    /// Strings written as literal blocks (`|`), kept so even on one line.
    pub block: BTreeSet<Path>,
    /// Flow lists written with spaces inside their brackets (`[ a ]`).
    pub spaced: BTreeSet<Path>,
    /// The written text of map keys, by the path of their entry.
    pub key_spelling: BTreeMap<Path, String>,
    /// Strings that are durations, as written (`26h`), by path: in either syntax.
    pub durations: BTreeMap<Path, String>,
    /// True when collected from a source (top-level blank lines then follow it too).
    pub from_source: bool,
}

impl Layout {
    /// The layout of `text`, a YAML document whose tree (parsed from it) is `doc`.
    pub fn collect(text: &str, doc: &Node) -> Layout {
        let mut layout = Layout { from_source: true, ..Layout::default() };
        layout.visit(text, doc, &mut Vec::new());
        layout
    }

    fn visit(&mut self, text: &str, node: &Node, path: &mut Path) {
        let start = node.span.start as usize;
        let end = (node.span.end as usize).min(text.len());
        let written = text.get(start..end).unwrap_or("");
        if let Some(name) = written.strip_prefix('*').filter(|n| is_name(n)) {
            self.aliases.insert(path.clone(), name.to_string());
            return;
        }
        // A node's span starts at its anchor, if it has one.
        let written = match anchor_at(written) {
            Some((name, rest)) => {
                self.anchors.insert(path.clone(), name.to_string());
                rest
            }
            None => written,
        };
        if !path.is_empty() && blank_line_before(text, start) {
            self.blank_before.insert(path.clone());
        }
        match &node.value {
            Value::Map(entries) => {
                if written.starts_with('{') {
                    self.flow(path, written);
                }
                for e in entries {
                    path.push(Seg::Key(e.key.clone()));
                    let key = text.get(e.key_span.start as usize..e.key_span.end as usize).unwrap_or("");
                    // In a flow map the span of a quoted key may run on to its `:`.
                    let key = key.trim().trim_end_matches(|c: char| c == ':' || c.is_whitespace());
                    if !key.is_empty() && !key.contains(['\n', '\r']) {
                        self.key_spelling.insert(path.clone(), key.to_string());
                    }
                    if blank_line_before(text, e.key_span.start as usize) {
                        self.blank_before.insert(path.clone());
                    }
                    self.visit(text, &e.value, path);
                    path.pop();
                }
            }
            Value::List(items) => {
                if written.starts_with('[') {
                    self.flow(path, written);
                    if written.starts_with("[ ") {
                        self.spaced.insert(path.clone());
                    }
                }
                for (i, item) in items.iter().enumerate() {
                    path.push(Seg::Index(i));
                    self.visit(text, item, path);
                    path.pop();
                }
            }
            _ => {
                if let Some(d) = node.as_str().filter(|d| crate::ir::parse_duration(d).is_some()) {
                    self.durations.insert(path.clone(), d.to_string());
                }
                if matches!(&node.value, Value::Str(s) if matches!(s.origin, crate::syntax::Origin::Block { .. })) {
                    self.block.insert(path.clone());
                }
                let raw = scalar_extent(written.trim());
                if !raw.is_empty() && !raw.contains(['\n', '\r']) && !raw.starts_with(['|', '>', '&', '*', '!']) {
                    self.spelling.insert(path.clone(), raw.to_string());
                }
            }
        }
    }
}

impl Layout {
    /// Puts back in `doc` (a canonical tree) each duration as the source wrote it, where the source's string
    /// at the same path denotes the same duration (`26h` rather than the IR's `1d2h`).
    pub fn restore_durations(&self, doc: &mut Node) {
        fn walk(node: &mut Node, path: &mut Path, written: &BTreeMap<Path, String>) {
            match &mut node.value {
                Value::Map(entries) => {
                    for e in entries {
                        path.push(Seg::Key(e.key.clone()));
                        walk(&mut e.value, path, written);
                        path.pop();
                    }
                }
                Value::List(items) => {
                    for (i, item) in items.iter_mut().enumerate() {
                        path.push(Seg::Index(i));
                        walk(item, path, written);
                        path.pop();
                    }
                }
                Value::Str(s) => {
                    if let Some(w) = written.get(path) {
                        let same = crate::ir::parse_duration(w);
                        if same.is_some() && same == crate::ir::parse_duration(&s.text) {
                            s.text = w.clone();
                        }
                    }
                }
                _ => {}
            }
        }
        walk(doc, &mut Vec::new(), &self.durations);
    }

    fn flow(&mut self, path: &Path, written: &str) {
        self.flow.insert(path.clone());
        if !written.contains('\n') {
            self.one_line.insert(path.clone());
        }
    }
}

/// The scalar at the start of `raw`, without what a span may run on to (a comment, a flow separator): a
/// quoted scalar up to its closing quote, a plain one up to ` #`.
fn scalar_extent(raw: &str) -> &str {
    let mut chars = raw.char_indices();
    match chars.next() {
        Some((_, '"')) => {
            let mut escaped = false;
            for (i, c) in chars {
                match c {
                    '\\' if !escaped => escaped = true,
                    '"' if !escaped => return &raw[..=i],
                    _ => escaped = false,
                }
            }
            raw
        }
        // `''` inside a single-quoted scalar is a quote: the scalar ends at a quote not followed by another.
        Some((_, '\'')) => {
            let bytes = raw.as_bytes();
            let mut i = 1;
            while i < bytes.len() {
                if bytes[i] == b'\'' {
                    if bytes.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    return &raw[..=i];
                }
                i += 1;
            }
            raw
        }
        _ => raw.find(" #").map_or(raw, |i| raw[..i].trim_end()),
    }
}

/// An anchor or alias name as the loader reads them (no flow indicators, no space).
fn is_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| !c.is_whitespace() && !matches!(c, ',' | '[' | ']' | '{' | '}'))
}

/// The anchor `written` starts with (`&name`, then a space or line break), and the text after it.
fn anchor_at(written: &str) -> Option<(&str, &str)> {
    let rest = written.strip_prefix('&')?;
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let name = &rest[..end];
    is_name(name).then(|| (name, rest[end..].trim_start()))
}

/// True when the line of byte `at` is preceded (above any comment lines) by a blank line.
fn blank_line_before(text: &str, at: usize) -> bool {
    let Some(head) = text.get(..at) else { return false };
    let line_start = head.rfind('\n').map_or(0, |i| i + 1);
    // Only a node that starts its line (after indentation and list dashes) can have a line before it.
    if !head[line_start..].chars().all(|c| c == ' ' || c == '-') {
        return false;
    }
    let mut lines = text[..line_start].lines().rev();
    for line in lines.by_ref() {
        let t = line.trim();
        if t.is_empty() {
            return true;
        }
        if !t.starts_with('#') {
            return false;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::FileId;

    fn layout(text: &str) -> Layout {
        let mut diags = crate::Diagnostics::new();
        let doc = crate::syntax::yaml::parse(text, FileId::default(), &mut diags).expect("valid YAML");
        Layout::collect(text, &doc)
    }

    fn key(k: &str) -> Seg {
        Seg::Key(k.into())
    }

    #[test]
    fn anchors_and_aliases_are_found_at_their_paths() {
        let l = layout("a:\n  x: &shared\n    k: 1\n  y: *shared\n  z: &s 5\n  w: [*s]\n");
        assert_eq!(l.anchors.get(&vec![key("a"), key("x")]).map(String::as_str), Some("shared"));
        assert_eq!(l.aliases.get(&vec![key("a"), key("y")]).map(String::as_str), Some("shared"));
        assert_eq!(l.anchors.get(&vec![key("a"), key("z")]).map(String::as_str), Some("s"));
        assert_eq!(l.aliases.get(&vec![key("a"), key("w"), Seg::Index(0)]).map(String::as_str), Some("s"));
        assert_eq!(l.anchors.len(), 2, "{l:?}");
    }

    #[test]
    fn a_scalar_spelling_stops_before_a_comment_after_it() {
        assert_eq!(scalar_extent("\"a # b\"   # note"), "\"a # b\"");
        assert_eq!(scalar_extent("'it''s' # note"), "'it''s'");
        assert_eq!(scalar_extent("\"q\\\"x\" # n"), "\"q\\\"x\"");
        assert_eq!(scalar_extent("plain text # note"), "plain text");
        assert_eq!(scalar_extent("a#b"), "a#b");
    }

    #[test]
    fn a_duration_is_restored_only_where_it_means_the_same() {
        let l = layout("a: 26h\nb: 26h\nc: word\n");
        let mut canonical = {
            let mut diags = crate::Diagnostics::new();
            crate::syntax::yaml::parse("a: 1d2h\nb: 1d3h\nc: word\n", FileId::default(), &mut diags).expect("valid")
        };
        l.restore_durations(&mut canonical);
        assert_eq!(canonical.to_json(), serde_json::json!({ "a": "26h", "b": "1d3h", "c": "word" }));
    }

    #[test]
    fn flow_collections_blank_lines_and_spellings_are_found() {
        let l = layout("a:\n  x: { k: 1, m: [1, 2] }\n\n  # note\n  y: \"quoted\"\n  z: 26h\n");
        assert!(l.flow.contains(&vec![key("a"), key("x")]));
        assert!(l.flow.contains(&vec![key("a"), key("x"), key("m")]));
        assert!(!l.flow.contains(&vec![key("a")]));
        assert!(l.blank_before.contains(&vec![key("a"), key("y")]));
        assert!(!l.blank_before.contains(&vec![key("a"), key("z")]));
        assert_eq!(l.spelling.get(&vec![key("a"), key("y")]).map(String::as_str), Some("\"quoted\""));
        assert_eq!(l.spelling.get(&vec![key("a"), key("z")]).map(String::as_str), Some("26h"));
    }
}
