//! The one sandboxed Rhai engine, and compiling and running scripts with it.

use rhai::module_resolvers::DummyModuleResolver;
use rhai::packages::{
    ArithmeticPackage, BasicArrayPackage, BasicFnPackage, BasicIteratorPackage, BasicMapPackage, BasicMathPackage,
    BasicStringPackage, LogicPackage, MoreStringPackage, Package,
};
use rhai::{Dynamic, Engine, Scope, AST};

use crate::long_runners::Place;
use crate::meter::{self, Deadline};
use crate::{functions, Clock, Limits, Lookups, ScriptError};

/// The variables every script sees: the event's payload, attributes, variables, correlation id and, inside error
/// handlers, the error.
pub const SCRIPT_VARIABLES: [&str; 5] = ["payload", "attributes", "vars", "correlation_id", "error"];

/// Builds the sandboxed engine with the system clock. See [`build_engine_with_clock`].
pub fn build_engine(limits: &Limits, lookups: Lookups) -> Engine {
    build_engine_with_clock(limits, lookups, Clock::system())
}

/// Builds the sandboxed engine: `Engine::new_raw()` with the arithmetic, logic, string, iterator, function
/// pointer, array, map and math packages (no time, no blobs, no file or network access), strict variables, `eval`
/// disabled, a module resolver that resolves nothing, the given [`Limits`], the meter's progress callback (see
/// [`run_until`]) and the relais mapping library, whose date functions read `clock`.
///
/// Rhai's `CorePackage` is these packages plus its language core, which is left out: it holds `sleep` (a script
/// could block a thread for as long as it likes) and nothing a mapping needs (`exit`, `take`, tags, reflection).
pub fn build_engine_with_clock(limits: &Limits, lookups: Lookups, clock: Clock) -> Engine {
    let mut engine = Engine::new_raw();
    engine.register_global_module(ArithmeticPackage::new().as_shared_module());
    engine.register_global_module(BasicStringPackage::new().as_shared_module());
    engine.register_global_module(BasicIteratorPackage::new().as_shared_module());
    engine.register_global_module(BasicFnPackage::new().as_shared_module());
    engine.register_global_module(LogicPackage::new().as_shared_module());
    engine.register_global_module(MoreStringPackage::new().as_shared_module());
    engine.register_global_module(BasicMathPackage::new().as_shared_module());
    engine.register_global_module(BasicArrayPackage::new().as_shared_module());
    engine.register_global_module(BasicMapPackage::new().as_shared_module());

    engine.set_module_resolver(DummyModuleResolver::new());
    engine.set_strict_variables(true);
    engine.disable_symbol("eval");

    engine.set_max_operations(limits.max_operations);
    engine.set_max_call_levels(limits.max_call_levels);
    engine.set_max_expr_depths(limits.max_expr_depth, limits.max_function_expr_depth);
    engine.set_max_string_size(limits.max_string_size);
    engine.set_max_array_size(limits.max_array_size);
    engine.set_max_map_size(limits.max_map_size);
    engine.on_progress(meter::on_progress);

    functions::register_all(&mut engine, limits, &lookups, &clock);
    engine
}

/// Compiles `code` with strict variables: the names in [`SCRIPT_VARIABLES`] plus `extra_vars` are known, any other
/// free variable is a [`ScriptError::Compile`] at its position in `code`.
pub fn compile(engine: &Engine, code: &str, extra_vars: &[&str]) -> Result<AST, ScriptError> {
    let mut scope = Scope::new();
    for name in SCRIPT_VARIABLES.iter().chain(extra_vars) {
        scope.push_dynamic(*name, Dynamic::UNIT);
    }
    Ok(engine.compile_with_scope(&scope, code)?)
}

/// Evaluates a compiled script in `scope` within [`meter::DEFAULT_SCRIPT_BUDGET`] and classifies any failure.
pub fn run(engine: &Engine, ast: &AST, scope: &mut Scope) -> Result<Dynamic, ScriptError> {
    run_until(engine, ast, scope, Deadline::default_budget())
}

/// Evaluates a compiled script in `scope` and classifies any failure. The script stops with a
/// [`ScriptError::Limit`] once `deadline` has passed, or once its operations plus the work its native calls
/// debited pass the engine's `max_operations`. It runs in place: it never waits for a long-runner slot.
pub fn run_until(engine: &Engine, ast: &AST, scope: &mut Scope, deadline: Deadline) -> Result<Dynamic, ScriptError> {
    run_at(engine, ast, scope, deadline, Place::InPlace)
}

/// [`run_until`] on a thread that may block: with [`Place::OffWorkers`], once the script has run past the
/// long-runner thresholds it takes a slot of the [long-runner pool](crate::long_runners), waiting for one
/// (a [`ScriptError::Limit`] if `deadline` passes first); the slot is given back when the evaluation ends.
pub fn run_at(
    engine: &Engine,
    ast: &AST,
    scope: &mut Scope,
    deadline: Deadline,
    place: Place,
) -> Result<Dynamic, ScriptError> {
    let _armed = meter::arm(deadline, engine.max_operations(), place);
    Ok(engine.eval_ast_with_scope::<Dynamic>(scope, ast)?)
}

/// [`run_until`] on an async worker, for a short while ([`Place::OnWorker`]): the script's result, or `None`
/// when it passed the in-place budget ([`crate::MOVE_AFTER_WORK`], [`crate::MOVE_AFTER`]) and was stopped.
/// Nothing it did is observable then (see [`Place::OnWorker`]); the caller runs it again from the start, from
/// a fresh `scope`, with [`run_at`] and [`Place::OffWorkers`] (and the same `deadline`, so that the budget
/// counts from the first start).
pub fn run_on_worker(
    engine: &Engine,
    ast: &AST,
    scope: &mut Scope,
    deadline: Deadline,
) -> Option<Result<Dynamic, ScriptError>> {
    let armed = meter::arm(deadline, engine.max_operations(), Place::OnWorker);
    let result = engine.eval_ast_with_scope::<Dynamic>(scope, ast);
    if armed.moved() {
        return None;
    }
    Some(result.map_err(ScriptError::from))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn run_script(code: &str) -> Result<Dynamic, ScriptError> {
        let engine = build_engine(&Limits::default(), Lookups::default());
        let ast = compile(&engine, code, &[])?;
        let mut scope = Scope::new();
        for name in SCRIPT_VARIABLES {
            scope.push_dynamic(name, Dynamic::UNIT);
        }
        run(&engine, &ast, &mut scope)
    }

    fn assert_fails_quickly_with_limit(code: &str) {
        let started = Instant::now();
        let err = run_script(code).unwrap_err();
        assert!(err.is_limit(), "{code}: expected a limit error, got {err:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "{code}: took {:?}", started.elapsed());
    }

    #[test]
    fn an_endless_loop_hits_the_operation_limit() {
        assert_fails_quickly_with_limit("loop {}");
    }

    #[test]
    fn a_string_bomb_hits_the_string_size_limit() {
        assert_fails_quickly_with_limit(r#"let s = "x"; loop { s += s; }"#);
    }

    #[test]
    fn endless_recursion_hits_the_call_depth_limit() {
        assert_fails_quickly_with_limit("fn f(x) { f(x) } f(1)");
    }

    #[test]
    fn an_array_bomb_hits_the_array_size_limit() {
        assert_fails_quickly_with_limit("let a = [1]; loop { a += a; }");
    }

    #[test]
    fn a_padding_bomb_hits_the_string_size_limit() {
        assert_fails_quickly_with_limit(r#"pad_left("x", 1000000000, " ")"#);
    }

    /// Runs `code` off the workers (allowed to wait for a long-runner slot) within `budget`.
    fn run_off_workers(engine: &Engine, code: &str, budget: Duration) -> Result<Dynamic, ScriptError> {
        let ast = compile(engine, code, &[])?;
        let mut scope = Scope::new();
        for name in SCRIPT_VARIABLES {
            scope.push_dynamic(name, Dynamic::UNIT);
        }
        run_at(engine, &ast, &mut scope, Deadline::new(budget, None), Place::OffWorkers)
    }

    /// Over 100 000 operations: past the long-runner threshold, within the operation limit.
    const LONG: &str = "let n = 0; while n < 30000 { n += 1; } n";

    #[test]
    fn a_script_past_the_threshold_waits_for_a_free_slot() {
        let _pool = crate::long_runners::tests::global_pool_of_one();
        let pool = &crate::long_runners::POOL;
        assert!(pool.acquire(Instant::now()));
        let engine = std::sync::Arc::new(build_engine(&Limits::default(), Lookups::default()));
        let waiter = {
            let engine = engine.clone();
            std::thread::spawn(move || run_off_workers(&engine, LONG, Duration::from_secs(60)))
        };
        crate::long_runners::tests::poll_until(|| pool.waiting() == 1);
        assert!(!waiter.is_finished(), "the script ran on without a slot");
        pool.release();
        assert_eq!(waiter.join().unwrap().unwrap().as_int().unwrap(), 30_000);
        assert_eq!(pool.in_use(), 0, "the slot was not given back");
    }

    #[test]
    fn a_script_waiting_for_a_slot_stops_with_a_limit_error_at_its_deadline() {
        let _pool = crate::long_runners::tests::global_pool_of_one();
        let pool = &crate::long_runners::POOL;
        assert!(pool.acquire(Instant::now()));
        let engine = build_engine(&Limits::default(), Lookups::default());
        let err = run_off_workers(&engine, LONG, Duration::from_secs(3)).unwrap_err();
        pool.release();
        // The same script within the same budget finishes once a slot is free: it was the wait that failed.
        assert!(run_off_workers(&engine, LONG, Duration::from_secs(3)).is_ok());
        assert!(err.is_limit(), "{err:?}");
        assert_eq!(pool.in_use(), 0);
    }

    #[test]
    fn a_long_script_gives_its_slot_back_however_it_fails() {
        let _pool = crate::long_runners::tests::global_pool_of_one();
        let pool = &crate::long_runners::POOL;
        let engine = build_engine(&Limits::default(), Lookups::default());
        let thrown = run_off_workers(&engine, &format!("{LONG}; throw \"bad\""), Duration::from_secs(60));
        assert!(matches!(thrown, Err(ScriptError::Runtime { .. })), "{thrown:?}");
        assert_eq!(pool.in_use(), 0, "a script that threw kept its slot");
        let endless = run_off_workers(&engine, "loop {}", Duration::from_secs(60));
        assert!(endless.as_ref().is_err_and(ScriptError::is_limit), "{endless:?}");
        assert_eq!(pool.in_use(), 0, "a script stopped at a limit kept its slot");
        // The slot is free for the next long script.
        assert!(run_off_workers(&engine, LONG, Duration::from_secs(60)).is_ok());
    }

    fn run_on_a_worker(engine: &Engine, code: &str) -> Option<Result<Dynamic, ScriptError>> {
        let ast = compile(engine, code, &[]).unwrap();
        let mut scope = Scope::new();
        for name in SCRIPT_VARIABLES {
            scope.push_dynamic(name, Dynamic::UNIT);
        }
        run_on_worker(engine, &ast, &mut scope, Deadline::default_budget())
    }

    #[test]
    fn a_short_script_finishes_on_the_worker() {
        let engine = build_engine(&Limits::default(), Lookups::default());
        let done = run_on_a_worker(&engine, "let n = 0; for i in 0..100 { n += i } n").unwrap();
        assert_eq!(done.unwrap().as_int().unwrap(), 4950);
        let thrown = run_on_a_worker(&engine, r#"throw "bad""#).unwrap();
        assert!(matches!(thrown, Err(ScriptError::Runtime { .. })), "{thrown:?}");
    }

    #[test]
    fn a_long_script_on_a_worker_is_stopped_even_inside_a_closure_or_a_try() {
        let engine = build_engine(&Limits::default(), Lookups::default());
        for code in [
            LONG,
            "loop {}",
            "let a = []; a.pad(30000, 1); a.map(|x| x + 1).len()",
            "let n = 0; try { while n < 30000 { n += 1; } } catch { n = -1 } n",
            r#"let s = pad_left("", 1000000, "x"); sha256(s)"#,
        ] {
            assert!(run_on_a_worker(&engine, code).is_none(), "{code}");
        }
    }

    #[test]
    fn the_engine_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>(_: &T) {}
        assert_send_sync(&build_engine(&Limits::default(), Lookups::default()));
    }

    #[test]
    fn malformed_input_to_parsers_is_a_runtime_error_not_a_panic() {
        for code in [r#"parse_json("{")"#, r#"parse_xml("<a>")"#, "parse_csv(\"a,b\\n1\")", r#"base64_decode("%%")"#] {
            let err = run_script(code).unwrap_err();
            assert!(matches!(err, ScriptError::Runtime { .. }), "{code}: {err:?}");
        }
    }

    #[test]
    fn eval_is_not_available() {
        let err = run_script(r#"eval("1 + 1")"#).unwrap_err();
        assert!(matches!(err, ScriptError::Compile { .. }), "{err:?}");
    }

    #[test]
    fn modules_cannot_be_imported() {
        let err = run_script(r#"import "os" as os; 1"#).unwrap_err();
        assert!(matches!(err, ScriptError::Runtime { .. }), "{err:?}");
    }

    #[test]
    fn an_unknown_variable_is_a_compile_error_at_its_position() {
        let err = run_script("let x = 1;\nx + paylod").unwrap_err();
        assert!(matches!(err, ScriptError::Compile { .. }), "{err:?}");
        assert_eq!(err.position(), (Some(2), Some(5)));
    }

    #[test]
    fn the_event_variables_are_known_to_the_compiler() {
        assert!(run_script("[payload, attributes, vars, correlation_id, error]").is_ok());
    }

    #[test]
    fn a_syntax_error_reports_its_line_and_column() {
        let err = run_script("let x = 1;\nlet y = ;").unwrap_err();
        assert!(matches!(err, ScriptError::Compile { line: Some(2), .. }), "{err:?}");
    }

    #[test]
    fn a_failing_function_is_a_runtime_error_at_the_call() {
        let err = run_script("let x = 1;\n  to_e164(\"0612345678\", \"XX\")").unwrap_err();
        match err {
            ScriptError::Runtime { message, line, column } => {
                assert!(message.contains("XX"), "{message}");
                assert_eq!((line, column), (Some(2), Some(3)));
            }
            other => panic!("expected a runtime error, got {other:?}"),
        }
    }

    #[test]
    fn a_thrown_value_is_a_runtime_error() {
        let err = run_script(r#"throw "bad order""#).unwrap_err();
        assert_eq!(err, ScriptError::Runtime { message: "bad order".into(), line: Some(1), column: Some(1) });
    }
}
