//! Dotted field paths (`"buyer.email"`) into maps, shared by the collection and masking functions.

use rhai::Dynamic;

/// The value at `path` inside `value` (maps only), or `None` when a step is missing or not a map. Walks by
/// reference and copies only the value found (a copy of a map copies all of it: `sort_by` over maps used to
/// copy every item whole to read one field).
pub(crate) fn get(value: &Dynamic, path: &str) -> Option<Dynamic> {
    at(value, path.split('.'))
}

fn at(value: &Dynamic, mut steps: std::str::Split<'_, char>) -> Option<Dynamic> {
    let Some(step) = steps.next() else { return Some(value.clone()) };
    at(value.as_map_ref().ok()?.get(step)?, steps)
}

/// The text a value groups under: strings as they are, other values as printed, missing values as `""`.
pub(crate) fn key_text(value: Option<&Dynamic>) -> String {
    match value {
        Some(v) if !v.is_unit() => v.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use rhai::Map;

    use super::*;

    #[test]
    fn a_nested_path_reaches_inner_fields_and_stops_at_non_maps() {
        let inner: Map = [("b".into(), Dynamic::from(1_i64))].into_iter().collect();
        let outer: Map = [("a".into(), Dynamic::from_map(inner))].into_iter().collect();
        let value = Dynamic::from_map(outer);
        assert_eq!(get(&value, "a.b").map(|v| v.to_string()), Some("1".into()));
        assert!(get(&value, "a.b.c").is_none());
        assert!(get(&value, "x").is_none());
    }
}
