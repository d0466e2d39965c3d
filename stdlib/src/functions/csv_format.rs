//! CSV text to and from arrays of maps (the first row is the header). Values are read as strings.

use rhai::{Array, Dynamic, Engine, Map};

use super::{fail, FnResult};
use crate::docs::FunctionDoc;

/// Parses CSV text with a header row into its column names and rows of string fields.
pub(crate) fn read_csv(text: &str, delimiter: u8) -> Result<(Vec<String>, Vec<Vec<String>>), String> {
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).has_headers(true).from_reader(text.as_bytes());
    let headers: Vec<String> =
        reader.headers().map_err(|e| describe(&e))?.iter().map(|h| h.trim().to_string()).collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| describe(&e))?;
        rows.push(record.iter().map(str::to_string).collect());
    }
    Ok((headers, rows))
}

fn describe(err: &csv::Error) -> String {
    match err.kind() {
        csv::ErrorKind::UnequalLengths { pos, expected_len, len } => format!(
            "invalid CSV: line {} has {len} fields, the header has {expected_len}",
            pos.as_ref().map_or(0, csv::Position::line)
        ),
        _ => format!("invalid CSV: {err}"),
    }
}

fn delimiter_byte(delimiter: &str) -> FnResult<u8> {
    match delimiter.as_bytes() {
        [b] => Ok(*b),
        _ => Err(fail(format!("CSV delimiter must be one ASCII character, got '{delimiter}'"))),
    }
}

fn parse_csv(text: &str, delimiter: u8) -> FnResult<Array> {
    let (headers, rows) = read_csv(text, delimiter).map_err(fail)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let map: Map = headers.iter().zip(row).map(|(h, v)| (h.as_str().into(), Dynamic::from(v))).collect();
            Dynamic::from_map(map)
        })
        .collect())
}

fn cell(value: &Dynamic) -> FnResult<String> {
    if value.is_unit() {
        Ok(String::new())
    } else if value.is_array() || value.is_map() {
        serde_json::to_string(&crate::convert::to_json_value(value)?).map_err(|e| fail(e.to_string()))
    } else {
        Ok(value.to_string())
    }
}

fn to_csv(rows: &Array, columns: Option<Vec<String>>) -> FnResult<String> {
    let mut maps = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let map =
            row.as_map_ref().map_err(|_| fail(format!("to_csv: item {i} is a {}, not a map", row.type_name())))?;
        maps.push(map.clone());
    }
    let columns = columns.unwrap_or_else(|| {
        let mut seen: Vec<String> = Vec::new();
        for key in maps.iter().flat_map(|m| m.keys()) {
            if !seen.iter().any(|s| s == key.as_str()) {
                seen.push(key.to_string());
            }
        }
        seen
    });
    let mut writer = csv::Writer::from_writer(Vec::new());
    let write_err = |e: csv::Error| fail(format!("cannot write CSV: {e}"));
    writer.write_record(&columns).map_err(write_err)?;
    for map in &maps {
        let record = columns
            .iter()
            .map(|c| map.get(c.as_str()).map_or(Ok(String::new()), cell))
            .collect::<FnResult<Vec<_>>>()?;
        writer.write_record(&record).map_err(write_err)?;
    }
    let bytes = writer.into_inner().map_err(|e| fail(format!("cannot write CSV: {e}")))?;
    String::from_utf8(bytes).map_err(|e| fail(format!("cannot write CSV: {e}")))
}

/// Registers the CSV functions.
pub(crate) fn register(engine: &mut Engine, limits: &crate::Limits) {
    engine.register_fn("parse_csv", |text: &str| {
        super::scan(text)?;
        parse_csv(text, b',')
    });
    engine.register_fn("parse_csv", |text: &str, d: &str| {
        super::scan(text)?;
        parse_csv(text, delimiter_byte(d)?)
    });
    let max = limits.max_string_size;
    engine.register_fn("to_csv", move |rows: Array| {
        super::scan_value(&Dynamic::from_array(rows.clone()), max)?;
        to_csv(&rows, None)
    });
    engine.register_fn("to_csv", move |rows: Array, columns: Array| {
        super::scan_value(&Dynamic::from_array(rows.clone()), max)?;
        let columns = columns.iter().map(|c| c.to_string()).collect();
        to_csv(&rows, Some(columns))
    });
}

/// Documentation of the CSV functions.
pub(crate) const DOCS: &[FunctionDoc] = &[
    FunctionDoc {
        name: "parse_csv",
        signature: "parse_csv(text: string [, delimiter: string]) -> array",
        summary: "Parses CSV with a header row into an array of maps of strings. Quoted fields may hold delimiters \
                  and line breaks; a row whose field count differs from the header's is an error.",
        examples: &[
            ("parse_csv(\"id,name\\n1,\\\"Dupont, Jean\\\"\\n\")", r#"[{"id":"1","name":"Dupont, Jean"}]"#),
            ("parse_csv(\"a;b\\n1;2\", \";\")", r#"[{"a":"1","b":"2"}]"#),
        ],
    },
    FunctionDoc {
        name: "to_csv",
        signature: "to_csv(rows: array [, columns: array]) -> string",
        summary: "Writes maps as CSV with a header row: the given columns, or every key in order of first \
                  appearance. `()` and missing fields are empty; nested values are written as JSON.",
        examples: &[
            (r#"to_csv([#{ id: 1, name: "Dupont, Jean" }, #{ id: 2 }])"#, r#""id,name\n1,\"Dupont, Jean\"\n2,\n""#),
            (r#"to_csv([#{ a: 1, b: 2 }], ["b"])"#, r#""b\n2\n""#),
        ],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ragged_row_is_an_error_naming_its_line() {
        let err = read_csv("a,b\n1,2\n3\n", b',').err().unwrap_or_default();
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn an_unclosed_quote_swallows_the_rest_and_fails_on_the_field_count() {
        assert!(read_csv("a,b\n\"1,2\n", b',').is_err());
    }

    #[test]
    fn a_non_map_row_cannot_be_written() {
        assert!(to_csv(&vec![Dynamic::from(1_i64)], None).is_err());
    }
}
