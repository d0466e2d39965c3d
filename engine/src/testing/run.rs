//! Running test cases: a program compiled per case (fresh stores, the case's mocks and clock) on a runtime
//! of its own with virtual time, the input event fed to the flow, then every expectation checked.

use super::compare::differences;
use super::mocks::{CallLog, MockNode, Site, SpyNode, Unmocked};
use super::request;
use super::virtual_time::{case_runtime, script_clock};
use super::LoadedSuite;
use crate::component::{ComponentNode, StepSite};
use crate::event::error::matches;
use crate::load::Loaded;
use crate::plan::compile_program_reading;
use crate::runtime::{Event, FlowError, Payload, Runtime};
use crate::script::compile_script;
use crate::state::State;
use relais_dsl::ir::{CallCheck, TestCase};
use relais_dsl::{SourceMap, Span};
use relais_stdlib::Lookups;
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The result of one case.
#[derive(Debug, Clone)]
pub struct CaseOutcome {
    /// The test file.
    pub file: String,
    /// The flow under test.
    pub flow: String,
    /// The case's name.
    pub name: String,
    /// Failed expectations, each with the `file:line:column` of the expectation.
    pub failures: Vec<(String, String)>,
    /// Wall time.
    pub duration: Duration,
}

impl CaseOutcome {
    /// True when every expectation held.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Every case's outcome, skipped count, and which steps ran (flow -> step indices) against their totals.
#[derive(Debug, Default)]
pub struct RunSummary {
    /// Outcomes, in file and case order.
    pub outcomes: Vec<CaseOutcome>,
    /// Cases left out by the filter.
    pub skipped: usize,
    /// Steps that ran at least once, per flow.
    pub covered: BTreeMap<String, BTreeSet<usize>>,
    /// Steps per flow.
    pub totals: BTreeMap<String, usize>,
    /// Label and `file:line:column` of each step of each flow, by index (from the compiled program).
    pub sites: BTreeMap<String, Arc<Vec<(String, String)>>>,
}

fn location(sources: &SourceMap, span: Span) -> String {
    let file = sources.file(span.file);
    let at = file.line_col(span.start as usize);
    format!("{}:{}:{}", file.path, at.line, at.column)
}

/// Runs every case of every suite whose name or flow contains `filter`, on `parallel` threads.
///
/// Each case runs on a runtime of its own whose clock is virtual (module `virtual_time`): delays, backoffs
/// and timeouts take no wall time, and what a case spawns ends with it. Cases are CPU-bound then, so one
/// thread per core is enough.
pub fn run_suites(loaded: &Loaded, filter: Option<&str>, parallel: usize) -> RunSummary {
    let mut summary = RunSummary::default();
    for flow in loaded.set.flows() {
        summary.totals.insert(flow.name.value.clone(), flow.all_steps().len());
    }
    let mut jobs = Vec::new();
    for ls in &loaded.suites {
        for case in &ls.suite.cases {
            let selected = filter.is_none_or(|f| case.name.value.contains(f) || ls.suite.flow.value.contains(f));
            if selected {
                jobs.push((ls, case));
            } else {
                summary.skipped += 1;
            }
        }
    }
    // Read once for every case: a case's scripts only read the tables.
    let lookups = crate::plan::lookups::load(&loaded.paths);
    for (outcome, hits, sites) in run_jobs(loaded, &lookups, &jobs, parallel) {
        for (flow, index) in hits {
            summary.covered.entry(flow).or_default().insert(index);
        }
        for (flow, steps) in sites {
            summary.sites.entry(flow).or_insert(steps);
        }
        summary.outcomes.push(outcome);
    }
    summary
}

/// A case's outcome, the steps it ran (flow, index), and the step sites of its program by flow.
type CaseResult = (CaseOutcome, Vec<(String, usize)>, Vec<(String, Arc<Vec<(String, String)>>)>);

/// Runs the jobs on up to `parallel` threads, each taking the next job when it is done with one; the
/// results come back in job order.
fn run_jobs(
    loaded: &Loaded,
    lookups: &Lookups,
    jobs: &[(&LoadedSuite, &TestCase)],
    parallel: usize,
) -> Vec<CaseResult> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<CaseResult>>> = Mutex::new(vec![None; jobs.len()]);
    let work = || loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        let Some((ls, case)) = jobs.get(index) else { return };
        let result = run_case_on_virtual_time(loaded, lookups, ls, case);
        if let Ok(mut results) = results.lock() {
            results[index] = Some(result);
        }
    };
    std::thread::scope(|scope| {
        let threads = parallel.clamp(1, jobs.len().max(1));
        // Scripts run on these threads: the stack holds the deepest values a script can build.
        let spawned: Vec<_> = (0..threads)
            .map(|_| {
                std::thread::Builder::new()
                    .name("relais-test".into())
                    .stack_size(relais_stdlib::SCRIPT_STACK_SIZE)
                    .spawn_scoped(scope, work)
            })
            .collect();
        // A thread that cannot be started leaves its share to the others; none at all: the caller works.
        if spawned.iter().all(|t| t.is_err()) {
            work();
        }
    });
    let results = results.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
    results
        .into_iter()
        .zip(jobs)
        .map(|(result, (ls, case))| {
            result.unwrap_or_else(|| (failed(loaded, ls, case, "the case did not run"), Vec::new(), Vec::new()))
        })
        .collect()
}

/// A case that failed before any expectation could be checked.
fn failed(loaded: &Loaded, ls: &LoadedSuite, case: &TestCase, why: &str) -> CaseOutcome {
    CaseOutcome {
        file: ls.path.display().to_string(),
        flow: ls.suite.flow.value.clone(),
        name: case.name.value.clone(),
        failures: vec![(location(&loaded.sources, case.span), why.to_string())],
        duration: Duration::ZERO,
    }
}

/// One case on a runtime of its own, paused and auto-advancing.
fn run_case_on_virtual_time(loaded: &Loaded, lookups: &Lookups, ls: &LoadedSuite, case: &TestCase) -> CaseResult {
    match case_runtime() {
        Ok(runtime) => runtime.block_on(run_case(loaded, lookups, ls, case)),
        Err(e) => (failed(loaded, ls, case, &format!("cannot start the case's runtime: {e}")), Vec::new(), Vec::new()),
    }
}

async fn run_case(loaded: &Loaded, lookups: &Lookups, ls: &LoadedSuite, case: &TestCase) -> CaseResult {
    let started = Instant::now();
    let mut outcome = CaseOutcome {
        file: ls.path.display().to_string(),
        flow: ls.suite.flow.value.clone(),
        name: case.name.value.clone(),
        failures: Vec::new(),
        duration: Duration::ZERO,
    };
    let here = |span: Span| location(&loaded.sources, span);
    let log = Arc::new(CallLog::default());
    // A scheduled run's scripts see their fire time as "now", unless the case fixes another.
    let fire_time = case.fire_time.as_ref().and_then(|t| chrono::DateTime::parse_from_rfc3339(&t.value).ok());
    let now = case.now.as_ref().and_then(|n| chrono::DateTime::parse_from_rfc3339(&n.value).ok()).or(fire_time);
    let clock = script_clock(now.map(|now| now.with_timezone(&chrono::Utc)));
    let mocks: Vec<(relais_dsl::ir::StepSelector, Arc<Vec<relais_dsl::ir::Answer>>, Arc<AtomicUsize>)> = case
        .mocks
        .iter()
        .map(|m| (m.select.clone(), Arc::new(m.answers.clone()), Arc::new(AtomicUsize::new(0))))
        .collect();
    // Mocked steps answer from the case; in-process steps run for real, their calls recorded; outbound
    // steps without a mock (never built in tests) fail the case.
    let override_node = |site: &StepSite, built: Option<Arc<dyn ComponentNode>>| -> Arc<dyn ComponentNode> {
        let built_check = site.mocked_check.clone();
        let site = Arc::new(Site::of(site));
        if let Some((_, answers, next)) = mocks.iter().find(|(select, ..)| site.matches(select)) {
            let (answers, next, log, check) = (answers.clone(), next.clone(), log.clone(), built_check.clone());
            return Arc::new(MockNode { site, answers, next, log, check });
        }
        match built {
            Some(inner) => Arc::new(SpyNode { site, inner, log: log.clone() }),
            None => Arc::new(Unmocked { site, log: log.clone() }),
        }
    };
    let registry = crate::components::registry();
    let program =
        match compile_program_reading(&State::new(), loaded, lookups.clone(), clock, registry, Some(&override_node)) {
            Ok(p) => p,
            Err(diags) => {
                let text: Vec<String> = diags.iter().map(|d| d.message.clone()).collect();
                outcome.failures.push((here(case.span), format!("the flows do not compile: {}", text.join("; "))));
                return (outcome, Vec::new(), Vec::new());
            }
        };
    if let Some(Json::Object(stores)) = case.input.stores.as_ref().map(|s| s.to_json()) {
        for (name, entries) in stores {
            let (Some(store), Json::Object(entries)) = (program.state.existing_store(&name), entries) else { continue };
            for (key, value) in entries {
                if let Err(why) = store.put(&key, value, None) {
                    outcome.failures.push((here(case.span), format!("cannot seed store `{name}`: {why}")));
                }
            }
        }
    }
    let runtime = Runtime::new(program);
    let flow = &ls.suite.flow.value;
    let (result, exchanged) = if let Some(spec) = &case.request {
        let exchanged = match request::build(ls, spec) {
            Ok(req) => crate::components::http_listener::exchange(&runtime, flow, req).await,
            Err(why) => Err(why),
        };
        match exchanged {
            Ok(mut exchanged) => (exchanged.outcome.take(), Some(exchanged)),
            Err(why) => {
                outcome.failures.push((here(spec.span), why));
                return (outcome, Vec::new(), Vec::new());
            }
        }
    } else {
        let event = match fire_time {
            Some(at) => crate::components::scheduler::fire_event(at.with_timezone(&chrono::Utc)),
            None => match input_event(ls, case) {
                Ok(ev) => ev,
                Err(why) => {
                    outcome.failures.push((here(case.span), why));
                    return (outcome, Vec::new(), Vec::new());
                }
            },
        };
        (Some(runtime.run_flow(flow, event).await), None)
    };
    if let (Some(expected), Some(got)) = (&case.expect.response, &exchanged) {
        request::check_response(expected, got, &here, &mut outcome.failures);
    }
    match &result {
        Some(result) => check_expectations(&runtime, case, result, &log, &here, &mut outcome.failures),
        None => {
            let status = exchanged.as_ref().map_or(0, |e| e.status);
            let expect = &case.expect;
            let about_the_flow = expect.payload.is_some()
                || expect.payload_contains.is_some()
                || expect.vars.is_some()
                || expect.attributes.is_some()
                || expect.error.is_some()
                || !expect.asserts.is_empty();
            if about_the_flow || expect.response.is_none() {
                outcome.failures.push((
                    here(case.request.as_ref().map_or(case.span, |r| r.span)),
                    format!("the request never reached the flow: the listener answered {status}"),
                ));
            }
            for check in &expect.calls {
                check_calls(&runtime, check, &log, &here, &mut outcome.failures);
            }
        }
    }
    let hits = runtime
        .program()
        .flows
        .values()
        .flat_map(|f| {
            f.hits
                .iter()
                .enumerate()
                .filter(|(_, h)| h.load(std::sync::atomic::Ordering::Relaxed) > 0)
                .map(|(i, _)| (f.name.clone(), i))
                .collect::<Vec<_>>()
        })
        .collect();
    let sites = runtime.program().flows.values().map(|f| (f.name.clone(), f.sites.clone())).collect();
    outcome.duration = started.elapsed();
    (outcome, hits, sites)
}

fn input_event(ls: &LoadedSuite, case: &TestCase) -> Result<Event, String> {
    let input = &case.input;
    let media_type = input.media_type.as_ref().map_or("application/json", |m| m.value.as_str());
    let payload = match (&input.payload, &input.payload_file) {
        (_, Some(file)) => {
            let path = ls.path.parent().unwrap_or(std::path::Path::new(".")).join(&file.value);
            let bytes = std::fs::read(&path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
            Payload::bytes(bytes, media_type)
        }
        (Some(node), None) => Payload::value_as(node.to_json(), media_type),
        (None, None) => Payload::value(Json::Null),
    };
    let mut ev = Event::with_payload(payload);
    if let Some(a) = &input.attributes {
        ev.attributes = a.to_json().into();
    }
    if let Some(Json::Object(vars)) = input.vars.as_ref().map(|v| v.to_json()) {
        ev.vars = Arc::new(vars);
    }
    Ok(ev)
}

fn check_expectations(
    runtime: &Runtime,
    case: &TestCase,
    result: &Result<Event, FlowError>,
    log: &CallLog,
    here: &dyn Fn(Span) -> String,
    failures: &mut Vec<(String, String)>,
) {
    let expect = &case.expect;
    let mut unmocked = log.unmocked.lock().map(|u| u.clone()).unwrap_or_default();
    unmocked.dedup();
    for message in &unmocked {
        failures.push((here(case.span), message.clone()));
    }
    let ev = match (result, &expect.error) {
        (Err(e), Some(expected)) if matches(&expected.value, &e.error_type) => None,
        (Err(e), Some(expected)) => {
            failures.push((here(expected.span), format!("expected error {}, got {e}", expected.value)));
            None
        }
        (Ok(_), Some(expected)) => {
            failures.push((here(expected.span), format!("expected error {}, but the flow succeeded", expected.value)));
            None
        }
        (Err(e), None) => {
            // An unmocked call already explains the failure; the error it caused is noise. A case checking
            // the response checks what the caller got of the error.
            if unmocked.is_empty() && expect.response.is_none() {
                failures.push((here(case.span), format!("the flow failed: {e}")));
            }
            None
        }
        (Ok(ev), None) => Some(ev),
    };
    if let Some(ev) = ev {
        let payload = ev.payload.read(&runtime.program().readers).cloned().unwrap_or(Json::Null);
        let mut compare = |expected: &Option<relais_dsl::syntax::Node>, actual: &Json, what: &str, subset: bool| {
            if let Some(node) = expected {
                let diffs = differences(&node.to_json(), actual, subset);
                if !diffs.is_empty() {
                    failures.push((here(node.span), format!("{what} differs:\n      {}", diffs.join("\n      "))));
                }
            }
        };
        compare(&expect.payload, &payload, "payload", false);
        compare(&expect.payload_contains, &payload, "payload (contains)", true);
        compare(&expect.vars, &Json::Object((*ev.vars).clone()), "vars", true);
        compare(&expect.attributes, &ev.attributes, "attributes", true);
        for assertion in &expect.asserts {
            match compile_script(&runtime.program().engine, &assertion.code)
                .map_err(|e| FlowError::new("EXPRESSION:RUNTIME", e.to_string()))
                .and_then(|s| runtime.eval_bool(&s, ev))
            {
                Ok(true) => {}
                Ok(false) => {
                    failures.push((here(assertion.span), format!("assertion `{}` is false", assertion.code.trim())))
                }
                Err(e) => {
                    failures.push((here(assertion.span), format!("assertion `{}` failed: {e}", assertion.code.trim())))
                }
            }
        }
    }
    for check in &expect.calls {
        check_calls(runtime, check, log, here, failures);
    }
}

fn check_calls(
    runtime: &Runtime,
    check: &CallCheck,
    log: &CallLog,
    here: &dyn Fn(Span) -> String,
    failures: &mut Vec<(String, String)>,
) {
    let calls = log.calls.lock().map(|c| c.clone()).unwrap_or_default();
    let script = check.with.as_ref().and_then(|w| compile_script(&runtime.program().engine, &w.code).ok());
    let count = calls
        .iter()
        .filter(|c| c.site.matches(&check.select))
        .filter(|c| script.as_ref().is_none_or(|s| runtime.eval_bool(s, &c.event).unwrap_or(false)))
        .count() as u32;
    let mut problems = Vec::new();
    if let Some(t) = &check.times {
        if count != t.value {
            problems.push(format!("exactly {}", t.value));
        }
    }
    if let Some(t) = &check.at_least {
        if count < t.value {
            problems.push(format!("at least {}", t.value));
        }
    }
    if let Some(t) = &check.at_most {
        if count > t.value {
            problems.push(format!("at most {}", t.value));
        }
    }
    if !problems.is_empty() {
        let with = check.with.as_ref().map_or(String::new(), |w| format!(" matching `{}`", w.code.trim()));
        failures.push((here(check.span), format!("expected {} call(s){with}, got {count}", problems.join(" and "))));
    }
}
