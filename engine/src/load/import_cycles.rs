//! Files that import each other (RL0313). Loading is unaffected, since each file is read once however often
//! it is imported, so a cycle is only a warning: it says so, and that the files are not split the way
//! their authors likely think.

use relais_dsl::{codes, Diagnostic, Diagnostics, Span};
use std::collections::HashMap;
use std::path::PathBuf;

/// One `imports` entry: from the importing file to the imported one, both by their canonical path, with the
/// import's span and the path as written.
pub(super) struct Import {
    pub from: PathBuf,
    pub to: PathBuf,
    pub at: Span,
    pub written: String,
}

/// A warning for each import that closes a cycle, at that import.
pub(super) fn check(imports: &[Import], names: &HashMap<PathBuf, String>, diags: &mut Diagnostics) {
    let mut edges: HashMap<&PathBuf, Vec<&Import>> = HashMap::new();
    for import in imports {
        edges.entry(&import.from).or_default().push(import);
    }
    let mut done: Vec<&PathBuf> = Vec::new();
    let mut starts: Vec<&PathBuf> = imports.iter().map(|i| &i.from).collect();
    starts.dedup();
    for start in starts {
        let mut path = vec![start];
        visit(start, &edges, &mut path, &mut done, names, diags);
    }
}

fn visit<'a>(
    file: &'a PathBuf,
    edges: &HashMap<&'a PathBuf, Vec<&'a Import>>,
    path: &mut Vec<&'a PathBuf>,
    done: &mut Vec<&'a PathBuf>,
    names: &HashMap<PathBuf, String>,
    diags: &mut Diagnostics,
) {
    if done.contains(&file) {
        return;
    }
    for import in edges.get(file).into_iter().flatten() {
        if let Some(at) = path.iter().position(|p| **p == import.to) {
            let name = |p: &PathBuf| names.get(p).cloned().unwrap_or_else(|| p.display().to_string());
            let mut chain: Vec<String> = path[at..].iter().map(|p| name(p)).collect();
            chain.push(name(&import.to));
            diags.push(
                Diagnostic::warning(codes::IMPORT_CYCLE, import.at, format!("import cycle: {}", chain.join(" -> ")))
                    .label(format!("this import of `{}` closes the cycle", import.written))
                    .help(
                        "harmless: each file is loaded once, however often it is imported; to end the cycle, \
                     move what both files need into a third one that both import",
                    ),
            );
        } else if !done.contains(&&import.to) {
            path.push(&import.to);
            visit(&import.to, edges, path, done, names, diags);
            path.pop();
        }
    }
    done.push(file);
}
