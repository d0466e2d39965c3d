//! What may reach a partner, checked before traffic. A flow that reads private-zone data and sends to a
//! partner-zone config without an outbound `contract:` is warned about (RL0800); a contract that allows a
//! field declared in `sensitive_data` to reach a partner fails the check (RL0801, the rule is in
//! [`allows`]). The contract files themselves are read and compiled with the other schemas
//! (`compile::files`); here they are only judged.
//!
//! A flow reads private-zone data when its source names a `zone: private` config, when one of its steps
//! names one, when a flow it calls with `flow_ref` does (the data comes back), or when a flow calling it
//! does (the data is handed down). Queues are not followed: a consumer of a queue fed with private data
//! is judged by its own steps.

mod allows;

use super::files::locate_pointer;
use crate::load::{read_in, Loaded};
use allows::Allowance;
use relais_dsl::ir::{Component, Flow, StepKind};
use relais_dsl::{codes, Diagnostic, Span};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Runs both checks on every flow of `loaded`.
pub(super) fn check(loaded: &mut Loaded) {
    let zones: BTreeMap<&str, &str> = loaded
        .set
        .configs()
        .map(|c| (c.name.value.as_str(), c.body.get("zone").and_then(|z| z.as_str()).unwrap_or("internal")))
        .collect();
    let sensitive: Vec<String> = loaded
        .set
        .configs()
        .filter(|c| c.kind.value == "sensitive_data")
        .flat_map(|c| c.body.get("fields").map(|f| f.to_json()))
        .flat_map(|f| f.as_array().cloned().unwrap_or_default())
        .filter_map(|f| f.as_str().map(str::to_string))
        .collect();
    let flows: Vec<(&Flow, &Path)> = loaded
        .set
        .modules
        .iter()
        .zip(&loaded.paths)
        .flat_map(|(m, p)| m.flows.iter().map(move |f| (f, p.parent().unwrap_or(Path::new("")))))
        .collect();
    let reasons = private_readers(&flows, &zones);
    let mut found = Vec::new();
    for (flow, dir) in &flows {
        for step in flow.all_steps() {
            let StepKind::Component(c) = &step.kind else { continue };
            let Some(config) = c.config.as_ref().filter(|n| zones.get(n.value.as_str()) == Some(&"partner")) else {
                continue;
            };
            match c.params.get("contract") {
                Some(contract) => {
                    if let Some(path) = contract.as_str() {
                        found.extend(judge(loaded, &dir.join(path), path, contract.span, &config.value, &sensitive));
                    }
                }
                None => {
                    if let Some(reason) = reasons.get(flow.name.value.as_str()) {
                        found.push(missing(flow, c, &config.value, reason));
                    }
                }
            }
        }
    }
    loaded.diags.extend(found);
}

/// RL0800 at a partner call of `flow`, which reads private-zone data for `reason`.
fn missing(flow: &Flow, c: &Component, config: &str, reason: &str) -> Diagnostic {
    Diagnostic::warning(
        codes::CONTRACT_MISSING,
        c.kind.span,
        format!(
            "flow `{}` reads private-zone data ({reason}) and sends it to partner-zone config `{config}` \
             without a contract",
            flow.name.value
        ),
    )
    .label(format!("sends to partner-zone config `{config}`"))
    .help(format!(
        "declare what `{config}` may receive: `contract: schemas/<name>.schema.json` on this step, a JSON \
         Schema of the body with `\"additionalProperties\": false` (see `relais explain RL0800`)"
    ))
}

/// Why each flow reads private-zone data, for the flows that do; see the module's documentation.
fn private_readers<'a>(flows: &[(&'a Flow, &Path)], zones: &BTreeMap<&str, &str>) -> BTreeMap<&'a str, String> {
    let private = |c: &Component| c.config.as_ref().is_some_and(|n| zones.get(n.value.as_str()) == Some(&"private"));
    let mut reasons: BTreeMap<&str, String> = BTreeMap::new();
    let mut calls: Vec<(&str, &str)> = Vec::new();
    for (flow, _) in flows {
        let name = flow.name.value.as_str();
        if let Some(source) = flow.source.as_ref().filter(|s| private(s)) {
            let config = source.config.as_ref().map_or("", |n| n.value.as_str());
            reasons.insert(name, format!("it receives from private-zone config `{config}`"));
        }
        for step in flow.all_steps() {
            match &step.kind {
                StepKind::Component(c) if private(c) && !reasons.contains_key(name) => {
                    let config = c.config.as_ref().map_or("", |n| n.value.as_str());
                    reasons.insert(name, format!("it calls private-zone config `{config}`"));
                }
                StepKind::FlowRef { name: callee, .. } => calls.push((name, callee.value.as_str())),
                _ => {}
            }
        }
    }
    // Up from callees to callers, and down from callers to callees, until nothing changes; each flow keeps
    // the first reason found. At most one pass per flow is needed, and `flow_ref` cycles are refused
    // elsewhere (RL0304) but cannot loop this: a flow is only ever added once.
    let mut changed = true;
    while changed {
        changed = false;
        for &(caller, callee) in &calls {
            if let (Some(theirs), false) = (reasons.get(callee), reasons.contains_key(caller)) {
                let why = format!("it calls `{callee}`, which {}", theirs.trim_start_matches("it "));
                reasons.insert(caller, why);
                changed = true;
            }
            if let (Some(theirs), false) = (reasons.get(caller), reasons.contains_key(callee)) {
                let why = format!("it is called by `{caller}`, which {}", theirs.trim_start_matches("it "));
                reasons.insert(callee, why);
                changed = true;
            }
        }
    }
    reasons
}

/// RL0801 for each way the contract at `full` (written `path`, at `named`) lets a sensitive field reach
/// partner-zone config `config`. A contract that cannot be read or parsed is reported by `compile::files`.
fn judge(loaded: &Loaded, full: &Path, path: &str, named: Span, config: &str, fields: &[String]) -> Vec<Diagnostic> {
    if fields.is_empty() {
        return Vec::new();
    }
    let Ok(text) = read_in(&loaded.roots, full, 4 * 1024 * 1024) else { return Vec::new() };
    let Ok(schema) = serde_json::from_str::<serde_json::Value>(&text) else { return Vec::new() };
    let Some(file) = loaded.sources.find(&full.display().to_string()) else { return Vec::new() };
    let whole = Span::new(file, 0, text.len());
    let listed = fields.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ");
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (pointer, allowance) in allows::allowances(&schema, fields) {
        if !seen.insert(pointer.clone()) {
            continue;
        }
        let at = locate_pointer(&text, whole, &pointer).unwrap_or_else(|| whole.sub(0, 1));
        let shown = if pointer.is_empty() { "/".to_string() } else { pointer.clone() };
        let (message, help) = match &allowance {
            Allowance::Named(field) => (
                format!("contract `{path}` allows sensitive field `{field}` in what is sent to partner-zone config `{config}`"),
                format!("remove `{field}` from the contract's `properties` (or make its schema `false`): it is declared in `sensitive_data` and must not reach a partner"),
            ),
            Allowance::Pattern(pattern, field) => (
                format!("contract `{path}` allows sensitive field `{field}` (pattern `{pattern}`) in what is sent to partner-zone config `{config}`"),
                format!("narrow the pattern so that it cannot match `{field}`, or list the allowed fields in `properties`"),
            ),
            Allowance::Open => (
                format!("contract `{path}` lets any field through at `{shown}`, so the sensitive fields {listed} could reach partner-zone config `{config}`"),
                "close the object with `\"additionalProperties\": false` and list in `properties` only the fields the partner may receive".to_string(),
            ),
        };
        out.push(
            Diagnostic::error(codes::CONTRACT_ALLOWS_SENSITIVE, at, message)
                .label(if pointer.is_empty() { "the whole contract".to_string() } else { format!("at `{pointer}`") })
                .with_label(named, "contract named here")
                .help(help),
        );
    }
    out
}
