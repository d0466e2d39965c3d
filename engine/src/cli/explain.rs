//! `relais explain CODE`: the long explanation of a diagnostic code.

use super::Outcome;
use relais_dsl::codes;
use std::io::Write;

/// Arguments of `relais explain`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The code, e.g. `RL0100`; omit to list every code.
    code: Option<String>,
}

/// Runs `relais explain`.
pub fn run(args: &Args, out: &mut dyn Write) -> Outcome {
    let written = match &args.code {
        None => codes::ALL.iter().try_for_each(|d| writeln!(out, "{}  {}", d.code, d.title)),
        Some(code) => match codes::lookup(code) {
            Some(doc) => writeln!(out, "{}: {}\n\n{}", doc.code, doc.title, doc.explanation),
            None => {
                eprintln!("relais explain: unknown code `{code}` (run `relais explain` to list them)");
                return Outcome::Failure;
            }
        },
    };
    if written.is_ok() {
        Outcome::Success
    } else {
        Outcome::Failure
    }
}
