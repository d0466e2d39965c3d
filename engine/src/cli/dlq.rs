//! `relais dlq`: the dead letters of a stopped daemon's state directory, or of a PostgreSQL state shared
//! with running replicas (`--state postgres://...`): list, show, replay into the persistent queue they came
//! from (one, or all of a flow and/or an error type: `--all --flow F --error-type T`), purge. `show` prints
//! the fields the admin port shows, under the same names (`state::letters::to_json`). A running daemon holds its state directory; its admin port serves the same operations
//! (`/dead-letters`) to a holder of its admin token. Here the state is the credential: whoever may read
//! and write it (the directory, or the database) may act on it, so `relais dlq` needs no token.
//!
//! What `list` and `show` print is scrubbed: of every secret the flows resolve (in every form), and of the
//! values of the fields their `sensitive_data` configs declare, found in each letter's message. The flows
//! are read from `--flows` (default `flows/`, as for `relais run`); when they cannot be read, a letter's
//! payload and attributes are withheld rather than shown unscrubbed.

use super::Outcome;
use relais_store::{DeadLetterFilter, DeadLetterId, StateStore, StoredDeadLetter};
use std::io::Write;

/// Arguments of `relais dlq`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
    /// The state directory of the daemon (stopped), or the PostgreSQL URL of replicas (running or not).
    #[arg(long, global = true, default_value = super::state::DEFAULT_STATE)]
    state: String,
    /// Only the dead letters of this flow (the flow that received the message).
    #[arg(long, global = true)]
    flow: Option<String>,
    /// Only the dead letters whose error is of this type (`HTTP:TIMEOUT`, exactly).
    #[arg(long = "error-type", global = true)]
    error_type: Option<String>,
    /// The flows of the daemon (default `flows/`): their `sensitive_data` fields and secrets are scrubbed
    /// from what `list` and `show` print.
    #[arg(long = "flows", global = true)]
    flows: Vec<std::path::PathBuf>,
}

/// What `relais dlq` scrubs what it prints with.
enum Policy {
    /// The flows were read: their sensitive fields, and the readers of their payload formats.
    Flows(Box<crate::plan::Program>),
    /// They could not be: why. Payloads and attributes are withheld.
    Unknown(String),
}

impl Policy {
    /// The policy of the flows at `paths` (their sensitive fields); their partners are not needed, nor
    /// their secrets (dead letters were scrubbed of those when they were written).
    fn load(paths: &[std::path::PathBuf]) -> Policy {
        let paths = super::paths_or_default(paths);
        let shown = paths.iter().map(|p| format!("`{}`", p.display())).collect::<Vec<_>>().join(", ");
        let loaded = super::check::check_paths(&paths, None);
        if loaded.io_failed || loaded.diags.count(relais_dsl::Severity::Error) > 0 {
            return Policy::Unknown(format!("the flows at {shown} cannot be read or do not check"));
        }
        match crate::plan::compile_program_offline(
            &loaded,
            relais_stdlib::Clock::system(),
            crate::components::registry(),
        ) {
            Ok(program) => Policy::Flows(Box::new(program)),
            Err(_) => Policy::Unknown(format!("the flows at {shown} do not compile")),
        }
    }

    /// A dead letter's JSON as it may be printed.
    fn show(&self, letter: &StoredDeadLetter) -> serde_json::Value {
        let l = &letter.letter;
        match self {
            Policy::Flows(program) => {
                let scrub = program.redactor.for_message(&l.payload, &l.media_type, &l.attributes, &program.readers);
                program.redactor.json(&json(letter), &scrub)
            }
            Policy::Unknown(why) => {
                let mut shown = json(letter);
                let withheld = format!(
                    "{} (withheld: {why}; pass --flows DIR so that only their sensitive fields are redacted)",
                    crate::scrub::REDACTED
                );
                shown["payload"] = serde_json::Value::String(withheld.clone());
                if !shown["payload_at_failure"].is_null() {
                    shown["payload_at_failure"] = serde_json::Value::String(withheld.clone());
                }
                shown["attributes"] = serde_json::Value::String(withheld);
                crate::scrub::Scrub::secrets().json(&shown)
            }
        }
    }

    /// A line of `list`, scrubbed of the secrets known.
    fn line(&self, text: &str) -> String {
        crate::scrub::Scrub::secrets().text(text).into_owned()
    }
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// One line per dead letter: id, flow, queue, error type, attempts, last failure (of `--flow`,
    /// `--error-type`).
    List,
    /// A dead letter in full (JSON), payload included.
    Show {
        /// Its id.
        id: u64,
    },
    /// Puts dead letters back on the persistent queue they came from, for the next start to process (a
    /// broker listener's letters on its flow's replay queue, from which the flow runs them again).
    Replay {
        /// One id; or `--all` (with `--flow` and `--error-type` to narrow).
        id: Option<u64>,
        /// Every dead letter (of `--flow`, of `--error-type`).
        #[arg(long)]
        all: bool,
    },
    /// Deletes dead letters: one id, or all of them (of `--flow`, of `--error-type`).
    Purge {
        /// One id (default: all, or all of `--flow` and `--error-type`).
        id: Option<u64>,
    },
}

/// The fields the admin port shows too, under the same names.
fn json(letter: &StoredDeadLetter) -> serde_json::Value {
    crate::state::letters::to_json(letter)
}

/// Puts one dead letter back on its queue: taken and queued in one change, so a replay racing another (a
/// replica's admin port, another operator on a shared state) publishes it once.
fn replay(store: &dyn StateStore, letter: &StoredDeadLetter) -> Result<String, String> {
    let Some(queue) = &letter.letter.queue else {
        return Err(format!("dead letter {} did not come from a queue; nothing to replay it into", letter.id.0));
    };
    match store.replay_dead_letter(letter.id, crate::state::now()) {
        Ok(Some(_)) => Ok(queue.clone()),
        Ok(None) => Err(format!("dead letter {} was replayed or purged meanwhile", letter.id.0)),
        Err(e) => Err(e.to_string()),
    }
}

/// Runs `relais dlq`.
pub fn run(args: &Args, out: &mut dyn Write) -> Outcome {
    let store = match super::state::open(&args.state) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(out, "relais dlq: {e}");
            if !super::state::is_shared(&args.state) {
                let _ = writeln!(
                    out,
                    "relais dlq: a running daemon holds its state: stop it, or use its admin port with its admin \
                     token (`Authorization: Bearer TOKEN`: GET /dead-letters, POST /dead-letters/ID/replay, DELETE \
                     /dead-letters/ID)"
                );
            }
            return Outcome::Failure;
        }
    };
    let filter: DeadLetterFilter = crate::state::letters::filter(args.flow.clone(), args.error_type.clone());
    let all = match store.list_dead_letters(&filter) {
        Ok(all) => all,
        Err(e) => {
            let _ = writeln!(out, "relais dlq: {e}");
            return Outcome::Failure;
        }
    };
    let policy = match &args.action {
        Action::List | Action::Show { .. } => Policy::load(&args.flows),
        _ => Policy::Unknown(String::new()),
    };
    match &args.action {
        Action::List => {
            for l in &all {
                let line = format!(
                    "{}\t{}\t{}\t{}\t{} attempt(s)\t{}",
                    l.id.0,
                    l.letter.flow,
                    l.letter.queue.as_deref().unwrap_or("-"),
                    l.letter.error_type,
                    l.letter.attempts,
                    crate::state::rfc3339(l.letter.last_failure)
                );
                let _ = writeln!(out, "{}", policy.line(&line));
            }
            let _ = writeln!(out, "{} dead letter(s)", all.len());
            Outcome::Success
        }
        Action::Show { id } => match store.get_dead_letter(DeadLetterId(*id)) {
            Ok(Some(l)) => {
                let _ = writeln!(out, "{}", serde_json::to_string_pretty(&policy.show(&l)).unwrap_or_default());
                Outcome::Success
            }
            Ok(None) => {
                let _ = writeln!(out, "relais dlq: no dead letter {id}");
                Outcome::Findings
            }
            Err(e) => {
                let _ = writeln!(out, "relais dlq: {e}");
                Outcome::Failure
            }
        },
        Action::Replay { id, all: every } => {
            let chosen: Vec<&StoredDeadLetter> = match (id, every) {
                (Some(id), false) => all.iter().filter(|l| l.id.0 == *id).collect(),
                (None, true) => all.iter().collect(),
                _ => {
                    let _ = writeln!(out, "relais dlq replay: give one id, or --all");
                    return Outcome::Failure;
                }
            };
            if chosen.is_empty() {
                let _ = writeln!(out, "relais dlq replay: no such dead letter");
                return Outcome::Findings;
            }
            let mut failed = false;
            for letter in chosen {
                match replay(store.as_ref(), letter) {
                    Ok(queue) => match crate::state::replays::flow_of(&queue) {
                        Some(flow) => {
                            let _ = writeln!(
                                out,
                                "{}\treplayed: flow `{flow}` runs it again (its replay queue `{queue}`)",
                                letter.id.0
                            );
                        }
                        None => {
                            let _ = writeln!(out, "{}\treplayed into queue `{queue}`", letter.id.0);
                        }
                    },
                    Err(e) => {
                        failed = true;
                        let _ = writeln!(out, "{}\tnot replayed: {e}", letter.id.0);
                    }
                }
            }
            if failed {
                Outcome::Findings
            } else {
                Outcome::Success
            }
        }
        Action::Purge { id } => {
            let result = match id {
                Some(id) => store.take_dead_letter(DeadLetterId(*id)).map(|l| u64::from(l.is_some())),
                None => store.purge_dead_letters(&filter),
            };
            match result {
                Ok(n) => {
                    let _ = writeln!(out, "{n} dead letter(s) purged");
                    Outcome::Success
                }
                Err(e) => {
                    let _ = writeln!(out, "relais dlq: {e}");
                    Outcome::Failure
                }
            }
        }
    }
}
