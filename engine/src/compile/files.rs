//! Files that steps reference: transform scripts (read and compiled, errors shown in the script file) and
//! JSON Schemas for `validate` and the outbound `contract` of a component step (read, parsed, and checked
//! against the JSON Schema meta-schema).

use super::scripts::ScriptChecker;
use crate::load::{read_in, Loaded, ReadError};
use relais_dsl::codes;
use relais_dsl::ir::{Script, StepKind};
use relais_dsl::syntax::Origin;
use relais_dsl::{Diagnostic, Span, Spanned};
use std::path::{Path, PathBuf};

const MAX_SCRIPT: u64 = 4 * 1024 * 1024;

/// The help of a reference that cannot be read.
const RELATIVE: &str = "paths are relative to the flow file";

enum FileRef<'a> {
    Script(&'a Spanned<String>),
    Schema(&'a Spanned<String>),
}

pub(super) fn check(loaded: &mut Loaded, checker: &mut ScriptChecker) {
    let mut refs: Vec<(PathBuf, Span, bool)> = Vec::new();
    for (module, path) in loaded.set.modules.iter().zip(&loaded.paths) {
        let dir = path.parent().unwrap_or(Path::new("."));
        for flow in &module.flows {
            for step in flow.all_steps() {
                let r = match &step.kind {
                    StepKind::Transform { script: Script::File(p) } => FileRef::Script(p),
                    StepKind::Validate { schema } => FileRef::Schema(schema),
                    StepKind::Component(c) => {
                        if let Some(contract) = c.params.get("contract") {
                            if let Some(path) = contract.as_str() {
                                refs.push((dir.join(path), contract.span, false));
                            }
                        }
                        continue;
                    }
                    _ => continue,
                };
                let (p, is_script) = match r {
                    FileRef::Script(p) => (p, true),
                    FileRef::Schema(p) => (p, false),
                };
                refs.push((dir.join(&p.value), p.span, is_script));
            }
        }
    }
    for (path, span, is_script) in refs {
        let limit = MAX_SCRIPT;
        let text = match read_in(&loaded.roots, &path, limit) {
            Ok(t) => t,
            Err(err) => {
                let (code, message, help) = match &err {
                    ReadError::Io(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        (codes::FILE_NOT_FOUND, format!("cannot use `{}`: no such file", path.display()), RELATIVE)
                    }
                    ReadError::TooLarge { .. } => {
                        (codes::FILE_TOO_LARGE, format!("cannot use `{}`: {err}", path.display()), RELATIVE)
                    }
                    ReadError::NotUtf8 { .. } => {
                        (codes::NOT_UTF8, format!("cannot use `{}`: {err}", path.display()), RELATIVE)
                    }
                    ReadError::Io(e) => {
                        (codes::FILE_NOT_FOUND, format!("cannot use `{}`: {e}", path.display()), RELATIVE)
                    }
                    ReadError::Outside { root } => {
                        (codes::OUTSIDE_PROJECT, crate::load::outside_message(&path, root), crate::load::OUTSIDE_HELP)
                    }
                    ReadError::NotRegular => (
                        codes::NOT_REGULAR_FILE,
                        crate::load::not_regular_message(&path),
                        crate::load::NOT_REGULAR_HELP,
                    ),
                };
                loaded.diags.push(Diagnostic::error(code, span, message).label("referenced here").help(help));
                continue;
            }
        };
        let file = match loaded.sources.find(&path.display().to_string()) {
            Some(f) => f,
            None => loaded.sources.add(path.display().to_string(), text.clone()),
        };
        let whole = Span::new(file, 0, text.len());
        if is_script {
            let found = checker.check(&loaded.sources, &text, whole, Origin::Verbatim { start: 0 });
            loaded.diags.extend(found.into_iter().map(|d| d.with_label(span, "script referenced here")));
        } else {
            check_schema(loaded, &text, whole, span);
        }
    }
}

fn check_schema(loaded: &mut Loaded, text: &str, whole: Span, referenced: Span) {
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let file = loaded.sources.file(whole.file);
            let offset = file.line_start(e.line().saturating_sub(1)).unwrap_or(0) + e.column().saturating_sub(1);
            let at = Span::new(whole.file, offset.min(text.len()), (offset + 1).min(text.len()));
            loaded.diags.push(
                Diagnostic::error(codes::INVALID_SCHEMA, at, format!("schema is not valid JSON: {e}"))
                    .label("here")
                    .with_label(referenced, "schema referenced here"),
            );
            return;
        }
    };
    if let Err(e) = jsonschema::meta::validate(&value) {
        let pointer = e.instance_path().to_string();
        let at = locate_pointer(text, whole, &pointer).unwrap_or_else(|| whole.sub(0, 1));
        loaded.diags.push(
            Diagnostic::error(codes::INVALID_SCHEMA, at, format!("not a valid JSON Schema: {e}"))
                .label(if pointer.is_empty() { "here".to_string() } else { format!("at `{pointer}`") })
                .with_label(referenced, "schema referenced here")
                .help("the file must follow JSON Schema (draft 2020-12 or the draft its `$schema` names)"),
        );
        return;
    }
    // `relais run` compiles the schema into a validator (`plan::build`); compiling it here too makes check and
    // run agree on schemas that are well-formed but cannot be used, such as a `$ref` that resolves nowhere.
    if let Err(e) = crate::json_schema::compile(&value) {
        let at = ref_span(text, whole, &e.to_string()).unwrap_or_else(|| whole.sub(0, 1));
        loaded.diags.push(
            Diagnostic::error(codes::SCHEMA_UNRESOLVED, at, format!("the schema cannot be compiled: {e}"))
                .label("compiling stopped here")
                .with_label(referenced, "schema referenced here")
                .help("every `$ref` must name a definition in this file (relais never fetches remote schemas)"),
        );
    }
}

/// The span of the `$ref` value the compile error names (the first `$ref` when none is named): where an
/// unresolvable reference is written.
fn ref_span(text: &str, whole: Span, reason: &str) -> Option<Span> {
    let mut first = None;
    let mut from = 0;
    while let Some(found) = text[from..].find("\"$ref\"") {
        let key = from + found;
        from = key + 6;
        let Some(colon) = text[from..].find(':').map(|c| from + c) else { break };
        let Some(open) = text[colon + 1..].find('"').map(|q| colon + 1 + q) else { break };
        let Some(close) = text[open + 1..].find('"').map(|q| open + 1 + q) else { break };
        let span = whole.sub(open, close + 1 - open);
        if reason.contains(&text[open + 1..close]) {
            return Some(span);
        }
        first.get_or_insert(span);
    }
    first
}

/// The span of the value a JSON pointer (`/properties/id/type`) designates, found by re-reading the JSON
/// text with the span-preserving YAML reader (JSON is YAML).
pub(super) fn locate_pointer(text: &str, whole: Span, pointer: &str) -> Option<Span> {
    let mut ignored = relais_dsl::Diagnostics::new();
    let doc = relais_dsl::syntax::yaml::parse(text, whole.file, &mut ignored)?;
    let mut node = &doc;
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        node = match &node.value {
            relais_dsl::syntax::Value::Map(entries) => &entries.iter().find(|e| e.key == segment)?.value,
            relais_dsl::syntax::Value::List(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(node.span)
}
