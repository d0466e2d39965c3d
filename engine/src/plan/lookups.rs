//! Lookup tables for `lookup(...)` / `lookup_all(...)`: CSV files in a `data/` directory next to the flows.
//!
//! For each flow file, its directory and every parent up to the directory common to all flow files are
//! searched for `data/*.csv`; each file becomes a table named by its stem (`data/access_matrix.csv` ->
//! `access_matrix`), keyed by its first column. The nearest directory wins when two define one name, so a
//! flow folder can override a shared table. Tables are read once, when the plan is compiled.

use relais_stdlib::Lookups;
use std::path::{Path, PathBuf};

/// Largest lookup table read (a table is held in memory by every plan).
const MAX_TABLE: u64 = 16 * 1024 * 1024;

/// Loads the tables found for these flow files. A file that cannot be read or parsed is skipped with a
/// warning: scripts using it then fail with a clear "no table" error at run time.
pub fn load(flow_files: &[PathBuf]) -> Lookups {
    let lookups = Lookups::default();
    let dirs: Vec<&Path> = flow_files.iter().filter_map(|p| p.parent()).collect();
    let Some(root) = common_ancestor(&dirs) else { return lookups };
    let roots = crate::load::Roots::of(&[root.to_path_buf()], None);
    let mut searched = std::collections::HashSet::new();
    for dir in &dirs {
        for candidate in dir.ancestors() {
            if searched.insert(candidate.to_path_buf()) {
                add_dir(&lookups, &roots, &candidate.join("data"));
            }
            if candidate == root {
                break;
            }
        }
    }
    lookups
}

/// The deepest directory containing all `dirs`.
fn common_ancestor<'a>(dirs: &[&'a Path]) -> Option<&'a Path> {
    let first = *dirs.first()?;
    first.ancestors().find(|a| dirs.iter().all(|d| d.starts_with(a)))
}

fn add_dir(lookups: &Lookups, roots: &crate::load::Roots, data: &Path) {
    let Ok(entries) = std::fs::read_dir(data) else { return };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")))
        .collect();
    files.sort();
    for file in files {
        let Some(name) = file.file_stem().and_then(|s| s.to_str()) else { continue };
        if lookups.contains(name) {
            continue; // a nearer directory already defined it
        }
        // Through the project root like every other file: no symlink out, no FIFO, the size limit.
        let added = crate::load::read_in(roots, &file, MAX_TABLE)
            .map_err(|e| e.to_string())
            .and_then(|text| lookups.add_csv(name, &text).map_err(|e| e.to_string()));
        if let Err(why) = added {
            tracing::warn!(file = %file.display(), "lookup table skipped: {why}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_common_ancestor_bounds_the_search() {
        let a = Path::new("/x/flows/ticketing");
        let b = Path::new("/x/flows/accreditation");
        assert_eq!(common_ancestor(&[a, b]), Some(Path::new("/x/flows")));
        assert_eq!(common_ancestor(&[a]), Some(a));
    }
}
