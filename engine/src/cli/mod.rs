//! The `relais` command line (DESIGN.md §8): one file per subcommand, renderers under [`render`].
//!
//! Exit codes: 0 success, 1 findings (errors, failed tests, unformatted files), 2 usage or I/O error.

pub mod check;
mod dlq;
mod explain;
pub mod fmt;
pub mod render;
pub mod run;
pub mod schema;
mod state;
pub mod test;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Integration engine: flows in YAML or `.flow`, checked, tested and run.
#[derive(Debug, Parser)]
#[command(name = "relais", version, about, disable_help_subcommand = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate flow files: syntax, names, components, scripts, referenced files.
    Check(check::Args),
    /// Print flow files canonically, or convert between YAML and `.flow`.
    Fmt(fmt::Args),
    /// Print the JSON Schema of the YAML flow format (for editors).
    Schema(schema::Args),
    /// Run the daemon: HTTP listeners and schedulers of the flows, until SIGINT/SIGTERM.
    Run(run::Args),
    /// Run the flow tests (`*.test.yaml`) with mocks and assertions.
    Test(test::Args),
    /// Explain a diagnostic code (`relais explain RL0100`); without a code, list them all.
    Explain(explain::Args),
    /// Dead letters of a stopped daemon's state: list, show, replay, purge.
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
}

impl From<Outcome> for ExitCode {
    fn from(o: Outcome) -> ExitCode {
        ExitCode::from(match o {
            Outcome::Success => 0,
            Outcome::Findings => 1,
            Outcome::Failure => 2,
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
/// errors and progress go to standard error. In-process tests use this; the binary calls [`main`].
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
        Command::Test(args) => test::run(&args, out),
        Command::Run(args) => run::run(&args, out),
        Command::Dlq(args) => dlq::run(&args, out),
    }
}

/// Runs the CLI with the process arguments.
pub fn main() -> ExitCode {
    let mut out = std::io::stdout().lock();
    run(std::env::args_os(), &mut out).into()
}
