//! `${name}` property and `${secret:NAME}` secret references inside string values.
//!
//! Properties are substituted in the document tree before lowering, so every construct (config, component
//! parameter, path, template) can use them, and `relais check --env prod` checks exactly what `run` uses.
//! Secrets are left in place: the engine resolves them when building components, and they are never logged.

use crate::codes;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::span::Span;
use crate::syntax::{Node, Origin, Value};

/// One reference found in a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropertyRef {
    /// `${name}`.
    Property(String),
    /// `${secret:NAME}`.
    Secret(String),
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A reference found in a string (with its byte range), or the range of a malformed one.
pub type FoundRef = Result<(std::ops::Range<usize>, PropertyRef), std::ops::Range<usize>>;

/// Every `${...}` in `text` with its byte range; malformed ones as `Err(range)`.
pub fn property_refs(text: &str) -> Vec<FoundRef> {
    // `${...}` inside a `#[...]` expression is Rhai's string interpolation, not a property.
    let mut expressions = Vec::new();
    let mut from = 0;
    while let Some(found) = text[from..].find("#[") {
        let open = from + found;
        let close = crate::lower::find_expr_end(text, open + 2).unwrap_or(text.len());
        expressions.push(open..close);
        from = (close + 1).min(text.len());
    }
    let mut out = Vec::new();
    let mut rest = 0;
    while let Some(found) = text[rest..].find("${") {
        let open = rest + found;
        if let Some(expr) = expressions.iter().find(|r| r.contains(&open)) {
            rest = expr.end.min(text.len());
            continue;
        }
        let Some(close) = text[open..].find('}').map(|i| open + i) else {
            out.push(Err(open..text.len()));
            break;
        };
        let inner = &text[open + 2..close];
        let parsed = match inner.strip_prefix("secret:") {
            Some(name) if valid_name(name) => Ok((open..close + 1, PropertyRef::Secret(name.to_string()))),
            None if valid_name(inner) => Ok((open..close + 1, PropertyRef::Property(inner.to_string()))),
            _ => Err(open..close + 1),
        };
        out.push(parsed);
        rest = close + 1;
    }
    out
}

fn sub_span(span: Span, origin: Origin, range: &std::ops::Range<usize>) -> Span {
    match origin {
        Origin::Verbatim { start } => Span::new(span.file, start as usize + range.start, start as usize + range.end),
        _ => span,
    }
}

/// Replaces every `${name}` in the tree with `lookup(name)`; reports malformed and undefined references.
/// Strings that change lose their exact position mapping (their origin becomes opaque). For an undefined
/// one the help is `elsewhere(name)` when it says where the property is defined instead (another `--env`
/// profile), else the closest of the `known` names, else where to define it.
pub fn substitute_properties(
    node: &mut Node,
    lookup: &dyn Fn(&str) -> Option<String>,
    known: &[&str],
    elsewhere: &dyn Fn(&str) -> Option<String>,
    diags: &mut Diagnostics,
) {
    let span = node.span;
    match &mut node.value {
        Value::Str(s) if s.text.contains("${") => {
            let refs = property_refs(&s.text);
            let mut out = String::with_capacity(s.text.len());
            let mut last = 0;
            let mut changed = false;
            for r in refs {
                match r {
                    Err(range) => diags.push(
                        Diagnostic::error(codes::BAD_PROPERTY_SYNTAX, sub_span(span, s.origin, &range), "malformed property reference")
                            .label("expected `${name}` or `${secret:NAME}`")
                            .help("property names hold letters, digits, `.`, `_` and `-`; close with `}`"),
                    ),
                    Ok((_, PropertyRef::Secret(_))) => {}
                    Ok((range, PropertyRef::Property(name))) => match lookup(&name) {
                        Some(value) => {
                            out.push_str(&s.text[last..range.start]);
                            out.push_str(&value);
                            last = range.end;
                            changed = true;
                        }
                        None => diags.push(
                            Diagnostic::error(codes::UNDEFINED_PROPERTY, sub_span(span, s.origin, &range), format!("property `{name}` is not defined"))
                                .label("no value for this property")
                                .help(elsewhere(&name).or_else(|| crate::diagnostic::did_you_mean(&name, known.iter().copied())).unwrap_or_else(|| format!(
                                    "define it under `properties:`, in env/<ENV>.yaml next to the flows, or as the environment variable RELAIS_{}",
                                    name.to_ascii_uppercase().replace(['.', '-'], "_")
                                ))),
                        ),
                    },
                }
            }
            if changed {
                out.push_str(&s.text[last..]);
                let whole_reference = last == s.text.len()
                    && s.text.starts_with("${")
                    && s.text.ends_with('}')
                    && s.text.matches("${").count() == 1;
                if whole_reference {
                    // `port: ${http.port}` takes the property's type, as if the value had been written there.
                    node.value = typed_scalar(out);
                    return;
                }
                s.text = out;
                s.origin = Origin::Opaque;
            }
        }
        Value::List(items) => items.iter_mut().for_each(|n| substitute_properties(n, lookup, known, elsewhere, diags)),
        Value::Map(entries) => {
            entries.iter_mut().for_each(|e| substitute_properties(&mut e.value, lookup, known, elsewhere, diags))
        }
        _ => {}
    }
}

/// True when some string of the tree holds `${`: only then can [`substitute_properties`] change the tree or
/// report anything. The loader lowers a tree without one as soon as it is parsed and drops it, instead of
/// holding every file's tree until the defaults of all files are known.
pub fn has_property_refs(node: &Node) -> bool {
    match &node.value {
        Value::Str(s) => s.text.contains("${"),
        Value::List(items) => items.iter().any(has_property_refs),
        Value::Map(entries) => entries.iter().any(|e| has_property_refs(&e.value)),
        _ => false,
    }
}

/// A substituted whole value: integers, floats and booleans keep their type; everything else is text.
fn typed_scalar(text: String) -> Value {
    if let Ok(i) = text.parse::<i64>() {
        Value::Int(i)
    } else if let (Ok(f), true) = (text.parse::<f64>(), text.contains('.')) {
        Value::Float(f)
    } else if text == "true" || text == "false" {
        Value::Bool(text == "true")
    } else {
        Value::Str(crate::syntax::Str { text, origin: Origin::Opaque })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_inside_expressions_is_not_a_property() {
        let refs = property_refs("${a} #[`total ${vars.total}`] ${b}");
        let names: Vec<_> = refs.into_iter().filter_map(Result::ok).map(|(_, r)| r).collect();
        assert_eq!(names, vec![PropertyRef::Property("a".into()), PropertyRef::Property("b".into())]);
    }

    #[test]
    fn references_are_found_and_classified() {
        let refs = property_refs("http://${crm.host}:${secret:CRM_KEY}/${bad name}");
        assert_eq!(refs[0], Ok((7..18, PropertyRef::Property("crm.host".into()))));
        assert_eq!(refs[1], Ok((19..36, PropertyRef::Secret("CRM_KEY".into()))));
        assert!(refs[2].is_err());
    }

    fn tree(yaml: &str) -> Node {
        let mut diags = Diagnostics::default();
        let node = crate::syntax::yaml::parse(yaml, crate::span::FileId(0), &mut diags);
        node.unwrap_or_else(|| panic!("{yaml:?} does not parse: {diags:?}"))
    }

    #[test]
    fn a_tree_without_a_reference_has_none_and_substitution_leaves_it_as_it_was() {
        let yaml = "flows:\n  a:\n    steps:\n      - logger: \"#[`total ${vars.total}`] $ {x} $x\"\n";
        let doc = tree(yaml);
        assert!(!has_property_refs(&tree("flows:\n  a:\n    steps:\n      - logger: \"$ {x} $x\"\n")));
        // `${` inside an expression is no property, but it is in the text: the tree is substituted as before.
        assert!(has_property_refs(&doc));
        let mut substituted = doc.clone();
        let mut diags = Diagnostics::default();
        substitute_properties(&mut substituted, &|_| None, &[], &|_| None, &mut diags);
        assert_eq!(substituted, doc);
        assert!(diags.iter().next().is_none());
    }

    #[test]
    fn a_reference_in_a_list_item_or_written_through_an_escape_is_seen() {
        assert!(has_property_refs(&tree("configs:\n  - [a, \"${host}\"]\n")));
        // `\x24` is `$`: the text has no `${`, the value has.
        assert!(has_property_refs(&tree("a: \"\\x24{host}\"\n")));
        assert!(!has_property_refs(&tree("a: 1\nb: [true, 2.5]\n")));
    }
}
