//! Any bytes as a flow file, in both syntaxes, through the check path `relais check` runs (loading, property
//! substitution, lowering, whole-program checks, component and script checks, test suites), then through the
//! human and JSON renderers of its diagnostics: must never panic or hang, whatever the file says.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relais_engine::cli::check::check_paths;
use relais_engine::cli::render::{render, Format};
use std::path::PathBuf;
use std::sync::OnceLock;

/// A directory of this process for the file under test: the check path reads files, as `relais check` does.
fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("relais-fuzz-check-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    for name in ["flows.yaml", "flows.flow"] {
        let path = dir().join(name);
        if std::fs::write(&path, data).is_err() {
            return;
        }
        let loaded = check_paths(&[path], None);
        let diags: Vec<_> = loaded.diags.iter().cloned().collect();
        let mut out = Vec::new();
        let _ = render(Format::Human, &loaded.sources, &diags, &mut out);
        let _ = render(Format::Json, &loaded.sources, &diags, &mut out);
    }
});
