//! Canonical YAML text from a document tree: block style, two-space indentation, plain scalars wherever
//! they read back as the same string, literal blocks for multi-line text. Given the source's [`Layout`], the
//! choices written there that keep the meaning are kept: anchors and aliases, flow collections that fit
//! [`WIDTH`], blank lines between entries, scalar spellings.

use super::comments::{written, Comments, Path, Seg, Style};
use super::layout::Layout;
use crate::syntax::{Node, Value};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Widest line a flow collection is kept on; a longer one is written in block style.
pub const WIDTH: usize = 120;

/// Prints a document as canonical YAML.
pub fn print(doc: &Node) -> String {
    print_with(doc, &Comments::default())
}

/// Prints a document as canonical YAML with `comments` (collected from its source) next to their nodes.
pub fn print_with(doc: &Node, comments: &Comments) -> String {
    print_kept(doc, comments, &Layout::default())
}

/// Prints a document as YAML with its `comments`, keeping the choices of `layout` (both collected from its
/// source) that do not change what it means.
pub fn print_kept(doc: &Node, comments: &Comments, layout: &Layout) -> String {
    let mut w = Writer {
        out: String::new(),
        comments: comments.settle(doc),
        path: Vec::new(),
        layout: layout.clone(),
        anchored: BTreeMap::new(),
    };
    let root = w.comments.take_before(&Vec::new());
    w.comment_lines(&root, 0);
    // A blank line keeps the header the document's when the text is read again.
    if !root.is_empty() {
        w.out.push('\n');
    }
    match &doc.value {
        Value::Map(entries) if !entries.is_empty() => {
            for (i, e) in entries.iter().enumerate() {
                w.path.push(Seg::Key(e.key.clone()));
                // Without a source, top-level entries are set apart by a blank line; with one, as written.
                if i > 0 && !w.layout.from_source {
                    w.out.push('\n');
                }
                w.entry(&e.key, &e.value, 0);
                w.path.pop();
            }
        }
        _ => {
            w.out.push_str(&inline_scalar(doc).unwrap_or_else(|| "{}".into()));
            w.out.push('\n');
        }
    }
    let rest = w.comments.rest();
    if !rest.is_empty() && !w.out.is_empty() {
        w.out.push('\n');
    }
    w.comment_lines(&rest, 0);
    w.out
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// The text being written, the comments not yet placed, the path of the node being written, the source's
/// layout and the anchors written so far with their node's value.
struct Writer {
    out: String,
    comments: Comments,
    path: Path,
    layout: Layout,
    anchored: BTreeMap<String, serde_json::Value>,
}

impl Writer {
    /// A blank line before the node at the current path when the source had one there.
    fn blank_line(&mut self) {
        if self.layout.blank_before.contains(&self.path) && !self.out.is_empty() && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
    }

    /// `*name` when the source had an alias here, its anchor is written and holds this same value.
    fn alias(&self, path: &Path, value: &Node) -> Option<String> {
        let name = self.layout.aliases.get(path)?;
        (self.anchored.get(name)? == &value.to_json()).then(|| format!("*{name}"))
    }

    /// `&name ` when the source had an anchor here (recorded as written with this value).
    fn anchor(&mut self, path: &Path, value: &Node) -> Option<String> {
        let name = self.layout.anchors.get(path)?.clone();
        self.anchored.insert(name.clone(), value.to_json());
        Some(format!("&{name}"))
    }

    /// The scalar as the source wrote it, when that reads back as the same value (or the same duration).
    fn spelling(&self, path: &Path, value: &Node, in_flow: bool) -> Option<String> {
        let raw = self.layout.spelling.get(path)?;
        let canonical = inline_scalar(value)?;
        if in_flow && !raw.starts_with(['"', '\'']) && raw.contains([',', '[', ']', '{', '}']) {
            return None;
        }
        let read = |t: &str| serde_yaml::from_str::<serde_yaml::Value>(t).ok();
        let (Some(written), Some(meant)) = (read(raw), read(&canonical)) else { return None };
        if matches!(written, serde_yaml::Value::Sequence(_) | serde_yaml::Value::Mapping(_)) {
            return None;
        }
        if written == meant {
            return Some(raw.clone());
        }
        let same_duration = match (&written, &meant) {
            (serde_yaml::Value::String(a), serde_yaml::Value::String(b)) => {
                crate::ir::parse_duration(a).is_some() && crate::ir::parse_duration(a) == crate::ir::parse_duration(b)
            }
            _ => false,
        };
        same_duration.then(|| raw.clone())
    }

    /// A collection the source wrote in flow style, in flow style, when no comment sits inside it.
    fn flow_text(&mut self, value: &Node, path: &mut Path) -> String {
        if let Some(alias) = self.alias(path, value) {
            return alias;
        }
        let anchor = self.anchor(path, value).map(|a| a + " ").unwrap_or_default();
        let body = match &value.value {
            Value::Map(entries) if !entries.is_empty() => {
                let mut parts = Vec::new();
                for e in entries {
                    path.push(Seg::Key(e.key.clone()));
                    let v = self.flow_text(&e.value, path);
                    let key = self.key_text(path, &e.key, true);
                    path.pop();
                    parts.push(format!("{key}: {v}"));
                }
                format!("{{ {} }}", parts.join(", "))
            }
            Value::List(items) if !items.is_empty() => {
                let mut parts = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    path.push(Seg::Index(i));
                    parts.push(self.flow_text(item, path));
                    path.pop();
                }
                if self.layout.spaced.contains(path) {
                    format!("[ {} ]", parts.join(", "))
                } else {
                    format!("[{}]", parts.join(", "))
                }
            }
            _ => self.spelling(path, value, true).or_else(|| inline_scalar(value)).unwrap_or_default(),
        };
        anchor + &body
    }

    /// Writes the current node in flow style after the current line's text when the source had it so and it
    /// fits; false (nothing written) otherwise.
    fn try_flow(&mut self, value: &Node, trailing: &[String]) -> bool {
        let collection = matches!(&value.value, Value::Map(e) if !e.is_empty())
            || matches!(&value.value, Value::List(i) if !i.is_empty());
        // A comment at the end of a flow collection's line is read back as one of its inner nodes', which
        // a flow collection cannot hold: with one, the collection is written in block style.
        if !collection
            || !trailing.is_empty()
            || !self.layout.flow.contains(&self.path)
            || self.comments_within_below(&self.path.clone())
        {
            return false;
        }
        let saved = self.anchored.clone();
        let mut path = self.path.clone();
        let text = self.flow_text(value, &mut path);
        let column = self.out.len() - self.out.rfind('\n').map_or(0, |i| i + 1);
        let fits = column + 1 + text.len() <= WIDTH || self.layout.one_line.contains(&self.path);
        if !fits || text.contains('\n') {
            self.anchored = saved;
            return false;
        }
        self.out.push(' ');
        self.out.push_str(&text);
        self.end_line(trailing);
        true
    }

    /// A key as the source wrote it when that reads back as the same key, else canonical.
    fn key_text(&self, path: &Path, key: &str, in_flow: bool) -> String {
        let kept = self.layout.key_spelling.get(path).filter(|raw| {
            (!in_flow || raw.starts_with(['"', '\'']) || !raw.contains([',', '[', ']', '{', '}']))
                && !raw.starts_with(['&', '*', '!', '?'])
                && matches!(serde_yaml::from_str::<serde_yaml::Value>(raw), Ok(serde_yaml::Value::String(s)) if s == key)
        });
        kept.cloned().unwrap_or_else(|| scalar_text(key))
    }

    /// True when a comment belongs to a node strictly below `path`.
    fn comments_within_below(&self, path: &Path) -> bool {
        let below = |p: &Path| p.len() > path.len() && p.starts_with(path);
        self.comments.before.keys().any(below) || self.comments.after.keys().any(below)
    }

    fn comment_lines(&mut self, lines: &[String], level: usize) {
        for line in lines {
            indent(&mut self.out, level);
            self.out.push_str(&written(Style::Yaml, line));
            self.out.push('\n');
        }
    }

    /// Ends the current line with `trailing` comments.
    fn end_line(&mut self, trailing: &[String]) {
        for t in trailing {
            self.out.push_str(" #");
            self.out.push_str(t);
        }
        self.out.push('\n');
    }

    /// `key: value` at `level` spaces (the path ends with the key), with nested collections on the
    /// following lines.
    fn entry(&mut self, key: &str, value: &Node, level: usize) {
        self.blank_line();
        let before = self.comments.take_before(&self.path);
        self.comment_lines(&before, level);
        indent(&mut self.out, level);
        let key = self.key_text(&self.path, key, false);
        self.out.push_str(&key);
        self.out.push(':');
        let trailing = self.comments.take_after(&self.path);
        self.value_after(value, level + 2, trailing);
    }

    /// Writes a value that follows `key:` or `- `; collections start on a new line at `level`.
    fn value_after(&mut self, value: &Node, level: usize, trailing: Vec<String>) {
        let path = self.path.clone();
        if let Some(alias) = self.alias(&path, value) {
            self.out.push(' ');
            self.out.push_str(&alias);
            self.end_line(&trailing);
            return;
        }
        if self.try_flow(value, &trailing) {
            return;
        }
        if let Some(anchor) = self.anchor(&path, value) {
            self.out.push(' ');
            self.out.push_str(&anchor);
        }
        match &value.value {
            Value::Map(entries) if !entries.is_empty() => {
                self.end_line(&trailing);
                for e in entries {
                    self.path.push(Seg::Key(e.key.clone()));
                    self.entry(&e.key, &e.value, level);
                    self.path.pop();
                }
            }
            Value::List(items) if !items.is_empty() => {
                self.end_line(&trailing);
                for (i, item) in items.iter().enumerate() {
                    self.path.push(Seg::Index(i));
                    self.item(item, level);
                    self.path.pop();
                }
            }
            Value::Str(s) if (s.text.contains('\n') || self.layout.block.contains(&path)) && block_ok(&s.text) => {
                let chomp = if s.text.ends_with('\n') { "" } else { "-" };
                let _ = write!(self.out, " |{chomp}");
                self.end_line(&trailing);
                for line in s.text.strip_suffix('\n').unwrap_or(&s.text).split('\n') {
                    if !line.is_empty() {
                        indent(&mut self.out, level);
                        self.out.push_str(line);
                    }
                    self.out.push('\n');
                }
            }
            _ => {
                self.out.push(' ');
                let text = self.spelling(&path, value, false).or_else(|| inline_scalar(value)).unwrap_or_default();
                self.out.push_str(&text);
                self.end_line(&trailing);
            }
        }
    }

    /// A list item at `level` (the path ends with its index): maps continue on the dash's line, so the
    /// comments of the item's first key are the item's.
    fn item(&mut self, item: &Node, level: usize) {
        let mut before = self.comments.take_before(&self.path);
        let mut trailing = self.comments.take_after(&self.path);
        let first = match &item.value {
            Value::Map(entries) => entries.first(),
            _ => None,
        };
        if let Some(first) = first {
            let mut key_path = self.path.clone();
            key_path.push(Seg::Key(first.key.clone()));
            before.extend(self.comments.take_before(&key_path));
            trailing.extend(self.comments.take_after(&key_path));
        }
        // An item holding a list (a `route`): the dash stands alone on its line, and the inner list starts
        // at the inner dash, so a comment on the dash's line or before the first inner item would belong to
        // the outer item when read again. They are written before the outer dash, where they stay.
        if let Value::List(inner) = &item.value {
            if let Some(first) = inner.first() {
                let mut first_path = self.path.clone();
                first_path.push(Seg::Index(0));
                before.append(&mut trailing);
                before.extend(self.comments.take_before(&first_path));
                if let Some(key) = first.as_map().and_then(|m| m.first()) {
                    first_path.push(Seg::Key(key.key.clone()));
                    before.extend(self.comments.take_before(&first_path));
                }
            }
        }
        self.blank_line();
        self.comment_lines(&before, level);
        indent(&mut self.out, level);
        self.out.push('-');
        let kept = self.layout.aliases.contains_key(&self.path)
            || self.layout.anchors.contains_key(&self.path)
            || self.layout.flow.contains(&self.path);
        match &item.value {
            Value::Map(entries) if !entries.is_empty() && !kept => {
                for (i, e) in entries.iter().enumerate() {
                    self.path.push(Seg::Key(e.key.clone()));
                    if i == 0 {
                        self.out.push(' ');
                        let key = self.key_text(&self.path, &e.key, false);
                        self.out.push_str(&key);
                        self.out.push(':');
                        let trailing = std::mem::take(&mut trailing);
                        self.value_after(&e.value, level + 4, trailing);
                    } else {
                        self.entry(&e.key, &e.value, level + 2);
                    }
                    self.path.pop();
                }
            }
            _ => self.value_after(item, level + 2, trailing),
        }
    }
}

/// A block scalar must not start with spaces and must not have trailing spaces or tabs/CR.
fn block_ok(text: &str) -> bool {
    !text.starts_with([' ', '\n'])
        && !text.contains('\r')
        && !text.contains('\t')
        && !text.ends_with("\n\n")
        && text.split('\n').all(|l| !l.ends_with(' '))
}

fn inline_scalar(node: &Node) -> Option<String> {
    Some(match &node.value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) if f.is_nan() => ".nan".into(),
        Value::Float(f) if f.is_infinite() => if *f > 0.0 { ".inf" } else { "-.inf" }.into(),
        Value::Float(f) => format!("{f:?}"),
        Value::Str(s) => scalar_text(&s.text),
        Value::List(_) => "[]".into(),
        Value::Map(_) => "{}".into(),
    })
}

/// A string as a plain scalar when it reads back as the same string, else double-quoted.
fn scalar_text(text: &str) -> String {
    if plain_ok(text) {
        text.to_string()
    } else {
        serde_json::to_string(text).unwrap_or_else(|_| format!("{text:?}"))
    }
}

fn plain_ok(text: &str) -> bool {
    let Some(first) = text.chars().next() else { return false };
    if !(first.is_alphanumeric() || matches!(first, '/' | '$' | '_' | '.' | '(')) {
        return false;
    }
    if text.ends_with([' ', ':'])
        || text.contains(": ")
        || text.contains(" #")
        || text.contains(['\n', '\t', '\r', '"', '\''])
    {
        return false;
    }
    if text.chars().any(|c| c.is_control() || matches!(c, '{' | '}' | '[' | ']' | ',' | '`')) && !text.starts_with("${")
    {
        return false;
    }
    // The remaining question is whether YAML would read it as another type (`true`, `1e3`, `null`, `0x1f`).
    matches!(serde_yaml::from_str::<serde_yaml::Value>(text), Ok(serde_yaml::Value::String(s)) if s == text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_that_look_like_other_types_are_quoted() {
        for s in ["true", "null", "1.5", "0x10", "", " lead", "a: b", "#[payload]", "- x", "*ref", "yes!"] {
            let printed = scalar_text(s);
            let back: serde_yaml::Value = serde_yaml::from_str(&printed).unwrap_or(serde_yaml::Value::Null);
            assert_eq!(back, serde_yaml::Value::String(s.to_string()), "{s:?} printed as {printed}");
        }
        assert_eq!(scalar_text("mappings/order.rhai"), "mappings/order.rhai");
        assert_eq!(scalar_text("${crm.base_url}"), "${crm.base_url}");
    }

    fn parse(text: &str) -> Node {
        let mut diags = crate::Diagnostics::new();
        crate::syntax::yaml::parse(text, crate::span::FileId::default(), &mut diags).expect("valid YAML")
    }

    /// Prints `canonical` (the tree the IR gives) with the comments and layout of `source`.
    fn kept(source: &str, canonical: &str) -> String {
        let doc = parse(source);
        let comments = Comments::collect(source, Style::Yaml, &doc);
        print_kept(&parse(canonical), &comments, &Layout::collect(source, &doc))
    }

    /// Formats `source` as its own canonical tree, checks it reads back the same and formats to itself.
    fn formatted(source: &str) -> String {
        let once = kept(source, source);
        assert_eq!(parse(&once).to_json(), parse(source).to_json(), "meaning changed:\n{once}");
        assert_eq!(kept(&once, &once), once, "not idempotent");
        once
    }

    #[test]
    fn anchors_and_aliases_are_kept_as_written() {
        let source = "a:\n  x: &err\n    status: 500\n    body: oops\n  y: *err\n  z: [&n 5, *n]\n";
        assert_eq!(formatted(source), source);
    }

    #[test]
    fn list_items_keep_their_anchors_and_aliases() {
        let source = "a:\n  - &step\n    logger: hi\n    level: info\n  - *step\n  - &s { k: 1 }\n  - *s\n";
        assert_eq!(formatted(source), source);
    }

    #[test]
    fn an_alias_whose_value_changed_is_written_out() {
        let source = "a:\n  x: &err\n    status: 500\n  y: *err\n";
        let printed = kept(source, "a:\n  x:\n    status: 500\n  y:\n    status: 501\n");
        assert_eq!(printed, "a:\n  x: &err\n    status: 500\n  y:\n    status: 501\n");
    }

    #[test]
    fn an_alias_printed_before_its_anchor_is_written_out() {
        let printed = kept("a:\n  x: &v 1\n  y: *v\n", "a:\n  y: 1\n  x: 1\n");
        assert_eq!(printed, "a:\n  y: 1\n  x: &v 1\n");
    }

    #[test]
    fn flow_collections_stay_flow_when_they_fit() {
        let source = "a:\n  - set: { name: x, value: \"#[1]\", tags: [a, b] }\n  - { k: 1 }\n  - b: []\n";
        assert_eq!(formatted(source), source);
        let long = format!("a: {{ k: {} }}\n", "x".repeat(WIDTH));
        assert_eq!(formatted(&long), long, "written on one line, kept on one line");
        let folded = format!("a: {{\n  k: {} }}\n", "x".repeat(WIDTH));
        assert_eq!(formatted(&folded), format!("a:\n  k: {}\n", "x".repeat(WIDTH)));
    }

    #[test]
    fn a_flow_map_holding_a_comment_is_written_in_block_style() {
        let source = "a: {\n  k: 1, # one\n  m: 2 }\n";
        assert_eq!(formatted(source), "a:\n  k: 1 # one\n  m: 2\n");
    }

    #[test]
    fn a_flow_map_followed_by_a_comment_is_formatted_once_for_all() {
        for source in ["a: { k: 1 } # note\n", "# keep\nflows: {a: {steps: [ {logger: hi} ]}} # and me\n"] {
            let once = formatted(source);
            assert!(once.contains("# note") || once.contains("# and me"), "{once}");
        }
    }

    #[test]
    fn blank_lines_between_entries_are_kept_once() {
        let source = "flows:\n  one:\n    x: 1\n\n\n  # second\n  two:\n    x: 2\n  three:\n    x: 3\n";
        assert_eq!(formatted(source), "flows:\n  one:\n    x: 1\n\n  # second\n  two:\n    x: 2\n  three:\n    x: 3\n");
    }

    #[test]
    fn top_level_entries_are_set_apart_as_written() {
        assert_eq!(formatted("a: 1\nb: 2\n\nc: 3\n"), "a: 1\nb: 2\n\nc: 3\n");
        assert_eq!(print(&parse("a: 1\nb: 2\n")), "a: 1\n\nb: 2\n", "without a source, apart");
    }

    #[test]
    fn a_one_line_block_scalar_and_spaced_brackets_are_kept() {
        let source = "x:\n  a: |-\n    #[payload == 1]\n  b: { l: [ { k: 1 } ] }\n";
        assert_eq!(formatted(source), source);
    }

    #[test]
    fn durations_keep_the_unit_they_were_written_in() {
        assert_eq!(kept("x:\n  a: 26h\n  b: 90s\n", "x:\n  a: 1d2h\n  b: 1m30s\n"), "x:\n  a: 26h\n  b: 90s\n");
        assert_eq!(kept("a: 26h\n", "a: 1d3h\n"), "a: 1d3h\n", "another duration is the IR's");
    }

    #[test]
    fn scalars_keep_their_quoting_when_it_reads_the_same() {
        let commented = "x:\n  a: \"http://h:9\"   # the sandbox\n  b: plain # note\n";
        assert_eq!(formatted(commented), "x:\n  a: \"http://h:9\" # the sandbox\n  b: plain # note\n");
        let source = "x:\n  a: \"${x.port}\"\n  b: /c/{id}\n  c: 'SIM:X'\n  d: \"1\"\n  \"e\": { \"f:g\": 1 }\n";
        assert_eq!(formatted(source), source);
        assert_eq!(kept("a: \"1\"\n", "a: 1\n"), "a: 1\n", "a spelling of another value is not kept");
    }
}
