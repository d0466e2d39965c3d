//! Files that steps reference: transform scripts (read and compiled, errors shown in the script file) and
//! JSON Schemas for `validate` (read, parsed, and checked against the JSON Schema meta-schema).

use super::scripts::{checking_engine, compile};
use crate::load::{read_text, Loaded, ReadError};
use relais_dsl::codes;
use relais_dsl::ir::{Script, StepKind};
use relais_dsl::syntax::Origin;
use relais_dsl::{Diagnostic, Span, Spanned};
use std::path::{Path, PathBuf};

const MAX_SCRIPT: u64 = 4 * 1024 * 1024;

enum FileRef<'a> {
    Script(&'a Spanned<String>),
    Schema(&'a Spanned<String>),
}

pub(super) fn check(loaded: &mut Loaded) {
    let engine = checking_engine();
    let mut refs: Vec<(PathBuf, Span, bool)> = Vec::new();
    for (module, path) in loaded.set.modules.iter().zip(&loaded.paths) {
        let dir = path.parent().unwrap_or(Path::new("."));
        for flow in &module.flows {
            for step in flow.all_steps() {
                let r = match &step.kind {
                    StepKind::Transform { script: Script::File(p) } => FileRef::Script(p),
                    StepKind::Validate { schema } => FileRef::Schema(schema),
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
        let text = match read_text(&path, limit) {
            Ok(t) => t,
            Err(err) => {
                let (code, why) = match &err {
                    ReadError::Io(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        (codes::FILE_NOT_FOUND, "no such file".to_string())
                    }
                    ReadError::TooLarge { .. } => (codes::FILE_TOO_LARGE, err.to_string()),
                    ReadError::NotUtf8 { .. } => (codes::NOT_UTF8, err.to_string()),
                    ReadError::Io(e) => (codes::FILE_NOT_FOUND, e.to_string()),
                };
                loaded.diags.push(
                    Diagnostic::error(code, span, format!("cannot use `{}`: {why}", path.display()))
                        .label("referenced here")
                        .help("paths are relative to the flow file"),
                );
                continue;
            }
        };
        let file = match loaded.sources.find(&path.display().to_string()) {
            Some(f) => f,
            None => loaded.sources.add(path.display().to_string(), text.clone()),
        };
        let whole = Span::new(file, 0, text.len());
        if is_script {
            if let Err(d) = compile(&engine, &loaded.sources, &text, whole, Origin::Verbatim { start: 0 }) {
                loaded.diags.push((*d).with_label(span, "script referenced here"));
            }
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
    }
}

/// The span of the value a JSON pointer (`/properties/id/type`) designates, found by re-reading the JSON
/// text with the span-preserving YAML reader (JSON is YAML).
fn locate_pointer(text: &str, whole: Span, pointer: &str) -> Option<Span> {
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
