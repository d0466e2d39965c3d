//! The files connector: `file.listener` (a source picking up files dropped in a directory, [`listener`])
//! and `file.write` (an atomic write, [`write`]).

pub(crate) mod glob;
mod listener;
pub(crate) mod records;
pub(crate) mod write;

use super::types::DurationText;
use crate::component::{ComponentNode, Step, StepContext};
use crate::runtime::Runtime;
use crate::source::{Planned, Source, SourceUse, Stage, TaskPlanned};
use relais_dsl::syntax::Node;
use relais_dsl::{codes, Diagnostic, Diagnostics};
use schemars::JsonSchema;
use serde::Deserialize;
use std::sync::Arc;

/// How a picked-up file becomes events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// The whole file is one event (at most `max_size` bytes).
    None,
    /// One event per line (text, without its line end).
    Lines,
    /// One event per CSV record after the header line: a map from header to value.
    Csv,
    /// One event per `chunk_size` bytes.
    Chunks,
}

/// `file.listener`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListenerParams {
    /// The directory watched (created if missing); `processed/` and `failed/` are made inside it.
    pub directory: String,
    /// File names taken (`*.csv`, `orders_??.json`); other files are left alone.
    #[serde(default = "any")]
    pub pattern: String,
    /// Time between two looks at the directory. A file is taken once two looks in a row saw the same size
    /// and modification time, so a file still being written is not read half-way.
    #[serde(default = "frequency")]
    pub frequency: DurationText,
    /// How a file becomes events.
    #[serde(default = "split_none")]
    pub split: Split,
    /// Bytes per event with `split: chunks`.
    #[serde(default = "chunk_size")]
    #[schemars(range(min = 1))]
    pub chunk_size: u32,
    /// Largest file read whole with `split: none`; a larger one goes to `failed/`.
    #[serde(default = "max_size")]
    #[schemars(range(min = 1))]
    pub max_size: u64,
    /// Runs of an event's flow (a file's, or a record's with `split`) before it is kept as a dead letter.
    #[serde(default = "max_deliveries")]
    #[schemars(range(min = 1))]
    pub max_deliveries: u32,
    /// Records of one file processed at once (with `split`).
    #[serde(default = "consumers")]
    #[schemars(range(min = 1))]
    pub consumers: u32,
}

fn any() -> String {
    "*".into()
}

fn frequency() -> DurationText {
    DurationText::secs(1)
}

fn split_none() -> Split {
    Split::None
}

fn chunk_size() -> u32 {
    64 * 1024
}

fn max_size() -> u64 {
    16 * 1024 * 1024
}

fn max_deliveries() -> u32 {
    3
}

fn consumers() -> u32 {
    4
}

impl Source for ListenerParams {
    const NAME: &'static str = "file.listener";
    const SUMMARY: &'static str =
        "Starts the flow for each file (or each line, CSV record or chunk of it) dropped in a directory.";

    fn check(&self, at: &Node, diags: &mut Diagnostics) {
        if self.pattern.contains(['/', '\\']) {
            diags.push(
                Diagnostic::error(
                    codes::BAD_VALUE,
                    at.get("pattern").map_or(at.span, |n| n.span),
                    "a file pattern with a path",
                )
                .label("patterns match file names only")
                .help("put the directory in `directory:` and the name pattern (`*.csv`) in `pattern:`"),
            );
        }
    }

    fn plan(uses: Vec<SourceUse<Self>>, runtime: &Runtime) -> Result<Vec<Box<dyn Planned>>, String> {
        Ok(uses
            .into_iter()
            .map(|u| {
                let watcher = listener::Watcher::new(&u.flow, u.settings.clone(), runtime);
                let runtime = runtime.clone();
                TaskPlanned::planned(
                    format!("file.listener:{}", u.flow),
                    Stage::Intake,
                    Box::new(move |stop, in_flight| tokio::spawn(watcher.run(runtime, stop, in_flight))),
                )
            })
            .collect())
    }
}

/// What `file.write` does when the file exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IfExists {
    /// Replace it (atomically: readers see the old file or the new one, never a mix).
    Overwrite,
    /// Fail with `FILE:EXISTS`.
    Fail,
}

fn overwrite() -> IfExists {
    IfExists::Overwrite
}

/// `file.write`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteParams {
    /// The directory written to (created if missing).
    pub directory: String,
    /// The file name; may hold `#[...]` (a value holding `/` or `..` is refused: the file stays in
    /// `directory`).
    pub name: String,
    /// What is written (default: the payload's bytes); may hold `#[...]`.
    pub content: Option<String>,
    /// When the file exists.
    #[serde(default = "overwrite")]
    pub if_exists: IfExists,
}

impl Step for WriteParams {
    const NAME: &'static str = "file.write";
    const SUMMARY: &'static str = "Writes a file atomically (a temporary name, then a rename).";

    fn build(&self, cx: &StepContext<'_>) -> Result<Arc<dyn ComponentNode>, String> {
        write::build(self, cx)
    }
}
