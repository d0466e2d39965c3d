//! Group, sort, sum and index helpers for arrays of maps. Fields are names or dotted paths (`"price.amount"`);
//! values group under their text (`1` and `"1"` fall together, missing fields under `""`).

use std::cmp::Ordering;

use rhai::{Array, Dynamic, Engine, EvalAltResult, ImmutableString, Map, NativeCallContext, FLOAT, INT};

use super::field_path::{get, key_text};
use super::{fail, FnResult};
use crate::convert::int_of;
use crate::docs::FunctionDoc;

fn group_by(items: Array, field: &str) -> Map {
    let mut groups = Map::new();
    for item in items {
        let key = key_text(get(&item, field).as_ref());
        let group = groups.entry(key.into()).or_insert_with(|| Dynamic::from_array(Array::new()));
        if let Some(mut members) = group.write_lock::<Array>() {
            members.push(item);
        }
    }
    groups
}

/// Sort rank of a value's type: `()` < booleans < numbers < strings < anything else.
fn rank(value: &Dynamic) -> u8 {
    if value.is_unit() {
        0
    } else if value.is_bool() {
        1
    } else if value.is_int() || value.is_float() {
        2
    } else if value.is_string() || value.is_char() {
        3
    } else {
        4
    }
}

fn compare(a: &Dynamic, b: &Dynamic) -> Ordering {
    match (rank(a), rank(b)) {
        (1, 1) => a.as_bool().unwrap_or_default().cmp(&b.as_bool().unwrap_or_default()),
        (2, 2) => match (a.as_int(), b.as_int()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => number(a).total_cmp(&number(b)),
        },
        (3, 3) | (4, 4) => a.to_string().cmp(&b.to_string()),
        (ra, rb) => ra.cmp(&rb),
    }
}

fn number(value: &Dynamic) -> FLOAT {
    value.as_float().or_else(|_| value.as_int().map(|i| i as FLOAT)).unwrap_or(FLOAT::NAN)
}

fn sort_by(items: Array, field: &str, order: &str) -> FnResult<Array> {
    let descending = match order.to_ascii_lowercase().as_str() {
        "asc" => false,
        "desc" => true,
        other => return Err(fail(format!("sort_by: order must be \"asc\" or \"desc\", got '{other}'"))),
    };
    let mut keyed: Vec<(Dynamic, Dynamic)> =
        items.into_iter().map(|item| (get(&item, field).unwrap_or(Dynamic::UNIT), item)).collect();
    keyed.sort_by(|(a, _), (b, _)| if descending { compare(b, a) } else { compare(a, b) });
    Ok(keyed.into_iter().map(|(_, item)| item).collect())
}

fn sum_by(items: &Array, field: &str) -> FnResult<Dynamic> {
    let mut int_total: INT = 0;
    let mut float_total: FLOAT = 0.0;
    let mut any_float = false;
    for (i, item) in items.iter().enumerate() {
        let Some(value) = get(item, field).filter(|v| !v.is_unit()) else {
            continue;
        };
        if let Ok(n) = value.as_int() {
            int_total = int_total.checked_add(n).ok_or_else(|| fail("sum_by: integer overflow"))?;
        } else if let Ok(x) = value.as_float() {
            float_total += x;
            any_float = true;
        } else {
            return Err(fail(format!("sum_by: field '{field}' of item {i} is a {}, not a number", value.type_name())));
        }
    }
    Ok(if any_float { Dynamic::from_float(float_total + int_total as FLOAT) } else { Dynamic::from_int(int_total) })
}

fn count_by(items: &Array, field: &str) -> Map {
    let mut counts = Map::new();
    for item in items {
        let key = key_text(get(item, field).as_ref());
        let count = counts.entry(key.into()).or_insert_with(|| Dynamic::from_int(0));
        *count = Dynamic::from_int(count.as_int().unwrap_or(0) + 1);
    }
    counts
}

fn unique_by(items: Array, field: &str) -> Array {
    let mut seen = std::collections::HashSet::new();
    items.into_iter().filter(|item| seen.insert(key_text(get(item, field).as_ref()))).collect()
}

fn pluck(items: &Array, field: &str) -> Array {
    items.iter().map(|item| get(item, field).unwrap_or(Dynamic::UNIT)).collect()
}

fn index_by(items: Array, field: &str) -> Map {
    items.into_iter().map(|item| (key_text(get(&item, field).as_ref()).into(), item)).collect()
}

/// Debits the meter for one field lookup per item.
fn walked(items: &Array) -> FnResult<()> {
    crate::meter::charge(items.len() as u64)
}

/// Debits the meter for sorting: a field lookup per item and `n log n` comparisons.
fn sorted(items: &Array) -> FnResult<()> {
    walked(items)?;
    crate::meter::charge_sort(items.len())
}

/// Registers the collection functions.
/// `array.contains(text)` (and `text in array`). Rhai's own `contains` compares every item through a call to
/// `==` resolved anew per item, which dominated a mapping de-duplicating a dozen session ids; here an item
/// that is a string is compared directly (the built-in `==` of two strings, which no script can redefine)
/// and any other item exactly as Rhai does. Debits the items it walks.
fn contains_text(ctx: NativeCallContext, array: &mut Array, text: ImmutableString) -> FnResult<bool> {
    crate::meter::charge((array.len() / 8) as u64)?;
    for item in array.iter_mut() {
        if item.is_string() {
            if item.as_immutable_string_ref().is_ok_and(|s| *s == text) {
                return Ok(true);
            }
            continue;
        }
        let equal = ctx
            .call_native_fn_raw("==", true, &mut [item, &mut Dynamic::from(text.clone())])
            .or_else(|err| match *err {
                // No `==` for a non-string item and a string: different types are not equal (Rhai's rule).
                EvalAltResult::ErrorFunctionNotFound(ref signature, ..) if signature.starts_with("==") => {
                    Ok(Dynamic::FALSE)
                }
                _ => Err(err),
            })?
            .as_bool()
            .unwrap_or(false);
        if equal {
            return Ok(true);
        }
    }
    Ok(false)
}

pub(crate) fn register(engine: &mut Engine) {
    engine.register_fn("contains", contains_text);
    engine.register_fn("group_by", |items: Array, field: &str| walked(&items).map(|()| group_by(items, field)));
    engine.register_fn("sort_by", |items: Array, field: &str| {
        sorted(&items)?;
        sort_by(items, field, "asc")
    });
    engine.register_fn("sort_by", |items: Array, field: &str, order: &str| {
        sorted(&items)?;
        sort_by(items, field, order)
    });
    engine.register_fn("sum_by", |items: Array, field: &str| {
        walked(&items)?;
        sum_by(&items, field)
    });
    engine.register_fn("count_by", |items: Array, field: &str| walked(&items).map(|()| count_by(&items, field)));
    engine.register_fn("unique_by", |items: Array, field: &str| walked(&items).map(|()| unique_by(items, field)));
    engine.register_fn("pluck", |items: Array, field: &str| walked(&items).map(|()| pluck(&items, field)));
    engine.register_fn("index_by", |items: Array, field: &str| walked(&items).map(|()| index_by(items, field)));
    engine.register_fn("size_of", |items: Array| int_of(items.len()));
}

/// Documentation of the collection functions.
pub(crate) const DOCS: &[FunctionDoc] = &[
    FunctionDoc {
        name: "group_by",
        signature: "group_by(items: array, field: string) -> map",
        summary: "Groups items into a map from each field value (as text) to the items having it, in order.",
        examples: &[(
            r#"group_by([#{ s: "judo", id: 1 }, #{ s: "golf", id: 2 }, #{ s: "judo", id: 3 }], "s")"#,
            r#"{"golf":[{"id":2,"s":"golf"}],"judo":[{"id":1,"s":"judo"},{"id":3,"s":"judo"}]}"#,
        )],
    },
    FunctionDoc {
        name: "sort_by",
        signature: "sort_by(items: array, field: string [, order: \"asc\" | \"desc\"]) -> array",
        summary: "A stable sort by a field: numbers numerically, strings by code point; `()` and missing fields \
                  first in ascending order.",
        examples: &[
            (r#"sort_by([#{ n: 3 }, #{ n: 1.5 }, #{ n: 2 }], "n").map(|x| x.n)"#, "[1.5, 2, 3]"),
            (
                r#"sort_by([#{ n: "b", i: 1 }, #{ n: "a" }, #{ n: "b", i: 2 }], "n", "desc").map(|x| x.i)"#,
                "[1, 2, null]",
            ),
        ],
    },
    FunctionDoc {
        name: "sum_by",
        signature: "sum_by(items: array, field: string) -> int | float",
        summary: "Sums a numeric field, skipping `()` and missing ones; an integer unless a float is met. Any other \
                  type is an error.",
        examples: &[
            (r#"sum_by([#{ price: #{ amount: 10 } }, #{ price: #{ amount: 5 } }], "price.amount")"#, "15"),
            (r#"sum_by([#{ x: 1 }, #{ x: 0.5 }, #{}], "x")"#, "1.5"),
        ],
    },
    FunctionDoc {
        name: "count_by",
        signature: "count_by(items: array, field: string) -> map",
        summary: "Counts items per field value (as text).",
        examples: &[(r#"count_by([#{ s: "judo" }, #{ s: "golf" }, #{ s: "judo" }], "s")"#, r#"{"golf":1,"judo":2}"#)],
    },
    FunctionDoc {
        name: "unique_by",
        signature: "unique_by(items: array, field: string) -> array",
        summary: "Keeps the first item of each field value, in order.",
        examples: &[(
            r#"unique_by([#{ s: "a", i: 1 }, #{ s: "a", i: 2 }, #{ s: "b", i: 3 }], "s").map(|x| x.i)"#,
            "[1, 3]",
        )],
    },
    FunctionDoc {
        name: "pluck",
        signature: "pluck(items: array, field: string) -> array",
        summary: "The field of every item (`()` where missing).",
        examples: &[(r#"pluck([#{ a: #{ b: 1 } }, #{}], "a.b")"#, "[1, null]")],
    },
    FunctionDoc {
        name: "index_by",
        signature: "index_by(items: array, field: string) -> map",
        summary: "A map from each field value (as text) to its item; a later item wins over an earlier one.",
        examples: &[(r#"index_by([#{ id: 1, v: "a" }, #{ id: 1, v: "b" }], "id")"#, r#"{"1":{"id":1,"v":"b"}}"#)],
    },
    FunctionDoc {
        name: "size_of",
        signature: "size_of(items: array) -> int",
        summary: "The number of items.",
        examples: &[("size_of([1, 2, 3])", "3")],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_finds_strings_and_compares_other_items_as_rhai_does() {
        let engine = crate::build_engine(&crate::Limits::default(), crate::Lookups::default());
        for (code, expected) in [
            (r#"["a", "b"].contains("b")"#, true),
            (r#"["a", "b"].contains("c")"#, false),
            (r#""b" in [1, "b"]"#, true),
            (r#"[1, 2.0, (), true].contains("1")"#, false),
            (r#"['x'].contains("x")"#, true),
            (r#"[].contains("x")"#, false),
            ("[1, 2].contains(2)", true),
        ] {
            assert_eq!(engine.eval::<bool>(code).unwrap_or_else(|e| panic!("{code}: {e}")), expected, "{code}");
        }
    }

    #[test]
    fn summing_text_is_an_error_naming_the_item() {
        let items: Array = vec![Dynamic::from_map([("x".into(), Dynamic::from("1"))].into_iter().collect())];
        let err = sum_by(&items, "x").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("item 0"), "{err}");
    }

    #[test]
    fn an_unknown_sort_order_is_an_error() {
        assert!(sort_by(Array::new(), "x", "up").is_err());
    }
}
