//! Pairs of the value rules (`value`, `map`, `list`, strings, numbers, words) -> [`Node`]s, and the
//! building blocks the item and step builders share.

use super::scalars::{dedent, number, unescape};
use super::Rule;
use crate::codes;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::span::{FileId, Span};
use crate::syntax::{Entry, Node, Origin, Str, Value};
use pest::iterators::Pair;

/// Turns pairs into nodes; holds the file identity, the text and the diagnostics sink.
pub(crate) struct Builder<'t> {
    /// The file the spans point into.
    pub file: FileId,
    /// The whole text (for line numbers of triple-quoted strings).
    pub text: &'t str,
    /// Where duplicate keys and bad escapes are reported.
    pub diags: &'t mut Diagnostics,
    /// Byte offsets of line starts, computed on first use.
    line_starts: Option<Vec<usize>>,
}

impl<'t> Builder<'t> {
    /// A builder for one file.
    pub fn new(file: FileId, text: &'t str, diags: &'t mut Diagnostics) -> Self {
        Builder { file, text, diags, line_starts: None }
    }

    /// The file span of a pair.
    pub fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        // Rules end after the whitespace pest skipped before a failed optional part; a label stops at the
        // construct's own last character.
        let s = pair.as_span();
        Span::new(self.file, s.start(), s.start() + pair.as_str().trim_end().len())
    }

    /// A string node.
    pub fn str_node(&self, text: impl Into<String>, span: Span, origin: Origin) -> Node {
        Node::new(Value::Str(Str { text: text.into(), origin }), span)
    }

    /// A string node whose text is exactly the pair's text.
    pub fn verbatim(&self, pair: &Pair<'_, Rule>) -> Node {
        let span = self.span(pair);
        self.str_node(pair.as_str(), span, Origin::Verbatim { start: span.start })
    }

    /// Any value pair (`value` or one of the rules it wraps) -> node.
    pub fn value(&mut self, pair: Pair<'_, Rule>) -> Node {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::value
            | Rule::generic_arg
            | Rule::message
            | Rule::key
            | Rule::name
            | Rule::config_ref
            | Rule::logger_level
            | Rule::error_type => match pair.into_inner().next() {
                Some(inner) => self.value(inner),
                None => Node::new(Value::Null, span),
            },
            Rule::string => self.string(pair),
            Rule::triple => self.triple(pair),
            Rule::number => match number(pair.as_str()) {
                Ok(i) => Node::new(Value::Int(i), span),
                Err(f) => Node::new(Value::Float(f), span),
            },
            Rule::boolean => Node::new(Value::Bool(pair.as_str() == "true"), span),
            Rule::null => Node::new(Value::Null, span),
            Rule::list => {
                let items = pair.into_inner().filter(|p| p.as_rule() == Rule::value).map(|p| self.value(p)).collect();
                Node::new(Value::List(items), span)
            }
            Rule::map => self.map(pair),
            // expr, bare, plain_word, key_word, qualified and any other word: the text itself.
            _ => self.verbatim(&pair),
        }
    }

    /// A `"..."` string: verbatim when it has no escapes, opaque otherwise.
    fn string(&mut self, pair: Pair<'_, Rule>) -> Node {
        let span = self.span(&pair);
        let Some(inner) = pair.into_inner().next() else {
            return self.str_node("", span, Origin::Opaque);
        };
        let raw = inner.as_str();
        if !raw.contains('\\') {
            let start = inner.as_span().start();
            return self.str_node(raw, span, Origin::Verbatim { start: Span::new(self.file, start, start).start });
        }
        match unescape(raw) {
            Some(text) => self.str_node(text, span, Origin::Opaque),
            None => {
                self.diags.push(
                    Diagnostic::error(codes::DSL_SYNTAX, span, "a `\\u{...}` escape names no Unicode character")
                        .label("invalid escape in this string")
                        .help("use a code point between 0 and 10FFFF that is not a surrogate (D800-DFFF)"),
                );
                self.str_node(raw, span, Origin::Opaque)
            }
        }
    }

    /// A `"""..."""` string: dedented; mapped line by line when it is a block.
    fn triple(&mut self, pair: Pair<'_, Rule>) -> Node {
        let span = self.span(&pair);
        let Some(inner) = pair.into_inner().next() else {
            return self.str_node("", span, Origin::Opaque);
        };
        let start = inner.as_span().start();
        let d = dedent(inner.as_str());
        let origin = if d.block {
            let first_line = self.line_of(start) + 1;
            Origin::Block {
                first_line: u32::try_from(first_line).unwrap_or(u32::MAX),
                indent: u32::try_from(d.indent).unwrap_or(u32::MAX),
            }
        } else if d.text.len() == inner.as_str().len() {
            Origin::Verbatim { start: Span::new(self.file, start, start).start }
        } else {
            Origin::Opaque
        };
        self.str_node(d.text, span, origin)
    }

    /// 0-based line of a byte offset.
    fn line_of(&mut self, offset: usize) -> usize {
        let text = self.text;
        let starts = self
            .line_starts
            .get_or_insert_with(|| std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect());
        starts.partition_point(|&s| s <= offset).saturating_sub(1)
    }

    /// A `{ key: value }` map.
    pub fn map(&mut self, pair: Pair<'_, Rule>) -> Node {
        let span = self.span(&pair);
        let mut entries = Entries::default();
        for entry in pair.into_inner().filter(|p| p.as_rule() == Rule::entry) {
            let mut parts = entry.into_inner().filter(|p| p.as_rule() != Rule::colon);
            let (Some(key), Some(value)) = (parts.next(), parts.next()) else { continue };
            let key_span = self.span(&key);
            let key = self.value(key);
            let value = self.value(value);
            entries.push(self, key.as_str().unwrap_or_default().to_string(), key_span, value);
        }
        Node::map(entries.0, span)
    }
}

/// Map entries under construction: refuses a key written twice (reported, first one kept).
#[derive(Default)]
pub(crate) struct Entries(pub Vec<Entry>);

impl Entries {
    /// Adds an entry unless the key is already there.
    pub fn push(&mut self, b: &mut Builder<'_>, key: String, key_span: Span, value: Node) {
        self.push_as(b, "key", key, key_span, value);
    }

    /// Like [`Entries::push`], naming what the key is (`flow`, `config`, `property`) in the diagnostic.
    pub fn push_as(&mut self, b: &mut Builder<'_>, what: &str, key: String, key_span: Span, value: Node) {
        if let Some(first) = self.0.iter().find(|e| e.key == key) {
            let message = if what == "key" {
                format!("key `{key}` is written twice in this map")
            } else {
                format!("{what} `{key}` is defined twice in this file")
            };
            b.diags.push(
                Diagnostic::error(codes::DUPLICATE_KEY, key_span, message)
                    .label("written again here")
                    .with_label(first.key_span, "first written here; this one is kept")
                    .help("remove one of the two, or rename it"),
            );
            return;
        }
        self.0.push(Entry { key, key_span, value });
    }

    /// Adds an entry whose key is not written in the text (`steps`, `name`...): its key span is `at`.
    pub fn put(&mut self, b: &mut Builder<'_>, key: &str, at: Span, value: Node) {
        self.push(b, key.to_string(), at, value);
    }

    /// Adds every entry of a map node (the options map of a step), reporting keys already present.
    pub fn merge(&mut self, b: &mut Builder<'_>, map: Node) {
        if let Value::Map(entries) = map.value {
            for e in entries {
                self.push(b, e.key, e.key_span, e.value);
            }
        }
    }

    /// The map node.
    pub fn into_node(self, span: Span) -> Node {
        Node::map(self.0, span)
    }
}
