//! Dotted field paths (`"buyer.email"`) into maps, shared by the collection and masking functions.

use rhai::Dynamic;

/// The value at `path` inside `value` (maps only), or `None` when a step is missing or not a map.
pub(crate) fn get(value: &Dynamic, path: &str) -> Option<Dynamic> {
    let mut current = value.clone();
    for step in path.split('.') {
        let next = current.as_map_ref().ok()?.get(step).cloned()?;
        current = next;
    }
    Some(current)
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
