//! What `relais check` verifies of a `db` statement beyond its schema: no `#[...]` in the SQL text (values
//! are bound, never spliced, so SQL injection cannot be written), and its placeholders matched with its
//! parameters, each finding at the exact place in the SQL when the text maps to the file. Of a `db` config:
//! `verify-ca` and `verify-full` come with a CA file (the file itself is checked with the other TLS files,
//! `compile::tls_files`).

use super::sql::{expression_at, placeholders, Placeholder};
use super::{DbConfig, Parameters};
use relais_dsl::codes;
use relais_dsl::syntax::{Node, Origin, Value};
use relais_dsl::{Diagnostic, Diagnostics, Span};

/// The span of bytes `start..end` of the SQL text written at `node` (the whole scalar when its text does
/// not map byte for byte to the file: escapes, block scalars).
fn inside(node: &Node, start: usize, end: usize) -> Span {
    match &node.value {
        Value::Str(s) => match s.origin {
            Origin::Verbatim { start: at } => {
                let offset = |n: usize| at.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
                Span { file: node.span.file, start: offset(start), end: offset(end) }
            }
            _ => node.span,
        },
        _ => node.span,
    }
}

/// Checks a `db` config: a verifying `sslmode` needs `tls.ca`.
pub fn check_config(config: &DbConfig, at: &Node, diags: &mut Diagnostics) {
    let has_ca = config.tls.as_ref().is_some_and(|t| t.ca.is_some());
    if config.sslmode.shared().needs_ca() && !has_ca {
        let span = at.get("sslmode").map_or(at.span, |n| n.span);
        diags.push(
            Diagnostic::error(codes::BAD_VALUE, span, format!("sslmode {} without a CA file", config.sslmode.shared()))
                .label("nothing to check the server's certificate against")
                .help("give `tls: { ca: path/to/ca.pem }`, the PEM file of the CA that signs the server's certificate"),
        );
    }
}

/// Checks statement `sql` (written under key `sql_key` of `at`) against `parameters`; `implicit` names
/// placeholders the component binds itself (a listener's `:watermark`).
pub fn check_statement(
    sql: &str,
    sql_key: &str,
    parameters: Option<&Parameters>,
    implicit: &[&str],
    at: &Node,
    diags: &mut Diagnostics,
) {
    let sql_node = at.get(sql_key).unwrap_or(at);
    let params_span = at.get("parameters").map_or(at.span, |n| n.span);
    if let Some((start, end)) = expression_at(sql) {
        diags.push(
            Diagnostic::error(codes::SQL_EXPRESSION, inside(sql_node, start, end), "an expression inside SQL text")
                .label("SQL is never templated")
                .help("bind the value: write `:id` in the SQL and `parameters: { id: \"#[payload.id]\" }`"),
        );
    }
    let found = placeholders(sql);
    let positional: Vec<_> = found.iter().filter(|f| matches!(f.placeholder, Placeholder::Positional(_))).collect();
    let named: Vec<_> = found.iter().filter(|f| matches!(f.placeholder, Placeholder::Named(_))).collect();
    let mismatch = |span: Span, message: String, label: &str, help: &str| {
        Diagnostic::error(codes::SQL_PARAMETERS, span, message).label(label.to_string()).help(help.to_string())
    };
    if let (Some(p), Some(n)) = (positional.first(), named.first()) {
        diags.push(mismatch(
            inside(sql_node, p.start.max(n.start), p.end.max(n.end)),
            "`$n` and `:name` placeholders in one statement".into(),
            "the second style",
            "use `:name` placeholders with a `parameters` map, or `$1`.. with a list",
        ));
        return;
    }
    match parameters {
        Some(Parameters::Named(map)) => {
            if let Some(p) = positional.first() {
                diags.push(mismatch(
                    inside(sql_node, p.start, p.end),
                    "a `$n` placeholder with named parameters".into(),
                    "positional",
                    "write `:name` in the SQL, or give `parameters` as a list",
                ));
                return;
            }
            for f in &named {
                let Placeholder::Named(name) = &f.placeholder else { continue };
                if !map.contains_key(name) && !implicit.contains(&name.as_str()) {
                    let known = map.keys().map(String::as_str).chain(implicit.iter().copied());
                    let help = relais_dsl::diagnostic::did_you_mean(name, known)
                        .unwrap_or_else(|| format!("add `{name}: ...` under `parameters`"));
                    diags.push(mismatch(
                        inside(sql_node, f.start, f.end),
                        format!("placeholder `:{name}` has no parameter"),
                        "not in `parameters`",
                        &help,
                    ));
                }
            }
            for key in map.keys() {
                if !named.iter().any(|f| f.placeholder == Placeholder::Named(key.clone())) {
                    let span = at.get("parameters").and_then(|p| p.get(key)).map_or(params_span, |n| n.span);
                    diags.push(mismatch(
                        span,
                        format!("parameter `{key}` is not used by the SQL"),
                        "never bound",
                        &format!("write `:{key}` where the value goes, or remove the parameter"),
                    ));
                }
            }
        }
        Some(Parameters::Positional(list)) => {
            if let Some(n) = named
                .iter()
                .find(|f| !matches!(&f.placeholder, Placeholder::Named(x) if implicit.contains(&x.as_str())))
            {
                diags.push(mismatch(
                    inside(sql_node, n.start, n.end),
                    "a `:name` placeholder with a list of parameters".into(),
                    "named",
                    "write `$1`.. in the SQL, or give `parameters` as a map",
                ));
                return;
            }
            for f in &positional {
                let Placeholder::Positional(k) = f.placeholder else { continue };
                if k == 0 || k > list.len() {
                    diags.push(mismatch(
                        inside(sql_node, f.start, f.end),
                        format!("placeholder `${k}` but {} parameter(s)", list.len()),
                        "no such parameter",
                        "placeholders count from `$1` to the number of parameters",
                    ));
                }
            }
            for k in 1..=list.len() {
                if !positional.iter().any(|f| f.placeholder == Placeholder::Positional(k)) {
                    let span = at.get("parameters").and_then(|p| match &p.value {
                        Value::List(items) => items.get(k - 1).map(|n| n.span),
                        _ => None,
                    });
                    diags.push(mismatch(
                        span.unwrap_or(params_span),
                        format!("parameter {k} is not used by the SQL"),
                        "never bound",
                        &format!("write `${k}` where the value goes, or remove the parameter"),
                    ));
                }
            }
        }
        None => {
            if let Some(f) = found
                .iter()
                .find(|f| !matches!(&f.placeholder, Placeholder::Named(x) if implicit.contains(&x.as_str())))
            {
                diags.push(mismatch(
                    inside(sql_node, f.start, f.end),
                    "a placeholder but no `parameters`".into(),
                    "nothing is bound here",
                    "give its value: `parameters: { id: \"#[payload.id]\" }` for `:id`, or a list for `$1`",
                ));
            }
        }
    }
}
