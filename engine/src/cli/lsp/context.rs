//! Where the cursor is, read from the text around it: inside code, a `${property}`, a YAML key or value at a
//! path, or a `.flow` statement or settings block. Read from the text alone, line by line, because while
//! someone types the file rarely parses.

/// One step of a YAML path: a map key or "an item of this list".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// The value of this key.
    Key(String),
    /// An item of a list.
    Item,
}

/// What the cursor is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Context {
    /// Rhai code (`#[...]`, a `.rhai` file): mapping functions and the event's names.
    Code,
    /// After `${`: property names.
    Property,
    /// A YAML key being written in the map at `path`.
    Key {
        /// The map's path from the document root.
        path: Vec<Seg>,
    },
    /// A YAML value of `key` in the map at `path`.
    Value {
        /// The map's path.
        path: Vec<Seg>,
        /// The key whose value is written.
        key: String,
    },
    /// A `.flow` statement's first word (`flow`, a step kind...), at the top level or in a block.
    Statement {
        /// True inside a `flow { }` or a step block, false at the top level.
        in_flow: bool,
    },
    /// A `.flow` statement's word after `head` (its first word: `http.request`, `flow_ref`, `on_error`...).
    After {
        /// The statement's first words (`http.request`, `on_error propagate`).
        head: String,
    },
    /// Inside a `.flow` settings map of the component `kind` (`{ method: ... }`): a key, or the value of `key`.
    Settings {
        /// The statement's first word: `config`, `source`, or a step's kind.
        owner: String,
        /// The component kind written before the map.
        kind: String,
        /// The key whose value is written, when after `key:`.
        key: Option<String>,
    },
}

/// The word being typed ending at `offset` (letters, digits, `_`, `.`, `:`, `-`), and where it starts.
pub fn word_before(text: &str, offset: usize) -> (usize, &str) {
    let before = &text[..offset];
    let start = before.char_indices().rev().take_while(|(_, c)| is_word(*c)).last().map_or(offset, |(i, _)| i);
    (start, &text[start..offset])
}

/// The whole word around `offset`, and its byte range.
pub fn word_at(text: &str, offset: usize) -> (usize, usize) {
    let (start, _) = word_before(text, offset);
    let end = text[offset..].char_indices().find(|(_, c)| !is_word(*c)).map_or(text.len(), |(i, _)| offset + i);
    (start, end)
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | ':' | '-')
}

/// True when `offset` is inside an unclosed `#[` (brackets counted since the last `#[`).
pub fn in_expression(text: &str, offset: usize) -> bool {
    let before = &text[..offset];
    let Some(open) = before.rfind("#[") else { return false };
    let mut depth = 0i32;
    for c in before[open + 1..].chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            _ => {}
        }
    }
    depth > 0
}

/// True when `offset` follows a `${` not yet closed on its line.
pub fn in_property(text: &str, offset: usize) -> bool {
    let line = &text[line_start(text, offset)..offset];
    line.rfind("${").is_some_and(|at| !line[at..].contains('}'))
}

fn line_start(text: &str, offset: usize) -> usize {
    text[..offset].rfind('\n').map_or(0, |i| i + 1)
}

/// The context of the cursor in a YAML document.
pub fn yaml(text: &str, offset: usize) -> Context {
    if in_expression(text, offset) {
        return Context::Code;
    }
    if in_property(text, offset) {
        return Context::Property;
    }
    let start = line_start(text, offset);
    let before = &text[start..offset];
    let (indent, items, rest) = split_line(before);
    let mut path = ancestors(&text[..start], indent);
    path.extend(std::iter::repeat_n(Seg::Item, items));
    match rest.find(':') {
        Some(colon) if !rest[..colon].trim().is_empty() => {
            let key = unquote(rest[..colon].trim()).to_string();
            // `key: { a: ... }` / `key: [ ...`: a flow collection on the key's line is the key's own map.
            let after = rest[colon + 1..].trim_start();
            match after.strip_prefix('{') {
                Some(inner) if !inner.contains('}') => {
                    path.push(Seg::Key(key));
                    match inner.rsplit(',').next().and_then(|last| last.split_once(':')) {
                        Some((k, _)) => Context::Value { path, key: unquote(k.trim()).to_string() },
                        None => Context::Key { path },
                    }
                }
                _ => Context::Value { path, key },
            }
        }
        _ => Context::Key { path },
    }
}

/// Leading spaces, `- ` item markers, and what follows them.
fn split_line(line: &str) -> (usize, usize, &str) {
    let mut rest = line;
    let mut items = 0;
    let mut indent = line.len() - line.trim_start_matches(' ').len();
    rest = &rest[indent..];
    while let Some(after) = rest.strip_prefix("- ").or_else(|| if rest == "-" { Some("") } else { None }) {
        items += 1;
        let spaces = after.len() - after.trim_start_matches(' ').len();
        if items == 1 {
            // The item's content is indented past the dash; ancestors are what is left of the dash.
            indent = line.len() - rest.len();
        }
        rest = &after[spaces..];
    }
    (indent, items, rest)
}

/// The keys and items enclosing a line indented `indent` (the lines `before` it, read upwards).
fn ancestors(before: &str, mut indent: usize) -> Vec<Seg> {
    let mut path: Vec<Seg> = Vec::new();
    for line in before.lines().rev() {
        let trimmed = line.trim_start_matches(' ');
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (line_indent, items, rest) = split_line(line);
        let key_col = line.len() - rest.len();
        let mut found: Vec<Seg> = Vec::new();
        if key_col < indent && !rest.is_empty() {
            if let Some(colon) = rest.find(':') {
                found.push(Seg::Key(unquote(rest[..colon].trim()).to_string()));
            }
        }
        if items > 0 && line_indent < indent {
            found.extend(std::iter::repeat_n(Seg::Item, items));
            indent = line_indent;
        } else if key_col < indent && !found.is_empty() {
            indent = key_col;
        }
        // Upwards: the innermost first, so the segments are reversed at the end.
        path.extend(found);
        if indent == 0 {
            break;
        }
    }
    path.reverse();
    path
}

fn unquote(key: &str) -> &str {
    key.trim_matches(|c| c == '"' || c == '\'')
}

/// The context of the cursor in a `.flow` document.
pub fn flow(text: &str, offset: usize) -> Context {
    if in_expression(text, offset) {
        return Context::Code;
    }
    if in_property(text, offset) {
        return Context::Property;
    }
    let opens = open_braces(&text[..offset]);
    let start = line_start(text, offset);
    let line = text[start..offset].trim_start();
    let Some(&brace) = opens.last() else {
        return statement_or_after(line, false);
    };
    // The statement that opened the innermost brace: the text of its line before the `{`.
    let head_start = line_start(text, brace);
    let head = text[head_start..brace].trim();
    let words: Vec<&str> = head.split_whitespace().collect();
    let block = matches!(words.first(), Some(&"flow" | &"sub_flow" | &"on_error" | &"when" | &"otherwise" | &"route"))
        || words.last().is_some_and(|w| is_block_step(w.trim_start_matches('@')))
        || words.first().is_some_and(|w| is_block_step(w));
    if block && brace < start {
        return statement_or_after(line, true);
    }
    // A settings map: `config NAME = KIND {`, `source KIND {`, `[@id] KIND [config] {`.
    let kind = match words.as_slice() {
        ["config", _, "=", kind, ..] => kind,
        ["source", kind, ..] => kind,
        [first, second, ..] if first.starts_with('@') => second,
        [first, ..] => first,
        [] => "",
    };
    let inner = &text[brace + 1..offset];
    let last = inner.rsplit([',', '\n', '{']).next().unwrap_or_default();
    let key = last.split_once(':').map(|(k, _)| k.trim().to_string());
    let owner = words.first().map_or("", |w| if *w == "config" || *w == "source" { w } else { "step" });
    Context::Settings { owner: owner.to_string(), kind: kind.to_string(), key }
}

fn is_block_step(word: &str) -> bool {
    matches!(
        word,
        "foreach"
            | "parallel_foreach"
            | "until_successful"
            | "async"
            | "try"
            | "choice"
            | "scatter_gather"
            | "first_successful"
            | "db.transaction"
    )
}

fn statement_or_after(line: &str, in_flow: bool) -> Context {
    match line.rsplit_once(char::is_whitespace) {
        Some((head, _)) if !head.trim().is_empty() => {
            let head = head.split_whitespace().filter(|w| !w.starts_with('@')).collect::<Vec<_>>().join(" ");
            if head.is_empty() {
                Context::Statement { in_flow }
            } else {
                Context::After { head }
            }
        }
        _ => Context::Statement { in_flow },
    }
}

/// Offsets of the `{` still open at the end of `text`, outside strings, comments and `#[...]`.
fn open_braces(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut stack = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' if text[i..].starts_with("\"\"\"") => {
                i = text[i + 3..].find("\"\"\"").map_or(bytes.len(), |e| i + 3 + e + 3);
                continue;
            }
            b'"' => {
                let mut j = i + 1;
                while j < bytes.len() && bytes[j] != b'"' && bytes[j] != b'\n' {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                i = j + 1;
                continue;
            }
            b'/' if text[i..].starts_with("//") => {
                i = text[i..].find('\n').map_or(bytes.len(), |e| i + e);
                continue;
            }
            b'/' if text[i..].starts_with("/*") => {
                i = text[i + 2..].find("*/").map_or(bytes.len(), |e| i + 2 + e + 2);
                continue;
            }
            b'#' if text[i..].starts_with("#[") => {
                let mut depth = 0;
                let mut j = i + 1;
                while j < bytes.len() {
                    match bytes[j] {
                        b'[' => depth += 1,
                        b']' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                i = j + 1;
                continue;
            }
            b'{' => stack.push(i),
            b'}' => {
                stack.pop();
            }
            _ => {}
        }
        i += 1;
    }
    stack
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(path: &[&str]) -> Context {
        Context::Key {
            path: path.iter().map(|s| if *s == "-" { Seg::Item } else { Seg::Key(s.to_string()) }).collect(),
        }
    }

    #[test]
    fn a_yaml_key_under_a_step_knows_its_path() {
        let text = "flows:\n  order:\n    steps:\n      - http.request:\n          config: crm\n          me";
        assert_eq!(yaml(text, text.len()), key(&["flows", "order", "steps", "-", "http.request"]));
        let text = "flows:\n  order:\n    steps:\n      - ";
        assert_eq!(yaml(text, text.len()), key(&["flows", "order", "steps", "-"]));
    }

    #[test]
    fn a_yaml_value_and_an_inline_map_are_told_apart() {
        let text = "flows:\n  a:\n    steps:\n      - flow_ref: ord";
        let path = vec![Seg::Key("flows".into()), Seg::Key("a".into()), Seg::Key("steps".into()), Seg::Item];
        assert_eq!(yaml(text, text.len()), Context::Value { path: path.clone(), key: "flow_ref".into() });
        let text = "flows:\n  a:\n    steps:\n      - http.request: { config: c";
        let mut inner = path;
        inner.push(Seg::Key("http.request".into()));
        assert_eq!(yaml(text, text.len()), Context::Value { path: inner, key: "config".into() });
    }

    #[test]
    fn code_and_properties_are_found_on_either_syntax() {
        let text = "set_payload: \"#[ to_e164(payload.phone, ";
        assert_eq!(yaml(text, text.len()), Context::Code);
        let text = "set_payload: \"#[ payload ]\" ${crm.";
        assert_eq!(yaml(text, text.len()), Context::Property);
        let text = "flow a {\n  set_payload #[ up";
        assert_eq!(flow(text, text.len()), Context::Code);
    }

    #[test]
    fn flow_statements_settings_and_words_after_a_keyword() {
        let text = "flow a {\n    source http.listener { method: POST }\n    ";
        assert_eq!(flow(text, text.len()), Context::Statement { in_flow: true });
        let text = "flow a {\n    flow_ref ";
        assert_eq!(flow(text, text.len()), Context::After { head: "flow_ref".into() });
        let text = "flow a {\n    http.request crm { me";
        assert_eq!(
            flow(text, text.len()),
            Context::Settings { owner: "step".into(), kind: "http.request".into(), key: None }
        );
        let text = "config crm = http.client { timeout: ";
        let got = flow(text, text.len());
        assert_eq!(
            got,
            Context::Settings { owner: "config".into(), kind: "http.client".into(), key: Some("timeout".into()) }
        );
        assert_eq!(flow("", 0), Context::Statement { in_flow: false });
    }
}
