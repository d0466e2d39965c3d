//! The common case of [`parse`](super::parse) in one pass: a document of plain maps, lists and scalars is
//! built straight from saphyr's events, with the scalar rules serde_yaml applies, instead of parsing the text
//! twice (serde_yaml for the values, saphyr for the spans) and zipping the two: reading `check_bench`'s
//! 2,000 flow files that way cost 1.9x the serde_yaml parse alone (perf), before any check ran.
//!
//! Anything this pass does not read exactly as serde_yaml would (anchors and aliases, tags, non-string or
//! duplicate keys, several documents, deep nesting, tabs, carriage returns, directives, a parse error) makes
//! it give up (`None`), and the document goes through the authoritative two-pass path, which also reports
//! every error. A test holds both paths to the same tree on every YAML file of the repository.

use super::{scalar_origin, CharToByte};
use crate::span::{FileId, Span};
use crate::syntax::{Entry, Node, Str, Value};
use saphyr_parser::{Event, Parser, ScalarStyle};
use std::collections::HashSet;

/// Nesting beyond which the authoritative path decides (serde_yaml's recursion limit is 128).
const MAX_DEPTH: usize = 100;

/// Maps with more keys than this check duplicates through a set rather than by scanning.
const SCAN_KEYS: usize = 16;

/// A collection being read, with the span of its first character.
enum Open {
    List { items: Vec<Node>, start: usize },
    Map { entries: Vec<Entry>, start: usize, key: Option<(String, Span)>, keys: Option<HashSet<String>> },
}

/// The tree of `text`, or `None` when the two-pass path must decide.
pub(super) fn parse(text: &str, file: FileId) -> Option<Node> {
    if text.starts_with('\u{feff}') || text.contains(['\t', '\r']) || text.starts_with('%') || text.contains("\n%") {
        return None;
    }
    let bytes = CharToByte::new(text);
    let mut stack: Vec<Open> = Vec::new();
    let mut root = None;
    let mut documents = 0;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.ok()?;
        let start = bytes.get(span.start.index());
        let end = bytes.get(span.end.index());
        let node = match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return None;
                }
                continue;
            }
            Event::Scalar(value, style, anchor, tag) => {
                if anchor != 0 || tag.is_some() {
                    return None;
                }
                let span = Span::new(file, start, end.max(start));
                let resolved = match style {
                    ScalarStyle::Plain => resolve_plain(&value)?,
                    _ => Resolved::Str,
                };
                let value = match resolved {
                    Resolved::Str => {
                        let origin = scalar_origin(text, &value, style, start, end);
                        Value::Str(Str { text: value.into_owned(), origin })
                    }
                    Resolved::Other(v) => v,
                };
                Node::new(value, span)
            }
            Event::SequenceStart(anchor, ref tag) | Event::MappingStart(anchor, ref tag) => {
                if anchor != 0 || tag.is_some() || stack.len() >= MAX_DEPTH {
                    return None;
                }
                // A collection as a map key.
                if let Some(Open::Map { key: None, .. }) = stack.last() {
                    return None;
                }
                stack.push(if matches!(event, Event::SequenceStart(..)) {
                    Open::List { items: Vec::new(), start }
                } else {
                    Open::Map { entries: Vec::new(), start, key: None, keys: None }
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, open_start) = match stack.pop()? {
                    Open::List { items, start } => (Value::List(items), start),
                    Open::Map { entries, start, key: None, .. } => (Value::Map(entries), start),
                    Open::Map { .. } => return None,
                };
                // A block collection ends where the next token starts; stop at its own last character.
                let close = open_start + text.get(open_start..end.max(open_start))?.trim_end().len();
                Node::new(value, Span::new(file, open_start, close))
            }
            Event::Alias(_) => return None,
            _ => continue,
        };
        match stack.last_mut() {
            None if root.is_none() => root = Some(node),
            None => return None,
            Some(Open::List { items, .. }) => items.push(node),
            Some(Open::Map { entries, key, keys, .. }) => match key.take() {
                Some((key, key_span)) => entries.push(Entry { key, key_span, value: node }),
                None => {
                    let Value::Str(s) = node.value else { return None };
                    let duplicate = match keys {
                        Some(set) => !set.insert(s.text.clone()),
                        None => {
                            let seen = entries.iter().any(|e| e.key == s.text);
                            if entries.len() >= SCAN_KEYS {
                                *keys = Some(entries.iter().map(|e| e.key.clone()).chain([s.text.clone()]).collect());
                            }
                            seen
                        }
                    };
                    if duplicate {
                        return None;
                    }
                    *key = Some((s.text, node.span));
                }
            },
        }
    }
    if documents != 1 || !stack.is_empty() {
        return None;
    }
    root
}

/// What a plain scalar means.
enum Resolved {
    /// A string: its text is the scalar's.
    Str,
    /// Null, a boolean or a number.
    Other(Value),
}

/// serde_yaml's reading of a plain scalar (`visit_untagged_scalar`: null, booleans, integers, floats, else a
/// string), or `None` for an integer beyond 64 bits, which the two-pass path reports.
fn resolve_plain(v: &str) -> Option<Resolved> {
    if v.is_empty() || matches!(v, "null" | "Null" | "NULL" | "~") {
        return Some(Resolved::Other(Value::Null));
    }
    match v {
        "true" | "True" | "TRUE" => return Some(Resolved::Other(Value::Bool(true))),
        "false" | "False" | "FALSE" => return Some(Resolved::Other(Value::Bool(false))),
        _ => {}
    }
    // Nothing that starts otherwise can be read as a number by the rules below (Rust's float syntax included).
    let unsigned = v.strip_prefix(['+', '-']).unwrap_or(v);
    if !unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return Some(Resolved::Str);
    }
    if let Some(u) = parse_unsigned_int(v, u64::from_str_radix) {
        // serde_yaml keeps it as a u64; the tree holds it as a float when it does not fit an i64.
        return Some(Resolved::Other(match i64::try_from(u) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::Float(u as f64),
        }));
    }
    if let Some(i) = parse_negative_int(v, i64::from_str_radix) {
        return Some(Resolved::Other(Value::Int(i)));
    }
    if parse_unsigned_int(v, u128::from_str_radix).is_some() || parse_negative_int(v, i128::from_str_radix).is_some() {
        return None;
    }
    if !digits_but_not_number(v) {
        if let Some(f) = parse_f64(v) {
            return Some(Resolved::Other(Value::Float(f)));
        }
    }
    Some(Resolved::Str)
}

// The four functions below are serde_yaml 0.9's own (`de.rs`), so that both paths read numbers alike.

fn parse_unsigned_int<T>(
    scalar: &str,
    from_str_radix: fn(&str, u32) -> Result<T, std::num::ParseIntError>,
) -> Option<T> {
    let unpositive = scalar.strip_prefix('+').unwrap_or(scalar);
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = unpositive.strip_prefix(prefix) {
            if rest.starts_with(['+', '-']) {
                return None;
            }
            if let Ok(int) = from_str_radix(rest, radix) {
                return Some(int);
            }
        }
    }
    if unpositive.starts_with(['+', '-']) {
        return None;
    }
    if digits_but_not_number(scalar) {
        return None;
    }
    from_str_radix(unpositive, 10).ok()
}

fn parse_negative_int<T>(
    scalar: &str,
    from_str_radix: fn(&str, u32) -> Result<T, std::num::ParseIntError>,
) -> Option<T> {
    for (prefix, radix) in [("-0x", 16), ("-0o", 8), ("-0b", 2)] {
        if let Some(rest) = scalar.strip_prefix(prefix) {
            if let Ok(int) = from_str_radix(&format!("-{rest}"), radix) {
                return Some(int);
            }
        }
    }
    if digits_but_not_number(scalar) {
        return None;
    }
    from_str_radix(scalar, 10).ok()
}

fn parse_f64(scalar: &str) -> Option<f64> {
    let unpositive = if let Some(unpositive) = scalar.strip_prefix('+') {
        if unpositive.starts_with(['+', '-']) {
            return None;
        }
        unpositive
    } else {
        scalar
    };
    if let ".inf" | ".Inf" | ".INF" = unpositive {
        return Some(f64::INFINITY);
    }
    if let "-.inf" | "-.Inf" | "-.INF" = scalar {
        return Some(f64::NEG_INFINITY);
    }
    if let ".nan" | ".NaN" | ".NAN" = scalar {
        return Some(f64::NAN.copysign(1.0));
    }
    if let Ok(float) = unpositive.parse::<f64>() {
        if float.is_finite() {
            return Some(float);
        }
    }
    None
}

/// Leading zero(s) followed by digits is a string in YAML 1.2.
fn digits_but_not_number(scalar: &str) -> bool {
    let scalar = scalar.strip_prefix(['-', '+']).unwrap_or(scalar);
    scalar.len() > 1 && scalar.starts_with('0') && scalar[1..].bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::diagnostic::Diagnostics;

    /// The two-pass tree, when that path reads the text without a finding.
    fn authoritative(text: &str) -> Option<Node> {
        let mut diags = Diagnostics::new();
        let node = super::super::authoritative(text, FileId(0), &mut diags);
        node.filter(|_| diags.is_empty())
    }

    fn assert_same(text: &str, what: &str) -> bool {
        match parse(text, FileId(0)) {
            Some(direct) => {
                // Compared as printed, so that a NaN equals itself.
                let expected = format!("{:?}", authoritative(text));
                assert_eq!(format!("{:?}", Some(direct)), expected, "{what}: the direct tree differs");
                true
            }
            None => false,
        }
    }

    #[test]
    fn scalars_read_as_serde_yaml_reads_them() {
        let text = "a: 1\nb: -2\nc: 0x1f\nd: 0o17\ne: 0b101\nf: 1.5\ng: .inf\nh: -.inf\ni: .nan\nj: 007\nk: +3\n\
                    l: 1e3\nm: 5s\nn: ~\no:\np: true\nq: False\nr: NULL\ns: '1'\nt: \"x\\ty\"\nu: 18446744073709551615\n\
                    v: -0x10\nw: 1_000\nx: +.5\ny: 1.\nz: inf\naa: nan\nab: '#[payload.id]'\nac: |\n  let x = 1;\n  x\n\
                    ad: >\n  folded\n  text\nae: [1, two, {three: 3}]\naf: {}\nag: []\nah: hé llo\nai: -0\n";
        assert!(assert_same(text, "scalars"));
    }

    #[test]
    fn what_the_direct_path_does_not_read_goes_to_the_two_pass_path() {
        for text in [
            "a: &x 1\nb: *x\n",
            "a: !tag 1\n",
            "a: 1\na: 2\n",
            "? [a]\n: 1\n",
            "1: one\n",
            "a:\tb\n",
            "a: 1\r\n",
            "---\na: 1\n---\nb: 2\n",
            "%YAML 1.2\n---\na: 1\n",
            "a: 170141183460469231731687303715884105727\n",
            "# only a comment\n",
            "a: [1, 2\n",
        ] {
            assert!(parse(text, FileId(0)).is_none(), "{text:?}");
        }
    }

    #[test]
    fn every_yaml_file_of_the_repository_reads_alike_on_both_paths() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
        let mut pending = vec![root];
        let (mut direct, mut all) = (0, 0);
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().to_string();
                if path.is_dir() {
                    if !name.starts_with('.') && name != "target" {
                        pending.push(path);
                    }
                } else if name.ends_with(".yaml") || name.ends_with(".yml") {
                    let Ok(text) = std::fs::read_to_string(&path) else { continue };
                    all += 1;
                    direct += usize::from(assert_same(&text, &path.display().to_string()));
                }
            }
        }
        assert!(all > 50 && direct * 2 > all, "{direct} of {all} files read directly");
    }
}
