//! Canonical `.flow` text from a canonical document tree (the YAML-shaped [`Node`] tree `raise` builds).
//!
//! Style: 4-space indentation, one step per line, maps inline while the line stays within 100 columns (else
//! one entry per line), strings double-quoted unless they read back as the same bare word, `#[...]` as is,
//! inline transform code over several lines as a triple-quoted block. Imports, properties and configs are
//! grouped; a blank line separates groups and flows. Parsing the output gives back the same tree (spans and
//! string origins aside), and printing is idempotent.
//!
//! A tree that no `.flow` text produces (for instance a step with two kind keys) is printed as far as it
//! goes, with a `//` comment naming what could not be written.

use super::comments::{node_at, written, Comments, Path, Seg, Style};
use crate::syntax::flow::scalars::{is_bare_word, is_expression, is_key_word, is_plain_word, quote, triple_quote};
use crate::syntax::{Entry, Node, Value};

const INDENT: &str = "    ";
const WIDTH: usize = 100;

/// Prints a canonical document tree as `.flow` text.
pub fn print(doc: &Node) -> String {
    print_with(doc, &Comments::default())
}

/// Prints a canonical document tree as `.flow` text with `comments` (collected from its source). `.flow`
/// writes a comment before or after a statement (an import, property, config, flow, source, step, handler,
/// branch or route), so a comment of a node inside one (a setting) is written at its statement.
pub fn print_with(doc: &Node, comments: &Comments) -> String {
    let mut comments = to_statements(comments.settle(doc), doc);
    let mut groups: Vec<String> = Vec::new();
    let root = comments.take_before(&Vec::new());
    if !root.is_empty() {
        groups.push(root.iter().map(|l| format!("{}\n", written(Style::Flow, l))).collect());
    }
    let entries = doc.as_map().unwrap_or_default();
    for key in ["imports", "properties", "configs", "flows", "sub_flows"] {
        let Some(section) = doc.get(key) else { continue };
        let path = vec![Seg::Key(key.to_string())];
        let mut p = Printer { comments: std::mem::take(&mut comments), ..Printer::default() };
        match key {
            "imports" => p.imports(section, &path),
            "properties" | "configs" => {
                for entry in section.as_map().unwrap_or_default() {
                    p.open(0, &child(&path, Seg::Key(entry.key.clone())));
                    let text = if key == "properties" {
                        format!("property {} = {}", key_text(&entry.key), value_text(&entry.value, 0, 0))
                    } else {
                        config(&entry.key, &entry.value)
                    };
                    p.line(0, &text);
                }
            }
            _ => {
                let word = if key == "flows" { "flow" } else { "sub_flow" };
                for entry in section.as_map().unwrap_or_default() {
                    p.flow(word, entry, &child(&path, Seg::Key(entry.key.clone())));
                    groups.push(std::mem::take(&mut p.out));
                }
            }
        }
        groups.push(std::mem::take(&mut p.out));
        comments = p.comments;
    }
    for entry in entries {
        if !["imports", "properties", "configs", "flows", "sub_flows"].contains(&entry.key.as_str()) {
            groups.push(format!("// relais: top-level key `{}` has no `.flow` spelling\n", entry.key));
        }
    }
    let rest = comments.rest();
    if !rest.is_empty() {
        groups.push(rest.iter().map(|l| format!("{}\n", written(Style::Flow, l))).collect());
    }
    groups.retain(|g| !g.is_empty());
    groups.join("\n")
}

fn child(path: &Path, seg: Seg) -> Path {
    let mut p = path.clone();
    p.push(seg);
    p
}

/// True for the paths `.flow` writes as statements (see [`print_with`]).
fn is_statement(path: &[Seg]) -> bool {
    let key = |i: usize| match path.get(i) {
        Some(Seg::Key(k)) => Some(k.as_str()),
        _ => None,
    };
    let n = path.len();
    match (n, path.last()) {
        (2, _) => matches!(key(0), Some("imports" | "properties" | "configs" | "flows" | "sub_flows")),
        (3, Some(Seg::Key(k))) => {
            matches!(key(0), Some("flows" | "sub_flows"))
                && matches!(k.as_str(), "source" | "max_concurrency" | "initial_state")
        }
        (_, Some(Seg::Index(_))) if n >= 2 => match &path[n - 2] {
            Seg::Key(k) => matches!(k.as_str(), "steps" | "on_error" | "otherwise" | "choice" | "routes"),
            Seg::Index(_) => n >= 3 && key(n - 3) == Some("routes"),
        },
        _ => false,
    }
}

/// The comments moved to statements: one before a node that is not a statement goes before the first
/// statement inside it (a comment before `steps:` is the first step's) or else its statement; one after a
/// node goes after its statement.
fn to_statements(comments: Comments, doc: &Node) -> Comments {
    let ancestor = |path: &Path| {
        let mut p = path.clone();
        while !p.is_empty() && !is_statement(&p) {
            p.pop();
        }
        p
    };
    let mut out = Comments { end: comments.end, ..Comments::default() };
    let first_key = doc.as_map().and_then(|m| m.first()).map(|e| vec![Seg::Key(e.key.clone())]);
    for (path, lines) in comments.before {
        // Before the document's first section: the file's header, written first.
        let target = if path.is_empty() || Some(&path) == first_key.as_ref() {
            Vec::new()
        } else if is_statement(&path) {
            path
        } else {
            first_statement(doc, &path).unwrap_or_else(|| ancestor(&path))
        };
        out.before.entry(target).or_default().extend(lines);
    }
    for (path, lines) in comments.after {
        let target = ancestor(&path);
        if target.is_empty() {
            out.before.entry(target).or_default().extend(lines);
        } else {
            out.after.entry(target).or_default().extend(lines);
        }
    }
    out
}

/// The first statement below `path`, in document order.
fn first_statement(doc: &Node, path: &Path) -> Option<Path> {
    fn walk(node: &Node, path: &mut Path) -> Option<Path> {
        let children: Vec<(Seg, &Node)> = match &node.value {
            Value::Map(entries) => entries.iter().map(|e| (Seg::Key(e.key.clone()), &e.value)).collect(),
            Value::List(items) => items.iter().enumerate().map(|(i, n)| (Seg::Index(i), n)).collect(),
            _ => Vec::new(),
        };
        for (seg, child) in children {
            path.push(seg);
            if is_statement(path) {
                return Some(path.clone());
            }
            if let Some(found) = walk(child, path) {
                return Some(found);
            }
            path.pop();
        }
        None
    }
    walk(node_at(doc, path)?, &mut path.clone())
}

fn config(name: &str, value: &Node) -> String {
    match value.as_map() {
        Some([kind]) if is_key_word(&kind.key) && matches!(kind.value.value, Value::Map(_)) => {
            let head = format!("config {} = {}", key_text(name), kind.key);
            match kind.value.as_map() {
                Some([]) => head,
                _ => format!("{head} {}", value_text(&kind.value, 0, head.len() + 1)),
            }
        }
        _ => format!("// relais: config `{name}` is not `{{ kind: {{ settings }} }}`"),
    }
}

/// A map key, property name or flow name: bare when it reads back as the same word.
fn key_text(key: &str) -> String {
    if is_key_word(key) {
        key.to_string()
    } else {
        quote(key)
    }
}

/// A string value: `#[...]` and bare words as is, anything else quoted.
fn str_text(text: &str) -> String {
    if is_expression(text) || is_bare_word(text) {
        text.to_string()
    } else {
        quote(text)
    }
}

/// A string where the grammar wants a non-bare `message` (logger message, error description).
fn message_text(text: &str) -> String {
    if is_expression(text) {
        text.to_string()
    } else {
        quote(text)
    }
}

/// A value on one line, if it has no map or list too wide for `WIDTH` starting at column `col`.
fn inline(node: &Node) -> String {
    match &node.value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        // `{:?}` keeps a `.0` or an exponent, so the number reads back as a float. Non-finite floats have no
        // spelling in either syntax.
        Value::Float(f) if f.is_finite() => format!("{f:?}"),
        Value::Float(_) => "null".into(),
        Value::Str(s) => str_text(&s.text),
        Value::List(items) if items.is_empty() => "[]".into(),
        Value::List(items) => format!("[{}]", items.iter().map(inline).collect::<Vec<_>>().join(", ")),
        Value::Map(entries) if entries.is_empty() => "{}".into(),
        Value::Map(entries) => {
            let parts: Vec<String> =
                entries.iter().map(|e| format!("{}: {}", key_text(&e.key), inline(&e.value))).collect();
            format!("{{ {} }}", parts.join(", "))
        }
    }
}

/// A value starting at column `col` of a line indented `level` times: inline when it fits, else maps and
/// lists one entry per line, closing at `level`.
fn value_text(node: &Node, level: usize, col: usize) -> String {
    let flat = inline(node);
    let fits = col + flat.len() <= WIDTH && !flat.contains('\n');
    match &node.value {
        Value::Map(entries) if !fits && !entries.is_empty() => {
            let inner = INDENT.repeat(level + 1);
            let mut out = String::from("{\n");
            // Entries are separated by commas, with none after the last, as the reference flows write them.
            for (i, e) in entries.iter().enumerate() {
                let key = key_text(&e.key);
                let value = value_text(&e.value, level + 1, inner.len() + key.len() + 2);
                let comma = if i + 1 < entries.len() { "," } else { "" };
                out.push_str(&format!("{inner}{key}: {value}{comma}\n"));
            }
            out.push_str(&INDENT.repeat(level));
            out.push('}');
            out
        }
        Value::List(items) if !fits && !items.is_empty() => {
            let inner = INDENT.repeat(level + 1);
            let mut out = String::from("[\n");
            for (i, item) in items.iter().enumerate() {
                let comma = if i + 1 < items.len() { "," } else { "" };
                out.push_str(&format!("{inner}{}{comma}\n", value_text(item, level + 1, inner.len())));
            }
            out.push_str(&INDENT.repeat(level));
            out.push(']');
            out
        }
        _ => flat,
    }
}

fn is_list(node: &Node) -> bool {
    matches!(node.value, Value::List(_))
}

/// Entries other than `skip`, in order.
fn rest<'a>(entries: &'a [Entry], skip: &[&str]) -> Vec<&'a Entry> {
    entries.iter().filter(|e| !skip.contains(&e.key.as_str())).collect()
}

fn map_of(entries: &[&Entry]) -> Node {
    let cloned = entries.iter().map(|e| (*e).clone()).collect();
    Node::map(cloned, crate::span::Span::default())
}

/// Text written line by line at an indentation level, and the comments still to write.
#[derive(Default)]
struct Printer {
    out: String,
    comments: Comments,
    /// Comments for the end of the next line written (the statement's).
    pending: Vec<String>,
}

impl Printer {
    fn line(&mut self, level: usize, text: &str) {
        if text.contains('\n') {
            // A statement laid out over several lines (a long options map) ends on a line that belongs to
            // its last option, where a comment would be read back as that option's: its end-of-line
            // comments go on their own lines before it instead, where they are read back as its own.
            for comment in std::mem::take(&mut self.pending) {
                self.out.push_str(&INDENT.repeat(level));
                self.out.push_str(&written(Style::Flow, &comment));
                self.out.push('\n');
            }
        }
        self.out.push_str(&INDENT.repeat(level));
        self.out.push_str(text);
        for comment in std::mem::take(&mut self.pending) {
            self.out.push(' ');
            self.out.push_str(&written(Style::Flow, &comment));
        }
        self.out.push('\n');
    }

    /// Starts the statement at `path`: its comments before it, and after it on its line.
    fn open(&mut self, level: usize, path: &Path) {
        for comment in self.comments.take_before(path) {
            self.out.push_str(&INDENT.repeat(level));
            self.out.push_str(&written(Style::Flow, &comment));
            self.out.push('\n');
        }
        let after = self.comments.take_after(path);
        self.pending.extend(after);
    }

    fn imports(&mut self, section: &Node, path: &Path) {
        let Value::List(items) = &section.value else {
            return self.line(0, "// relais: `imports` is not a list");
        };
        for (i, item) in items.iter().enumerate() {
            self.open(0, &child(path, Seg::Index(i)));
            match item.as_str() {
                Some(file) => self.line(0, &format!("import {}", quote(file))),
                None => self.line(0, "// relais: an import that is not a string"),
            }
        }
    }

    fn unprintable(&mut self, level: usize, what: &str) {
        self.line(level, &format!("// relais: {what} has no `.flow` spelling"));
    }

    /// `head` followed by an options map (when not empty), with the map laid out for the current column.
    fn with_map(&self, level: usize, head: String, options: &[&Entry]) -> String {
        if options.is_empty() {
            return head;
        }
        let col = INDENT.len() * level + head.len() + 1;
        format!("{head} {}", value_text(&map_of(options), level, col))
    }

    /// `head {` steps `}`, or `head {}` when there are none.
    fn block(&mut self, level: usize, head: &str, steps: &Node, path: &Path) {
        match &steps.value {
            Value::List(items) if items.is_empty() => self.line(level, &format!("{head} {{}}")),
            Value::List(items) => {
                self.line(level, &format!("{head} {{"));
                for (i, step) in items.iter().enumerate() {
                    self.step(level + 1, step, &child(path, Seg::Index(i)));
                }
                self.line(level, "}");
            }
            _ => {
                self.line(level, &format!("{head} {{"));
                self.unprintable(level + 1, "a step list that is not a list");
                self.line(level, "}");
            }
        }
    }

    fn flow(&mut self, word: &str, entry: &Entry, path: &Path) {
        self.open(0, path);
        let head = format!("{word} {}", key_text(&entry.key));
        let Some(body) = entry.value.as_map() else {
            self.line(0, &format!("{head} {{}}"));
            self.unprintable(0, &format!("{word} `{}` (not a map)", entry.key));
            return;
        };
        if body.is_empty() {
            self.line(0, &format!("{head} {{}}"));
            return;
        }
        self.line(0, &format!("{head} {{"));
        for key in ["max_concurrency", "initial_state", "objectives"] {
            if let Some(value) = entry.value.get(key) {
                self.open(1, &child(path, Seg::Key(key.to_string())));
                self.line(1, &format!("{key} {}", value_text(value, 1, INDENT.len() + key.len() + 1)));
            }
        }
        if let Some(source) = entry.value.get("source") {
            self.open(1, &child(path, Seg::Key("source".into())));
            self.component(1, "source ", source);
        }
        if let Some(Value::List(steps)) = entry.value.get("steps").map(|s| &s.value) {
            let steps_path = child(path, Seg::Key("steps".into()));
            for (i, step) in steps.iter().enumerate() {
                self.step(1, step, &child(&steps_path, Seg::Index(i)));
            }
        }
        if let Some(handlers) = entry.value.get("on_error") {
            self.handlers(1, handlers, &child(path, Seg::Key("on_error".into())));
        }
        for e in rest(body, &["max_concurrency", "initial_state", "objectives", "source", "steps", "on_error"]) {
            self.unprintable(1, &format!("key `{}`", e.key));
        }
        self.line(0, "}");
    }

    /// `{ KIND: { config: c, params } }` as `prefix KIND c { params }`.
    fn component(&mut self, level: usize, prefix: &str, node: &Node) {
        match node.as_map() {
            Some([kind]) if is_key_word(&kind.key) => {
                let text = self.component_text(level, format!("{prefix}{}", kind.key), &kind.value);
                self.line(level, &text);
            }
            _ => self.unprintable(level, "a component that is not `{ kind: { ... } }`"),
        }
    }

    fn component_text(&self, level: usize, mut head: String, body: &Node) -> String {
        match &body.value {
            Value::Map(entries) => {
                let mut options: Vec<&Entry> = entries.iter().collect();
                if let Some(config) = entries.first().filter(|e| e.key == "config") {
                    if let Some(name) = config.value.as_str().filter(|n| is_plain_word(n)) {
                        head = format!("{head} {name}");
                        options.remove(0);
                    }
                }
                self.with_map(level, head, &options)
            }
            _ => format!("{head} // relais: component settings that are not a map"),
        }
    }

    fn handlers(&mut self, level: usize, handlers: &Node, path: &Path) {
        let Value::List(items) = &handlers.value else {
            return self.unprintable(level, "`on_error` that is not a list");
        };
        for (k, handler) in items.iter().enumerate() {
            let path = child(path, Seg::Index(k));
            self.open(level, &path);
            let Some([action]) = handler.as_map() else {
                self.unprintable(level, "an error handler that is not `{ continue|propagate: { ... } }`");
                continue;
            };
            let mut head = format!("on_error {}", action.key);
            if let Some(types) = action.value.get("types") {
                let one = |t: &Node| match t.as_str() {
                    Some("when") => quote("when"),
                    Some(s) => str_text(s),
                    None => inline(t),
                };
                let text = match &types.value {
                    Value::List(list) => list.iter().map(one).collect::<Vec<_>>().join(", "),
                    _ => one(types),
                };
                head = format!("{head} {text}");
            }
            if let Some(when) = action.value.get("when") {
                head = format!("{head} when {}", value_text(when, level, INDENT.len() * level + head.len() + 6));
            }
            let empty = Node::new(Value::List(Vec::new()), handler.span);
            let steps_path = child(&child(&path, Seg::Key(action.key.clone())), Seg::Key("steps".into()));
            self.block(level, &head, action.value.get("steps").unwrap_or(&empty), &steps_path);
        }
    }

    fn step(&mut self, level: usize, node: &Node, path: &Path) {
        self.open(level, path);
        let Some(entries) = node.as_map() else {
            return self.unprintable(level, "a step that is not a map");
        };
        let mut prefix = String::new();
        if let Some(id) = node.get("id").and_then(Node::as_str) {
            if is_key_word(id) && !id.contains('.') {
                prefix = format!("@{id} ");
            } else {
                self.unprintable(level, &format!("step id `{id}`"));
            }
        }
        let kinds = rest(entries, &["id"]);
        let [kind] = kinds.as_slice() else {
            return self.unprintable(level, "a step without exactly one kind");
        };
        self.step_kind(level, &prefix, &kind.key, &kind.value, &child(path, Seg::Key(kind.key.clone())));
    }

    fn step_kind(&mut self, level: usize, prefix: &str, key: &str, body: &Node, path: &Path) {
        let head = format!("{prefix}{key}");
        let col = INDENT.len() * level + head.len() + 1;
        let map = body.as_map();
        let raw = |p: &Printer| p.with_map(level, head.clone(), &map.unwrap_or_default().iter().collect::<Vec<_>>());
        let keys: Vec<&str> = map.unwrap_or_default().iter().map(|e| e.key.as_str()).collect();
        let text = match key {
            "set_payload" => match map {
                Some([value, media]) if value.key == "value" && media.key == "media_type" => {
                    let head = format!("{head} {}", value_text(&value.value, level, col));
                    self.with_map(level, head, &[media])
                }
                _ => format!("{head} {}", value_text(body, level, col)),
            },
            "set_variable" => match map {
                Some([name, value]) if name.key == "name" && value.key == "value" && name.value.as_str().is_some() => {
                    let head = format!("{head} {} =", str_text(name.value.as_str().unwrap_or_default()));
                    let col = INDENT.len() * level + head.len() + 1;
                    format!("{head} {}", value_text(&value.value, level, col))
                }
                Some(_) => raw(self),
                None => return self.unprintable(level, "a `set_variable` that is not a map"),
            },
            "remove_variable" => format!("{head} {}", value_text(body, level, col)),
            "transform" => match map {
                Some([script]) if script.key == "script" => {
                    format!("{head} file {}", value_text(&script.value, level, col + 5))
                }
                Some([code]) if code.key == "code" && code.value.as_str().is_some() => {
                    self.code(level, &head, code.value.as_str().unwrap_or_default())
                }
                Some(_) => raw(self),
                None => match body.as_str() {
                    Some(code) => self.code(level, &head, code),
                    None => return self.unprintable(level, "a `transform` without code"),
                },
            },
            "logger" => self.logger(level, head, body),
            "choice" => return self.choice(level, &head, body, path),
            "foreach" | "parallel_foreach" | "until_successful" | "async" if keys.last() == Some(&"steps") => {
                let entries = map.unwrap_or_default();
                let mut head = head;
                let mut skip = vec!["steps"];
                let collection = entries.iter().find(|e| e.key == "collection");
                if let Some(c) = collection.filter(|c| !matches!(c.value.value, Value::Map(_))) {
                    head = format!("{head} {}", value_text(&c.value, level, col));
                    skip.push("collection");
                }
                let head = self.with_map(level, head, &rest(entries, &skip));
                let empty = Node::new(Value::List(Vec::new()), body.span);
                let steps = child(path, Seg::Key("steps".into()));
                return self.block(level, &head, body.get("steps").unwrap_or(&empty), &steps);
            }
            "db.transaction" if keys == ["config", "steps"] => {
                let config = map.and_then(|m| m[0].value.as_str()).filter(|n| is_plain_word(n));
                let Some(config) = config else { return self.unprintable(level, "a `db.transaction` config") };
                let empty = Node::new(Value::List(Vec::new()), body.span);
                let steps = child(path, Seg::Key("steps".into()));
                return self.block(level, &format!("{head} {config}"), body.get("steps").unwrap_or(&empty), &steps);
            }
            "scatter_gather" | "first_successful" if keys.last() == Some(&"routes") => {
                let entries = map.unwrap_or_default();
                let head = self.with_map(level, head, &rest(entries, &["routes"]));
                return self.routes(
                    level,
                    &head,
                    body.get("routes").unwrap_or(body),
                    &child(path, Seg::Key("routes".into())),
                );
            }
            "flow_ref" | "validate" | "raise_error" if body.as_str().is_some() => {
                format!("{head} {}", value_text(body, level, col))
            }
            "flow_ref" | "validate" | "idempotent" => {
                let first = match key {
                    "flow_ref" => "name",
                    "validate" => "schema",
                    _ => "key",
                };
                match map {
                    Some([lead, others @ ..])
                        if lead.key == first
                            && !matches!(lead.value.value, Value::Map(_))
                            && (key == "idempotent" || !others.is_empty()) =>
                    {
                        let head = format!("{head} {}", value_text(&lead.value, level, col));
                        self.with_map(level, head, &others.iter().collect::<Vec<_>>())
                    }
                    Some(_) => raw(self),
                    None => return self.unprintable(level, &format!("a `{key}` body")),
                }
            }
            "raise_error" => match map {
                Some([t, d]) if t.key == "type" && d.key == "description" && d.value.as_str().is_some() => {
                    let t = value_text(&t.value, level, col);
                    format!("{head} {t} {}", message_text(d.value.as_str().unwrap_or_default()))
                }
                Some(_) => raw(self),
                None => return self.unprintable(level, "a `raise_error` body"),
            },
            "try" if map.is_some_and(|m| m.first().is_some_and(|e| e.key == "steps" && is_list(&e.value))) => {
                self.line(level, &format!("{head} {{"));
                if let Some(Value::List(steps)) = body.get("steps").map(|s| &s.value) {
                    let steps_path = child(path, Seg::Key("steps".into()));
                    for (i, step) in steps.iter().enumerate() {
                        self.step(level + 1, step, &child(&steps_path, Seg::Index(i)));
                    }
                }
                if let Some(handlers) = body.get("on_error") {
                    self.handlers(level + 1, handlers, &child(path, Seg::Key("on_error".into())));
                }
                for e in rest(map.unwrap_or_default(), &["steps", "on_error"]) {
                    self.unprintable(level + 1, &format!("`try` key `{}`", e.key));
                }
                return self.line(level, "}");
            }
            _ if is_key_word(key) && !crate::ir::STEP_KEYWORDS.contains(&key) => match map {
                Some(_) => self.component_text(level, head, body),
                None if key.contains('.') => return self.unprintable(level, &format!("`{key}` settings")),
                None => format!("{head} {}", value_text(body, level, col)),
            },
            _ => return self.unprintable(level, &format!("step `{key}` in this shape")),
        };
        self.line(level, &text);
    }

    /// `transform #[ code ]` (a block opened by `#[` and a line break too), a triple-quoted block, or a
    /// quoted string.
    fn code(&self, level: usize, head: &str, code: &str) -> String {
        let expr = format!("#[{code}]");
        // A block written `#[` on its own line (code starting with a line break) is kept as written: the
        // code is the text between the brackets, so this is the one form that reads back identical.
        if (!code.contains('\n') || code.starts_with('\n')) && is_expression(&expr) {
            return format!("{head} {expr}");
        }
        match triple_quote(code, &INDENT.repeat(level + 1)) {
            Some(block) => format!("{head} {block}"),
            None => format!("{head} {}", quote(code)),
        }
    }

    fn logger(&self, level: usize, head: String, body: &Node) -> String {
        let col = INDENT.len() * level + head.len() + 1;
        let Some(entries) = body.as_map() else {
            return match body.as_str() {
                Some(text) => format!("{head} {}", message_text(text)),
                None => format!("{head} {}", value_text(body, level, col)),
            };
        };
        let (lvl, message, others) = match entries {
            [l, m, others @ ..] if l.key == "level" && m.key == "message" => (Some(l), m, others),
            [m, others @ ..] if m.key == "message" => (None, m, others),
            _ => return self.with_map(level, head, &entries.iter().collect::<Vec<_>>()),
        };
        let level_ok = lvl.is_none_or(|l| l.value.as_str().is_some_and(is_bare_word));
        let Some(text) = message.value.as_str().filter(|_| level_ok) else {
            return self.with_map(level, head, &entries.iter().collect::<Vec<_>>());
        };
        let mut head = head;
        if let Some(l) = lvl.and_then(|l| l.value.as_str()) {
            head = format!("{head} {l}");
        }
        head = format!("{head} {}", message_text(text));
        self.with_map(level, head, &others.iter().collect::<Vec<_>>())
    }

    fn choice(&mut self, level: usize, head: &str, body: &Node, path: &Path) {
        let Value::List(branches) = &body.value else {
            return self.unprintable(level, "a `choice` that is not a list of branches");
        };
        self.line(level, &format!("{head} {{"));
        let inner = level + 1;
        for (b, branch) in branches.iter().enumerate() {
            let path = child(path, Seg::Index(b));
            self.open(inner, &path);
            match branch.as_map() {
                Some([when, steps]) if when.key == "when" && steps.key == "steps" => {
                    let col = INDENT.len() * inner + 5;
                    let head = format!("when {}", value_text(&when.value, inner, col));
                    self.block(inner, &head, &steps.value, &child(&path, Seg::Key("steps".into())));
                }
                Some([otherwise]) if otherwise.key == "otherwise" => {
                    self.block(inner, "otherwise", &otherwise.value, &child(&path, Seg::Key("otherwise".into())))
                }
                _ => self.unprintable(inner, "a `choice` branch in this shape"),
            }
        }
        self.line(level, "}");
    }

    fn routes(&mut self, level: usize, head: &str, routes: &Node, path: &Path) {
        match &routes.value {
            Value::List(items) if items.is_empty() => self.line(level, &format!("{head} {{}}")),
            Value::List(items) => {
                self.line(level, &format!("{head} {{"));
                for (r, route) in items.iter().enumerate() {
                    let path = child(path, Seg::Index(r));
                    self.open(level + 1, &path);
                    self.block(level + 1, "route", route, &path);
                }
                self.line(level, "}");
            }
            _ => self.unprintable(level, "routes that are not a list"),
        }
    }
}

#[cfg(test)]
mod tests;
