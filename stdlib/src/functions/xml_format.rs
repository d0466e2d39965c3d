//! XML text to and from maps, with a simple documented mapping:
//!
//! - `parse_xml` returns `#{ root_name: value }`. An element with neither attributes nor child elements becomes its
//!   text (or `()` when empty); otherwise a map where attributes are `"@name"`, child elements are keyed by name
//!   (repeated elements become an array, in document order) and non-blank text is `"#text"`.
//!   Names keep their namespace prefix (`"soap:Body"`); comments, processing instructions and the declaration are
//!   dropped.
//! - `to_xml(value, root)` is the inverse: `"@name"` keys become attributes, `"#text"` text, arrays repeated
//!   elements, `()` an empty element. No XML declaration is written.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use rhai::{Array, Dynamic, Engine, Map};

use super::{fail, FnResult};
use crate::docs::FunctionDoc;

/// Deepest element nesting `parse_xml` and `to_xml` accept.
const MAX_DEPTH: usize = 256;

struct Open {
    name: String,
    map: Map,
    text: String,
}

fn name_of(bytes: &[u8]) -> FnResult<String> {
    std::str::from_utf8(bytes).map(str::to_string).map_err(|_| fail("invalid XML: a name is not UTF-8"))
}

fn open(start: &BytesStart) -> FnResult<Open> {
    let mut map = Map::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| fail(format!("invalid XML attribute: {e}")))?;
        let value = attr.unescape_value().map_err(|e| fail(format!("invalid XML attribute value: {e}")))?;
        map.insert(format!("@{}", name_of(attr.key.as_ref())?).into(), Dynamic::from(value.into_owned()));
    }
    Ok(Open { name: name_of(start.name().as_ref())?, map, text: String::new() })
}

fn close(element: Open) -> (String, Dynamic) {
    let Open { name, mut map, text } = element;
    let text = text.trim();
    let value = if map.is_empty() {
        if text.is_empty() {
            Dynamic::UNIT
        } else {
            Dynamic::from(text.to_string())
        }
    } else {
        if !text.is_empty() {
            map.insert("#text".into(), Dynamic::from(text.to_string()));
        }
        Dynamic::from_map(map)
    };
    (name, value)
}

fn add_child(map: &mut Map, name: String, value: Dynamic) {
    match map.get_mut(name.as_str()) {
        Some(existing) if existing.is_array() => {
            if let Some(mut items) = existing.write_lock::<Array>() {
                items.push(value);
            }
        }
        Some(existing) => {
            let first = std::mem::take(existing);
            *existing = Dynamic::from_array(vec![first, value]);
        }
        None => {
            map.insert(name.into(), value);
        }
    }
}

fn parse_xml(text: &str) -> FnResult<Map> {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Open> = Vec::new();
    let mut root: Option<Map> = None;
    let mut finish = |stack: &mut Vec<Open>, element: Open| -> FnResult<()> {
        let (name, value) = close(element);
        match stack.last_mut() {
            Some(parent) => add_child(&mut parent.map, name, value),
            None if root.is_some() => return Err(fail("invalid XML: more than one root element")),
            None => root = Some(Map::from([(name.into(), value)])),
        }
        Ok(())
    };
    loop {
        let event =
            reader.read_event().map_err(|e| fail(format!("invalid XML at byte {}: {e}", reader.error_position())))?;
        match event {
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(fail(format!("invalid XML: elements nested deeper than {MAX_DEPTH}")));
                }
                stack.push(open(&start)?);
            }
            Event::Empty(start) => {
                let element = open(&start)?;
                finish(&mut stack, element)?;
            }
            Event::End(_) => {
                let element = stack.pop().ok_or_else(|| fail("invalid XML: unexpected closing tag"))?;
                finish(&mut stack, element)?;
            }
            Event::Text(t) => {
                let t = t.unescape().map_err(|e| fail(format!("invalid XML text: {e}")))?;
                match stack.last_mut() {
                    Some(current) => current.text.push_str(&t),
                    None if t.trim().is_empty() => {}
                    None => return Err(fail("invalid XML: text outside the root element")),
                }
            }
            Event::CData(c) => {
                let t = String::from_utf8(c.into_inner().into_owned())
                    .map_err(|_| fail("invalid XML: CDATA is not UTF-8"))?;
                if let Some(current) = stack.last_mut() {
                    current.text.push_str(&t);
                }
            }
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
    if let Some(open) = stack.last() {
        return Err(fail(format!("invalid XML: <{}> is not closed", open.name)));
    }
    root.ok_or_else(|| fail("invalid XML: no root element"))
}

fn escape(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            other => out.push(other),
        }
    }
}

fn check_name(name: &str) -> FnResult<()> {
    let mut chars = name.chars();
    let valid_start = chars.next().is_some_and(|c| c.is_alphabetic() || c == '_');
    if valid_start && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')) {
        Ok(())
    } else {
        Err(fail(format!("to_xml: '{name}' is not a valid XML name")))
    }
}

fn write_element(name: &str, value: &Dynamic, depth: usize, out: &mut String) -> FnResult<()> {
    if depth > MAX_DEPTH {
        return Err(fail(format!("to_xml: values nested deeper than {MAX_DEPTH}")));
    }
    if let Ok(items) = value.as_array_ref() {
        for item in items.iter() {
            write_element(name, item, depth + 1, out)?;
        }
        return Ok(());
    }
    check_name(name)?;
    out.push('<');
    out.push_str(name);
    let Ok(map) = value.as_map_ref() else {
        if value.is_unit() {
            out.push_str("/>");
        } else {
            out.push('>');
            escape(&value.to_string(), out);
            out.push_str("</");
            out.push_str(name);
            out.push('>');
        }
        return Ok(());
    };
    for (key, attr) in map.iter().filter(|(k, _)| k.starts_with('@')) {
        check_name(&key[1..])?;
        out.push(' ');
        out.push_str(&key[1..]);
        out.push_str("=\"");
        escape(&attr.to_string(), out);
        out.push('"');
    }
    out.push('>');
    for (key, child) in map.iter().filter(|(k, _)| !k.starts_with('@')) {
        if key.as_str() == "#text" {
            escape(&child.to_string(), out);
        } else {
            write_element(key, child, depth + 1, out)?;
        }
    }
    out.push_str("</");
    out.push_str(name);
    out.push('>');
    Ok(())
}

/// Registers the XML functions.
pub(crate) fn register(engine: &mut Engine, limits: &crate::Limits) {
    engine.register_fn("parse_xml", |text: &str| {
        super::scan(text)?;
        parse_xml(text)
    });
    let max = limits.max_string_size;
    engine.register_fn("to_xml", move |value: Dynamic, root: &str| {
        super::scan_value(&value, max)?;
        let mut out = String::new();
        write_element(root, &value, 0, &mut out)?;
        Ok::<_, Box<rhai::EvalAltResult>>(out)
    });
}

/// Documentation of the XML functions.
pub(crate) const DOCS: &[FunctionDoc] = &[
    FunctionDoc {
        name: "parse_xml",
        signature: "parse_xml(text: string) -> map",
        summary: "Parses XML to `#{ root: value }`: attributes as `\"@name\"`, text next to attributes or children \
                  as `\"#text\"`, repeated elements as arrays, a text-only element as its text, an empty one as `()`. \
                  Malformed XML is an error.",
        examples: &[
            (
                r#"parse_xml("<order id='7'><item>a</item><item>b</item><note/></order>")"#,
                r#"{"order":{"@id":"7","item":["a","b"],"note":null}}"#,
            ),
            (
                r#"parse_xml("<p lang='fr'>Bonjour &amp; bienvenue</p>").p"#,
                r##"{"#text":"Bonjour & bienvenue","@lang":"fr"}"##,
            ),
        ],
    },
    FunctionDoc {
        name: "to_xml",
        signature: "to_xml(value: any, root: string) -> string",
        summary: "Writes `value` as the element `root`, the inverse of `parse_xml`'s mapping; text is escaped. \
                  No XML declaration.",
        examples: &[(
            r#"to_xml(#{ "@id": 7, item: ["a", "b<c"], note: () }, "order")"#,
            r#""<order id=\"7\"><item>a</item><item>b&lt;c</item><note/></order>""#,
        )],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(text: &str) -> String {
        parse_xml(text).err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn malformed_xml_gives_clear_errors() {
        assert!(error_of("<a><b></a>").contains("invalid XML"));
        assert!(error_of("<a>").contains("not closed"));
        assert!(error_of("").contains("no root"));
        assert!(error_of("<a/><b/>").contains("more than one root"));
        assert!(error_of("<a x='1' x='2'/>").contains("invalid XML"));
    }

    #[test]
    fn deeply_nested_xml_is_refused() {
        let text = "<a>".repeat(MAX_DEPTH + 1);
        assert!(error_of(&text).contains("deeper"));
    }

    #[test]
    fn xml_survives_a_round_trip() {
        let text = r#"<r a="1"><x>1</x><x>2</x><y><z/></y>t</r>"#;
        let parsed = parse_xml(text).unwrap_or_default();
        let mut out = String::new();
        let root = parsed.get("r").cloned().unwrap_or_default();
        assert!(write_element("r", &root, 0, &mut out).is_ok());
        assert_eq!(parse_xml(&out).unwrap_or_default().get("r").map(|v| v.to_string()), Some(root.to_string()));
    }
}
