//! The `relais` command line: one file per subcommand, renderers under [`render`].
//!
//! Exit codes: 0 success, 1 findings (errors, failed tests, unformatted files), 2 usage or I/O error, 3
//! `relais run` stopped with work unfinished at its drain deadline.

pub mod check;
mod dlq;
mod explain;
pub mod fmt;
pub mod graph;
mod log_filter;
pub mod lsp;
pub mod render;
pub mod run;
pub mod schema;
mod state;
pub mod test;
pub mod test_schema;
mod watch;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// The text `relais --help` ends with.
const EXAMPLES: &str = "\
Examples:
  relais check flows/                 check every flow file under flows/ and report all findings
  relais test flows/                  run the flow tests (*.test.yaml) next to the flows
  relais run flows/ --env prod        serve the flows with the properties of env/prod.yaml
  relais fmt --check flows/           list the files that are not canonically formatted
  relais graph --format html --out map.html   the map of systems, zones and flows as one page
  relais explain RL0103               what a diagnostic code means and how to fix it

Exit codes: 0 success, 1 findings (errors, failed tests, unformatted files), 2 usage or I/O error,
3 `relais run` stopped with work unfinished at its drain deadline.";

/// Examples under each subcommand's help.
const CHECK_EXAMPLES: &str = "\
Examples:
  relais check                                check the flows under flows/
  relais check flows/ --env prod              with the properties of env/prod.yaml
  relais check --format github --deny-warnings   annotations for GitHub Actions; warnings fail too";
const FMT_EXAMPLES: &str = "\
Examples:
  relais fmt flows/                   rewrite the files canonically
  relais fmt --check flows/           list the files that would change (exit 1 if any)
  relais fmt --to flow orders.yaml    write orders.flow beside orders.yaml
  relais fmt --to flow --out converted/ flows/   a .flow copy of every file under converted/
Comments are kept. --to never replaces an existing file unless --force.";
const SCHEMA_EXAMPLES: &str = "\
Examples:
  relais schema > relais.schema.json  then point your editor's YAML extension at the file
  relais schema --tests > relais.test.schema.json
                                      the same for flow-test files (`*.test.yaml`)";
const RUN_EXAMPLES: &str = "\
Examples:
  relais run flows/                           serve the flows
  relais run flows/ --env prod --drain 10s    production properties; 10 s to finish work at shutdown
  relais run --state memory --admin off       keep nothing on disk, no admin endpoints
  relais run flows/ --admin-token-file /etc/relais/admin.token
                                              dead letters and admin actions need its bearer token

Exit codes: 0 stopped by SIGINT/SIGTERM with every request, run and message finished; 1 the flows do not
check; 2 usage, I/O or start-up error; 3 the drain deadline (--drain) passed with work still running:
requests still running were answered 503, and what was cut short is logged at error level.";
const TEST_EXAMPLES: &str = "\
Examples:
  relais test flows/                          run every test case
  relais test --filter orders --coverage      the cases about orders, with step coverage
  relais test --junit report.xml              also write a JUnit report for CI";
const GRAPH_EXAMPLES: &str = "\
Examples:
  relais graph flows/                              a Mermaid map of systems, zones, flows and data types
  relais graph --format html --out map.html        one self-contained page; click a flow to highlight it
  relais graph --metrics http://127.0.0.1:9464     with the volumes a running daemon measured
  relais graph --flow order_to_crm --format dot    one flow's steps, branches, handlers and retries";
const LSP_EXAMPLES: &str = "\
Examples:
  relais lsp                          started by the editor, which speaks LSP on its stdin and stdout
  (see the README's \"Editor support\" for VS Code, Neovim and Helix settings)";
const EXPLAIN_EXAMPLES: &str = "\
Examples:
  relais explain RL0103               why `unknown step` is reported and how to fix it
  relais explain                      every code with its title";
const DLQ_EXAMPLES: &str = "\
Examples:
  relais dlq list                     the dead letters kept in .relais/state
  relais dlq show 12                  one of them in full, payload included
  relais dlq replay 12                put it back on its queue, for the next start to process
  relais dlq purge --flow orders      delete every dead letter of the flow orders";

/// relais, an integration engine: connect systems with flows written in YAML or `.flow` files, check
/// them, test them with mocks, and run them as a daemon (HTTP listeners, schedules, queues).
#[derive(Debug, Parser)]
#[command(name = "relais", version, disable_help_subcommand = true, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check flow files without running them: syntax, names, components, scripts, referenced files.
    ///
    /// Reports every finding with its code, its place in the file and help; exits 1 if any is an error.
    #[command(after_help = CHECK_EXAMPLES)]
    Check(check::Args),
    /// Format flow files canonically, or convert them between YAML and `.flow`.
    #[command(after_help = FMT_EXAMPLES)]
    Fmt(fmt::Args),
    /// Print the JSON Schema of YAML flow files (or, with `--tests`, of flow-test files), for completion
    /// and validation in an editor.
    #[command(after_help = SCHEMA_EXAMPLES)]
    Schema(schema::Args),
    /// Serve the flows: HTTP listeners, schedules and queue consumers, until SIGINT or SIGTERM.
    ///
    /// The flows are checked first, exactly as `relais check` does; on an error nothing starts and the
    /// diagnostics are printed on standard error (exit 1). Files that change are reloaded while running.
    #[command(after_help = RUN_EXAMPLES)]
    Run(run::Args),
    /// Run the flow tests (`*.test.yaml`): each case sends an event through a flow with mocked partners
    /// and checks the result.
    #[command(after_help = TEST_EXAMPLES)]
    Test(test::Args),
    /// Draw the flows as a map: systems grouped by zone, flows, data types, the steps between them, and
    /// measured volumes; or one flow's execution graph.
    #[command(after_help = GRAPH_EXAMPLES)]
    Graph(graph::Args),
    /// Serve editors as a language server on stdin/stdout: diagnostics as you type, completion, hover, go to
    /// definition, document symbols and formatting, on the same checks as `relais check`.
    #[command(after_help = LSP_EXAMPLES)]
    Lsp(lsp::Args),
    /// Explain a diagnostic code; without a code, list them all.
    #[command(after_help = EXPLAIN_EXAMPLES)]
    Explain(explain::Args),
    /// List, show, replay or purge the dead letters of a stopped daemon (the messages its flows gave up on).
    #[command(after_help = DLQ_EXAMPLES)]
    Dlq(dlq::Args),
}

/// What a subcommand concluded, mapped to the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Success,
    /// Exit 1: findings.
    Findings,
    /// Exit 2: usage or I/O error.
    Failure,
    /// Exit 3: `relais run` stopped, but its drain deadline passed with work still running (cut short:
    /// requests answered 503, runs stopped); a supervisor or a deploy script can tell it from a clean stop.
    CutShort,
}

impl From<Outcome> for ExitCode {
    fn from(o: Outcome) -> ExitCode {
        ExitCode::from(match o {
            Outcome::Success => 0,
            Outcome::Findings => 1,
            Outcome::Failure => 2,
            Outcome::CutShort => 3,
        })
    }
}

/// Paths from the command line, defaulting to `flows/`.
fn paths_or_default(paths: &[PathBuf]) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![PathBuf::from("flows")]
    } else {
        paths.to_vec()
    }
}

/// Runs the CLI on explicit arguments (the first is the program name), writing results to `out`; usage
/// errors, progress and everything `relais run` prints go to standard error. In-process tests use this; the binary calls [`main`].
pub fn run<I, T>(args: I, out: &mut dyn std::io::Write) -> Outcome
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() { Outcome::Failure } else { Outcome::Success };
        }
    };
    match cli.command {
        Command::Check(args) => check::run(&args, out),
        Command::Fmt(args) => fmt::run(&args, out),
        Command::Schema(args) => schema::run(&args, out),
        Command::Explain(args) => explain::run(&args, out),
        Command::Graph(args) => graph::run(&args, out),
        Command::Test(args) => test::run(&args, out),
        // `relais run` has no result to print: its diagnostics and errors go to standard error, with its
        // logs, and standard output stays clean. Unlocked: a lock held for the whole run would block every
        // log line written from another thread.
        Command::Run(args) => run::run(&args, &mut std::io::stderr()),
        Command::Dlq(args) => dlq::run(&args, out),
        // The protocol owns standard output.
        Command::Lsp(args) => lsp::run(&args, out),
    }
}

/// Runs the CLI with the process arguments.
pub fn main() -> ExitCode {
    let mut out = std::io::stdout().lock();
    run(std::env::args_os(), &mut out).into()
}
