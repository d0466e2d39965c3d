//! Size bombs that must be refused before they are built: the process's peak resident size (`VmHWM`) is read
//! after them, so a native that builds a huge value and only then finds it too large is caught even though its
//! script fails with a limit error either way. One test in this binary, so no other test's memory counts.
#![allow(clippy::unwrap_used)]

use relais_stdlib::{build_engine, compile, run, Limits, Lookups, SCRIPT_VARIABLES};
use rhai::{Dynamic, Scope};

/// The largest resident size this process has had, in bytes.
fn peak_resident_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// Each bomb below would build 100 MB before a size check refused it; refused before building, the process
/// stays far below this.
const RESIDENT_CEILING: usize = 64 * 1024 * 1024;

#[test]
fn replace_and_padding_bombs_are_refused_before_they_are_built() {
    let engine = build_engine(&Limits::default(), Lookups::default());
    for code in [
        r#"let big = pad_left("", 1048000, "x"); big.replace("x", pad_left("", 100, "y")); big.len()"#,
        r#"let big = pad_left("", 1048000, "x"); big.replace('x', pad_left("", 100, "y")); big.len()"#,
        r#"let big = pad_left("", 1048000, "x"); big.replace("", pad_left("", 100, "y")); big.len()"#,
        r#"pad_left("x", 100000000, "y")"#,
        r#"let s = "x"; s.pad(100000000, 'y'); s"#,
    ] {
        let ast = compile(&engine, code, &[]).unwrap();
        let mut scope = Scope::new();
        for name in SCRIPT_VARIABLES {
            scope.push_dynamic(name, Dynamic::UNIT);
        }
        let err = run(&engine, &ast, &mut scope).unwrap_err();
        assert!(err.is_limit(), "{code}: expected a limit error, got {err:?}");
        let peak = peak_resident_bytes();
        assert!(peak < RESIDENT_CEILING, "{code}: the process reached {peak} bytes");
    }
}
