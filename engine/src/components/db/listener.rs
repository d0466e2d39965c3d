//! `db.listener`: starts a flow for each new or changed row of a query, polled at a fixed frequency.
//!
//! The query names the last watermark seen with `:watermark` (`WHERE updated_at > :watermark ORDER BY
//! updated_at`); rows are delivered one at a time in the order the query gives, and after each row's flow
//! ends (succeeded, or failed `max_deliveries` times and kept as a dead letter) the row's watermark column
//! is written to the state store under `db.listener:<flow>`. With `relais run --state DIR` that store is
//! durable, so a restart resumes after the last row handled: at least once per row, a row being delivered
//! again only when the process stopped during its flow.

use super::check::check_statement;
use super::statement::{run, Outcome};
use super::values::Param;
use super::Db;
use crate::component::ConfigRef;
use crate::components::types::DurationText;
use crate::event::Event;
use crate::runtime::Runtime;
use crate::source::{InFlight, Planned, Source, SourceUse, Stage, TaskPlanned, Working};
use crate::state::object_store::ObjectStore;
use relais_dsl::syntax::Node;
use relais_dsl::{codes, Diagnostic, Diagnostics};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value as Json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// `db.listener`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListenerParams {
    /// The query: rows after `:watermark`, in watermark order (`... WHERE updated_at > :watermark ORDER BY
    /// updated_at LIMIT 500`).
    pub sql: String,
    /// The column whose value of the last row handled becomes the next `:watermark`.
    pub watermark: String,
    /// `:watermark` before any row was seen (`0`, `"1970-01-01T00:00:00Z"`).
    pub initial: Json,
    /// Time between polls that found nothing (a poll that found rows is followed at once by the next).
    #[serde(default = "frequency")]
    pub frequency: DurationText,
    /// Runs of a row's flow before it is kept as a dead letter and the listener moves past it.
    #[serde(default = "max_deliveries")]
    #[schemars(range(min = 1))]
    pub max_deliveries: u32,
    /// Delay before a failed row is run again, doubled on each attempt (at most 30 s).
    #[serde(default = "redelivery_delay")]
    pub redelivery_delay: DurationText,
}

fn frequency() -> DurationText {
    DurationText::secs(5)
}

fn max_deliveries() -> u32 {
    3
}

fn redelivery_delay() -> DurationText {
    DurationText::millis(500)
}

impl Source for ListenerParams {
    const NAME: &'static str = "db.listener";
    const SUMMARY: &'static str = "Starts the flow for each new or changed row of a query, past a kept watermark.";
    const CONFIG: Option<ConfigRef> = Some(ConfigRef { kind: "db", required: true });

    fn check(&self, at: &Node, diags: &mut Diagnostics) {
        check_statement(&self.sql, "sql", None, &["watermark"], at, diags);
        if !super::sql::placeholders(&self.sql)
            .iter()
            .any(|f| f.placeholder == super::sql::Placeholder::Named("watermark".into()))
        {
            diags.push(
                Diagnostic::error(
                    codes::SQL_PARAMETERS,
                    at.get("sql").map_or(at.span, |n| n.span),
                    "a `db.listener` query without `:watermark`",
                )
                .label("would read every row at each poll")
                .help(format!(
                    "select the rows after the last one seen: `WHERE {w} > :watermark ORDER BY {w}`",
                    w = self.watermark
                )),
            );
        }
    }

    fn plan(uses: Vec<SourceUse<Self>>, runtime: &Runtime) -> Result<Vec<Box<dyn Planned>>, String> {
        let mut planned = Vec::new();
        for u in uses {
            let name = u.config_name.clone().unwrap_or_default();
            let db = runtime
                .program()
                .resources
                .get_as::<Db>(&name)
                .ok_or_else(|| format!("flow `{}`: no `db` config named `{name}`", u.flow))?;
            let store = runtime.program().state.store(&format!("db.listener:{}", u.flow), None, true);
            let poller = Poller { flow: u.flow.clone(), settings: u.settings.clone(), db, store };
            let runtime = runtime.clone();
            planned.push(TaskPlanned::planned(
                format!("db.listener:{}", u.flow),
                Stage::Intake,
                Box::new(move |stop, in_flight| tokio::spawn(poller.run(runtime, stop, in_flight))),
            ));
        }
        Ok(planned)
    }
}

/// One flow's polling loop.
struct Poller {
    flow: String,
    settings: Arc<ListenerParams>,
    db: Arc<Db>,
    store: Arc<ObjectStore>,
}

impl Poller {
    fn watermark(&self) -> Json {
        match self.store.get("watermark") {
            Ok(Some(w)) => w,
            Ok(None) => self.settings.initial.clone(),
            Err(why) => {
                tracing::error!(flow = %self.flow, "db.listener cannot read its watermark: {why}");
                self.settings.initial.clone()
            }
        }
    }

    async fn run(self, runtime: Runtime, mut stop: watch::Receiver<bool>, in_flight: InFlight) {
        let (sql, _) = super::sql::numbered(&self.settings.sql);
        let mut failing = false;
        loop {
            let rows = match run(&self.db, &sql, vec![Param(self.watermark())], false).await {
                Ok(Outcome::Rows(rows)) => {
                    if failing {
                        tracing::info!(flow = %self.flow, "db.listener polls again");
                    }
                    failing = false;
                    rows
                }
                Ok(Outcome::Count(_)) => Vec::new(),
                Err(e) => {
                    if !failing {
                        tracing::warn!(flow = %self.flow, error_type = %e.error_type, "db.listener poll failed: {}", e.description);
                    }
                    failing = true;
                    Vec::new()
                }
            };
            let found = !rows.is_empty();
            for row in rows {
                if *stop.borrow() {
                    return;
                }
                let _working = Working::start(&in_flight);
                let Some(mark) = row.get(&self.settings.watermark).cloned() else {
                    tracing::error!(
                        flow = %self.flow,
                        "db.listener: the rows have no column `{}` (the watermark); polling stops until the query selects it",
                        self.settings.watermark
                    );
                    failing = true;
                    break;
                };
                self.deliver(&runtime, row).await;
                if let Err(why) = self.store.put("watermark", mark, None) {
                    tracing::error!(flow = %self.flow, "db.listener cannot keep its watermark: {why}");
                }
            }
            if found && !failing {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(self.settings.frequency.0) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// Runs the flow on one row until it succeeds or its deliveries are exhausted (then a dead letter).
    async fn deliver(&self, runtime: &Runtime, row: Json) {
        let first_failure = crate::state::now();
        let mut delay = self.settings.redelivery_delay.0;
        for attempt in 1..=self.settings.max_deliveries.max(1) {
            let mut event = Event::new(row.clone());
            event.attributes = json!({ "delivery": attempt, "config": self.db.name }).into();
            let error = match runtime.run_flow(&self.flow, event.clone()).await {
                Ok(_) => return,
                Err(e) => e,
            };
            if attempt >= self.settings.max_deliveries || runtime.is_closing() {
                crate::runtime::dead_letter::keep(runtime, &self.flow, &event, &error, attempt, first_failure, None);
                return;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(30));
        }
    }
}
