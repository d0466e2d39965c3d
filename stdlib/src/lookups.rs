//! The lookup tables scripts query with `lookup(...)`, filled by the engine from CSV text.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rhai::{Dynamic, Identifier, Map};

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

/// One keyed table. Its cells are kept as text, each row's cells back to back in one string, and a row becomes a
/// Rhai map only when a script asks for it: a map of strings costs about 130 bytes a cell (a tree entry, a shared
/// string and its buffer), thirteen times the CSV, so the reference integration's 590 KB of tables held 8 MiB of
/// a daemon's heap, and a user's 50 MB table would have held 650 MB.
#[derive(Debug)]
pub(crate) struct Table {
    columns: Vec<String>,
    /// The columns as map keys, made once.
    keys: Vec<Identifier>,
    key_column: String,
    rows: Vec<Row>,
    by_key: HashMap<Box<str>, usize>,
}

/// One data row: its cells' text back to back, and where each cell ends in it.
#[derive(Debug)]
struct Row {
    text: Box<str>,
    ends: Box<[u32]>,
}

impl Row {
    /// Packs `cells` into one row; `None` when the row is over 4 GiB, which no CSV text given to a daemon is.
    fn pack(cells: &[String]) -> Option<Row> {
        let mut text = String::with_capacity(cells.iter().map(String::len).sum());
        let mut ends = Vec::with_capacity(cells.len());
        for cell in cells {
            text.push_str(cell);
            ends.push(u32::try_from(text.len()).ok()?);
        }
        Some(Row { text: text.into_boxed_str(), ends: ends.into_boxed_slice() })
    }

    /// The text of cell `i`; empty past the row's last cell.
    fn cell(&self, i: usize) -> &str {
        let start = match i {
            0 => 0,
            _ => self.ends.get(i - 1).map_or(self.text.len(), |&end| end as usize),
        };
        let end = self.ends.get(i).map_or(start, |&end| end as usize);
        self.text.get(start..end).unwrap_or_default()
    }
}

impl Table {
    /// The row whose key is `key`, as a map of its columns.
    pub(crate) fn row(&self, key: &str) -> Option<Map> {
        self.by_key.get(key).and_then(|&i| self.rows.get(i)).map(|row| self.map_of(row))
    }

    /// The value of `column` in the row whose key is `key`, without building the row.
    pub(crate) fn cell(&self, key: &str, column: &str) -> Option<Dynamic> {
        let row = self.by_key.get(key).and_then(|&i| self.rows.get(i))?;
        let i = self.column_index(column)?;
        Some(Dynamic::from(row.cell(i).to_string()))
    }

    /// Whether `column` is one of the table's columns.
    pub(crate) fn has_column(&self, column: &str) -> bool {
        self.column_index(column).is_some()
    }

    /// The table's columns, in header order.
    pub(crate) fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Every row, in file order, as maps.
    pub(crate) fn rows(&self) -> impl Iterator<Item = Map> + '_ {
        self.rows.iter().map(|row| self.map_of(row))
    }

    /// The rows whose `column` holds exactly `value`, in file order, as maps; only those are built.
    pub(crate) fn rows_where(&self, column: &str, value: &str) -> Vec<Map> {
        let Some(i) = self.column_index(column) else {
            return Vec::new();
        };
        self.rows.iter().filter(|row| row.cell(i) == value).map(|row| self.map_of(row)).collect()
    }

    /// The name of the key column.
    pub(crate) fn key_column(&self) -> &str {
        &self.key_column
    }

    fn column_index(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == column)
    }

    fn map_of(&self, row: &Row) -> Map {
        self.keys.iter().enumerate().map(|(i, key)| (key.clone(), Dynamic::from(row.cell(i).to_string()))).collect()
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
    let mut by_key: HashMap<Box<str>, usize> = HashMap::with_capacity(records.len());
    for (i, record) in records.into_iter().enumerate() {
        let key = record.get(key_index).map_or("", String::as_str);
        if let Some(&first) = by_key.get(key) {
            let key = key.to_string();
            return Err(LookupError::DuplicateKey { table: name.to_string(), key, first: first + 1, second: i + 1 });
        }
        by_key.insert(key.into(), i);
        let row = Row::pack(&record).ok_or_else(|| LookupError::Csv {
            table: name.to_string(),
            message: format!("data row {} is over 4 GiB", i + 1),
        })?;
        rows.push(row);
    }
    let key_column = columns.get(key_index).cloned().unwrap_or_default();
    let keys = columns.iter().map(|c| Identifier::from(c.as_str())).collect();
    Ok(Table { columns, keys, key_column, rows, by_key })
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
    fn a_row_is_read_back_cell_by_cell_with_empty_and_non_ascii_cells_kept() {
        let lookups = Lookups::default();
        assert_eq!(lookups.add_csv("c", "k,name,note\nFR,,é\nDE,Deutschland,\n"), Ok(()));
        let Some(table) = lookups.table("c") else { panic!("the table was added") };
        let fr = table.row("FR").unwrap_or_default();
        let cells: Vec<(String, String)> = fr.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let expected = [("k", "FR"), ("name", ""), ("note", "é")].map(|(k, v)| (k.to_string(), v.to_string()));
        assert_eq!(cells, expected);
        assert_eq!(table.cell("DE", "name").map(|v| v.to_string()), Some("Deutschland".into()));
        assert_eq!(table.cell("DE", "note").map(|v| v.to_string()), Some(String::new()));
        assert!(table.cell("XX", "name").is_none());
        assert_eq!(table.rows_where("note", "").len(), 1);
        assert_eq!(table.rows().count(), 2);
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
