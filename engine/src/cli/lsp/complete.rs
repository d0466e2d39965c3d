//! Completion and hover: the cursor's [`Context`] matched with what [`Knowledge`] and the last check know.

use super::context::{self, Context, Seg};
use super::knowledge::{functions, Knowledge, Names, Offer, FLOW_BODY, FLOW_ITEMS};
use super::DocKind;
use crate::load::Loaded;
use crate::registry::Role;
use lsp_types::{CompletionItem, CompletionItemKind, Documentation, MarkupContent, MarkupKind};

/// The context of `offset` in a document of this kind.
pub fn context_of(kind: DocKind, text: &str, offset: usize) -> Context {
    match kind {
        DocKind::Rhai => Context::Code,
        DocKind::Flow => context::flow(text, offset),
        DocKind::Yaml | DocKind::Tests => context::yaml(text, offset),
    }
}

/// Completion items at `offset`.
pub fn complete(
    k: &Knowledge,
    loaded: Option<&Loaded>,
    kind: DocKind,
    text: &str,
    offset: usize,
) -> Vec<CompletionItem> {
    let names = Names(loaded);
    let (offers, item_kind) = match context_of(kind, text, offset) {
        Context::Code => (functions(), CompletionItemKind::FUNCTION),
        Context::Property => (names.properties(), CompletionItemKind::CONSTANT),
        Context::Key { path } if kind == DocKind::Tests => (test_keys(&path), CompletionItemKind::PROPERTY),
        Context::Key { path } => (k.keys(&path), CompletionItemKind::PROPERTY),
        Context::Value { path, key } => (values(k, &names, &path, &key), CompletionItemKind::VALUE),
        Context::Statement { in_flow: false } => (plain(FLOW_ITEMS), CompletionItemKind::KEYWORD),
        Context::Statement { in_flow: true } => {
            let mut offers = k.step_kinds();
            offers.extend(plain(FLOW_BODY));
            (offers, CompletionItemKind::KEYWORD)
        }
        Context::After { head } => (after(k, &names, &head), CompletionItemKind::VALUE),
        Context::Settings { owner, kind: component, key: None } => (
            k.settings(role_of(&owner), &component).into_iter().filter(|o| o.name != "id").collect(),
            CompletionItemKind::PROPERTY,
        ),
        Context::Settings { owner, kind: component, key: Some(key) } => {
            let role = role_of(&owner);
            let path = super::knowledge::role_path(role, &component);
            (values(k, &names, &path, &key), CompletionItemKind::VALUE)
        }
    };
    offers.into_iter().map(|o| item(o, item_kind)).collect()
}

fn plain(items: &[(&str, &str)]) -> Vec<Offer> {
    items.iter().map(|(n, d)| Offer { name: n.to_string(), detail: None, doc: Some(d.to_string()) }).collect()
}

/// Keys of a test file (`relais schema` does not cover them yet): the suite's, a case's, its input's, a
/// mock's and an expectation's.
fn test_keys(path: &[Seg]) -> Vec<Offer> {
    let last = path.iter().rev().find_map(|s| match s {
        Seg::Key(k) => Some(k.as_str()),
        Seg::Item => None,
    });
    let words: &[(&str, &str)] = match (path.len(), last) {
        (0, _) => &[("flow", "The flow under test."), ("tests", "The cases, by name.")],
        (2, Some(_)) => &[
            ("input", "The event: payload, attributes, vars."),
            ("mocks", "Steps replaced for this case."),
            ("expect", "What the flow must give."),
            ("now", "The instant scripts see (RFC 3339)."),
            ("stores", "Object-store entries before the case."),
        ],
        (_, Some("input")) => {
            &[("payload", ""), ("payload_file", ""), ("attributes", ""), ("vars", ""), ("media_type", "")]
        }
        (_, Some("mocks")) => &[
            ("component", "The component kind mocked."),
            ("config", "Only its steps on this config."),
            ("step", "Only the step with this id."),
            ("payload", "What the mock returns."),
            ("raise", "An error type the mock raises."),
            ("status", ""),
            ("delay", ""),
            ("times", ""),
        ],
        (_, Some("expect")) => &[
            ("payload", "The exact payload."),
            ("payload_contains", "Fields the payload holds."),
            ("error", "The error type the flow ends with."),
            ("vars", ""),
            ("calls", "Calls made to components."),
            ("assert", "Expressions that must be true."),
        ],
        _ => &[],
    };
    words
        .iter()
        .map(|(n, d)| Offer { name: n.to_string(), detail: None, doc: (!d.is_empty()).then(|| d.to_string()) })
        .collect()
}

fn values(k: &Knowledge, names: &Names<'_>, path: &[Seg], key: &str) -> Vec<Offer> {
    let parent = match path.last() {
        Some(Seg::Key(p)) => p.as_str(),
        _ => "",
    };
    match key {
        "config" => names.configs(k.config_kind(parent)),
        "flow_ref" | "flow" => names.flows(),
        "name" if parent == "flow_ref" => names.flows(),
        "types" | "type" | "raise_error" | "error" => names.error_types(),
        _ => k.enum_values(path, key),
    }
}

fn after(k: &Knowledge, names: &Names<'_>, head: &str) -> Vec<Offer> {
    let words: Vec<&str> = head.split_whitespace().collect();
    match words.as_slice() {
        ["source"] => k.kinds(Role::Source),
        ["config", _, "="] => k.kinds(Role::Config),
        ["flow_ref"] => names.flows(),
        ["on_error"] => plain(&[
            ("propagate", "Run the handler, then fail with the error."),
            ("continue", "Run the handler and complete with its result."),
        ]),
        ["on_error", _, ..] | ["raise_error"] => names.error_types(),
        [kind] => k.config_kind(kind).map(|c| names.configs(Some(c))).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Whether a `.flow` settings map belongs to a config, a source or a step, from its statement's first word.
fn role_of(owner: &str) -> Role {
    match owner {
        "config" => Role::Config,
        "source" => Role::Source,
        _ => Role::Step,
    }
}

fn item(offer: Offer, kind: CompletionItemKind) -> CompletionItem {
    CompletionItem {
        label: offer.name,
        kind: Some(kind),
        detail: offer.detail,
        documentation: offer
            .doc
            .map(|value| Documentation::MarkupContent(MarkupContent { kind: MarkupKind::Markdown, value })),
        ..CompletionItem::default()
    }
}

/// The documentation of the word at `offset`: a mapping function, a YAML key or a `.flow` settings key (its
/// schema description), a step or component kind.
pub fn hover(k: &Knowledge, kind: DocKind, text: &str, offset: usize) -> Option<(String, usize, usize)> {
    let (start, end) = context::word_at(text, offset);
    let word = text.get(start..end)?.trim_end_matches([':', '.']);
    if word.is_empty() {
        return None;
    }
    let end = start + word.len();
    let call = text[end..].trim_start().starts_with('(');
    let in_code = matches!(context_of(kind, text, start), Context::Code);
    if call || in_code {
        if let Some(doc) = relais_stdlib::function_docs().iter().find(|d| d.name == word) {
            return Some((super::knowledge::function_markdown(doc), start, end));
        }
        let name = super::knowledge::SCRIPT_NAMES.iter().find(|(n, _)| *n == word);
        return name.map(|(n, d)| (format!("`{n}`: {d}"), start, end));
    }
    let is_key = text[end..].starts_with(':');
    let doc = match (kind, context_of(kind, text, start)) {
        (DocKind::Yaml, Context::Key { path }) if is_key => {
            k.keys(&path).into_iter().find(|o| o.name == word).and_then(|o| o.doc).or_else(|| k.kind_doc(word))
        }
        (DocKind::Flow, Context::Settings { owner, kind: component, key: None }) if is_key => {
            k.settings(role_of(&owner), &component).into_iter().find(|o| o.name == word).and_then(|o| o.doc)
        }
        _ => k.kind_doc(word),
    }?;
    Some((format!("**{word}**\n\n{doc}"), start, end))
}
