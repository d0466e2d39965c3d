//! The JSON <-> script conversions, both ways, on any JSON text and on script values built from the bytes
//! (deep, wide, odd: NaN, infinities, characters, blobs, function pointers, shared values): never a panic or a
//! stack overflow; a value within the depth limit survives the round trip; one past it is `TooDeep` both
//! ways; `parse_json` / `to_json` in the sandbox agree with the conversions.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relais_stdlib::{check_depth, dynamic_to_json, json_to_dynamic, ConversionError, MAX_DEPTH};
use rhai::{Array, Dynamic, FnPtr, Map, INT};
use serde_json::Value;
use std::sync::OnceLock;

/// Deepest nesting the builder makes: far past the limit (the unit tests go to 100,000), kept small enough that
/// building stays fast.
const MAX_BUILT_DEPTH: usize = 5_000;

/// Builds a script value from bytes, and its depth: a small stack machine, one instruction per byte (operands
/// follow).
fn build(data: &[u8]) -> (Dynamic, usize) {
    let mut stack: Vec<(Dynamic, usize)> = Vec::new();
    let mut bytes = data.iter().copied();
    while let Some(op) = bytes.next() {
        let operand = bytes.next().unwrap_or(0);
        let leaf = |v: Dynamic| (v, 0);
        let (value, depth) = match op % 16 {
            0 => leaf(Dynamic::UNIT),
            1 => leaf(Dynamic::from_bool(operand % 2 == 0)),
            2 => leaf(Dynamic::from_int(INT::from(operand as i8) * INT::from(operand).pow(5))),
            3 => leaf(Dynamic::from_int(if operand % 2 == 0 { INT::MIN } else { INT::MAX })),
            4 => leaf(Dynamic::from_float(match operand % 5 {
                0 => f64::NAN,
                1 => f64::INFINITY,
                2 => f64::NEG_INFINITY,
                3 => -0.0,
                _ => f64::from(operand) / 7.0,
            })),
            5 => leaf(Dynamic::from(char::from(operand))),
            6 => leaf(Dynamic::from(String::from_utf8_lossy(&[operand; 3]).to_string())),
            7 => leaf(Dynamic::from_blob(vec![operand])),
            8 => leaf(FnPtr::new("f").map_or(Dynamic::UNIT, Dynamic::from)),
            // Gather the top `operand % 8` values into an array or a map.
            9 | 10 => {
                let n = usize::from(operand % 8).min(stack.len());
                let items = stack.split_off(stack.len() - n);
                let depth = 1 + items.iter().map(|(_, d)| *d).max().unwrap_or(0);
                let values = items.into_iter().map(|(v, _)| v);
                if op % 16 == 9 {
                    (Dynamic::from_array(values.collect::<Array>()), depth)
                } else {
                    let map: Map = values.enumerate().map(|(i, v)| (format!("k{i}").into(), v)).collect();
                    (Dynamic::from_map(map), depth)
                }
            }
            // Wrap the top value in arrays or maps, up to 255 levels at once.
            11 | 12 => {
                let (inner, depth) = stack.pop().unwrap_or((Dynamic::UNIT, 0));
                let levels = (usize::from(operand) * 8 + usize::from(bytes.next().unwrap_or(0))) % 256;
                let value = (0..levels).fold(inner, |v, _| {
                    if op % 16 == 11 {
                        Dynamic::from_array(vec![v])
                    } else {
                        Dynamic::from_map(Map::from_iter([("next".into(), v)]))
                    }
                });
                (value, depth + levels)
            }
            13 => {
                let (inner, depth) = stack.pop().unwrap_or((Dynamic::UNIT, 0));
                (inner.into_shared(), depth)
            }
            14 => (Dynamic::from_array(Vec::new()), 1),
            _ => (Dynamic::from_map(Map::new()), 1),
        };
        if depth <= MAX_BUILT_DEPTH {
            stack.push((value, depth));
        } else {
            dismantle(value);
        }
    }
    let top = stack.pop().unwrap_or((Dynamic::UNIT, 0));
    stack.into_iter().for_each(|(v, _)| dismantle(v));
    top
}

/// Drops a script value level by level (the fuzzer's own thread has a small stack).
fn dismantle(value: Dynamic) {
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        let value = value.flatten();
        if value.is_array() {
            pending.extend(value.into_array().unwrap_or_default());
        } else if value.is_map() {
            pending.extend(value.cast::<Map>().into_values());
        }
    }
}

fn sandbox() -> &'static rhai::Engine {
    static ENGINE: OnceLock<rhai::Engine> = OnceLock::new();
    ENGINE.get_or_init(|| relais_stdlib::build_engine(&relais_stdlib::Limits::default(), Default::default()))
}

/// JSON text through `parse_json` then `to_json` in the sandbox, against the direct conversions.
fn through_the_sandbox(text: &str, direct: &Result<Dynamic, ConversionError>) {
    let engine = sandbox();
    let Ok(ast) = relais_stdlib::compile(engine, "to_json(parse_json(text))", &["text"]) else { return };
    let mut scope = rhai::Scope::new();
    for name in relais_stdlib::SCRIPT_VARIABLES {
        scope.push_dynamic(name, Dynamic::UNIT);
    }
    scope.push("text", text.to_string());
    let result = relais_stdlib::run(engine, &ast, &mut scope);
    if let (Ok(written), Ok(direct)) = (&result, direct) {
        let written = written.clone().into_string().unwrap_or_default();
        let reparsed: Value = serde_json::from_str(&written).unwrap_or(Value::Null);
        assert_eq!(Some(reparsed), dynamic_to_json(direct).ok(), "to_json(parse_json(..)) differs");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode % 2 == 0 {
        // JSON text -> script value -> JSON.
        let Ok(text) = std::str::from_utf8(rest) else { return };
        let Ok(value) = serde_json::from_str::<Value>(text) else { return };
        let converted = json_to_dynamic(&value);
        assert_eq!(converted.is_ok(), check_depth(&value).is_ok(), "check_depth and json_to_dynamic disagree");
        if let Ok(script) = &converted {
            let back = dynamic_to_json(script).expect("a converted value converts back");
            let again = dynamic_to_json(&json_to_dynamic(&back).expect("converts again")).expect("and back");
            assert_eq!(back, again, "a second round trip changes the value");
        } else {
            assert_eq!(converted.as_ref().err(), Some(&ConversionError::TooDeep));
        }
        if mode % 4 == 0 {
            through_the_sandbox(text, &converted);
        }
    } else {
        // Script value -> JSON -> script value.
        let (script, depth) = build(rest);
        match dynamic_to_json(&script) {
            Ok(json) => {
                assert!(depth <= MAX_DEPTH, "a value {depth} deep was converted");
                assert!(check_depth(&json).is_ok());
                let again = json_to_dynamic(&json).expect("a converted value converts back");
                assert_eq!(dynamic_to_json(&again).ok(), Some(json), "the round trip changes the value");
            }
            Err(ConversionError::TooDeep) => assert!(depth > MAX_DEPTH, "TooDeep at depth {depth}"),
            Err(_) => {}
        }
        dismantle(script);
    }
});
