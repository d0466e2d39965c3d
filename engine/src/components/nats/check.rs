//! What `relais check` finds in `nats` settings before traffic: server URLs that are not NATS URLs or
//! carry credentials (a password in a URL ends up in logs; `user`/`password` take `${secret:...}`),
//! credentials given half or twice, stream and consumer names the server would refuse, subjects that are
//! not subjects (a literal publish subject with a wildcard, an empty token, a `>` that is not last).

use super::{ListenerParams, NatsConfig, PublishParams};
use relais_dsl::syntax::Node;
use relais_dsl::{codes, Diagnostic, Diagnostics};

/// Whether `subject` is a NATS subject: dot-separated tokens of visible characters, none empty; with
/// `wildcards`, a token may be `*`, and `>` may be the last one.
pub fn valid_subject(subject: &str, wildcards: bool) -> bool {
    let tokens: Vec<&str> = subject.split('.').collect();
    tokens.iter().enumerate().all(|(i, token)| {
        let last = i + 1 == tokens.len();
        match *token {
            "" => false,
            "*" => wildcards,
            ">" => wildcards && last,
            t => t.chars().all(|c| c.is_ascii_graphic() && c != '*' && c != '>') && !t.contains(['*', '>']),
        }
    })
}

/// Whether `name` may name a stream or a durable consumer: visible ASCII without `.`, `*`, `>`, `/`, `\`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && name.chars().all(|c| c.is_ascii_graphic() && !".*>/\\".contains(c))
}

fn at<'n>(node: &'n Node, path: &[&str]) -> &'n Node {
    let mut here = node;
    for key in path {
        match here.get(key) {
            Some(next) => here = next,
            None => return here,
        }
    }
    here
}

/// Item `i` of a list node.
fn item(node: &Node, i: usize) -> Option<&Node> {
    match &node.value {
        relais_dsl::syntax::Value::List(items) => items.get(i),
        _ => None,
    }
}

fn bad(diags: &mut Diagnostics, node: &Node, message: String, label: &str, help: &str) {
    diags.push(Diagnostic::error(codes::BAD_VALUE, node.span, message).label(label).help(help));
}

/// The config's servers, credentials and stream.
pub fn check_config(config: &NatsConfig, node: &Node, diags: &mut Diagnostics) {
    for (i, server) in config.servers.iter().enumerate() {
        let here = node.get("servers").and_then(|list| item(list, i)).unwrap_or(node);
        if server.contains("${secret:") {
            continue;
        }
        let (scheme, rest) = server.split_once("://").unwrap_or(("nats", server));
        if !["nats", "tls"].contains(&scheme) {
            bad(
                diags,
                here,
                format!("`{server}` is not a NATS server URL"),
                "scheme not supported",
                "write `nats://host:4222` (or `tls://host:4222`; websockets are not supported)",
            );
        } else if rest.contains('@') {
            bad(
                diags,
                here,
                format!("a server URL with credentials in it: `{}`", scheme.to_string() + "://...@..."),
                "credentials in a URL end up in logs",
                "put them in `user` and `password` (or `token`), as `${secret:NAME}`",
            );
        } else if rest.is_empty() || rest.starts_with(':') {
            bad(diags, here, format!("`{server}` names no host"), "no host", "write `nats://host:4222`");
        }
    }
    match (&config.user, &config.password, &config.token) {
        (Some(_), _, Some(_)) | (None, Some(_), Some(_)) => bad(
            diags,
            at(node, &["token"]),
            "both a user and a token".into(),
            "the server takes one way to authenticate",
            "keep `user` and `password`, or `token`",
        ),
        (None, Some(_), None) => bad(
            diags,
            at(node, &["password"]),
            "a `password` without a `user`".into(),
            "whose password?",
            "add `user:`, or use `token:` for token authentication",
        ),
        _ => {}
    }
    if let Some(stream) = &config.stream {
        if !valid_name(&stream.name) {
            bad(
                diags,
                at(node, &["stream", "name"]),
                format!("`{}` cannot name a stream", stream.name),
                "not a stream name",
                "use letters, digits, `-` and `_` (no `.`, `*`, `>`, `/` or spaces)",
            );
        }
        for (i, subject) in stream.subjects.iter().enumerate() {
            if !valid_subject(subject, true) {
                let here = at(node, &["stream", "subjects"]);
                bad(
                    diags,
                    item(here, i).unwrap_or(here),
                    format!("`{subject}` is not a subject"),
                    "not a subject",
                    "write dot-separated tokens (`orders.created`), `*` for one token, `>` last for the rest",
                );
            }
        }
    }
}

/// A literal subject (one without `#[...]`) must be one messages can be published to.
pub fn check_publish(params: &PublishParams, node: &Node, diags: &mut Diagnostics) {
    if !params.subject.contains("#[") && !valid_subject(&params.subject, false) {
        bad(
            diags,
            at(node, &["subject"]),
            format!("`{}` is not a subject to publish to", params.subject),
            "not a subject",
            "write dot-separated tokens of visible characters (`orders.created`); `*` and `>` only subscribe",
        );
    }
    for name in params.headers.keys() {
        let fit = !name.is_empty() && name.chars().all(|c| c.is_ascii_graphic() && c != ':');
        if !fit {
            bad(
                diags,
                at(node, &["headers"]),
                format!("`{name}` cannot name a header"),
                "not a header name",
                "use visible ASCII characters without `:`",
            );
        }
    }
}

/// The listener's stream, durable name and subject filter.
pub fn check_listener(params: &ListenerParams, node: &Node, diags: &mut Diagnostics) {
    for (key, value) in [("stream", &params.stream), ("durable", &params.durable)] {
        if let Some(name) = value {
            if !valid_name(name) {
                bad(
                    diags,
                    at(node, &[key]),
                    format!("`{name}` cannot name a {}", if key == "stream" { "stream" } else { "consumer" }),
                    "not a name the server takes",
                    "use letters, digits, `-` and `_` (no `.`, `*`, `>`, `/` or spaces)",
                );
            }
        }
    }
    if let Some(subject) = &params.subject {
        if !valid_subject(subject, true) {
            bad(
                diags,
                at(node, &["subject"]),
                format!("`{subject}` is not a subject filter"),
                "not a subject",
                "write dot-separated tokens (`orders.created`), `*` for one token, `>` last for the rest",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_dot_separated_visible_tokens_with_wildcards_only_where_a_filter_allows_them() {
        assert!(valid_subject("orders.created", false));
        assert!(valid_subject("a.b-c_d.9", false));
        for bad in ["", "orders.", ".orders", "orders..x", "a b", "orders.*", "orders.>", "ord*rs", "é"] {
            assert!(!valid_subject(bad, false), "{bad}");
        }
        assert!(valid_subject("orders.*", true) && valid_subject("orders.>", true) && valid_subject(">", true));
        assert!(!valid_subject("orders.>.x", true) && !valid_subject("or>ders", true));
    }

    #[test]
    fn stream_and_consumer_names_refuse_dots_wildcards_slashes_and_spaces() {
        assert!(valid_name("ORDERS") && valid_name("orders_v2-eu"));
        for bad in ["", "a.b", "a*", "a>", "a/b", "a b", "a\\b"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
