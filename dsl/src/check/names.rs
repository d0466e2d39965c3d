//! Duplicate definitions and references to undefined flows and configs.

use crate::codes;
use crate::diagnostic::{did_you_mean, Diagnostic, Diagnostics};
use crate::ir::{FlowSet, StepKind};
use crate::span::Spanned;
use std::collections::HashMap;

pub(super) fn check(set: &FlowSet, diags: &mut Diagnostics) {
    let mut flows: HashMap<&str, &Spanned<String>> = HashMap::new();
    for flow in set.flows() {
        if let Some(first) = flows.get(flow.name.value.as_str()) {
            diags.push(
                Diagnostic::error(
                    codes::DUPLICATE_FLOW,
                    flow.name.span,
                    format!("flow `{}` is defined twice", flow.name.value),
                )
                .label("second definition")
                .with_label(first.span, "first defined here")
                .help("flow names are global across all files; rename one of them"),
            );
        } else {
            flows.insert(&flow.name.value, &flow.name);
        }
    }
    let mut configs: HashMap<&str, &Spanned<String>> = HashMap::new();
    for config in set.configs() {
        if let Some(first) = configs.get(config.name.value.as_str()) {
            diags.push(
                Diagnostic::error(
                    codes::DUPLICATE_CONFIG,
                    config.name.span,
                    format!("config `{}` is defined twice", config.name.value),
                )
                .label("second definition")
                .with_label(first.span, "first defined here"),
            );
        } else {
            configs.insert(&config.name.value, &config.name);
        }
    }
    let flow_names: Vec<&str> = flows.keys().copied().collect();
    let config_names: Vec<&str> = configs.keys().copied().collect();
    let undefined_config = |name: &Spanned<String>, diags: &mut Diagnostics| {
        if !configs.contains_key(name.value.as_str()) {
            diags.push(
                Diagnostic::error(
                    codes::UNDEFINED_CONFIG,
                    name.span,
                    format!("config `{}` is not defined", name.value),
                )
                .label("no config of this name")
                .help(did_you_mean(&name.value, config_names.iter().copied()).unwrap_or_else(|| {
                    if config_names.is_empty() {
                        format!(
                            "no config is defined: define `{}` under `configs:` (in `.flow`: `config {} = KIND {{ ... }}`)",
                            name.value, name.value
                        )
                    } else {
                        let mut names: Vec<&str> = config_names.to_vec();
                        names.sort_unstable();
                        format!("define it, or name one of the configs: {}", names.join(", "))
                    }
                })),
            );
        }
    };
    for flow in set.flows() {
        if let Some(config) = flow.source.as_ref().and_then(|s| s.config.as_ref()) {
            undefined_config(config, diags);
        }
        if let Some(alert) = flow.objectives.as_ref().and_then(|o| o.alert_flow.as_ref()) {
            if !flows.contains_key(alert.value.as_str()) {
                diags.push(
                    Diagnostic::error(
                        codes::UNDEFINED_ALERT_FLOW,
                        alert.span,
                        format!("alert flow `{}` is not defined", alert.value),
                    )
                    .label("no flow of this name")
                    .help(
                        did_you_mean(&alert.value, flow_names.iter().copied())
                            .unwrap_or_else(|| "define the flow incidents are sent to, or fix its name".into()),
                    ),
                );
            }
        }
        let mut ids: HashMap<&str, &Spanned<String>> = HashMap::new();
        for step in flow.all_steps() {
            if let Some(id) = &step.id {
                if let Some(first) = ids.get(id.value.as_str()) {
                    diags.push(
                        Diagnostic::error(
                            codes::DUPLICATE_STEP_ID,
                            id.span,
                            format!("step id `{}` is used twice in flow `{}`", id.value, flow.name.value),
                        )
                        .label("second use")
                        .with_label(first.span, "first used here")
                        .help("rename one of them: mocks, tests and traces name a step by its id, so ids are unique in a flow"),
                    );
                } else {
                    ids.insert(&id.value, id);
                }
            }
            match &step.kind {
                StepKind::FlowRef { name, .. } if !flows.contains_key(name.value.as_str()) => diags.push(
                    Diagnostic::error(
                        codes::UNDEFINED_FLOW,
                        name.span,
                        format!("flow `{}` is not defined", name.value),
                    )
                    .label("no flow or sub-flow of this name")
                    .maybe_help(did_you_mean(&name.value, flow_names.iter().copied())),
                ),
                StepKind::Component(c) => {
                    if let Some(config) = &c.config {
                        undefined_config(config, diags);
                    }
                }
                StepKind::Idempotent { store: Some(store), .. } => undefined_config(store, diags),
                StepKind::Transaction { config, .. } => undefined_config(config, diags),
                _ => {}
            }
        }
    }
}
