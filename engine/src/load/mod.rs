//! Loading: paths -> files read (with limits) -> document trees -> properties substituted -> IR.
//!
//! This is the I/O half of the front end (the `dsl` crate is pure). `relais check`, `run`, `test` and `fmt`
//! all load through here, so what `check` accepts is exactly what `run` starts.

mod discover;
mod env;
mod import_cycles;
mod read;
mod root;

pub use discover::{discover, discover_tests, is_test_file};
pub use env::Properties;
pub use read::{read_in, read_text, ReadError, MAX_FLOW_FILE};
pub use root::{Outside, Overlay, Roots};

use relais_dsl::codes;
use relais_dsl::ir::{FlowSet, Module};
use relais_dsl::syntax::Node;
use relais_dsl::{Diagnostic, Diagnostics, FileId, SourceMap, Span};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The two spellings of a flow file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// `*.yaml` / `*.yml`.
    Yaml,
    /// `*.flow`.
    Flow,
}

impl Syntax {
    /// The syntax a path's extension names, if it is a flow file.
    pub fn of(path: &Path) -> Option<Syntax> {
        match path.extension()?.to_str()? {
            "yaml" | "yml" => Some(Syntax::Yaml),
            "flow" => Some(Syntax::Flow),
            _ => None,
        }
    }
}

/// Options for [`load`].
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Environment whose property file (`env/<NAME>.yaml`) applies; `None` uses only defaults and variables.
    pub env: Option<String>,
    /// Substitute `${name}` properties (check and run do; fmt must not, to print them back).
    pub substitute: bool,
    /// `--root DIR`: the project root; `None` makes each directory given (or each file's directory) a root.
    pub root: Option<PathBuf>,
    /// Texts read in place of files (`relais lsp`'s open documents); `None` reads the disk only.
    pub overlay: Option<std::sync::Arc<Overlay>>,
}

/// Everything loading produced: the sources (for rendering diagnostics), the IR and the findings.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Every file read, flow files and (later) the scripts and schemas they reference.
    pub sources: SourceMap,
    /// The settings of every component and config, read by `check` into their types, by the span of the
    /// component (or config) that holds them: what the plan compiler builds from.
    pub typed: std::collections::HashMap<relais_dsl::Span, crate::component::Typed>,
    /// The flows.
    pub set: FlowSet,
    /// Paths of the modules, parallel to `set.modules`.
    pub paths: Vec<PathBuf>,
    /// Findings so far.
    pub diags: Diagnostics,
    /// True when a file could not be read at all (exit code 2 rather than 1).
    pub io_failed: bool,
    /// Flow files read (parsed or not), for summaries.
    pub files_read: usize,
    /// Flow-test suites found under the paths (`*.test.yaml`).
    pub suites: Vec<crate::testing::LoadedSuite>,
    /// Where files may be read from: every later read (scripts, schemas, test payloads) goes through these.
    pub roots: Roots,
}

/// Parses one file's text in the given syntax into its document tree.
pub fn parse_text(text: &str, syntax: Syntax, file: FileId, diags: &mut Diagnostics) -> Option<Node> {
    if text.trim().is_empty() {
        diags.push(
            Diagnostic::error(codes::EMPTY_FILE, Span::new(file, 0, text.len()), "the file is empty")
                .label("nothing here")
                .help("add flows to it, or delete it"),
        );
        return None;
    }
    match syntax {
        Syntax::Yaml => relais_dsl::syntax::yaml::parse(text, file, diags),
        Syntax::Flow => relais_dsl::syntax::flow::parse(text, file, diags),
    }
}

/// Loads the flow files under `paths` (files or directories) and their imports.
pub fn load(paths: &[PathBuf], options: &LoadOptions) -> Loaded {
    let roots = Roots::of(paths, options.root.as_deref()).with_overlay(options.overlay.clone());
    let mut loaded = Loaded { roots, ..Loaded::default() };
    let mut files = Vec::new();
    for path in paths {
        match discover(path) {
            Ok(found) => files.extend(found),
            Err(err) => {
                let file = loaded.sources.add(path.display().to_string(), "");
                loaded.diags.push(
                    Diagnostic::error(
                        codes::IO_UNREADABLE,
                        Span::new(file, 0, 0),
                        format!("cannot read `{}`: {err}", path.display()),
                    )
                    .label("unreadable path"),
                );
                loaded.io_failed = true;
            }
        }
    }
    let mut properties = Properties::load(paths, options.env.as_deref(), &mut loaded);
    let mut seen: HashSet<PathBuf> = HashSet::new();
    let mut queue: std::collections::VecDeque<(PathBuf, Option<Span>)> = files.into_iter().map(|f| (f, None)).collect();
    // Each file's module in load order: lowered at once when its tree holds no `${` (substitution could not
    // change it), so that tree is dropped before the next file is parsed; the others wait, tree kept, for the
    // defaults of every file. Holding all trees at once was most of the check's memory (20 KB of tree per
    // 2 KB file), and with it page faults and cache misses.
    let mut docs: Vec<(FileId, PathBuf, Pending)> = Vec::new();
    let mut imports: Vec<import_cycles::Import> = Vec::new();
    let mut names: std::collections::HashMap<PathBuf, String> = std::collections::HashMap::new();
    while let Some((path, imported_at)) = queue.pop_front() {
        let key = path.canonicalize().unwrap_or_else(|_| path.clone());
        names.entry(key.clone()).or_insert_with(|| path.display().to_string());
        if !seen.insert(key.clone()) {
            continue;
        }
        let Some(syntax) = Syntax::of(&path) else { continue };
        let text = match read_in(&loaded.roots, &path, MAX_FLOW_FILE) {
            Ok(text) => text,
            Err(err) => {
                report_read_error(&mut loaded, &path, &err, imported_at);
                continue;
            }
        };
        loaded.files_read += 1;
        let file = loaded.sources.add(path.display().to_string(), text);
        let text = loaded.sources.file(file).text.clone();
        let Some(doc) = parse_text(&text, syntax, file, &mut loaded.diags) else { continue };
        for import in imports_of(&doc) {
            let target = normalize(&path.parent().unwrap_or(Path::new(".")).join(&import.0));
            let to = target.canonicalize().unwrap_or_else(|_| target.clone());
            imports.push(import_cycles::Import { from: key.clone(), to, at: import.1, written: import.0 });
            queue.push_back((target, Some(import.1)));
        }
        // Defaults from every file (in load order), then the environment's file and variables on top.
        properties.add_defaults(&doc, &mut loaded.diags);
        let pending = if options.substitute && relais_dsl::check::has_property_refs(&doc) {
            Pending::Substitute(doc)
        } else {
            Pending::Lowered(relais_dsl::lower::lower_module(&doc, file, &mut loaded.diags))
        };
        docs.push((file, path, pending));
    }
    import_cycles::check(&imports, &names, &mut loaded.diags);
    let names = properties.names();
    for (file, path, pending) in docs {
        let module: Module = match pending {
            Pending::Lowered(module) => module,
            Pending::Substitute(mut doc) => {
                let lookup = |name: &str| properties.get(name);
                let elsewhere = |name: &str| properties.elsewhere(name);
                relais_dsl::check::substitute_properties(&mut doc, &lookup, &names, &elsewhere, &mut loaded.diags);
                relais_dsl::lower::lower_module(&doc, file, &mut loaded.diags)
            }
        };
        loaded.set.modules.push(module);
        loaded.paths.push(path);
    }
    loaded
}

/// A loaded file on its way to a module.
enum Pending {
    /// Lowered as soon as it was parsed: nothing in it to substitute (or substitution is off).
    Lowered(Module),
    /// Its tree, kept until every file's property defaults are known.
    Substitute(Node),
}

/// Removes `.` and `name/..` pairs lexically, so that paths in messages read as the user would write them.
pub fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.is_empty() {
        PathBuf::from(".")
    } else {
        out.iter().collect()
    }
}

fn imports_of(doc: &Node) -> Vec<(String, Span)> {
    match doc.get("imports").map(|n| &n.value) {
        Some(relais_dsl::syntax::Value::List(items)) => {
            items.iter().filter_map(|n| n.as_str().map(|s| (s.to_string(), n.span))).collect()
        }
        _ => Vec::new(),
    }
}

/// For an import that names no file: the flow files beside where it points, the closest first, or how
/// import paths are read.
fn missing_import_help(path: &Path) -> String {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut present: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml") || n.ends_with(".flow"))
                .collect()
        })
        .unwrap_or_default();
    present.sort();
    let written = "an import path is relative to the directory of the file that imports it";
    match relais_dsl::diagnostic::did_you_mean(&name, present.iter().map(String::as_str)) {
        Some(close) => format!("{close} ({written})"),
        None => format!("{written}; create the file or correct the path"),
    }
}

fn report_read_error(loaded: &mut Loaded, path: &Path, err: &ReadError, imported_at: Option<Span>) {
    let (code, message) = match err {
        ReadError::Io(e) if imported_at.is_some() && e.kind() == std::io::ErrorKind::NotFound => {
            (codes::IMPORT_NOT_FOUND, format!("imported file `{}` does not exist", path.display()))
        }
        ReadError::Io(e) => (codes::IO_UNREADABLE, format!("cannot read `{}`: {e}", path.display())),
        ReadError::TooLarge { size, limit } => (
            codes::FILE_TOO_LARGE,
            format!("`{}` is {size} bytes; flow files are limited to {limit} bytes", path.display()),
        ),
        ReadError::NotUtf8 { .. } => (codes::NOT_UTF8, format!("`{}` is not valid UTF-8", path.display())),
        ReadError::Outside { root } => (codes::OUTSIDE_PROJECT, outside_message(path, root)),
        ReadError::NotRegular => (codes::NOT_REGULAR_FILE, not_regular_message(path)),
    };
    let help = match err {
        ReadError::Outside { .. } => Some(OUTSIDE_HELP.to_string()),
        ReadError::NotRegular => Some(NOT_REGULAR_HELP.to_string()),
        ReadError::Io(e) if imported_at.is_some() && e.kind() == std::io::ErrorKind::NotFound => {
            Some(missing_import_help(path))
        }
        _ => None,
    };
    let diag = match (imported_at, err) {
        (Some(span), _) => Diagnostic::error(code, span, message).label("imported here"),
        (None, ReadError::NotUtf8 { offset, lossy }) => {
            let file = loaded.sources.add(path.display().to_string(), lossy.clone());
            Diagnostic::error(code, Span::new(file, *offset, *offset + 1), message).label("first invalid byte")
        }
        (None, _) => {
            let file = loaded.sources.add(path.display().to_string(), "");
            Diagnostic::error(code, Span::new(file, 0, 0), message).label("this file")
        }
    };
    if matches!(err, ReadError::Io(_)) && code == codes::IO_UNREADABLE {
        loaded.io_failed = true;
    }
    loaded.diags.push(diag.maybe_help(help));
}

/// The help of an `OUTSIDE_PROJECT` diagnostic.
pub const OUTSIDE_HELP: &str =
    "relais reads only files inside the project (the directories checked, or `--root DIR`); move the file in";

/// The help of a `NOT_REGULAR_FILE` diagnostic.
pub const NOT_REGULAR_HELP: &str = "flows, scripts, schemas and data must be regular files";

/// "`path` is outside the project `root`": names the path, never its content.
pub fn outside_message(path: &Path, root: &Path) -> String {
    // The root is canonical (absolute); shown relative to the working directory when it is below it.
    let cwd = std::env::current_dir().ok().and_then(|d| d.canonicalize().ok());
    let shown = cwd.as_deref().and_then(|d| root.strip_prefix(d).ok()).unwrap_or(root);
    let shown = if shown.as_os_str().is_empty() { Path::new(".") } else { shown };
    format!("`{}` is outside the project `{}`; it was not read", path.display(), shown.display())
}

/// "`path` is not a regular file": FIFOs, devices and sockets are refused before they are opened.
pub fn not_regular_message(path: &Path) -> String {
    format!("`{}` is not a regular file (a FIFO, device, socket or directory); it was not opened", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("relais-load-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        for (file, text) in files {
            let path = dir.join(file);
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        }
        dir
    }

    fn load_substituted(dir: &Path) -> Loaded {
        load(&[dir.to_path_buf()], &LoadOptions { substitute: true, ..LoadOptions::default() })
    }

    #[test]
    fn a_property_used_before_the_file_defining_it_is_loaded_is_substituted_and_modules_keep_file_order() {
        let dir = project(
            "later-default",
            &[
                ("a.yaml", "flows:\n  a:\n    steps:\n      - logger: \"say ${greeting}\"\n"),
                ("b.yaml", "flows:\n  b:\n    steps:\n      - logger: plain\n"),
                ("c.yaml", "properties:\n  greeting: hello\nflows:\n  c:\n    steps:\n      - logger: c\n"),
            ],
        );
        let loaded = load_substituted(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        assert!(loaded.diags.iter().next().is_none(), "{:?}", loaded.diags);
        let names: Vec<_> = loaded.paths.iter().filter_map(|p| p.file_name()?.to_str()).collect();
        assert_eq!(names, ["a.yaml", "b.yaml", "c.yaml"]);
        let flows: Vec<_> = loaded.set.modules.iter().map(|m| format!("{m:?}")).collect();
        assert!(flows[0].contains("say hello") && !flows[0].contains("${greeting}"), "{}", flows[0]);
        assert!(flows[1].contains("plain") && flows[2].contains("\"c\""), "{flows:?}");
    }

    #[test]
    fn an_undefined_property_is_reported_and_a_file_without_references_still_lowers_its_errors() {
        let dir = project(
            "undefined",
            &[
                ("a.yaml", "flows:\n  a:\n    steps:\n      - logger: \"${nowhere}\"\n"),
                ("b.yaml", "flows:\n  b:\n    stepz:\n      - logger: x\n"),
            ],
        );
        let mut loaded = load_substituted(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        loaded.diags.sort();
        let codes: Vec<_> = loaded.diags.iter().map(|d| d.code).collect();
        assert_eq!(codes.len(), 2, "{:?}", loaded.diags);
        assert_eq!(codes[0], codes::UNDEFINED_PROPERTY);
        assert_eq!(loaded.set.modules.len(), 2);
    }
}
