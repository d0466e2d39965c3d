//! Builds a runtime from flow text through the real pipeline: files on disk, `check`, plan compiler.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: a failed setup should stop the test loudly

use relais_engine::cli::check::check_paths;
use relais_engine::plan::compile_program;
use relais_engine::runtime::{Event, Runtime};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Writes `files` (name, text) to a fresh directory and returns it.
pub fn write_files(files: &[(&str, &str)]) -> std::path::PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir =
        std::env::temp_dir().join(format!("relais-rt-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

/// Writes `files` to a fresh directory, checks them (panicking with the diagnostics if any error), and
/// compiles a runtime.
#[allow(dead_code)]
pub fn runtime(files: &[(&str, &str)]) -> Runtime {
    let dir = write_files(files);
    let loaded = check_paths(&[dir], None);
    let errors: Vec<String> = loaded
        .diags
        .iter()
        .filter(|d| d.severity == relais_dsl::Severity::Error)
        .map(|d| format!("{}: {}", d.code, d.message))
        .collect();
    assert!(errors.is_empty(), "flows do not check: {errors:?}");
    let clock = relais_stdlib::Clock::system();
    let program = compile_program(&loaded, clock, &relais_engine::runtime::components::builtin())
        .unwrap_or_else(|d| panic!("{:?}", d.iter().map(|d| &d.message).collect::<Vec<_>>()));
    Runtime::new(program)
}

/// A runtime for one YAML file.
#[allow(dead_code)]
pub fn yaml(text: &str) -> Runtime {
    runtime(&[("flows.yaml", text)])
}

/// The payload of an event as JSON.
#[allow(dead_code)]
pub fn payload(ev: &Event) -> serde_json::Value {
    struct Raw;
    impl relais_engine::runtime::payload::FormatReader for Raw {
        fn read(&self, _: relais_engine::runtime::payload::Format, t: &str) -> Result<serde_json::Value, String> {
            Ok(serde_json::Value::String(t.to_string()))
        }
    }
    ev.payload.read(&Raw).unwrap().clone()
}
