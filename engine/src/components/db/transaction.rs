//! `db.transaction`: a scope whose `db.query` / `db.execute` steps naming the same config run on one
//! connection inside `BEGIN` ... `COMMIT`, rolled back when a step inside fails. The runtime opens it
//! through [`Db`]'s `Resource::open_scope` and finishes it with the steps' outcome; the statements find
//! it with `component::scope::innermost`. Steps run on other tasks (`async`, `parallel_foreach`) are
//! outside it and use the pool.

use super::Db;
use crate::component::OpenScope;
use crate::event::FlowError;
use futures_util::future::BoxFuture;
use std::sync::Arc;
use tokio::sync::Mutex;

/// An open transaction of one config.
pub struct Transaction {
    /// The config's name: statements of that config run inside (one event runs on one program, so
    /// the name is the config).
    pub config: String,
    /// The connection, `None` once finished.
    pub client: Mutex<Option<deadpool_postgres::Object>>,
}

impl Db {
    /// Takes a connection and begins a transaction on it.
    pub(super) async fn begin(&self) -> Result<Arc<dyn OpenScope>, FlowError> {
        let client = self.client().await?;
        tokio::time::timeout(self.statement_timeout, client.batch_execute("BEGIN"))
            .await
            .map_err(|_| self.error("DB:TIMEOUT", format!("BEGIN not answered within {:?}", self.statement_timeout)))?
            .map_err(|e| self.statement_error(&e))?;
        Ok(Arc::new(Transaction { config: self.name.clone(), client: Mutex::new(Some(client)) }))
    }
}

impl OpenScope for Transaction {
    fn finish(&self, succeeded: bool) -> BoxFuture<'_, Result<(), FlowError>> {
        Box::pin(async move {
            let Some(client) = self.client.lock().await.take() else { return Ok(()) };
            let word = if succeeded { "COMMIT" } else { "ROLLBACK" };
            match client.batch_execute(word).await {
                Ok(()) => Ok(()),
                Err(e) => {
                    // A connection whose transaction could not be ended is never handed out again.
                    let _ = deadpool_postgres::Object::take(client);
                    let kind = if e.is_closed() { "DB:CONNECTIVITY" } else { "DB:QUERY" };
                    let error = FlowError::new(kind, format!("config `{}`: {word} failed: {e}", self.config))
                        .from_upstream(format!("the database call of config `{}` failed ({kind})", self.config));
                    if !succeeded {
                        tracing::warn!(config = %self.config, "ROLLBACK failed (the server rolls back a transaction whose connection ends): {e}");
                    }
                    Err(error)
                }
            }
        })
    }
}
