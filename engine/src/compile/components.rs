//! Component configs against the registry: unknown names, wrong roles, config kinds, field types; then the
//! settings read into their component's type (kept in `Loaded::typed` for the plan compiler) and the
//! component's own checks on that typed value.

use crate::component::Typed;
use crate::load::Loaded;
use crate::registry::{validate_node, ComponentSpec, Registry, Role};
use relais_dsl::codes;
use relais_dsl::diagnostic::did_you_mean;
use relais_dsl::ir::{Component, StepKind};
use relais_dsl::syntax::Node;
use relais_dsl::{Diagnostic, Diagnostics, Span};
use std::collections::HashMap;

pub(super) fn check(loaded: &mut Loaded, registry: &Registry) {
    let mut diags = Diagnostics::new();
    let mut typed = HashMap::new();
    let mut config_kinds: HashMap<&str, &str> = HashMap::new();
    for config in loaded.set.configs() {
        config_kinds.insert(&config.name.value, &config.kind.value);
        match registry.get(&config.kind.value, Role::Config) {
            Some((spec, schema)) => {
                validate_node(
                    &config.body,
                    schema,
                    registry.definitions(),
                    &format!("config `{}`", config.name.value),
                    &mut diags,
                );
                if !reported_within(&loaded.diags, config.span) && !reported_within(&diags, config.span) {
                    if let Some(t) = read_typed(spec, &config.body, config.kind.span, &mut diags) {
                        typed.insert(config.span, t);
                    }
                }
            }
            None => diags.push(unknown(registry, &config.kind.value, config.kind.span, Role::Config)),
        }
    }
    for flow in loaded.set.flows() {
        if let Some(source) = &flow.source {
            component(registry, source, Role::Source, &config_kinds, &loaded.diags, &mut typed, &mut diags);
        }
        for step in flow.all_steps() {
            if let StepKind::Component(c) = &step.kind {
                component(registry, c, Role::Step, &config_kinds, &loaded.diags, &mut typed, &mut diags);
            }
            let (named, needed, what) = match &step.kind {
                StepKind::Idempotent { store: Some(store), .. } => (store, "object_store", "idempotent"),
                StepKind::Transaction { config, .. } => (config, "db", "db.transaction"),
                _ => continue,
            };
            if let Some(kind) = config_kinds.get(named.value.as_str()).filter(|k| **k != needed) {
                diags.push(
                    Diagnostic::error(
                        codes::CONFIG_KIND_MISMATCH,
                        named.span,
                        format!("config `{}` has kind `{kind}`, but `{what}` needs kind `{needed}`", named.value),
                    )
                    .label(format!("expected a config of kind `{needed}`"))
                    .help(configs_of_kind(&config_kinds, needed)),
                );
            }
        }
    }
    loaded.diags.extend(diags);
    loaded.typed = typed;
}

/// The settings read into the component's type, then checked by the component; a failure to read them (the
/// schema let them through, so a value the type cannot hold) is reported at the setting at fault.
fn read_typed(spec: &ComponentSpec, params: &Node, at: Span, diags: &mut Diagnostics) -> Option<Typed> {
    match spec.parse(&params.to_json()) {
        Ok(typed) => {
            spec.check(&typed, params, diags);
            Some(typed)
        }
        Err(why) => {
            let mut node = Some(params);
            let mut span = at;
            for key in &why.path {
                node = node.and_then(|n| n.get(key));
                if let Some(n) = node {
                    span = n.span;
                }
            }
            diags.push(
                Diagnostic::error(
                    codes::COMPONENT_SETTINGS,
                    span,
                    format!("the settings of `{}` cannot be read: {why}", spec.name),
                )
                .label("this value"),
            );
            None
        }
    }
}

/// Which configs would fit where one of kind `kind` is needed, or how to define one.
fn configs_of_kind(config_kinds: &HashMap<&str, &str>, kind: &str) -> String {
    let mut fitting: Vec<&str> = config_kinds.iter().filter(|(_, k)| **k == kind).map(|(name, _)| *name).collect();
    fitting.sort_unstable();
    if fitting.is_empty() {
        format!("define a config of kind `{kind}` (`configs: {{ NAME: {{ {kind}: {{ ... }} }} }}`, in `.flow`: `config NAME = {kind} {{ ... }}`) and name it here")
    } else {
        format!(
            "name a config of kind `{kind}`: {}",
            fitting.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
        )
    }
}

/// Whether an earlier pass already reported an error inside `span` (an undefined property, say): the
/// settings are then not read, which would only report the same fault again.
fn reported_within(earlier: &Diagnostics, span: Span) -> bool {
    earlier.iter().any(|d| {
        d.severity == relais_dsl::Severity::Error
            && d.primary.span.file == span.file
            && d.primary.span.start >= span.start
            && d.primary.span.end <= span.end
    })
}

fn unknown(registry: &Registry, name: &str, span: relais_dsl::Span, role: Role) -> Diagnostic {
    let others = registry.roles_of(name);
    if let Some(other) = others.first() {
        return Diagnostic::error(
            codes::NOT_A_SOURCE,
            span,
            format!("`{name}` is {}, not {}", other.describe(), role.describe()),
        )
        .label(format!("cannot be used as {}", role.describe()))
        .help(match other {
            Role::Source => format!(
                "a source starts the flow: write it under the flow's `source:` (in `.flow`: `source {name} {{ ... }}`)"
            ),
            _ => format!(
                "use `{name}` as {}, or pick the {} this place needs",
                other.describe(),
                role.describe().trim_start_matches("a ")
            ),
        });
    }
    if role == Role::Step && matches!(name, "steps" | "on_error" | "routes") {
        return Diagnostic::error(codes::UNKNOWN_STEP, span, format!("`{name}` is not a step"))
            .label(format!("`{name}:` written as a step of its own"))
            .help(format!(
                "`{name}:` belongs to the step above it: indent it under that step, level with its other fields, \
                 without the `- ` in front"
            ));
    }
    if role == Role::Step && !name.contains('.') {
        let known = relais_dsl::ir::STEP_KEYWORDS.iter().copied().chain(registry.names(Role::Step));
        let help = did_you_mean(name, known).unwrap_or_else(|| {
            "built-in steps and components are listed by `relais schema`; components have dotted names such as `http.request`".into()
        });
        return Diagnostic::error(codes::UNKNOWN_STEP, span, format!("unknown step `{name}`"))
            .label("not a built-in step or a component")
            .help(help);
    }
    let help = did_you_mean(name, registry.names(role))
        .unwrap_or_else(|| format!("known: {}", registry.names(role).collect::<Vec<_>>().join(", ")));
    Diagnostic::error(codes::UNKNOWN_COMPONENT, span, format!("unknown component `{name}`"))
        .label(format!("not a registered {}", role.describe().trim_start_matches("a ")))
        .help(help)
}

fn component(
    registry: &Registry,
    c: &Component,
    role: Role,
    config_kinds: &HashMap<&str, &str>,
    earlier: &Diagnostics,
    typed: &mut HashMap<Span, Typed>,
    diags: &mut Diagnostics,
) {
    let Some((spec, schema)) = registry.get(&c.kind.value, role) else {
        diags.push(unknown(registry, &c.kind.value, c.kind.span, role));
        return;
    };
    validate_node(&c.params, schema, registry.definitions(), &format!("`{}`", c.kind.value), diags);
    if !reported_within(earlier, c.span) && !reported_within(diags, c.span) {
        if let Some(t) = read_typed(spec, &c.params, c.kind.span, diags) {
            typed.insert(c.span, t);
        }
    }
    match (&c.config, spec.config.map(|r| r.kind)) {
        (Some(config), None) => diags.push(
            Diagnostic::error(codes::UNKNOWN_FIELD, config.span, format!("`{}` takes no `config`", c.kind.value))
                .label("remove this"),
        ),
        (Some(config), Some(expected)) => {
            if let Some(kind) = config_kinds.get(config.value.as_str()).filter(|k| **k != expected) {
                diags.push(
                    Diagnostic::error(
                        codes::CONFIG_KIND_MISMATCH,
                        config.span,
                        format!(
                            "config `{}` has kind `{kind}`, but `{}` needs kind `{expected}`",
                            config.value, c.kind.value
                        ),
                    )
                    .label(format!("expected a config of kind `{expected}`"))
                    .help(configs_of_kind(config_kinds, expected)),
                );
            }
        }
        (None, Some(expected)) if spec.config.is_some_and(|r| r.required) => diags.push(
            Diagnostic::error(
                codes::MISSING_FIELD,
                c.kind.span,
                format!("`{}` needs a `config` naming a `{expected}` config", c.kind.value),
            )
            .label("no config given")
            .help(format!("define one under `configs:` (`crm: {{ {expected}: {{ ... }} }}`) and write `config: crm`")),
        ),
        _ => {}
    }
}
