//! Canonical YAML text from a document tree: block style, two-space indentation, plain scalars wherever
//! they read back as the same string, literal blocks for multi-line text.

use super::comments::{written, Comments, Path, Seg, Style};
use crate::syntax::{Node, Value};
use std::fmt::Write;

/// Prints a document as canonical YAML.
pub fn print(doc: &Node) -> String {
    print_with(doc, &Comments::default())
}

/// Prints a document as canonical YAML with `comments` (collected from its source) next to their nodes.
pub fn print_with(doc: &Node, comments: &Comments) -> String {
    let mut w = Writer { out: String::new(), comments: comments.settle(doc), path: Vec::new() };
    let root = w.comments.take_before(&Vec::new());
    w.comment_lines(&root, 0);
    // A blank line keeps the header the document's when the text is read again.
    if !root.is_empty() {
        w.out.push('\n');
    }
    match &doc.value {
        Value::Map(entries) if !entries.is_empty() => {
            for (i, e) in entries.iter().enumerate() {
                if i > 0 {
                    w.out.push('\n');
                }
                w.path.push(Seg::Key(e.key.clone()));
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

/// The text being written, the comments not yet placed, and the path of the node being written.
struct Writer {
    out: String,
    comments: Comments,
    path: Path,
}

impl Writer {
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
        let before = self.comments.take_before(&self.path);
        self.comment_lines(&before, level);
        indent(&mut self.out, level);
        self.out.push_str(&scalar_text(key));
        self.out.push(':');
        let trailing = self.comments.take_after(&self.path);
        self.value_after(value, level + 2, trailing);
    }

    /// Writes a value that follows `key:` or `- `; collections start on a new line at `level`.
    fn value_after(&mut self, value: &Node, level: usize, trailing: Vec<String>) {
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
            Value::Str(s) if s.text.contains('\n') && block_ok(&s.text) => {
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
                self.out.push_str(&inline_scalar(value).unwrap_or_default());
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
        self.comment_lines(&before, level);
        indent(&mut self.out, level);
        self.out.push('-');
        match &item.value {
            Value::Map(entries) if !entries.is_empty() => {
                for (i, e) in entries.iter().enumerate() {
                    self.path.push(Seg::Key(e.key.clone()));
                    if i == 0 {
                        self.out.push(' ');
                        self.out.push_str(&scalar_text(&e.key));
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
}
