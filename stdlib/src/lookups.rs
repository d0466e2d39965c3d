//! The lookup tables scripts query with `lookup(...)`, filled by the engine from CSV text.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rhai::{Dynamic, Map};

use crate::functions::read_csv;

/// Why a lookup table could not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// The CSV text is malformed.
    #[error("lookup table '{table}': {message}")]
    Csv {
        /// The table's name.
        table: String,
        /// What is wrong, with the line when known.
        message: String,
    },
    /// The CSV text has no header row.
    #[error("lookup table '{table}' has no header row")]
    NoHeader {
        /// The table's name.
        table: String,
    },
    /// The key column named in [`Lookups::add_csv_keyed`] is not in the header.
    #[error("lookup table '{table}' has no column '{column}' (columns: {columns})")]
    UnknownKeyColumn {
        /// The table's name.
        table: String,
        /// The missing column.
        column: String,
        /// The header's columns, comma-separated.
        columns: String,
    },
    /// Two rows have the same key.
    #[error("lookup table '{table}': key '{key}' appears twice (data rows {first} and {second})")]
    DuplicateKey {
        /// The table's name.
        table: String,
        /// The repeated key.
        key: String,
        /// 1-based data row of the first occurrence.
        first: usize,
        /// 1-based data row of the second occurrence.
        second: usize,
    },
}

/// One keyed table: rows as Rhai maps of strings.
#[derive(Debug)]
pub(crate) struct Table {
    columns: Vec<String>,
    key_column: String,
    rows: Vec<Map>,
    by_key: HashMap<String, usize>,
}

impl Table {
    /// The row whose key is `key`.
    pub(crate) fn row(&self, key: &str) -> Option<&Map> {
        self.by_key.get(key).and_then(|i| self.rows.get(*i))
    }

    /// Whether `column` is one of the table's columns.
    pub(crate) fn has_column(&self, column: &str) -> bool {
        self.columns.iter().any(|c| c == column)
    }

    /// The table's columns, in header order.
    pub(crate) fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Every row, in file order.
    pub(crate) fn rows(&self) -> &[Map] {
        &self.rows
    }

    /// The name of the key column.
    pub(crate) fn key_column(&self) -> &str {
        &self.key_column
    }
}

/// A registry of named lookup tables. Clones share the tables (an `Arc` inside), so the engine can add or replace
/// tables (on reload) after the Rhai engine was built.
#[derive(Debug, Clone, Default)]
pub struct Lookups {
    tables: Arc<RwLock<HashMap<String, Arc<Table>>>>,
}

impl Lookups {
    /// Adds (or replaces) the table `name` from CSV text with a header row, keyed by its first column.
    pub fn add_csv(&self, name: &str, text: &str) -> Result<(), LookupError> {
        self.add(name, text, None)
    }

    /// Adds (or replaces) the table `name` from CSV text with a header row, keyed by the column `key_column`.
    pub fn add_csv_keyed(&self, name: &str, text: &str, key_column: &str) -> Result<(), LookupError> {
        self.add(name, text, Some(key_column))
    }

    /// The names of the tables, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.read().keys().cloned().collect();
        names.sort();
        names
    }

    /// Whether a table called `name` exists.
    pub fn contains(&self, name: &str) -> bool {
        self.read().contains_key(name)
    }

    /// The table called `name`.
    pub(crate) fn table(&self, name: &str) -> Option<Arc<Table>> {
        self.read().get(name).cloned()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Table>>> {
        // A poisoned lock only means a writer panicked between two whole-table inserts; the map is still valid.
        self.tables.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn add(&self, name: &str, text: &str, key_column: Option<&str>) -> Result<(), LookupError> {
        let table = parse_table(name, text, key_column)?;
        let mut tables = self.tables.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        tables.insert(name.to_string(), Arc::new(table));
        Ok(())
    }
}

fn parse_table(name: &str, text: &str, key_column: Option<&str>) -> Result<Table, LookupError> {
    let (columns, records) =
        read_csv(text, b',').map_err(|message| LookupError::Csv { table: name.to_string(), message })?;
    if columns.is_empty() || columns.iter().all(String::is_empty) {
        return Err(LookupError::NoHeader { table: name.to_string() });
    }
    let key_index = match key_column {
        None => 0,
        Some(column) => columns.iter().position(|c| c == column).ok_or_else(|| LookupError::UnknownKeyColumn {
            table: name.to_string(),
            column: column.to_string(),
            columns: columns.join(", "),
        })?,
    };
    let mut rows = Vec::with_capacity(records.len());
    let mut by_key = HashMap::with_capacity(records.len());
    for (i, record) in records.into_iter().enumerate() {
        let key = record.get(key_index).cloned().unwrap_or_default();
        if let Some(first) = by_key.insert(key.clone(), i) {
            return Err(LookupError::DuplicateKey { table: name.to_string(), key, first: first + 1, second: i + 1 });
        }
        rows.push(columns.iter().zip(record).map(|(c, v)| (c.as_str().into(), Dynamic::from(v))).collect());
    }
    let key_column = columns.get(key_index).cloned().unwrap_or_default();
    Ok(Table { columns, key_column, rows, by_key })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_is_keyed_by_its_first_column_by_default() {
        let lookups = Lookups::default();
        assert_eq!(lookups.add_csv("c", "iso2,name\nFR,France\n"), Ok(()));
        let table = lookups.table("c");
        assert_eq!(table.and_then(|t| t.row("FR").map(|r| r.len())), Some(2));
    }

    #[test]
    fn a_duplicate_key_is_refused_with_both_rows() {
        let err = Lookups::default().add_csv("c", "k,v\na,1\nb,2\na,3\n");
        assert_eq!(err, Err(LookupError::DuplicateKey { table: "c".into(), key: "a".into(), first: 1, second: 3 }));
    }

    #[test]
    fn an_unknown_key_column_is_refused() {
        let err = Lookups::default().add_csv_keyed("c", "k,v\na,1\n", "id");
        assert!(matches!(err, Err(LookupError::UnknownKeyColumn { .. })));
    }

    #[test]
    fn malformed_csv_is_refused() {
        let err = Lookups::default().add_csv("c", "k,v\na,1,2\n");
        assert!(matches!(err, Err(LookupError::Csv { .. })), "{err:?}");
    }

    #[test]
    fn an_empty_text_has_no_header() {
        assert!(matches!(Lookups::default().add_csv("c", ""), Err(LookupError::NoHeader { .. })));
    }
}
