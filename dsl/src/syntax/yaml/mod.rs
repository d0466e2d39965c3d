//! YAML flow files -> spanned [`Node`] tree.
//!
//! serde_yaml decides what the document *means* (YAML 1.2 scalars, duplicate keys, alias-bomb and recursion
//! limits, error messages with positions). It keeps no positions on values, so a second, span-preserving pass
//! with saphyr-parser records the span of every node in document order, and the two are zipped together:
//! both visit nodes in the same pre-order, because a mapping keeps its source order.

use crate::codes;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::span::{FileId, SourceFile, Span};
use crate::syntax::{Entry, Node, Origin, Str, Value};
use saphyr_parser::{Event, Parser, ScalarStyle};

mod comments;
mod direct;

/// Deepest `[`/`{` flow-collection nesting accepted: serde_yaml's own recursion limit. Deeper text is refused
/// by a linear pre-scan, because both YAML scanners (libyaml under serde_yaml, and saphyr) keep one possible
/// simple key per open flow level and revisit all of them at every token: quadratic in the depth, 51 s for
/// 200 KB of `[` in a release build, before serde_yaml's recursion limit is ever consulted.
pub const MAX_FLOW_NESTING: usize = 128;

/// Parses one YAML flow file. Returns `None` (with a diagnostic) when the text is not valid YAML.
pub fn parse(text: &str, file: FileId, diags: &mut Diagnostics) -> Option<Node> {
    if let Some(at) = flow_nesting_too_deep(text) {
        diags.push(
            Diagnostic::error(
                codes::NESTING_LIMIT,
                Span::new(file, at, at + 1),
                format!("YAML document refused: `[`/`{{` collections nest more than {MAX_FLOW_NESTING} levels deep"),
            )
            .label(format!("level {} starts here", MAX_FLOW_NESTING + 1))
            .help("flow files may nest 128 levels deep and may not expand aliases into huge trees"),
        );
        return None;
    }
    let doc = direct::parse(text, file).or_else(|| authoritative(text, file, diags))?;
    comments::check(&doc, text, file, diags);
    Some(doc)
}

/// The two-pass reading: serde_yaml decides the values and reports every error, saphyr gives the spans.
fn authoritative(text: &str, file: FileId, diags: &mut Diagnostics) -> Option<Node> {
    let source = SourceFile::new("", text);
    let value: serde_yaml::Value = match serde_yaml::from_str(text) {
        Ok(v) => v,
        Err(err) => {
            let duplicate =
                err.to_string().contains("duplicate entry").then(|| find_duplicate_key(text, file)).flatten();
            diags.push(match duplicate {
                Some((key, first, second)) => {
                    Diagnostic::error(codes::DUPLICATE_KEY, second, format!("key `{key}` appears twice in one map"))
                        .label("second occurrence")
                        .with_label(first, "first occurrence")
                        .help("YAML parsers disagree on which one wins; remove or rename one of them")
                }
                None => syntax_error(&err, &source, file),
            });
            return None;
        }
    };
    let marks = match collect_marks(text, file) {
        Ok(m) => m,
        Err((span, message)) => {
            diags.push(Diagnostic::error(codes::YAML_SYNTAX, span, message).label("here"));
            return None;
        }
    };
    let mut zip = Zipper { marks: &marks, next: 0, text, file, diags };
    let whole = Span::new(file, 0, text.len());
    Some(zip.node(&value, whole))
}

/// The offset of the first `[` or `{` opening a flow collection deeper than [`MAX_FLOW_NESTING`], found in
/// one pass. Quoted scalars, comments and block scalars (`|`, `>`) are skipped; outside a flow collection a
/// bracket counts only where a value can start. The scan errs towards counting less: a miss only means the
/// parser sees the text, and serde_yaml still applies its recursion limit.
fn flow_nesting_too_deep(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    // Inside a flow collection a value starts after a separator; outside one, only after white space.
    let starts = |prev: u8, depth: usize| {
        matches!(prev, b' ' | b'\t' | b'\n' | b'\r') || (depth > 0 && matches!(prev, b'[' | b'{' | b',' | b':'))
    };
    let mut depth = 0usize;
    let mut prev = b'\n';
    let mut line_indent = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\n' => {
                line_indent = bytes[i + 1..].iter().take_while(|&&c| c == b' ').count();
            }
            b'#' if matches!(prev, b' ' | b'\t' | b'\n' | b'\r') => {
                i += bytes[i..].iter().position(|&c| c == b'\n').unwrap_or(bytes.len() - i);
                continue;
            }
            b'"' if starts(prev, depth) => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'\'' if starts(prev, depth) => {
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == b'\'' && bytes.get(i + 1) == Some(&b'\'') {
                        i += 2;
                    } else if bytes[i] == b'\'' {
                        break;
                    } else {
                        i += 1;
                    }
                }
            }
            b'[' | b'{' if depth > 0 || starts(prev, depth) => {
                depth += 1;
                if depth > MAX_FLOW_NESTING {
                    return Some(i);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'|' | b'>' if depth == 0 && starts(prev, depth) => {
                // A block scalar: skip its lines, the ones more indented than the line that opens it.
                let parent = line_indent;
                i += bytes[i..].iter().position(|&c| c == b'\n').unwrap_or(bytes.len() - i);
                while i < bytes.len() {
                    let next = i + 1;
                    let indent = bytes[next..].iter().take_while(|&&c| c == b' ').count();
                    let blank = matches!(bytes.get(next + indent), None | Some(b'\n' | b'\r'));
                    if !blank && indent <= parent {
                        break;
                    }
                    i = next + bytes[next..].iter().position(|&c| c == b'\n').unwrap_or(bytes.len() - next);
                }
                continue;
            }
            _ => {}
        }
        prev = b;
        i += 1;
    }
    None
}

fn syntax_error(err: &serde_yaml::Error, source: &SourceFile, file: FileId) -> Diagnostic {
    let message = err.to_string();
    let message = message.split(" at line ").next().unwrap_or(&message).to_string();
    let offset = err.location().map_or(0, |loc| {
        let start = source.line_start(loc.line().saturating_sub(1)).unwrap_or(source.text.len());
        let line = &source.text[start..];
        start + line.char_indices().nth(loc.column().saturating_sub(1)).map_or(line.len(), |(i, _)| i)
    });
    let end = source.text[offset..].chars().next().map_or(offset, |c| offset + c.len_utf8());
    let span = Span::new(file, offset, end);
    let lower = message.to_ascii_lowercase();
    if lower.contains("recursion limit") || lower.contains("repetition limit") {
        Diagnostic::error(codes::NESTING_LIMIT, span, format!("YAML document refused: {message}"))
            .label("the document nests or expands too much from here")
            .help("flow files may nest 128 levels deep and may not expand aliases into huge trees")
    } else if lower.contains("duplicate entry") {
        Diagnostic::error(codes::DUPLICATE_KEY, span, message).label("this key is already in the map")
    } else if let Some(quote) = unclosed_quote(&err.to_string(), source) {
        Diagnostic::error(
            codes::YAML_SYNTAX,
            Span::new(file, quote, quote + 1),
            "invalid YAML: a quoted string is never closed",
        )
        .label("this quote is never closed")
        .help(
            "close the string with the same quote on this line; a `\"` inside a double-quoted string is written `\\\"`",
        )
    } else if let Some(misplaced) =
        (lower.contains("mapping values are not allowed")).then(|| over_indented_key(&source.text, offset)).flatten()
    {
        let (key, above) = misplaced;
        let name = source.text[key..].split(':').next().unwrap_or_default().trim().to_string();
        let above_name = source.text[above..].split(':').next().unwrap_or_default().trim().to_string();
        Diagnostic::error(
            codes::YAML_SYNTAX,
            Span::new(file, key, key + name.len()),
            format!("invalid YAML: `{name}` is indented deeper than `{above_name}` above it"),
        )
        .label("indented too deep")
        .with_label(Span::new(file, above, above + above_name.len()), "this key already has a value on its line")
        .help(format!("indent `{name}:` as far as `{above_name}:` (YAML nests by indentation)"))
    } else {
        match tab_near(&source.text, offset) {
            Some(tab) => Diagnostic::error(
                codes::YAML_SYNTAX,
                Span::new(file, tab, tab + 1),
                format!("invalid YAML: a tab character in the indentation ({message})"),
            )
            .label("tab")
            .help("YAML indents with spaces only: replace the tab with spaces"),
            None => {
                let help = lower.contains("tab").then(|| "YAML indents with spaces only, never tabs".to_string());
                Diagnostic::error(codes::YAML_SYNTAX, span, format!("invalid YAML: {message}"))
                    .label("here")
                    .maybe_help(help)
            }
        }
    }
}

/// The opening quote of a quoted scalar the scanner never saw closed: libyaml names it in the error's
/// context ("while scanning a quoted scalar at line 4 column 17"), while the error itself is where the
/// text ran out, often lines further down.
fn unclosed_quote(message: &str, source: &SourceFile) -> Option<usize> {
    let context = message.split("while scanning a quoted scalar at line ").nth(1)?;
    let mut numbers = context.split(" column ").map(|n| n.trim_matches(|c: char| !c.is_ascii_digit()).parse::<usize>());
    let (line, column) = (numbers.next()?.ok()?, numbers.next()?.ok()?);
    let start = source.line_start(line.checked_sub(1)?)?;
    let text = &source.text[start..];
    let at = start + text.char_indices().nth(column.checked_sub(1)?).map(|(i, _)| i)?;
    source.text[at..].starts_with(['"', '\'']).then_some(at)
}

/// For "mapping values are not allowed in this context" at `offset`: the key starting its line, when that
/// line is indented deeper than the key line above it, which already holds a value (`initial_state: started`
/// followed by a deeper `steps:`). Returns the offsets of both keys.
fn over_indented_key(text: &str, offset: usize) -> Option<(usize, usize)> {
    let offset = offset.min(text.len());
    let line = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let indent = |start: usize| text[start..].len() - text[start..].trim_start_matches(' ').len();
    let key = line + indent(line);
    if !text[key..offset].trim_end().chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.')) {
        return None;
    }
    // The nearest non-blank, non-comment line above.
    let mut end = line.checked_sub(1)?;
    loop {
        let start = text[..end].rfind('\n').map_or(0, |i| i + 1);
        let content = text[start..end].trim();
        if !content.is_empty() && !content.starts_with('#') {
            let above = start + indent(start);
            let has_value =
                content.split_once(": ").is_some_and(|(_, v)| !v.trim().is_empty() && !v.trim().starts_with('#'));
            return (indent(start) < indent(line) && has_value && !content.starts_with("- ")).then_some((key, above));
        }
        end = start.checked_sub(1)?;
    }
}

/// The offset of a tab in the indentation of the line holding `offset`, or of the line before it (the
/// scanners often stop at the line after the tab): the cause to name when a YAML error is near one.
fn tab_near(text: &str, offset: usize) -> Option<usize> {
    let offset = offset.min(text.len());
    let line = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let previous = text[..line.saturating_sub(1)].rfind('\n').map_or(0, |i| i + 1);
    let candidates = if line == 0 { vec![line] } else { vec![line, previous] };
    candidates.into_iter().find_map(|start| {
        let indent = &text[start..];
        let blank = indent.len() - indent.trim_start_matches([' ', '\t']).len();
        indent[..blank].find('\t').map(|i| start + i)
    })
}

/// A mapping being read: the keys seen so far, and whether the next scalar is a key.
type OpenMap = (Vec<(String, Span)>, bool);

/// The first key written twice in one mapping: its text and both spans.
fn find_duplicate_key(text: &str, file: FileId) -> Option<(String, Span, Span)> {
    let bytes = CharToByte::new(text);
    // Per open collection: `Some(keys seen, expecting a key)` for maps, `None` for sequences.
    let mut stack: Vec<Option<OpenMap>> = Vec::new();
    for event in Parser::new_from_str(text) {
        let (event, span) = event.ok()?;
        let here = Span::new(file, bytes.get(span.start.index()), bytes.get(span.end.index()));
        if let Some(Some((seen, expecting_key))) = stack.last_mut() {
            if !matches!(event, Event::MappingEnd | Event::SequenceEnd) {
                if *expecting_key {
                    if let Event::Scalar(key, ..) = &event {
                        if let Some((_, first)) = seen.iter().find(|(k, _)| k == key.as_ref()) {
                            return Some((key.to_string(), *first, here));
                        }
                        seen.push((key.to_string(), here));
                    }
                }
                *expecting_key = !*expecting_key;
            }
        }
        match event {
            Event::MappingStart(..) => stack.push(Some((Vec::new(), true))),
            Event::SequenceStart(..) => stack.push(None),
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
            }
            _ => {}
        }
    }
    None
}

/// What the positional pass saw at one node, in pre-order.
#[derive(Debug)]
enum Mark {
    Scalar { span: Span, origin: Origin },
    Collection { span: Span },
    Alias { span: Span },
}

fn collect_marks(text: &str, file: FileId) -> Result<Vec<Mark>, (Span, String)> {
    let bytes = CharToByte::new(text);
    let mut marks = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| {
            let at = bytes.get(e.marker().index());
            (Span::new(file, at, at), format!("invalid YAML: {}", e.info()))
        })?;
        let start = bytes.get(span.start.index());
        let end = bytes.get(span.end.index());
        match event {
            Event::Scalar(value, style, _, _) => {
                let span = Span::new(file, start, end.max(start));
                let origin = scalar_origin(text, &value, style, start, end);
                marks.push(Mark::Scalar { span, origin });
            }
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                open.push(marks.len());
                marks.push(Mark::Collection { span: Span::new(file, start, start) });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(Mark::Collection { span }) = open.pop().and_then(|i| marks.get_mut(i)) {
                    // A block collection ends where the next token starts; stop at its own last character.
                    let start = span.start as usize;
                    let end = start + text[start..end.max(start)].trim_end().len();
                    *span = Span::new(file, start, end);
                }
            }
            Event::Alias(_) => marks.push(Mark::Alias { span: Span::new(file, start, end.max(start)) }),
            _ => {}
        }
    }
    Ok(marks)
}

fn scalar_origin(text: &str, value: &str, style: ScalarStyle, start: usize, end: usize) -> Origin {
    let raw = text.get(start..end).unwrap_or("");
    match style {
        ScalarStyle::Plain if raw == value => Origin::Verbatim { start: start as u32 },
        ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted if raw.len() >= 2 && &raw[1..raw.len() - 1] == value => {
            Origin::Verbatim { start: start as u32 + 1 }
        }
        // Inside a flow collection saphyr's span of a quoted scalar may end past the closing quote; the
        // text is still verbatim when the quotes enclose exactly the value.
        ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted
            if text[start..].strip_prefix(['"', '\'']).is_some_and(|rest| {
                rest.starts_with(value) && rest[value.len()..].starts_with(&text[start..start + 1])
            }) =>
        {
            Origin::Verbatim { start: start as u32 + 1 }
        }
        ScalarStyle::Literal => {
            // saphyr's span may start at the `|` indicator or at the content; content is on the line after
            // the indicator, indented by its first line's leading spaces.
            let at_indicator = text[start..].starts_with('|');
            let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
            let content =
                if at_indicator { text[start..].find('\n').map_or(text.len(), |i| start + i + 1) } else { line_start };
            let first_line = text[..content].matches('\n').count() as u32;
            let indent = text[content..].chars().take_while(|c| *c == ' ').count() as u32;
            Origin::Block { first_line, indent }
        }
        _ => Origin::Opaque,
    }
}

/// saphyr reports character indices; spans are byte offsets.
struct CharToByte {
    offsets: Option<Vec<usize>>,
    len: usize,
}

impl CharToByte {
    fn new(text: &str) -> Self {
        let offsets = (!text.is_ascii()).then(|| text.char_indices().map(|(i, _)| i).collect());
        CharToByte { offsets, len: text.len() }
    }

    fn get(&self, char_index: usize) -> usize {
        match &self.offsets {
            None => char_index.min(self.len),
            Some(o) => o.get(char_index).copied().unwrap_or(self.len),
        }
    }
}

struct Zipper<'a> {
    marks: &'a [Mark],
    next: usize,
    text: &'a str,
    file: FileId,
    diags: &'a mut Diagnostics,
}

impl Zipper<'_> {
    /// Takes the next mark; `None` when inside an alias expansion (whose nodes have no marks of their own).
    fn take(&mut self) -> Option<&Mark> {
        let mark = self.marks.get(self.next)?;
        self.next += 1;
        Some(mark)
    }

    fn node(&mut self, value: &serde_yaml::Value, fallback: Span) -> Node {
        match self.take() {
            Some(Mark::Alias { span }) => {
                let span = *span;
                let mut inner = Zipper { marks: &[], next: 0, text: self.text, file: self.file, diags: self.diags };
                inner.build(value, span, Origin::Opaque)
            }
            Some(Mark::Scalar { span, origin }) => {
                let (span, origin) = (*span, *origin);
                self.build(value, span, origin)
            }
            Some(Mark::Collection { span }) => {
                let span = *span;
                self.build(value, span, Origin::Opaque)
            }
            None => self.build(value, fallback, Origin::Opaque),
        }
    }

    fn build(&mut self, value: &serde_yaml::Value, span: Span, origin: Origin) -> Node {
        use serde_yaml::Value as Y;
        let value = match value {
            Y::Null => Value::Null,
            Y::Bool(b) => Value::Bool(*b),
            Y::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Y::String(s) => Value::Str(Str { text: s.clone(), origin }),
            Y::Sequence(items) => Value::List(items.iter().map(|item| self.node(item, span)).collect()),
            Y::Mapping(map) => {
                let mut entries = Vec::with_capacity(map.len());
                for (key, value) in map {
                    let key_node = self.node(key, span);
                    let key_text = match &key_node.value {
                        Value::Str(s) => s.text.clone(),
                        Value::Int(i) => i.to_string(),
                        Value::Float(f) => f.to_string(),
                        Value::Bool(b) => b.to_string(),
                        Value::Null => "null".into(),
                        Value::List(_) | Value::Map(_) => {
                            self.diags.push(
                                Diagnostic::error(codes::WRONG_TYPE, key_node.span, "map keys must be plain text")
                                    .label("a list or map used as a key"),
                            );
                            String::new()
                        }
                    };
                    let value = self.node(value, key_node.span);
                    entries.push(Entry { key: key_text, key_span: key_node.span, value });
                }
                Value::Map(entries)
            }
            Y::Tagged(tagged) => {
                self.diags.push(
                    Diagnostic::error(codes::WRONG_TYPE, span, format!("YAML tag `{}` is not supported", tagged.tag))
                        .label("tagged value")
                        .help("remove the tag; flow files use plain YAML values"),
                );
                return self.build(&tagged.value, span, origin);
            }
        };
        Node::new(value, span)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Node {
        let mut d = Diagnostics::new();
        let node = parse(text, FileId(0), &mut d).unwrap();
        assert!(d.is_empty(), "{d:?}");
        node
    }

    #[test]
    fn flow_collections_deeper_than_the_limit_are_found_by_the_pre_scan() {
        let deep = format!("a: {}{}", "[".repeat(129), "]".repeat(129));
        assert_eq!(flow_nesting_too_deep(&deep), Some(3 + 128));
        let fine = format!("a: {}{}", "[".repeat(128), "]".repeat(128));
        assert_eq!(flow_nesting_too_deep(&fine), None);
    }

    #[test]
    fn brackets_in_strings_comments_and_block_scalars_do_not_count() {
        let many = "[".repeat(300);
        let text =
            format!("a: \"{many}\"\nb: '{many}'\n# {many}\nc: |\n  {many}\n\n  {many}\nd: it's [x]\ne: x{many}\n");
        assert_eq!(flow_nesting_too_deep(&text), None);
    }

    #[test]
    fn spans_point_at_keys_and_values() {
        let text = "flows:\n  a:\n    steps:\n      - logger: hé\n      - transform: x\n";
        let doc = parse_ok(text);
        let steps = doc.get("flows").unwrap().get("a").unwrap().get("steps").unwrap();
        let Value::List(items) = &steps.value else { panic!() };
        let logger = items[0].as_map().unwrap();
        assert_eq!(&text[logger[0].key_span.start as usize..logger[0].key_span.end as usize], "logger");
        let v = &logger[0].value;
        assert_eq!(&text[v.span.start as usize..v.span.end as usize], "hé");
        let t = items[1].as_map().unwrap();
        assert_eq!(&text[t[0].value.span.start as usize..t[0].value.span.end as usize], "x");
    }

    #[test]
    fn plain_and_quoted_scalars_map_offsets_verbatim() {
        let text = "a: \"#[1 + 2]\"\nb: plain\n";
        let doc = parse_ok(text);
        let Value::Str(s) = &doc.get("a").unwrap().value else { panic!() };
        assert_eq!(s.origin, Origin::Verbatim { start: 4 });
        let Value::Str(s) = &doc.get("b").unwrap().value else { panic!() };
        assert_eq!(s.origin, Origin::Verbatim { start: 17 });
    }

    #[test]
    fn literal_blocks_record_their_first_line_and_indent() {
        let doc = parse_ok("code: |\n    let x = 1;\n    x\n");
        let Value::Str(s) = &doc.get("code").unwrap().value else { panic!() };
        assert_eq!(s.origin, Origin::Block { first_line: 1, indent: 4 });
    }

    #[test]
    fn aliases_expand_with_the_alias_span() {
        let text = "a: &x { k: 1 }\nb: *x\nc: 2\n";
        let doc = parse_ok(text);
        let b = doc.get("b").unwrap();
        assert_eq!(&text[b.span.start as usize..b.span.end as usize], "*x");
        assert_eq!(b.get("k").unwrap().value, Value::Int(1));
        let c = doc.get("c").unwrap();
        assert_eq!(&text[c.span.start as usize..c.span.end as usize], "2");
    }

    #[test]
    fn syntax_errors_point_at_the_line() {
        let mut d = Diagnostics::new();
        assert!(parse("a: [1, 2\nb: 3\n", FileId(0), &mut d).is_none());
        let diag = d.iter().next().unwrap();
        assert_eq!(diag.code, codes::YAML_SYNTAX);
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let mut d = Diagnostics::new();
        assert!(parse("a: 1\na: 2\n", FileId(0), &mut d).is_none());
        assert_eq!(d.iter().next().unwrap().code, codes::DUPLICATE_KEY);
    }

    #[test]
    fn alias_bombs_are_refused_quickly() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let mut d = Diagnostics::new();
        assert!(parse(&text, FileId(0), &mut d).is_none());
        assert_eq!(d.iter().next().unwrap().code, codes::NESTING_LIMIT);
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing_the_stack() {
        let text = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let mut d = Diagnostics::new();
        assert!(parse(&text, FileId(0), &mut d).is_none());
        assert_eq!(d.iter().next().unwrap().code, codes::NESTING_LIMIT);
    }
}
