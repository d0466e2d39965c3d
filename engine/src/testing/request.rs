//! Cases that go through their flow's source: a `request` sent to the flow's `http.listener` (the
//! listener's own routing and response mapping, `components::http_listener::exchange`) and what the caller
//! got checked against `expect.response`; a `fire_time` fed to a scheduled flow as its tick.

use super::compare::differences;
use super::LoadedSuite;
use crate::components::http_listener::{Exchanged, TestRequest};
use relais_dsl::ir::{ExpectResponse, TestRequest as RequestSpec};
use relais_dsl::syntax::{Node, Value};
use relais_dsl::Span;
use serde_json::Value as Json;

/// The request a case describes, as a caller would send it: the method (default `POST` with a body, `GET`
/// without), the path with the query appended (percent-encoded), the headers, the body (a string as
/// written, anything else as JSON with `content-type: application/json` unless the case sets one).
pub(super) fn build(ls: &LoadedSuite, spec: &RequestSpec) -> Result<TestRequest, String> {
    let body = match (&spec.body, &spec.body_file) {
        (_, Some(file)) => {
            let path = ls.path.parent().unwrap_or(std::path::Path::new(".")).join(&file.value);
            Some(std::fs::read(&path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?)
        }
        (Some(Node { value: Value::Str(s), .. }), None) => Some(s.text.clone().into_bytes()),
        (Some(node), None) => Some(node.to_json().to_string().into_bytes()),
        (None, None) => None,
    };
    let method = spec.method.as_ref().map_or(if body.is_some() { "POST" } else { "GET" }, |m| m.value.as_str());
    let mut target = spec.path.value.clone();
    for (key, value) in pairs(spec.query.as_ref()) {
        target.push(if target.contains('?') { '&' } else { '?' });
        target.push_str(&encode(&key));
        target.push('=');
        target.push_str(&encode(&value));
    }
    let mut headers = pairs(spec.headers.as_ref());
    let sets_type = headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
    let json_body = spec.body.as_ref().is_some_and(|b| !matches!(b.value, Value::Str(_)));
    if json_body && !sets_type {
        headers.push(("content-type".into(), "application/json".into()));
    }
    Ok(TestRequest { method: method.to_string(), target, headers, body: body.unwrap_or_default().into() })
}

fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// A map's entries as text pairs; a list value gives one pair per element (a repeated query key or header).
fn pairs(map: Option<&Node>) -> Vec<(String, String)> {
    let text = |v: &Json| match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut out = Vec::new();
    for entry in map.and_then(Node::as_map).unwrap_or_default() {
        match entry.value.to_json() {
            Json::Array(items) => out.extend(items.iter().map(|v| (entry.key.clone(), text(v)))),
            one => out.push((entry.key.clone(), text(&one))),
        }
    }
    out
}

/// Whether a media type is JSON (`application/json`, `application/problem+json`).
fn is_json(media_type: &str) -> bool {
    let essence = media_type.split(';').next().unwrap_or("").trim();
    essence == "application/json" || essence.ends_with("+json")
}

/// Compares what the caller got with `expect.response`, each failure at the expectation it breaks.
pub(super) fn check_response(
    expected: &ExpectResponse,
    got: &Exchanged,
    here: &dyn Fn(Span) -> String,
    failures: &mut Vec<(String, String)>,
) {
    let text = String::from_utf8_lossy(&got.body);
    let header = |name: &str| got.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
    if let Some(status) = expected.status.as_ref().filter(|s| s.value != u32::from(got.status)) {
        failures.push((
            here(status.span),
            format!("expected status {}, got {}: {}", status.value, got.status, short(&text)),
        ));
    }
    for (name, value) in pairs(expected.headers.as_ref()) {
        match header(&name) {
            Some(actual) if actual == value => {}
            Some(actual) => failures.push((
                here(expected.headers.as_ref().map_or(expected.span, |h| h.span)),
                format!("header `{name}`: expected `{value}`, got `{actual}`"),
            )),
            None => failures.push((
                here(expected.headers.as_ref().map_or(expected.span, |h| h.span)),
                format!("header `{name}`: missing (expected `{value}`)"),
            )),
        }
    }
    let json =
        header("content-type").is_some_and(is_json).then(|| serde_json::from_slice::<Json>(&got.body).ok()).flatten();
    for (node, subset) in [(&expected.body, false), (&expected.body_contains, true)] {
        let Some(node) = node else { continue };
        let want = node.to_json();
        let what = if subset { "body (contains)" } else { "body" };
        let diffs = match (&json, &want) {
            (Some(actual), _) => differences(&want, actual, subset),
            (None, Json::String(w)) if subset && !text.contains(w.as_str()) => {
                vec![format!("does not contain `{w}`: {}", short(&text))]
            }
            (None, Json::String(w)) if !subset && text != w.as_str() => {
                vec![format!("expected `{w}`, got `{}`", short(&text))]
            }
            (None, Json::String(_)) => Vec::new(),
            (None, _) => vec![format!("the body is not JSON: {}", short(&text))],
        };
        if !diffs.is_empty() {
            failures.push((here(node.span), format!("{what} differs:\n      {}", diffs.join("\n      "))));
        }
    }
}

fn short(text: &str) -> String {
    if text.chars().count() > 200 {
        format!("{}…", text.chars().take(200).collect::<String>())
    } else if text.is_empty() {
        "(empty body)".to_string()
    } else {
        text.to_string()
    }
}
