//! `relais test`: runs the flow tests (`*.test.yaml`) under the paths; exit 1 on any failure.

use super::render::{render, Format};
use super::{paths_or_default, Outcome};
use crate::testing::{report, run_suites};
use relais_dsl::Severity;
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `relais test`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or directories holding flows and their `*.test.yaml` suites; default `flows/`.
    paths: Vec<PathBuf>,
    /// Run only cases whose name or flow contains this text.
    #[arg(long)]
    filter: Option<String>,
    /// Write a JUnit XML report here.
    #[arg(long)]
    junit: Option<PathBuf>,
    /// Print which steps of each flow ran at least once, and where the steps never run are.
    #[arg(long)]
    coverage: bool,
    /// Write the coverage report as JSON here.
    #[arg(long)]
    coverage_json: Option<PathBuf>,
    /// Fail when total step coverage is below this percentage.
    #[arg(long)]
    min_coverage: Option<f64>,
    /// Environment whose properties apply.
    #[arg(long)]
    env: Option<String>,
    /// The project root: no file outside it is read. Default: each directory given (a file's directory).
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
}

/// Runs `relais test`.
pub fn run(args: &Args, out: &mut dyn Write) -> Outcome {
    let paths = paths_or_default(&args.paths);
    let loaded = super::check::check_paths_in(&paths, args.env.clone(), args.root.as_deref());
    if loaded.io_failed || loaded.diags.count(Severity::Error) > 0 {
        let diags: Vec<_> = loaded.diags.iter().filter(|d| d.severity == Severity::Error).cloned().collect();
        let _ = render(Format::Human, &loaded.sources, &diags, out);
        let _ = writeln!(out, "relais test: the flows or tests do not check; nothing was run");
        return if loaded.io_failed { Outcome::Failure } else { Outcome::Findings };
    }
    // Cases run on virtual time, so they only need CPU: one thread per core.
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let summary = run_suites(&loaded, args.filter.as_deref(), workers);
    for outcome in summary.outcomes.iter().filter(|o| !o.passed()) {
        let _ = writeln!(out, "FAILED {} :: {} (flow `{}`)", outcome.file, outcome.name, outcome.flow);
        for (at, why) in &outcome.failures {
            let _ = writeln!(out, "  {at}: {why}");
        }
    }
    let mut outcome = if summary.outcomes.iter().all(|o| o.passed()) { Outcome::Success } else { Outcome::Findings };
    if let Some(path) = &args.junit {
        if let Err(e) = std::fs::write(path, report::junit(&summary)) {
            let _ = writeln!(out, "relais test: cannot write `{}`: {e}", path.display());
            outcome = Outcome::Failure;
        }
    }
    if args.coverage {
        let _ = write!(out, "{}{}", report::coverage_table(&summary), report::never_run_list(&summary));
    }
    if let Some(path) = &args.coverage_json {
        let text = serde_json::to_string_pretty(&report::coverage_json(&summary)).unwrap_or_default();
        if let Err(e) = std::fs::write(path, text) {
            let _ = writeln!(out, "relais test: cannot write `{}`: {e}", path.display());
            outcome = Outcome::Failure;
        }
    }
    if let Some(min) = args.min_coverage {
        let total = report::total_percent(&summary);
        if total < min {
            let _ = writeln!(out, "relais test: step coverage {total:.1} % is below the required {min:.1} %");
            if !args.coverage {
                let _ = write!(out, "{}", report::never_run_list(&summary));
            }
            if outcome == Outcome::Success {
                outcome = Outcome::Findings;
            }
        }
    }
    let _ = writeln!(out, "{}", report::closing_line(&summary));
    outcome
}
