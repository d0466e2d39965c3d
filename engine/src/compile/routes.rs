//! Route conflicts between HTTP listener flows, found by building each listener config's routes with the
//! daemon's own [`Router`]: whatever it refuses is a diagnostic here, so what `relais check` accepts is
//! exactly what `relais run` serves. The same route twice (up to parameter names) is RL0506; two routes the
//! router cannot rank (`/files/{name}/meta` and `/files/{*rest}`) are RL0510.

use crate::components::http_listener::routes::{Refusal, Router};
use crate::components::http_listener::{check_path_template, ListenerSource};
use crate::load::Loaded;
use relais_dsl::codes;
use relais_dsl::{Diagnostic, Span};
use std::collections::HashMap;

/// One listener config's routes, and where each accepted one was declared (by [`Router::routes`] index).
#[derive(Default)]
struct Listener {
    router: Router,
    declared: Vec<(Span, String)>,
}

pub(super) fn check(loaded: &mut Loaded) {
    let (_, diags) = listeners(loaded);
    loaded.diags.extend(diags);
}

/// Each listener config's routes (by config name, `""` for the default listener), as the daemon builds them:
/// what a flow test's `request` is routed by.
pub fn routers(loaded: &Loaded) -> HashMap<String, Router> {
    listeners(loaded).0.into_iter().map(|(name, l)| (name, l.router)).collect()
}

fn listeners(loaded: &Loaded) -> (HashMap<String, Listener>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut listeners: HashMap<String, Listener> = HashMap::new();
    for flow in loaded.set.flows() {
        let Some(source) = &flow.source else { continue };
        // The settings `check` read into their type; none when the component check already reported them.
        let Some(settings) = loaded.typed.get(&source.span).and_then(|t| t.downcast_ref::<ListenerSource>()) else {
            continue;
        };
        // A broken template is reported by the component check (RL0505); adding it would say it twice.
        if check_path_template(&settings.path).is_err() {
            continue;
        }
        let path = &settings.path;
        let span = source.span_of("path");
        let method = settings.method.map(|m| m.as_str());
        let config = source.config.as_ref().map_or_else(String::new, |c| c.value.clone());
        let listener = listeners.entry(config).or_default();
        let name = &flow.name.value;
        match listener.router.add(method, path, name) {
            Ok(()) => listener.declared.push((span, name.clone())),
            Err(refusal) => {
                let earlier = match &refusal {
                    Refusal::Conflict { earlier: Some(i), .. } => listener.declared.get(*i),
                    _ => None,
                };
                let route = match method {
                    Some(m) => format!("{m} {path}"),
                    None => format!("{path} (any method)"),
                };
                diags.push(diagnostic(&refusal, earlier, (span, name), &route, path));
            }
        }
    }
    (listeners, diags)
}

fn diagnostic(
    refusal: &Refusal,
    earlier: Option<&(Span, String)>,
    (span, flow): (Span, &str),
    route: &str,
    path: &str,
) -> Diagnostic {
    let other = earlier.map_or("another flow", |(_, name)| name.as_str());
    let diagnostic = match refusal {
        Refusal::Conflict { same: true, .. } => Diagnostic::error(
            codes::DUPLICATE_ROUTE,
            span,
            format!("flows `{other}` and `{flow}` both listen on {route}"),
        )
        .label("second listener")
        .help("give the routes different paths or methods, or merge the flows with a `choice`"),
        Refusal::Conflict { same: false, with, .. } => Diagnostic::error(
            codes::ROUTE_OVERLAP,
            span,
            format!("the route {route} of flow `{flow}` overlaps `{with}` of flow `{other}`"),
        )
        .label("second route")
        .help(
            "a `{name}` parameter and a `{*rest}` remainder cannot start at the same segment of two routes \
             on one method: put a literal segment before one of them (`/files/meta/{name}`), or give the \
             routes different methods",
        ),
        Refusal::Invalid(why) => {
            return Diagnostic::error(codes::BAD_PATH_TEMPLATE, span, format!("invalid path template `{path}`"))
                .label(why.clone())
                .help("write `/orders/{order_id}`: literal segments and whole-segment `{name}` parameters");
        }
    };
    match (refusal, earlier) {
        (Refusal::Conflict { same: true, .. }, Some((first, _))) => diagnostic.with_label(*first, "first listener"),
        (_, Some((first, _))) => diagnostic.with_label(*first, "first route"),
        (_, None) => diagnostic,
    }
}
