//! Component configs against the registry: unknown names, wrong roles, config kinds, field types.

use crate::load::Loaded;
use crate::registry::{validate_node, Registry, Role};
use relais_dsl::codes;
use relais_dsl::diagnostic::did_you_mean;
use relais_dsl::ir::{Component, StepKind};
use relais_dsl::{Diagnostic, Diagnostics};
use std::collections::HashMap;

pub(super) fn check(loaded: &mut Loaded, registry: &Registry) {
    let mut diags = Diagnostics::new();
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
                if let Some(extra) = spec.extra {
                    extra(&config.body, &mut diags);
                }
            }
            None => diags.push(unknown(registry, &config.kind.value, config.kind.span, Role::Config)),
        }
    }
    for flow in loaded.set.flows() {
        if let Some(source) = &flow.source {
            component(registry, source, Role::Source, &config_kinds, &mut diags);
        }
        for step in flow.all_steps() {
            if let StepKind::Component(c) = &step.kind {
                component(registry, c, Role::Step, &config_kinds, &mut diags);
            }
            if let StepKind::Idempotent { store: Some(store), .. } = &step.kind {
                if let Some(kind) = config_kinds.get(store.value.as_str()).filter(|k| **k != "object_store") {
                    diags.push(
                        Diagnostic::error(
                            codes::CONFIG_KIND_MISMATCH,
                            store.span,
                            format!(
                                "config `{}` has kind `{kind}`, but `idempotent` needs kind `object_store`",
                                store.value
                            ),
                        )
                        .label("expected a config of kind `object_store`"),
                    );
                }
            }
        }
    }
    loaded.diags.extend(diags);
}

fn unknown(registry: &Registry, name: &str, span: relais_dsl::Span, role: Role) -> Diagnostic {
    let others = registry.roles_of(name);
    if let Some(other) = others.first() {
        return Diagnostic::error(
            codes::NOT_A_SOURCE,
            span,
            format!("`{name}` is {}, not {}", other.describe(), role.describe()),
        )
        .label(format!("cannot be used as {}", role.describe()));
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
    diags: &mut Diagnostics,
) {
    let Some((spec, schema)) = registry.get(&c.kind.value, role) else {
        diags.push(unknown(registry, &c.kind.value, c.kind.span, role));
        return;
    };
    validate_node(&c.params, schema, registry.definitions(), &format!("`{}`", c.kind.value), diags);
    if let Some(extra) = spec.extra {
        extra(&c.params, diags);
    }
    match (&c.config, spec.config_kind) {
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
                    .label(format!("expected a config of kind `{expected}`")),
                );
            }
        }
        (None, Some(expected)) if spec.config_required => diags.push(
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
