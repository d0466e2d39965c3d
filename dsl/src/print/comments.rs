//! Comments kept through `relais fmt`: found in the source text, attached to the node of the document tree
//! they precede (a comment on its own line) or end (a comment after code on its line), and written back by
//! the printers next to that node, in either syntax.
//!
//! Neither parser keeps comments (serde_yaml drops them, the `.flow` grammar skips them as whitespace), but
//! both give every node its span. A comment is found in the text outside every string's span (so a `#` in a
//! quoted or block scalar, a `//` inside `#[...]` code, are content) and attached by position:
//! - on its own line, to the first node starting after it (the outermost one starting there: the list item
//!   rather than its first key); none after it: to the end of the document;
//! - after code, to the node that ends last on its line before it (the innermost of those), else the node
//!   starting on its line (innermost), else as if it stood on its own line.
//!
//! Nodes are named by their path from the root (keys and list indices), which the canonical tree shares
//! with the source tree; a comment whose node the canonical tree does not have (a default dropped) moves to
//! the nearest ancestor it has ([`Comments::settle`]).

use crate::span::Span;
use crate::syntax::{Node, Str, Value};
use std::collections::BTreeMap;

/// One step of a path into a document tree.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Seg {
    /// The value of a map key.
    Key(String),
    /// An item of a list.
    Index(usize),
}

/// A path from the document root.
pub type Path = Vec<Seg>;

/// How comments are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `# text`
    Yaml,
    /// `// text`, `/* text */`
    Flow,
}

/// Comments by the node they belong to. A comment's text is what follows its marker (`#`, `//`), kept as
/// written (its leading space too), one entry per line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comments {
    /// Comments on their own lines before the node.
    pub before: BTreeMap<Path, Vec<String>>,
    /// Comments at the end of the node's (first) line.
    pub after: BTreeMap<Path, Vec<String>>,
    /// Comments after the last node.
    pub end: Vec<String>,
}

/// A comment found in the text.
#[derive(Debug, Clone)]
struct Found {
    start: usize,
    end: usize,
    /// Code before it on its line.
    trailing: bool,
    lines: Vec<String>,
}

/// A node a comment can attach to.
#[derive(Debug, Clone)]
struct Anchor {
    path: Path,
    start: usize,
    end: usize,
}

impl Comments {
    /// True when there is no comment.
    pub fn is_empty(&self) -> bool {
        self.before.is_empty() && self.after.is_empty() && self.end.is_empty()
    }

    /// The comments of `text`, attached to the nodes of `doc` (its tree, parsed from `text`).
    pub fn collect(text: &str, style: Style, doc: &Node) -> Comments {
        let mut strings = Vec::new();
        string_spans(doc, &mut strings);
        if style == Style::Yaml {
            strings = strings.into_iter().filter_map(|s| yaml_string(text, s)).collect();
        }
        strings.sort_by_key(|s| s.start);
        let found = match style {
            Style::Yaml => scan_yaml(text, &strings),
            Style::Flow => scan_flow(text, &strings),
        };
        let mut anchors = Vec::new();
        anchors_of(text, doc, &mut Vec::new(), &mut anchors);
        let mut out = Comments::default();
        for comment in found {
            let (after, path) = attach(text, &anchors, &comment);
            match path {
                Some(path) if after => out.after.entry(path).or_default().extend(comment.lines),
                Some(path) => out.before.entry(path).or_default().extend(comment.lines),
                None => out.end.extend(comment.lines),
            }
        }
        out
    }

    /// These comments with every path moved to the nearest ancestor `doc` has (the canonical tree may
    /// drop or reshape a node); the root's own comments go first in the document.
    pub fn settle(&self, doc: &Node) -> Comments {
        let mut out = Comments { end: self.end.clone(), ..Comments::default() };
        let exists = |path: &Path| node_at(doc, path).is_some();
        for (path, lines) in &self.before {
            let mut p = path.clone();
            while !p.is_empty() && !exists(&p) {
                p.pop();
            }
            out.before.entry(p).or_default().extend(lines.iter().cloned());
        }
        for (path, lines) in &self.after {
            let mut p = path.clone();
            while !p.is_empty() && !exists(&p) {
                p.pop();
            }
            if p.is_empty() {
                out.before.entry(p).or_default().extend(lines.iter().cloned());
            } else {
                out.after.entry(p).or_default().extend(lines.iter().cloned());
            }
        }
        out
    }

    /// Takes the comments written before the node at `path`.
    pub fn take_before(&mut self, path: &Path) -> Vec<String> {
        self.before.remove(path).unwrap_or_default()
    }

    /// Takes the comments written at the end of the node's line.
    pub fn take_after(&mut self, path: &Path) -> Vec<String> {
        self.after.remove(path).unwrap_or_default()
    }

    /// Every comment not yet taken, in path order (after a printer's pass: what it had no place for).
    pub fn rest(&mut self) -> Vec<String> {
        let mut out: Vec<String> = std::mem::take(&mut self.before).into_values().flatten().collect();
        out.extend(std::mem::take(&mut self.after).into_values().flatten());
        out.append(&mut self.end);
        out
    }
}

/// The node at `path`, if the tree has it.
pub fn node_at<'a>(doc: &'a Node, path: &[Seg]) -> Option<&'a Node> {
    let mut node = doc;
    for seg in path {
        node = match (seg, &node.value) {
            (Seg::Key(k), Value::Map(entries)) => &entries.iter().find(|e| &e.key == k)?.value,
            (Seg::Index(i), Value::List(items)) => items.get(*i)?,
            _ => return None,
        };
    }
    Some(node)
}

fn string_spans(node: &Node, out: &mut Vec<Span>) {
    match &node.value {
        Value::Str(Str { .. }) => out.push(node.span),
        Value::List(items) => items.iter().for_each(|n| string_spans(n, out)),
        Value::Map(entries) => entries.iter().for_each(|e| string_spans(&e.value, out)),
        _ => {}
    }
}

/// The exact extent of a YAML string whose span saphyr may give too wide (a quoted scalar's can run past its
/// closing quote, a block scalar's to the next token): a quoted one ends at its closing quote, a block one
/// with its last line indented deeper than its key. A plain scalar cannot hold ` #`: none.
fn yaml_string(text: &str, span: Span) -> Option<Span> {
    let start = span.start as usize;
    let bytes = text.as_bytes();
    match bytes.get(start)? {
        b'"' => {
            let mut i = start + 1;
            while i < bytes.len() && bytes[i] != b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            Some(Span::new(span.file, start, (i + 1).min(text.len())))
        }
        b'\'' => {
            let mut i = start + 1;
            while i < bytes.len() {
                if bytes[i] == b'\'' {
                    if bytes.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            Some(Span::new(span.file, start, (i + 1).min(text.len())))
        }
        _ => {
            // A block scalar: its span starts at the `|` / `>` indicator or at its first content line.
            let header = if matches!(bytes[start], b'|' | b'>') {
                line_start(text, start)
            } else {
                let here = line_start(text, start);
                let prev = line_start(text, here.checked_sub(1)?);
                is_block_header(&text[prev..here - 1]).then_some(prev)?
            };
            let line = &text[header..];
            let parent = line.len() - line.trim_start_matches([' ', '-']).len();
            let header_end = text[header..].find('\n').map_or(text.len(), |i| header + i);
            let mut end = (header_end + 1).min(text.len());
            let mut last = header_end;
            for l in text[end..].split_inclusive('\n') {
                let indent = l.len() - l.trim_start_matches(' ').len();
                if !l.trim().is_empty() && indent <= parent {
                    break;
                }
                end += l.len();
                if !l.trim().is_empty() {
                    last = end;
                }
            }
            // From the header line's end: its own comment (`key: | # note`) is outside the string.
            Some(Span::new(span.file, header_end, last))
        }
    }
}

/// A line ending with a block scalar indicator (`key: |`, `- >-`, `key: |2 # note`).
fn is_block_header(line: &str) -> bool {
    let code = match line.find(" #") {
        Some(at) => &line[..at],
        None => line,
    };
    let code = code.trim_end().trim_end_matches(|c: char| c == '-' || c == '+' || c.is_ascii_digit());
    code.ends_with(['|', '>']) && (code.len() == 1 || code[..code.len() - 1].ends_with([' ', ':', '-']))
}

fn anchors_of(text: &str, node: &Node, path: &mut Path, out: &mut Vec<Anchor>) {
    match &node.value {
        Value::Map(entries) => {
            for e in entries {
                path.push(Seg::Key(e.key.clone()));
                let start = e.key_span.start as usize;
                let end = trimmed_end(text, start, (e.value.span.end.max(e.key_span.end)) as usize);
                // A key the `.flow` parser made up (`flows`, `steps`: its span is the first child's keyword)
                // is no place of its own: its first child is.
                let written = text.get(start..e.key_span.end as usize).map(|k| k.trim_matches(['"', '\'']));
                if end > 0 && written == Some(e.key.as_str()) {
                    out.push(Anchor { path: path.clone(), start, end });
                }
                anchors_of(text, &e.value, path, out);
                path.pop();
            }
        }
        Value::List(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Seg::Index(i));
                if item.span.end > 0 {
                    let (start, end) = (item.span.start as usize, item.span.end as usize);
                    out.push(Anchor { path: path.clone(), start, end: trimmed_end(text, start, end) });
                }
                anchors_of(text, item, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

/// A node's end without what saphyr may count past it (a block scalar's span runs to the next token, the
/// `- ` of the next item included), so that the node ends on its own last line.
fn trimmed_end(text: &str, start: usize, end: usize) -> usize {
    match text.get(start..end) {
        Some(covered) => start + covered.trim_end_matches(|c: char| c.is_whitespace() || c == '-').len(),
        None => end,
    }
}

fn inside(strings: &[Span], at: usize) -> bool {
    let upto = strings.partition_point(|s| (s.start as usize) <= at);
    strings[..upto].iter().rev().take(64).any(|s| at < s.end as usize)
}

fn line_start(text: &str, at: usize) -> usize {
    text[..at].rfind('\n').map_or(0, |i| i + 1)
}

fn code_before(text: &str, at: usize) -> bool {
    let before = &text[line_start(text, at)..at];
    let before = before.trim();
    // A YAML item marker alone (`- # note`) is no code of its own.
    !before.is_empty() && before != "-"
}

fn scan_yaml(text: &str, strings: &[Span]) -> Vec<Found> {
    let mut out = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let mut prev_space = true;
        for (i, c) in body.char_indices() {
            let at = offset + i;
            if c == '#' && prev_space && !inside(strings, at) && !body[i..].starts_with("#[") {
                out.push(Found {
                    start: at,
                    end: offset + body.len(),
                    trailing: code_before(text, at),
                    lines: vec![body[i + 1..].trim_end().to_string()],
                });
                break;
            }
            prev_space = c == ' ' || c == '\t';
        }
        offset += line.len();
    }
    out
}

fn scan_flow(text: &str, strings: &[Span]) -> Vec<Found> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] == b'"' && !inside(strings, i) {
            // A string the tree does not hold (a name, an import path): skip to its end.
            let mut j = i + 1;
            while j < bytes.len() && bytes[j] != b'"' && bytes[j] != b'\n' {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            i = j + 1;
            continue;
        }
        if bytes[i] == b'/' && !inside(strings, i) {
            if bytes[i + 1] == b'/' {
                let end = text[i..].find('\n').map_or(text.len(), |e| i + e);
                let body = text[i + 2..end].trim_end_matches('\r').trim_end();
                out.push(Found { start: i, end, trailing: code_before(text, i), lines: vec![body.to_string()] });
                i = end;
                continue;
            }
            if bytes[i + 1] == b'*' {
                let end = text[i + 2..].find("*/").map_or(text.len(), |e| i + 2 + e + 2);
                let inner = text.get(i + 2..end.saturating_sub(2).max(i + 2)).unwrap_or_default().to_string();
                let lines: Vec<String> = inner
                    .lines()
                    .map(|l| {
                        let t = l.trim();
                        let t = t.strip_prefix('*').filter(|r| r.is_empty() || r.starts_with(' ')).unwrap_or(t);
                        format!(" {}", t.trim_start())
                    })
                    .map(|l| if l.trim().is_empty() { String::new() } else { l.trim_end().to_string() })
                    .collect();
                let lines = trim_blank(lines);
                out.push(Found { start: i, end, trailing: code_before(text, i), lines });
                i = end;
                continue;
            }
        }
        i += 1;
    }
    out
}

fn trim_blank(mut lines: Vec<String>) -> Vec<String> {
    while lines.first().is_some_and(String::is_empty) {
        lines.remove(0);
    }
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    if lines.is_empty() {
        lines.push(String::new());
    }
    lines
}

/// `(trailing, path)`: where a comment goes; `None` is the end of the document.
fn attach(text: &str, anchors: &[Anchor], c: &Found) -> (bool, Option<Path>) {
    if c.trailing {
        let line = line_start(text, c.start);
        let ends_here = anchors.iter().filter(|a| a.end <= c.start && a.end > line);
        let best = ends_here.max_by(|a, b| a.end.cmp(&b.end).then(a.path.len().cmp(&b.path.len())));
        if let Some(a) = best {
            return (true, Some(a.path.clone()));
        }
        let starts_here = anchors.iter().filter(|a| a.start >= line && a.start < c.start);
        if let Some(a) = starts_here.max_by_key(|a| a.path.len()) {
            return (true, Some(a.path.clone()));
        }
    }
    let next = anchors
        .iter()
        .filter(|a| a.start >= c.end)
        .min_by(|a, b| a.start.cmp(&b.start).then(a.path.len().cmp(&b.path.len())));
    // The file's header: before every node, and a blank line between it and the first.
    let first = anchors.iter().map(|a| a.start).min();
    if let (Some(next), Some(first)) = (next, first) {
        let after = text.get(c.end..).unwrap_or("").trim_start_matches('\r');
        let blank =
            after.strip_prefix('\n').is_some_and(|rest| rest.trim_start_matches([' ', '\t', '\r']).starts_with('\n'));
        if next.start == first && blank {
            return (false, Some(Vec::new()));
        }
    }
    (false, next.map(|a| a.path.clone()))
}

/// A comment line as `style` writes it.
pub fn written(style: Style, text: &str) -> String {
    match style {
        Style::Yaml => format!("#{text}"),
        Style::Flow => format!("//{text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Diagnostics;
    use crate::span::FileId;

    fn yaml(text: &str) -> Comments {
        let mut diags = Diagnostics::new();
        let doc = crate::syntax::yaml::parse(text, FileId(0), &mut diags);
        Comments::collect(text, Style::Yaml, &doc.unwrap_or_else(|| panic!("{text}")))
    }

    fn path(segs: &[&str]) -> Path {
        segs.iter().map(|s| s.parse::<usize>().map_or_else(|_| Seg::Key(s.to_string()), Seg::Index)).collect()
    }

    #[test]
    fn a_comment_on_its_own_line_belongs_to_the_next_node_and_one_after_code_to_its_line() {
        let c = yaml(
            "# head\nimports:\n  - a.yaml # why\nflows:\n  # the flow\n  a:\n    steps:\n      - logger: x\n# end\n",
        );
        assert_eq!(c.before.get(&path(&["imports"])), Some(&vec![" head".to_string()]), "{c:?}");
        assert_eq!(c.after.get(&path(&["imports", "0"])), Some(&vec![" why".to_string()]), "{c:?}");
        assert_eq!(c.before.get(&path(&["flows", "a"])), Some(&vec![" the flow".to_string()]), "{c:?}");
        assert_eq!(c.end, vec![" end".to_string()]);
    }

    #[test]
    fn hashes_in_quoted_and_block_scalars_are_content() {
        let c = yaml("a: \"x # y\" # real\nb: |\n  # content\n  z\nc: 'p # q'\n");
        assert_eq!(c.after.get(&path(&["a"])), Some(&vec![" real".to_string()]), "{c:?}");
        assert_eq!(c.after.len() + c.before.len() + c.end.len(), 1, "{c:?}");
    }

    #[test]
    fn a_header_set_off_by_a_blank_line_is_the_documents() {
        let c = yaml("# header\n\nflows:\n  a:\n    steps:\n      - logger: x\n");
        assert_eq!(c.before.get(&Vec::new()), Some(&vec![" header".to_string()]), "{c:?}");
    }

    #[test]
    fn flow_comments_inside_expressions_and_strings_are_content() {
        let text = "// top\nflow a {\n    logger \"a // b\" // real\n    set_payload #[ 1 // two\n    ]\n}\n";
        let mut diags = Diagnostics::new();
        let doc = crate::syntax::flow::parse(text, FileId(0), &mut diags).unwrap_or_else(|| panic!("{text}"));
        let c = Comments::collect(text, Style::Flow, &doc);
        let all: Vec<String> = c.clone().rest();
        assert_eq!(all, vec![" top".to_string(), " real".to_string()], "{c:?}");
    }
}
