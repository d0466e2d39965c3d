//! `relais explain CODE`: the long explanation of a diagnostic code; `relais explain COMPONENT`: a
//! component's fields, types and defaults, generated from its config type; `relais explain --components`:
//! the table of every component (the README's).

use super::Outcome;
use crate::registry::reference;
use relais_dsl::codes;
use std::io::Write;

/// Arguments of `relais explain`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A diagnostic code (`RL0100`) or a component (`http.client`); omit to list every code.
    code: Option<String>,
    /// Print the table of every component, with their settings and defaults.
    #[arg(long, conflicts_with = "code")]
    components: bool,
}

/// Runs `relais explain`.
pub fn run(args: &Args, out: &mut dyn Write) -> Outcome {
    let registry = crate::components::registry();
    if args.components {
        return match write!(out, "{}", reference::components_table(registry)) {
            Ok(()) => Outcome::Success,
            Err(_) => Outcome::Failure,
        };
    }
    let written = match &args.code {
        None => codes::ALL.iter().try_for_each(|d| writeln!(out, "{}  {}", d.code, d.title)),
        Some(code) => match codes::lookup(code) {
            Some(doc) => writeln!(out, "{}: {}\n\n{}", doc.code, doc.title, doc.explanation),
            None => {
                let found: Vec<String> = registry
                    .iter()
                    .filter(|(spec, _)| spec.name == code.trim())
                    .map(|(spec, schema)| reference::component_reference(registry, spec, schema))
                    .collect();
                if found.is_empty() {
                    eprintln!(
                        "relais explain: `{code}` is neither a diagnostic code nor a component (run `relais explain` for the codes, `relais explain --components` for the components)"
                    );
                    return Outcome::Failure;
                }
                write!(out, "{}", found.join("\n"))
            }
        },
    };
    if written.is_ok() {
        Outcome::Success
    } else {
        Outcome::Failure
    }
}
