//! `db.query` and `db.execute` at run time: the statement prepared once per pooled connection (the pool's
//! statement cache), its parameters computed on the event and bound by the type the server expects, the
//! answer made the payload (or a variable), every failure typed (`DB:CONNECTIVITY`, `DB:TIMEOUT`,
//! `DB:CONSTRAINT`, `DB:QUERY`, `DB:NO_ROWS`, `DB:TOO_MANY_ROWS`).

use super::transaction::Transaction;
use super::values::{row_to_json, Param};
use super::{sql, Db, Parameters};
use crate::component::{CallFuture, ComponentNode, Context, StepContext};
use crate::event::{Event, FlowError, Payload};
use crate::script::{compile_json_value, ValuePlan};
use serde_json::Value as Json;
use std::sync::Arc;

/// What the step answers.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    /// The rows: a list of maps, or one map.
    Rows {
        /// One row as a map.
        single: bool,
    },
    /// The affected row count.
    Count,
}

/// A built `db.query` / `db.execute` step.
struct Statement {
    db: Arc<Db>,
    /// The SQL with `:name` placeholders numbered `$k`.
    sql: String,
    /// The values, in placeholder order.
    parameters: Vec<ValuePlan>,
    answer: Answer,
    target: Option<String>,
}

/// The node of a statement step: `parameters` put in the order of the placeholders (`check` has
/// verified that they match).
pub fn build(
    cx: &StepContext<'_>,
    text: &str,
    parameters: Option<&Parameters>,
    answer: Answer,
    target: Option<String>,
) -> Result<Arc<dyn ComponentNode>, String> {
    let db = cx.resource_as::<Db>()?;
    let (sql, order) = sql::numbered(text);
    let values: Vec<&Json> = match parameters {
        None => Vec::new(),
        Some(Parameters::Positional(list)) => list.iter().collect(),
        Some(Parameters::Named(map)) => order
            .iter()
            .map(|name| map.get(name).ok_or_else(|| format!("placeholder `:{name}` has no parameter")))
            .collect::<Result<_, _>>()?,
    };
    let parameters = values.into_iter().map(|v| compile_json_value(cx.engine, v)).collect::<Result<_, _>>()?;
    Ok(Arc::new(Statement { db, sql, parameters, answer, target }))
}

/// What a statement gave back.
pub enum Outcome {
    /// Its rows, each a map.
    Rows(Vec<Json>),
    /// The number of rows it changed.
    Count(u64),
}

/// Runs `sql` with `values` on a pooled connection of `db` and answers its rows (or, with `count`, the
/// affected row count), under the config's statement timeout.
pub async fn run(db: &Db, sql: &str, values: Vec<Param>, count: bool) -> Result<Outcome, FlowError> {
    let work = async {
        match crate::component::scope::innermost::<Transaction>(|t| t.config == db.name) {
            Some(transaction) => {
                let guard = transaction.client.lock().await;
                let client = guard.as_ref().ok_or_else(|| db.error("DB:QUERY", "the transaction has ended".into()))?;
                on(db, client, sql, &values, count).await
            }
            None => on(db, &db.client().await?, sql, &values, count).await,
        }
    };
    tokio::time::timeout(db.statement_timeout, work).await.map_err(|_| {
        db.error("DB:TIMEOUT", format!("no answer from {} within {:?}", db.target, db.statement_timeout))
    })?
}

/// Runs `sql` on `client`.
async fn on(
    db: &Db,
    client: &deadpool_postgres::Object,
    sql: &str,
    values: &[Param],
    count: bool,
) -> Result<Outcome, FlowError> {
    let statement = client.prepare_cached(sql).await.map_err(|e| db.statement_error(&e))?;
    let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
        values.iter().map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync)).collect();
    if count {
        let n = client.execute(&statement, &refs).await.map_err(|e| db.statement_error(&e))?;
        return Ok(Outcome::Count(n));
    }
    let rows = client.query(&statement, &refs).await.map_err(|e| db.statement_error(&e))?;
    let rows = rows.iter().map(row_to_json).collect::<Result<Vec<_>, _>>().map_err(|why| db.error("DB:QUERY", why))?;
    Ok(Outcome::Rows(rows))
}

impl Statement {
    /// The client span of the statement (`None` when tracing is off), under the span the event is in. The
    /// SQL is the flow file's, with placeholders: parameter values are never recorded.
    fn span(&self, event: &Event) -> Option<crate::trace::Span> {
        use crate::trace::KeyValue;
        if !crate::trace::is_on() {
            return None;
        }
        let operation = self.sql.split_whitespace().next().unwrap_or("SQL").to_ascii_uppercase();
        let attributes = vec![
            KeyValue::new("db.system.name", "postgresql"),
            KeyValue::new("db.operation.name", operation.clone()),
            KeyValue::new("db.query.text", self.sql.clone()),
            KeyValue::new("relais.system", self.db.name.to_string()),
        ];
        let name = format!("{operation} {}", self.db.name);
        crate::trace::Span::start(name, crate::trace::SpanKind::Client, event.trace.as_ref(), attributes)
    }
}

impl ComponentNode for Statement {
    fn call<'a>(&'a self, cx: &'a dyn Context, event: Event) -> CallFuture<'a> {
        Box::pin(async move {
            let mut values = Vec::with_capacity(self.parameters.len());
            for plan in &self.parameters {
                values.push(Param(cx.value(plan, &event)?));
            }
            let span = self.span(&event);
            let metrics = cx.metrics().outbound(&self.db.name);
            let started = std::time::Instant::now();
            let answer = run(&self.db, &self.sql, values, matches!(self.answer, Answer::Count)).await;
            let answer = answer.and_then(|outcome| self.shaped(outcome));
            match &answer {
                // Counted as a request answered 200, as the other outbound systems count success.
                Ok(_) => metrics.exchange(started.elapsed(), Some(200)),
                Err(error) => {
                    metrics.exchange(started.elapsed(), None);
                    metrics.error(&error.error_type.to_string(), None);
                }
            }
            if let Some(mut span) = span {
                if let Err(error) = &answer {
                    span.fail(&error.error_type.to_string());
                }
                span.end();
            }
            let value = answer?;
            let mut ev = event;
            match &self.target {
                Some(var) => ev.set_var(var, value),
                None => ev.set_payload(Payload::value(value)),
            }
            Ok(ev)
        })
    }
}

impl Statement {
    /// The value a statement's outcome gives the event: the count, the rows, or the one row `single` asks for.
    fn shaped(&self, outcome: Outcome) -> Result<Json, FlowError> {
        Ok(match (outcome, self.answer) {
            (Outcome::Count(n), _) => Json::from(n),
            (Outcome::Rows(rows), Answer::Rows { single: true }) => {
                let mut rows = rows.into_iter();
                match (rows.next(), rows.next()) {
                    (Some(row), None) => row,
                    (None, _) => return Err(self.db.error("DB:NO_ROWS", "the query returned no row".into())),
                    (Some(_), Some(_)) => {
                        return Err(self.db.error(
                            "DB:TOO_MANY_ROWS",
                            "the query returned more than one row with `single: true` (add a `LIMIT 1` or a \
                                 tighter `WHERE`)"
                                .into(),
                        ))
                    }
                }
            }
            (Outcome::Rows(rows), _) => Json::Array(rows),
        })
    }
}
