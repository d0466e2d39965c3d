//! Two HTTP listeners claiming the same listener config, method and path (up to parameter names).

use crate::load::Loaded;
use relais_dsl::codes;
use relais_dsl::syntax::Value;
use relais_dsl::{Diagnostic, Span};
use std::collections::HashMap;

/// `/a/{id}/b` and `/a/{x}/b` are the same route.
fn route_shape(path: &str) -> String {
    path.split('/').map(|s| if s.starts_with('{') { "{}" } else { s }).collect::<Vec<_>>().join("/")
}

pub(super) fn check(loaded: &mut Loaded) {
    let mut seen: HashMap<(String, String, String), (Span, String)> = HashMap::new();
    for flow in loaded.set.flows() {
        let Some(source) = flow.source.as_ref().filter(|s| s.kind.value == "http.listener") else { continue };
        let Some(path) = source.params.get("path") else { continue };
        let Value::Str(p) = &path.value else { continue };
        let method = source.params.get("method").and_then(|m| m.as_str()).unwrap_or("*").to_string();
        let config = source.config.as_ref().map_or_else(String::new, |c| c.value.clone());
        let methods: Vec<String> = if method == "*" { vec!["*".into()] } else { vec![method.clone(), "*".into()] };
        let shape = route_shape(&p.text);
        let clash = methods.iter().find_map(|m| seen.get(&(config.clone(), m.clone(), shape.clone())));
        let clash = clash.or_else(|| {
            (method == "*")
                .then(|| seen.iter().find(|((c, _, s), _)| *c == config && *s == shape).map(|(_, v)| v))
                .flatten()
        });
        if let Some((first, other_flow)) = clash {
            loaded.diags.push(
                Diagnostic::error(
                    codes::DUPLICATE_ROUTE,
                    path.span,
                    format!("flows `{other_flow}` and `{}` both listen on {method} {}", flow.name.value, p.text),
                )
                .label("second listener")
                .with_label(*first, "first listener")
                .help("give the routes different paths or methods, or merge the flows with a `choice`"),
            );
        } else {
            seen.insert((config, method, shape), (path.span, flow.name.value.clone()));
        }
    }
}
