//! Lookup-table functions over the [`Lookups`] registry.

use std::sync::Arc;

use rhai::{Array, Dynamic, Engine};

use super::{fail, FnResult};
use crate::docs::FunctionDoc;
use crate::lookups::Table;
use crate::Lookups;

fn table(lookups: &Lookups, name: &str) -> FnResult<Arc<Table>> {
    lookups.table(name).ok_or_else(|| {
        let known = lookups.names();
        fail(format!(
            "unknown lookup table '{name}' (known: {})",
            if known.is_empty() { "none".into() } else { known.join(", ") }
        ))
    })
}

fn check_column(table: &Table, name: &str, column: &str) -> FnResult<()> {
    if table.has_column(column) {
        Ok(())
    } else {
        Err(fail(format!("lookup table '{name}' has no column '{column}' (columns: {})", table.columns().join(", "))))
    }
}

/// The text a key is matched as: strings as they are, numbers and booleans as written; `()` matches nothing.
fn key_text(key: &Dynamic) -> Option<String> {
    (!key.is_unit()).then(|| key.to_string())
}

/// Registers the lookup functions, reading tables from `lookups`.
pub(crate) fn register(engine: &mut Engine, lookups: &Lookups) {
    let l = lookups.clone();
    engine.register_fn("lookup", move |name: &str, key: Dynamic| -> FnResult<Dynamic> {
        let t = table(&l, name)?;
        Ok(key_text(&key).and_then(|k| t.row(&k)).map_or(Dynamic::UNIT, Dynamic::from_map))
    });
    let l = lookups.clone();
    engine.register_fn("lookup", move |name: &str, key: Dynamic, column: &str| -> FnResult<Dynamic> {
        let t = table(&l, name)?;
        check_column(&t, name, column)?;
        Ok(key_text(&key).and_then(|k| t.cell(&k, column)).unwrap_or(Dynamic::UNIT))
    });
    let l = lookups.clone();
    engine.register_fn("lookup_all", move |name: &str, column: &str, value: Dynamic| -> FnResult<Array> {
        let t = table(&l, name)?;
        check_column(&t, name, column)?;
        let Some(wanted) = key_text(&value) else {
            return Ok(Array::new());
        };
        Ok(t.rows_where(column, &wanted).into_iter().map(Dynamic::from_map).collect())
    });
    let l = lookups.clone();
    engine.register_fn("lookup_rows", move |name: &str| -> FnResult<Array> {
        Ok(table(&l, name)?.rows().map(Dynamic::from_map).collect())
    });
    let l = lookups.clone();
    engine.register_fn("lookup_key_column", move |name: &str| -> FnResult<String> {
        Ok(table(&l, name)?.key_column().to_string())
    });
}

/// Documentation of the lookup functions (examples use the `countries` table of [`crate::example_engine`]).
pub(crate) const DOCS: &[FunctionDoc] = &[
    FunctionDoc {
        name: "lookup",
        signature: "lookup(table: string, key: any [, column: string]) -> map | string | ()",
        summary: "The row of a lookup table whose key column equals `key` (numbers match as written), or one of its \
                  columns; `()` when no row matches. An unknown table or column is an error. Values are strings.",
        examples: &[
            (r#"lookup("countries", "FR")"#, r#"{"calling_code":"33","iso2":"FR","name":"France","region":"europe"}"#),
            (r#"lookup("countries", "JP", "name")"#, r#""Japan""#),
            (r#"lookup("countries", "XX")"#, "null"),
        ],
    },
    FunctionDoc {
        name: "lookup_all",
        signature: "lookup_all(table: string, column: string, value: any) -> array",
        summary: "Every row whose `column` equals `value`, in file order.",
        examples: &[(r#"lookup_all("countries", "region", "europe").map(|r| r.iso2)"#, r#"["FR","DE"]"#)],
    },
    FunctionDoc {
        name: "lookup_rows",
        signature: "lookup_rows(table: string) -> array",
        summary: "Every row of a lookup table, in file order (to filter or aggregate a table in a script).",
        examples: &[(r#"pluck(lookup_rows("countries"), "iso2")"#, r#"["FR", "DE", "JP"]"#)],
    },
    FunctionDoc {
        name: "lookup_key_column",
        signature: "lookup_key_column(table: string) -> string",
        summary: "The name of a lookup table's key column.",
        examples: &[(r#"lookup_key_column("countries")"#, r#""iso2""#)],
    },
];

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use rhai::Scope;

    use crate::{build_engine, compile, run, Limits, Lookups, ScriptError};

    fn eval(lookups: &Lookups, code: &str) -> Result<String, ScriptError> {
        let engine = build_engine(&Limits::default(), lookups.clone());
        let ast = compile(&engine, code, &[])?;
        Ok(run(&engine, &ast, &mut Scope::new())?.to_string())
    }

    #[test]
    fn a_table_added_after_the_engine_was_built_is_visible() {
        let lookups = Lookups::default();
        let engine = build_engine(&Limits::default(), lookups.clone());
        lookups.add_csv_keyed("levels", "service,level\ntransport,3\nvillage,1\n", "level").unwrap();
        let ast = compile(&engine, r#"lookup("levels", 3, "service")"#, &[]).unwrap();
        assert_eq!(run(&engine, &ast, &mut Scope::new()).unwrap().to_string(), "transport");
    }

    #[test]
    fn an_unknown_table_is_a_runtime_error_naming_the_known_ones() {
        let lookups = Lookups::default();
        lookups.add_csv("a", "k\n1\n").unwrap();
        let err = eval(&lookups, r#"lookup("b", 1)"#).unwrap_err();
        assert!(matches!(&err, ScriptError::Runtime { message, .. } if message.contains("known: a")), "{err:?}");
    }

    #[test]
    fn an_unknown_column_is_a_runtime_error() {
        let lookups = Lookups::default();
        lookups.add_csv("a", "k\n1\n").unwrap();
        assert!(eval(&lookups, r#"lookup("a", 1, "nope")"#).is_err());
    }
}
