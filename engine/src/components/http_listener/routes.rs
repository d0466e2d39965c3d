//! HTTP routes of listener flows: method plus path template (`/access/{accreditation_id}/{service}`).

use serde_json::{Map, Value as Json};

/// One segment of a path template.
#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Literal(String),
    Param(String),
    Rest(String),
}

/// A flow's route.
#[derive(Debug, Clone)]
pub struct Route {
    /// Accepted method (`None`: any).
    pub method: Option<String>,
    segments: Vec<Segment>,
    /// The flow to run.
    pub flow: String,
}

impl Route {
    /// A route from a (checked) template.
    pub fn new(method: Option<String>, template: &str, flow: &str) -> Self {
        let segments = template
            .split('/')
            .skip(1)
            .map(|s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => match name.strip_prefix('*') {
                    Some(rest) => Segment::Rest(rest.to_string()),
                    None => Segment::Param(name.to_string()),
                },
                None => Segment::Literal(s.to_string()),
            })
            .collect();
        Route { method, segments, flow: flow.to_string() }
    }

    /// The path parameters when `path` matches the template.
    pub fn capture(&self, path: &str) -> Option<Map<String, Json>> {
        let parts: Vec<&str> = path.split('/').skip(1).collect();
        let mut params = Map::new();
        for (i, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Rest(name) => {
                    params.insert(name.clone(), Json::String(parts.get(i..).map(|p| p.join("/")).unwrap_or_default()));
                    return Some(params);
                }
                Segment::Literal(l) if parts.get(i) == Some(&l.as_str()) => {}
                Segment::Param(name) if parts.get(i).is_some_and(|p| !p.is_empty()) => {
                    params.insert(name.clone(), Json::String(percent_decode(parts[i])));
                }
                _ => return None,
            }
        }
        (parts.len() == self.segments.len()).then_some(params)
    }
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

/// Finds the route for a method and path.
pub fn route<'a>(routes: &'a [Route], method: &str, path: &str) -> Routed<'a> {
    let mut allowed = Vec::new();
    for r in routes {
        if let Some(params) = r.capture(path) {
            match &r.method {
                Some(m) if m != method => allowed.push(m.clone()),
                _ => return Routed::Found(r, params),
            }
        }
    }
    if allowed.is_empty() {
        Routed::NotFound
    } else {
        Routed::MethodNotAllowed(allowed)
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

    #[test]
    fn templates_capture_parameters_and_methods_are_told_apart() {
        let routes = vec![
            Route::new(Some("GET".into()), "/access/{id}/{service}", "access"),
            Route::new(Some("POST".into()), "/orders", "orders"),
            Route::new(None, "/files/{*rest}", "files"),
        ];
        match route(&routes, "GET", "/access/ACC%2042/transport") {
            Routed::Found(r, p) => {
                assert_eq!(r.flow, "access");
                assert_eq!(p["id"], "ACC 42");
            }
            _ => panic!("no match"),
        }
        assert!(
            matches!(route(&routes, "GET", "/orders"), Routed::MethodNotAllowed(m) if m == vec!["POST".to_string()])
        );
        assert!(matches!(route(&routes, "GET", "/access/1"), Routed::NotFound));
        assert!(matches!(route(&routes, "DELETE", "/files/a/b"), Routed::Found(_, p) if p["rest"] == "a/b"));
        assert_eq!(query_map(Some("a=1&b=x+y%21"))["b"], "x y!");
        assert_eq!(query_map(Some("t=a&t=b&t=c"))["t"], serde_json::json!(["a", "b", "c"]));
    }

    #[test]
    fn an_escape_with_a_sign_is_not_a_byte() {
        assert_eq!(percent_decode("%+1%-1%2"), "%+1%-1%2");
        assert_eq!(query_map(Some("k=%+1"))["k"], "% 1", "`+` is a space in a query");
        let routes = vec![Route::new(None, "/files/{name}", "files")];
        assert!(matches!(route(&routes, "GET", "/files/a%+1"), Routed::Found(_, p) if p["name"] == "a%+1"));
    }
}
