//! Flow tests (`relais test`): suites in `*.test.yaml` files next to the flows, checked by `relais check`
//! like any flow file, run against the real plan compiler and executor with component steps mocked.
//!
//! Sources are never started and no connector reaches the network: a component step without a mock fails
//! the test with a message naming it. Object-store steps run for real, on a fresh in-memory store per case.
//! Each case runs on virtual time (module `virtual_time`): a delay, a backoff or a timeout takes no wall time.

mod check;
mod check_source;
mod compare;
mod mocks;
pub mod report;
mod request;
mod run;
mod virtual_time;

pub use check::{check_suites, load_suites};
pub use run::{run_suites, CaseOutcome, RunSummary};

use relais_dsl::ir::TestSuite;
use relais_dsl::FileId;
use std::path::PathBuf;

/// A test file, lowered.
#[derive(Debug, Clone)]
pub struct LoadedSuite {
    /// Its file in the source map (for locations).
    pub file: FileId,
    /// Its path (payload files are relative to it).
    pub path: PathBuf,
    /// The suite.
    pub suite: TestSuite,
}
