//! The spanned document tree both syntaxes parse into.
//!
//! YAML and `.flow` are two spellings of one structure: the `.flow` parser produces exactly the tree the
//! equivalent YAML document gives, so a single lowering pass (`lower`) turns either into IR, and a construct
//! checked once is checked for both syntaxes.

use crate::span::Span;

/// A document node with the span of its text.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// What the node holds.
    pub value: Value,
    /// Where it was written (for a map or list: the whole collection).
    pub span: Span,
}

/// How a string's characters relate to the file's bytes, so that errors inside embedded Rhai can point at
/// the exact character rather than at the whole scalar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Origin {
    /// Byte `i` of the string is byte `start + i` of the file (plain scalars, quoted strings without escapes).
    Verbatim {
        /// File offset of the string's first byte.
        start: u32,
    },
    /// A YAML block scalar or `.flow` triple-quoted string: line `k` of the string starts `indent` bytes into
    /// file line `first_line + k` (0-based line numbers).
    Block {
        /// 0-based file line of the string's first line.
        first_line: u32,
        /// Indentation stripped from every line.
        indent: u32,
    },
    /// No position mapping (escapes, folding): label the whole scalar.
    #[default]
    Opaque,
}

/// A string scalar and how to map positions inside it back to the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Str {
    /// The string's value after unescaping.
    pub text: String,
    /// Position mapping for diagnostics inside the string.
    pub origin: Origin,
}

/// One map entry; keys are always strings, with their own span for "unknown key" diagnostics.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key text.
    pub key: String,
    /// Where the key was written.
    pub key_span: Span,
    /// The value.
    pub value: Node,
}

/// The node kinds: JSON's, with integers kept apart from floats.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`, `~` or an empty YAML value.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer that fits `i64`.
    Int(i64),
    /// Any other number.
    Float(f64),
    /// A string (bare words, durations and `#[...]` expressions are strings too).
    Str(Str),
    /// A sequence.
    List(Vec<Node>),
    /// A mapping, in source order. Duplicate keys are reported by the parser and the first one is kept.
    Map(Vec<Entry>),
}

impl Node {
    /// A node.
    pub fn new(value: Value, span: Span) -> Self {
        Node { value, span }
    }

    /// A string node with no position mapping.
    pub fn string(text: impl Into<String>, span: Span) -> Self {
        Node::new(Value::Str(Str { text: text.into(), origin: Origin::Opaque }), span)
    }

    /// A map node from entries.
    pub fn map(entries: Vec<Entry>, span: Span) -> Self {
        Node::new(Value::Map(entries), span)
    }

    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(&s.text),
            _ => None,
        }
    }

    /// The entries, if this is a map.
    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The value at `key`, if this is a map holding it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?.iter().find(|e| e.key == key).map(|e| &e.value)
    }

    /// The file span of bytes `range` of this string's text when the text is the file's bytes (a plain or
    /// escape-free quoted scalar); otherwise the whole node, which is still the right place to look.
    pub fn sub_span(&self, range: std::ops::Range<usize>) -> Span {
        match &self.value {
            Value::Str(Str { text, origin: Origin::Verbatim { start } }) if range.end <= text.len() => {
                Span::new(self.span.file, *start as usize + range.start, *start as usize + range.end)
            }
            _ => self.span,
        }
    }

    /// The word used in "expected a map, found a list" messages.
    pub fn kind_name(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::List(_) => "a list",
            Value::Map(_) => "a map",
        }
    }

    /// The node as plain JSON (spans dropped), for component configs and literal payloads.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.text.clone()),
            Value::List(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(entries.iter().map(|e| (e.key.clone(), e.value.to_json())).collect()),
        }
    }
}

impl serde::Serialize for Node {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}
