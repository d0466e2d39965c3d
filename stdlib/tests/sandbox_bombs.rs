//! Runaway scripts of every kind against the sandbox: each must end with a limit error, and promptly (a
//! runaway is one still running after a generous minute). Size bombs that must be refused before they are
//! built are in `sandbox_memory.rs`, which watches the process's peak memory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::mpsc;
use std::time::Duration;

use relais_stdlib::{build_engine, compile, run, Limits, Lookups, ScriptError, SCRIPT_VARIABLES};
use rhai::{Dynamic, Scope};

/// Runs `code` on its own thread; its result, or `None` when it had not finished after a generous minute (a
/// runaway).
fn run_script(code: &str) -> Option<Result<Dynamic, ScriptError>> {
    let code = code.to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let engine = build_engine(&Limits::default(), Lookups::default());
        let ast = compile(&engine, &code, &[]).unwrap();
        let mut scope = Scope::new();
        for name in SCRIPT_VARIABLES {
            scope.push_dynamic(name, Dynamic::UNIT);
        }
        let result = run(&engine, &ast, &mut scope);
        let _ = tx.send(result);
    });
    rx.recv_timeout(Duration::from_secs(60)).ok()
}

fn assert_stopped_by_a_limit(code: &str) {
    let Some(result) = run_script(code) else { panic!("{code}: still running after a minute") };
    let err = result.expect_err(code);
    assert!(err.is_limit(), "{code}: expected a limit error, got {err:?}");
}

/// A 1 MiB string, the largest a script may hold.
const BIG: &str = r#"let big = pad_left("", 1048000, "x");"#;

#[test]
fn sleep_is_not_a_function_scripts_can_call() {
    let result = run_script("sleep(30); 1").unwrap();
    let err = result.unwrap_err();
    assert!(matches!(err, ScriptError::Runtime { .. }), "{err:?}");
    assert!(err.to_string().contains("sleep"), "{err}");
}

#[test]
fn a_costly_native_in_a_loop_weighs_what_it_costs() {
    assert_stopped_by_a_limit(&format!("{BIG} let n = 0; for i in 0..400000 {{ n += sha256(big).len(); }} n"));
}

#[test]
fn a_closure_mapped_over_a_big_array_is_stopped() {
    assert_stopped_by_a_limit(&format!("{BIG} let a = []; a.pad(100000, 0); a.map(|x| base64_encode(big).len())"));
}

#[test]
fn operations_inside_closures_count_towards_the_limit() {
    // Rhai's own counter restarts inside closures called by natives: 100 000 calls of ten operations each
    // weighed a handful.
    assert_stopped_by_a_limit(
        "let a = []; a.pad(100000, 0); a.map(|x| { let y = x + 1; let z = y * 2; z - y + x }).len()",
    );
}

#[test]
fn a_recursion_calling_costly_natives_is_stopped() {
    assert_stopped_by_a_limit(&format!(
        "{BIG} fn f(n, s) {{ if n == 0 {{ strip_accents(s).len() }} else {{ f(n - 1, s) + f(n - 1, s) }} }} f(40, big)"
    ));
}

#[test]
fn rhai_string_scans_in_a_loop_are_stopped() {
    assert_stopped_by_a_limit(&format!(
        "{BIG} let n = 0; for i in 0..400000 {{ if big.contains(\"y\") {{ n += 1 }} n += big.index_of(\"z\"); }} n"
    ));
}

#[test]
fn a_join_bomb_is_refused_before_it_is_built() {
    assert_stopped_by_a_limit(&format!(r#"{BIG} let a = []; a.pad(100, big); join(a, "").len()"#));
}

#[test]
fn printing_an_array_of_big_strings_is_refused_before_it_is_built() {
    assert_stopped_by_a_limit(&format!(r#"{BIG} let a = []; a.pad(100, big); `${{a}}`.len()"#));
}

#[test]
fn a_to_json_bomb_is_refused_before_it_is_built() {
    assert_stopped_by_a_limit(&format!(r#"{BIG} let a = []; a.pad(100, big); to_json(a).len()"#));
}

#[test]
fn a_padding_bomb_is_refused_before_it_is_built() {
    assert_stopped_by_a_limit(r#"pad_right("x", 1000000000, "y")"#);
    assert_stopped_by_a_limit(r#"let s = "x"; s.pad(1000000000, 'y'); s"#);
}

#[test]
fn an_array_bomb_is_stopped() {
    assert_stopped_by_a_limit("let a = [1]; loop { a += a; }");
    assert_stopped_by_a_limit("let a = []; a.pad(1000000000, 0); a");
}

#[test]
fn a_string_doubling_bomb_is_stopped() {
    assert_stopped_by_a_limit(r#"let s = "x"; loop { s += s; }"#);
}

#[test]
fn an_endless_loop_is_stopped() {
    assert_stopped_by_a_limit("let n = 0; loop { n += 1; }");
}

#[test]
fn sorting_a_big_array_in_a_loop_is_stopped() {
    assert_stopped_by_a_limit(
        "let a = []; for i in 0..20000 { a.push(#{ k: `${20000 - i}` }) } for r in 0..100000 { a = sort_by(a, \"k\") } a.len()",
    );
}
