//! HTTP routes of listener flows: a method (or any method) plus a path template
//! (`/access/{accreditation_id}/{service}`, `{*rest}` for the remainder), matched by specificity.
//!
//! [`Router::add`] is the one way routes are put together: `relais check` calls it for every listener flow
//! and reports what it refuses (`compile/routes.rs`), the daemon calls it the same way to build what it
//! serves (`components/http_listener/source.rs`), so a route set that checks clean is exactly the one that runs. Matching is
//! `matchit`'s radix tree, one per method plus one for the routes that take any method: a literal segment
//! wins over a `{name}` parameter, and a parameter over a `{*rest}` remainder, whatever the declaration
//! order; two routes it cannot rank are refused when the second is added, never settled by file order.

use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use std::fmt;

/// A flow's route, as declared.
#[derive(Debug, Clone)]
pub struct Route {
    /// Accepted method (`None`: any).
    pub method: Option<String>,
    /// The path template.
    pub template: String,
    /// The flow to run.
    pub flow: String,
    /// The name of the template's `{*rest}` remainder, kept as sent rather than percent-decoded, so that an
    /// encoded `/` (`%2F`) stays apart from a real one.
    rest: Option<String>,
}

/// The templates of one method's routes (any-method routes included) in one tree.
#[derive(Default, Clone)]
struct Paths {
    tree: matchit::Router<usize>,
    /// Index of the route holding each template, to name the earlier route of a conflict.
    by_template: HashMap<String, usize>,
}

impl Paths {
    fn insert(&mut self, route: &Route, index: usize) -> Result<(), Refusal> {
        self.tree.insert(route.template.as_str(), index).map_err(|e| match e {
            matchit::InsertError::Conflict { with } => Refusal::Conflict {
                same: shape(&with) == shape(&route.template),
                earlier: self.by_template.get(&with).copied(),
                with,
            },
            other => Refusal::Invalid(other.to_string()),
        })?;
        self.by_template.insert(route.template.clone(), index);
        Ok(())
    }

    fn at<'p>(&self, path: &'p str) -> Option<(usize, matchit::Params<'_, 'p>)> {
        self.tree.at(path).ok().map(|m| (*m.value, m.params))
    }
}

/// `/a/{id}/b` and `/a/{x}/b` are the same route; `/a/{*x}` and `/a/{*y}` too.
fn shape(template: &str) -> String {
    let segment = |s: &str| {
        match s.strip_prefix('{') {
            Some(inner) if inner.starts_with('*') => "{*}",
            Some(_) => "{}",
            None => s,
        }
        .to_string()
    };
    template.split('/').map(segment).collect::<Vec<_>>().join("/")
}

/// Why [`Router::add`] refused a route.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// The route overlaps one added before it on a method both take.
    Conflict {
        /// Whether it is the same route (same method and template up to parameter names), rather than an
        /// overlap the tree cannot rank (`/files/{name}/meta` against `/files/{*rest}`).
        same: bool,
        /// The index in [`Router::routes`] of the earlier route (`None` only if the tree named a template
        /// no route holds, which it does not do).
        earlier: Option<usize>,
        /// The earlier template, as the tree names it.
        with: String,
    },
    /// The template is not one the tree takes (a checked template always is: `check_path_template`).
    Invalid(String),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Conflict { same: true, with, .. } => write!(f, "the same route as `{with}`"),
            Refusal::Conflict { same: false, with, .. } => {
                write!(f, "overlaps `{with}` and neither can be preferred")
            }
            Refusal::Invalid(why) => write!(f, "an invalid path template: {why}"),
        }
    }
}

/// The routes of one listener config.
#[derive(Default)]
pub struct Router {
    routes: Vec<Route>,
    /// One tree per method named by a route, in the order first named (so `Allow` lists them that way).
    /// Each holds the any-method routes too, so the most specific of both kinds wins.
    methods: Vec<(String, Paths)>,
    /// The any-method routes alone: what a method no route names is matched against.
    any: Paths,
}

/// What routing decided for a request.
pub enum Routed<'a> {
    /// A flow and its path parameters.
    Found(&'a Route, Map<String, Json>),
    /// The path exists with other methods (405 with `Allow`).
    MethodNotAllowed(Vec<String>),
    /// No route (404).
    NotFound,
}

impl Router {
    /// Adds a flow's route, or refuses it (the router is then as it was) when it conflicts with one added
    /// before or the tree cannot take its template.
    pub fn add(&mut self, method: Option<&str>, template: &str, flow: &str) -> Result<(), Refusal> {
        let rest = template.rsplit('/').next().and_then(|s| s.strip_prefix("{*")).and_then(|s| s.strip_suffix('}'));
        let route = Route {
            method: method.map(str::to_string),
            template: template.to_string(),
            flow: flow.to_string(),
            rest: rest.map(str::to_string),
        };
        let index = self.routes.len();
        // Inserted into copies, kept only if every tree takes the route: a refused route leaves no trace
        // (a tree may have split nodes before finding the conflict).
        match method {
            Some(m) => {
                let position = self.methods.iter().position(|(name, _)| name == m);
                let mut paths = position.map_or_else(|| self.any.clone(), |i| self.methods[i].1.clone());
                paths.insert(&route, index)?;
                match position {
                    Some(i) => self.methods[i].1 = paths,
                    None => self.methods.push((m.to_string(), paths)),
                }
            }
            None => {
                let mut any = self.any.clone();
                any.insert(&route, index)?;
                let mut methods = self.methods.clone();
                for (_, paths) in &mut methods {
                    paths.insert(&route, index)?;
                }
                self.any = any;
                self.methods = methods;
            }
        }
        self.routes.push(route);
        Ok(())
    }

    /// The routes, in the order added (the indexes of [`Refusal::Conflict::earlier`]).
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Finds the route for a method and a request path (not decoded: parameters are decoded one by one,
    /// so an encoded `/` never splits a segment).
    pub fn route(&self, method: &str, path: &str) -> Routed<'_> {
        let paths = self.methods.iter().find(|(name, _)| name == method).map_or(&self.any, |(_, paths)| paths);
        if let Some((index, params)) = paths.at(path) {
            let route = &self.routes[index];
            let params = params
                .iter()
                .map(|(name, value)| {
                    let value =
                        if route.rest.as_deref() == Some(name) { value.to_string() } else { percent_decode(value) };
                    (name.to_string(), Json::String(value))
                })
                .collect();
            return Routed::Found(route, params);
        }
        let allowed: Vec<String> =
            self.methods.iter().filter(|(_, paths)| paths.at(path).is_some()).map(|(name, _)| name.clone()).collect();
        if allowed.is_empty() {
            Routed::NotFound
        } else {
            Routed::MethodNotAllowed(allowed)
        }
    }
}

/// Decodes `%XX` escapes (invalid ones, `%zz` or `%+1`, kept as written; bytes that are not UTF-8 become
/// U+FFFD).
pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// `a=1&b=x+y` -> `{ "a": "1", "b": "x y" }` (`+` is a space). A key given several times keeps all its
/// values, in order, as a list (`tag=a&tag=b` -> `{ "tag": ["a", "b"] }`): a flow sees a string for a key
/// given once and a list for a key given more than once, and nothing is dropped.
pub fn query_map(query: Option<&str>) -> Map<String, Json> {
    let mut map = Map::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (key, value) = (percent_decode(&k.replace('+', " ")), Json::String(percent_decode(&v.replace('+', " "))));
        match map.get_mut(&key) {
            None => {
                map.insert(key, value);
            }
            Some(Json::Array(values)) => values.push(value),
            Some(first) => *first = Json::Array(vec![first.take(), value]),
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(Option<&str>, &str, &str)]) -> Router {
        let mut router = Router::default();
        for (method, template, flow) in routes {
            if let Err(refusal) = router.add(*method, template, flow) {
                panic!("{template} refused: {refusal}");
            }
        }
        router
    }

    /// The flow a request reaches, `"404"`, or `"405 A, B"`.
    fn reached(router: &Router, method: &str, path: &str) -> String {
        match router.route(method, path) {
            Routed::Found(route, _) => route.flow.clone(),
            Routed::MethodNotAllowed(allowed) => format!("405 {}", allowed.join(", ")),
            Routed::NotFound => "404".into(),
        }
    }

    fn params(router: &Router, method: &str, path: &str) -> Map<String, Json> {
        match router.route(method, path) {
            Routed::Found(_, params) => params,
            _ => panic!("{method} {path}: no route"),
        }
    }

    #[test]
    fn templates_capture_parameters_and_methods_are_told_apart() {
        let routes = router(&[
            (Some("GET"), "/access/{id}/{service}", "access"),
            (Some("POST"), "/orders", "orders"),
            (None, "/files/{*rest}", "files"),
        ]);
        assert_eq!(reached(&routes, "GET", "/access/ACC%2042/transport"), "access");
        assert_eq!(params(&routes, "GET", "/access/ACC%2042/transport")["id"], "ACC 42");
        assert_eq!(reached(&routes, "GET", "/orders"), "405 POST");
        assert_eq!(reached(&routes, "GET", "/access/1"), "404");
        assert_eq!(reached(&routes, "DELETE", "/files/a/b"), "files");
        assert_eq!(params(&routes, "DELETE", "/files/a/b")["rest"], "a/b");
        assert_eq!(query_map(Some("a=1&b=x+y%21"))["b"], "x y!");
        assert_eq!(query_map(Some("t=a&t=b&t=c"))["t"], serde_json::json!(["a", "b", "c"]));
    }

    #[test]
    fn an_escape_with_a_sign_is_not_a_byte() {
        assert_eq!(percent_decode("%+1%-1%2"), "%+1%-1%2");
        assert_eq!(query_map(Some("k=%+1"))["k"], "% 1", "`+` is a space in a query");
        let routes = router(&[(None, "/files/{name}", "files")]);
        assert_eq!(params(&routes, "GET", "/files/a%+1")["name"], "a%+1");
    }

    #[test]
    fn a_literal_segment_wins_over_a_parameter_declared_before_it() {
        let routes = router(&[
            (Some("GET"), "/orders/{id}", "order"),
            (Some("GET"), "/orders/export", "export"),
            (None, "/orders/{id}/{*rest}", "order_files"),
            (None, "/orders/{id}/lines", "lines"),
        ]);
        assert_eq!(reached(&routes, "GET", "/orders/export"), "export");
        assert_eq!(reached(&routes, "GET", "/orders/42"), "order");
        assert_eq!(reached(&routes, "GET", "/orders/42/lines"), "lines", "a literal beats the remainder");
        assert_eq!(reached(&routes, "GET", "/orders/42/a/b"), "order_files");
        assert_eq!(reached(&routes, "PUT", "/orders/42/lines"), "lines");
    }

    #[test]
    fn a_method_route_and_an_any_method_route_are_ranked_together() {
        let routes = router(&[(None, "/orders/export", "export"), (Some("GET"), "/orders/{id}", "order")]);
        assert_eq!(reached(&routes, "GET", "/orders/export"), "export");
        assert_eq!(reached(&routes, "GET", "/orders/7"), "order");
        assert_eq!(reached(&routes, "POST", "/orders/7"), "405 GET");
        assert_eq!(reached(&routes, "POST", "/orders/export"), "export");
    }

    #[test]
    fn method_not_allowed_lists_every_method_with_the_path_in_the_order_first_named() {
        let routes = router(&[
            (Some("PUT"), "/orders/{id}", "put"),
            (Some("GET"), "/orders/{id}", "get"),
            (Some("POST"), "/orders", "create"),
        ]);
        assert_eq!(reached(&routes, "DELETE", "/orders/1"), "405 PUT, GET");
        assert_eq!(reached(&routes, "DELETE", "/nowhere"), "404");
    }

    #[test]
    fn the_remainder_is_kept_as_sent_and_never_empty() {
        let routes = router(&[(None, "/files/{*rest}", "files")]);
        assert_eq!(params(&routes, "GET", "/files/a%2Fb/c%20d")["rest"], "a%2Fb/c%20d");
        assert_eq!(reached(&routes, "GET", "/files/"), "404");
        assert_eq!(reached(&routes, "GET", "/files"), "404");
    }

    #[test]
    fn parameters_are_named_as_their_own_route_names_them() {
        let routes = router(&[(None, "/a/{x}/c", "c"), (None, "/a/{y}/{z}", "yz")]);
        assert_eq!(params(&routes, "GET", "/a/1/c")["x"], "1");
        let yz = params(&routes, "GET", "/a/1/d");
        assert_eq!((yz["y"].as_str(), yz["z"].as_str()), (Some("1"), Some("d")));
    }

    #[test]
    fn the_same_route_up_to_parameter_names_is_refused_and_names_the_earlier_route() {
        let mut routes = router(&[(Some("GET"), "/a/{x}", "first")]);
        let refusal = routes.add(Some("GET"), "/a/{y}", "second");
        assert_eq!(refusal, Err(Refusal::Conflict { same: true, earlier: Some(0), with: "/a/{x}".into() }));
        assert!(routes.add(Some("POST"), "/a/{y}", "other_method").is_ok());
        let refusal = routes.add(None, "/a/{z}", "any");
        assert!(matches!(refusal, Err(Refusal::Conflict { same: true, earlier: Some(_), .. })), "{refusal:?}");
    }

    #[test]
    fn a_parameter_and_a_remainder_in_the_same_place_are_refused_as_an_overlap() {
        let mut routes = router(&[(None, "/files/{name}/meta", "meta")]);
        let refusal = routes.add(None, "/files/{*rest}", "files");
        assert_eq!(
            refusal,
            Err(Refusal::Conflict { same: false, earlier: Some(0), with: "/files/{name}/meta".into() })
        );
    }

    #[test]
    fn a_refused_route_leaves_the_router_as_it_was() {
        let mut routes = router(&[(Some("GET"), "/a/{x}", "get")]);
        assert!(routes.add(None, "/a/{y}", "any").is_err());
        assert_eq!(routes.routes().len(), 1);
        assert_eq!(reached(&routes, "POST", "/a/1"), "405 GET");
        assert!(routes.add(Some("PUT"), "/a/{*rest}/b", "bad").is_err());
        assert_eq!(reached(&routes, "PUT", "/a/1"), "405 GET", "no PUT tree was kept");
    }
}
