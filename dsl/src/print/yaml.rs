//! Canonical YAML text from a document tree: block style, two-space indentation, plain scalars wherever
//! they read back as the same string, literal blocks for multi-line text.

use crate::syntax::{Node, Value};
use std::fmt::Write;

/// Prints a document as canonical YAML.
pub fn print(doc: &Node) -> String {
    let mut out = String::new();
    match &doc.value {
        Value::Map(entries) if !entries.is_empty() => {
            for (i, e) in entries.iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                write_entry(&mut out, &e.key, &e.value, 0);
            }
        }
        _ => {
            out.push_str(&inline_scalar(doc).unwrap_or_else(|| "{}".into()));
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// `key: value` at `level` spaces, with nested collections on the following lines.
fn write_entry(out: &mut String, key: &str, value: &Node, level: usize) {
    indent(out, level);
    out.push_str(&scalar_text(key));
    out.push(':');
    write_value_after(out, value, level + 2);
}

/// Writes a value that follows `key:` or `- `; collections start on a new line at `level`.
fn write_value_after(out: &mut String, value: &Node, level: usize) {
    match &value.value {
        Value::Map(entries) if !entries.is_empty() => {
            out.push('\n');
            for e in entries {
                write_entry(out, &e.key, &e.value, level);
            }
        }
        Value::List(items) if !items.is_empty() => {
            out.push('\n');
            for item in items {
                write_item(out, item, level);
            }
        }
        Value::Str(s) if s.text.contains('\n') && block_ok(&s.text) => {
            let chomp = if s.text.ends_with('\n') { "" } else { "-" };
            let _ = writeln!(out, " |{chomp}");
            for line in s.text.strip_suffix('\n').unwrap_or(&s.text).split('\n') {
                if !line.is_empty() {
                    indent(out, level);
                    out.push_str(line);
                }
                out.push('\n');
            }
        }
        _ => {
            out.push(' ');
            out.push_str(&inline_scalar(value).unwrap_or_default());
            out.push('\n');
        }
    }
}

/// A list item at `level`: maps continue on the dash's line.
fn write_item(out: &mut String, item: &Node, level: usize) {
    indent(out, level);
    out.push('-');
    match &item.value {
        Value::Map(entries) if !entries.is_empty() => {
            for (i, e) in entries.iter().enumerate() {
                if i == 0 {
                    out.push(' ');
                    out.push_str(&scalar_text(&e.key));
                    out.push(':');
                    write_value_after(out, &e.value, level + 4);
                } else {
                    write_entry(out, &e.key, &e.value, level + 2);
                }
            }
        }
        _ => write_value_after(out, item, level + 2),
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
