//! JSON comparisons that say where values differ, so a failed assertion reads as a short list of paths.

use serde_json::Value as Json;

fn show(v: &Json) -> String {
    let text = v.to_string();
    if text.chars().count() > 80 {
        format!("{}…", text.chars().take(80).collect::<String>())
    } else {
        text
    }
}

fn walk(path: &str, expected: &Json, actual: &Json, subset: bool, out: &mut Vec<String>) {
    if out.len() >= 10 {
        return;
    }
    match (expected, actual) {
        (Json::Object(e), Json::Object(a)) => {
            for (k, ev) in e {
                let p = format!("{path}/{k}");
                match a.get(k) {
                    Some(av) => walk(&p, ev, av, subset, out),
                    None => out.push(format!("{p}: missing (expected {})", show(ev))),
                }
            }
            if !subset {
                for k in a.keys().filter(|k| !e.contains_key(*k)) {
                    out.push(format!("{path}/{k}: unexpected {}", show(&a[k])));
                }
            }
        }
        (Json::Array(e), Json::Array(a)) if !subset => {
            if e.len() != a.len() {
                out.push(format!(
                    "{}: expected {} element(s), got {}",
                    if path.is_empty() { "/" } else { path },
                    e.len(),
                    a.len()
                ));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                walk(&format!("{path}/{i}"), ev, av, subset, out);
            }
        }
        (Json::Array(e), Json::Array(a)) => {
            // Subset of a list: each expected element is contained by some actual element, in order.
            let mut from = 0;
            for (i, ev) in e.iter().enumerate() {
                match a[from..].iter().position(|av| differences(ev, av, true).is_empty()) {
                    Some(j) => from += j + 1,
                    None => out.push(format!("{path}/{i}: no matching element for {}", show(ev))),
                }
            }
        }
        (e, a) if numbers_equal(e, a) => {}
        (e, a) if e != a => {
            out.push(format!("{}: expected {}, got {}", if path.is_empty() { "/" } else { path }, show(e), show(a)))
        }
        _ => {}
    }
}

/// `1` and `1.0` are the same number in JSON.
fn numbers_equal(a: &Json, b: &Json) -> bool {
    matches!((a.as_f64(), b.as_f64()), (Some(x), Some(y)) if a.is_number() && b.is_number() && x == y)
}

/// Where `actual` differs from `expected` (JSON paths), at most ten; with `subset`, extra keys in actual maps
/// and extra list elements are allowed.
pub fn differences(expected: &Json, actual: &Json, subset: bool) -> Vec<String> {
    let mut out = Vec::new();
    walk("", expected, actual, subset, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equality_lists_every_differing_path() {
        let d =
            differences(&json!({ "a": 1, "b": { "c": "x" } }), &json!({ "a": 2, "b": { "c": "x", "d": 0 } }), false);
        assert_eq!(d, vec!["/a: expected 1, got 2".to_string(), "/b/d: unexpected 0".to_string()]);
        assert!(differences(&json!({ "n": 1 }), &json!({ "n": 1.0 }), false).is_empty());
    }

    #[test]
    fn subsets_allow_extra_keys_and_elements() {
        assert!(differences(
            &json!({ "a": [ { "x": 1 } ] }),
            &json!({ "a": [ { "x": 0 }, { "x": 1, "y": 2 } ], "b": 3 }),
            true
        )
        .is_empty());
        assert_eq!(differences(&json!({ "a": 1 }), &json!({}), true), vec!["/a: missing (expected 1)".to_string()]);
    }
}
