//! Go to definition (flows, configs, files) and document symbols (flows, configs, steps, properties).

use super::context::word_at;
use super::position::LineIndex;
use super::workspace::{location_of, path_to_uri};
use crate::load::{Loaded, Syntax};
use lsp_types::{DocumentSymbol, Location, Position, Range, SymbolKind};
use relais_dsl::syntax::{Node, Value};
use relais_dsl::{Diagnostics, SourceMap, Span};
use std::path::Path;

/// Files a string may name, by extension: scripts, schemas, flow files, lookup tables, certificates.
const FILE_EXTENSIONS: &[&str] = &["rhai", "json", "yaml", "yml", "flow", "csv", "pem", "xml", "txt"];

/// Where the name or path at `offset` is defined: a file a string names (an import, a script, a schema),
/// else a config (when the line says `config`) or a flow, else the other of the two.
pub fn definition(loaded: Option<&Loaded>, folder: &Path, doc: &Path, text: &str, offset: usize) -> Option<Location> {
    if let Some(location) = file_at(doc, text, offset) {
        return Some(location);
    }
    let loaded = loaded?;
    let (start, end) = word_at(text, offset);
    let word = text.get(start..end)?.trim_matches(|c| c == ':' || c == '.');
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[line_start..start];
    let flow = || loaded.set.flow(word).map(|f| f.name.span);
    let config = || loaded.set.config(word).map(|c| c.name.span);
    let span = if before.contains("config") || component_line(before) {
        config().or_else(flow)
    } else {
        flow().or_else(config)
    }?;
    let (uri, range) = location_of(&loaded.sources, folder, span)?;
    Some(Location { uri, range })
}

/// A `.flow` step line `KIND NAME`, whose second word is a config (`http.request crm { ... }`).
fn component_line(before: &str) -> bool {
    let words: Vec<&str> = before.split_whitespace().filter(|w| !w.starts_with('@')).collect();
    matches!(words.as_slice(), [kind] if kind.contains('.'))
}

/// The file a path-like string around `offset` names, relative to the document's directory, when it exists.
fn file_at(doc: &Path, text: &str, offset: usize) -> Option<Location> {
    let is_path = |c: char| c.is_alphanumeric() || matches!(c, '_' | '.' | '/' | '-');
    let start = text[..offset].char_indices().rev().take_while(|(_, c)| is_path(*c)).last().map_or(offset, |(i, _)| i);
    let end = text[offset..].char_indices().find(|(_, c)| !is_path(*c)).map_or(text.len(), |(i, _)| offset + i);
    let written = text.get(start..end)?;
    let extension = Path::new(written).extension()?.to_str()?;
    if !FILE_EXTENSIONS.contains(&extension) || !written.contains(['/', '.']) {
        return None;
    }
    let path = crate::load::normalize(&doc.parent()?.join(written));
    if !path.is_file() {
        return None;
    }
    let start = Position { line: 0, character: 0 };
    Some(Location { uri: path_to_uri(&path)?, range: Range { start, end: start } })
}

/// The symbols of one document, from its own text (parsed alone, so they show while other files are broken):
/// imports, properties, configs, flows and sub-flows with their steps (nested steps under their step).
pub fn symbols(text: &str, syntax: Syntax) -> Vec<DocumentSymbol> {
    let mut sources = SourceMap::new();
    let file = sources.add("document", text);
    let mut diags = Diagnostics::new();
    let Some(doc) = crate::load::parse_text(text, syntax, file, &mut diags) else { return Vec::new() };
    let index = LineIndex::new(text);
    let mut out = Vec::new();
    for entry in doc.as_map().unwrap_or_default() {
        let (kind, what) = match entry.key.as_str() {
            "flows" => (SymbolKind::FUNCTION, "flow"),
            "sub_flows" => (SymbolKind::FUNCTION, "sub-flow"),
            "configs" => (SymbolKind::OBJECT, "config"),
            "properties" => (SymbolKind::CONSTANT, "property"),
            _ => continue,
        };
        for item in entry.value.as_map().unwrap_or_default() {
            let detail = match what {
                "config" => item.value.as_map().and_then(|m| m.first()).map(|k| k.key.clone()),
                _ => Some(what.to_string()),
            };
            let children = item.value.get("steps").map(|s| steps(&index, s));
            out.push(symbol(
                &index,
                &item.key,
                detail,
                kind,
                item.key_span.to(item.value.span),
                item.key_span,
                children,
            ));
        }
    }
    out
}

fn steps(index: &LineIndex<'_>, list: &Node) -> Vec<DocumentSymbol> {
    let Value::List(items) = &list.value else { return Vec::new() };
    items
        .iter()
        .filter_map(|step| {
            let entries = step.as_map()?;
            let kind = entries.iter().find(|e| e.key != "id")?;
            let name = match step.get("id").and_then(Node::as_str) {
                Some(id) => format!("@{id} {}", kind.key),
                None => kind.key.clone(),
            };
            let nested: Vec<DocumentSymbol> =
                nested_steps(&kind.value).into_iter().flat_map(|s| steps(index, s)).collect();
            let span = step.span.to(kind.key_span);
            Some(symbol(index, &name, None, SymbolKind::EVENT, span, kind.key_span, Some(nested)))
        })
        .collect()
}

fn lists(n: &Node) -> Vec<&Node> {
    match &n.value {
        Value::List(items) => items.iter().collect(),
        _ => Vec::new(),
    }
}

/// The step lists a step holds: `steps`, `choice` branches, `routes`, `on_error` handlers.
fn nested_steps(body: &Node) -> Vec<&Node> {
    let mut out = Vec::new();
    if let Some(s) = body.get("steps") {
        out.push(s);
    }
    for branch in lists(body) {
        out.extend(branch.get("steps").into_iter().chain(branch.get("otherwise")));
    }
    for route in body.get("routes").map(lists).unwrap_or_default() {
        out.push(route);
    }
    for handler in body.get("on_error").map(lists).unwrap_or_default() {
        out.extend(handler.as_map().unwrap_or_default().iter().filter_map(|a| a.value.get("steps")));
    }
    out
}

#[allow(deprecated)] // `DocumentSymbol::deprecated` must be written; it is `None`.
fn symbol(
    index: &LineIndex<'_>,
    name: &str,
    detail: Option<String>,
    kind: SymbolKind,
    span: Span,
    selection: Span,
    children: Option<Vec<DocumentSymbol>>,
) -> DocumentSymbol {
    let range = index.range(span.start as usize, span.end as usize);
    let mut selection_range = index.range(selection.start as usize, selection.end as usize);
    // The selection must lie inside the range; a synthesized span may not.
    if selection_range.start < range.start || selection_range.end > range.end {
        selection_range = range;
    }
    DocumentSymbol {
        name: if name.is_empty() { "?".into() } else { name.to_string() },
        detail,
        kind,
        tags: None,
        deprecated: None,
        range,
        selection_range,
        children: children.filter(|c| !c.is_empty()),
    }
}
