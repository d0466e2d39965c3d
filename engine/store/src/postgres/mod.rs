//! The shared backend: the state in a PostgreSQL schema, so several relais replicas share their queues, object
//! stores, dead letters and scheduler leases (`relais run --state postgres://...`).
//!
//! Every call is one short statement or transaction on a pooled connection (see the submodules for the
//! statements and round trips of each), run on the store's own runtime (`runtime.rs`) while the caller waits.
//! Every change is committed before the call returns (PostgreSQL's `synchronous_commit` decides what "durable"
//! means there). Nothing is exclusive: [`StateStore::is_exclusive`] is false, so idempotency claims left
//! pending by another replica are taken over only after their timeout, and leases are never released at start.

mod codec;
mod dead_letters;
mod failure;
mod layout;
mod leases;
mod objects;
mod queues;
mod runtime;
mod target;
pub mod tls;

pub use target::{is_postgres_url, redact, Target, DEFAULT_POOL_SIZE, DEFAULT_SCHEMA};

use crate::dead_letter::{DeadLetter, DeadLetterFilter, DeadLetterId, StoredDeadLetter};
use crate::error::StoreError;
use crate::message::{Failure, Leased, Message, MessageId, NackOutcome, QueueStats, Redelivery};
use crate::time::Timestamp;
use crate::StateStore;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use failure::Failed;
use serde_json::Value as Json;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often the store checks that PostgreSQL answers (`SELECT 1` on a pooled connection), so that
/// [`StateStore::is_available`] turns false, and back to true, even while no call is made.
const PROBE_EVERY: Duration = Duration::from_secs(2);

/// How long a call waits for a free pooled connection, and for a new one to be opened.
const POOL_WAIT: Duration = Duration::from_secs(10);

/// What the calls share with the work they spawn.
struct Shared {
    pool: Pool,
    /// The URL with its password: only to take the password out of driver messages, never shown.
    url: String,
    /// The URL as shown.
    shown: String,
    /// Whether the last call (or probe) reached PostgreSQL.
    available: AtomicBool,
}

/// The state in a PostgreSQL schema, shared by every replica that names the same database and schema.
pub struct PgStore {
    shared: Arc<Shared>,
    schema: String,
    executor: runtime::Executor,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore").field("url", &self.shared.shown).field("schema", &self.schema).finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to the database `url` names (`postgres://user:password@host:port/database?schema=NAME`),
    /// creating the schema and its tables or migrating them to this relais's layout.
    ///
    /// Fails with [`StoreError::BadUrl`] for a URL it cannot use, [`StoreError::Unreachable`] when the server
    /// cannot be reached or refuses the login, and [`StoreError::Incompatible`] when the schema was migrated
    /// by a newer relais (it is left untouched). No message holds the password.
    pub fn connect(url: &str) -> Result<PgStore, StoreError> {
        let target = Target::parse(url)?;
        let executor =
            runtime::Executor::start().map_err(|e| StoreError::storage("starting the PostgreSQL runtime", e))?;
        let manager = Manager::from_config(
            target.config.clone(),
            target.tls()?,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(target.pool_size)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .recycle_timeout(Some(POOL_WAIT))
            .build()
            .map_err(|e| StoreError::storage("building the PostgreSQL pool", e.to_string()))?;
        let shared = Arc::new(Shared {
            pool,
            url: url.to_string(),
            shown: target.shown.clone(),
            available: AtomicBool::new(true),
        });
        let store = PgStore { shared, schema: target.schema.clone(), executor };
        let schema = store.schema.clone();
        let layout = store
            .call("opening the state schema", move |mut c| async move { layout::migrate(&mut c, &schema).await })?;
        if let layout::Layout::Newer(version) = layout {
            return Err(StoreError::Incompatible {
                state: format!("schema {} of {}", store.schema, store.shared.shown),
                detail: format!("layout version {version}, this relais reads {}", layout::LAYOUT_VERSION),
                way_out: "a newer relais migrated it: run that version (or a newer one) on every replica, or \
                          point this one at another schema (`?schema=NAME` in the URL)",
            });
        }
        store.start_probe();
        Ok(store)
    }

    /// The schema the state lives in.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The URL as it may be shown (password replaced).
    pub fn shown_url(&self) -> &str {
        &self.shared.shown
    }

    /// Checks every [`PROBE_EVERY`] that PostgreSQL answers, for [`StateStore::is_available`].
    fn start_probe(&self) {
        let shared = Arc::downgrade(&self.shared);
        self.executor.spawn(async move {
            loop {
                tokio::time::sleep(PROBE_EVERY).await;
                let Some(shared) = shared.upgrade() else { return };
                let probe = async {
                    let client = shared.pool.get().await.map_err(Failed::from)?;
                    client.simple_query("SELECT 1").await.map_err(Failed::from)
                };
                let answered = tokio::time::timeout(POOL_WAIT, probe).await.is_ok_and(|r| r.is_ok());
                shared.available.store(answered, Ordering::Relaxed);
            }
        });
    }

    /// Runs `work` with a pooled connection on the store's runtime and waits for it; a failure becomes a
    /// [`StoreError`] naming `operation`, and one that means PostgreSQL is out of reach marks the store
    /// unavailable until a call or the probe reaches it again.
    fn call<T, F, Fut>(&self, operation: &'static str, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Object) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, Failed>> + Send,
    {
        let shared = self.shared.clone();
        let run = async move {
            let result = match shared.pool.get().await {
                Ok(client) => work(client).await,
                Err(e) => Err(Failed::from(e)),
            };
            let result = result.map_err(|e| e.into_store_error(operation, &shared.shown, &shared.url));
            shared.available.store(!matches!(&result, Err(e) if e.is_unavailable()), Ordering::Relaxed);
            result
        };
        let shown = self.shared.shown.clone();
        let available = self.shared.clone();
        self.executor.run(run, move || {
            available.available.store(false, Ordering::Relaxed);
            StoreError::Unreachable {
                url: shown,
                operation,
                detail: format!("no answer within {:?}", runtime::CALL_TIMEOUT),
            }
        })
    }
}

impl StateStore for PgStore {
    fn get(&self, store: &str, key: &str, now: Timestamp) -> Result<Option<Json>, StoreError> {
        let (store, key) = (store.to_string(), key.to_string());
        self.call("reading an entry", move |c| async move { objects::get(&c, &store, &key, now).await })
    }

    fn put(
        &self,
        store: &str,
        key: &str,
        value: &Json,
        ttl: Option<Duration>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let (store, key, value) = (store.to_string(), key.to_string(), value.clone());
        self.call("writing an entry", move |c| async move { objects::put(&c, &store, &key, &value, ttl, now).await })
    }

    fn put_if_absent(
        &self,
        store: &str,
        key: &str,
        value: &Json,
        ttl: Option<Duration>,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let (store, key, value) = (store.to_string(), key.to_string(), value.clone());
        self.call("claiming an entry", move |c| async move {
            objects::put_if_absent(&c, &store, &key, &value, ttl, now).await
        })
    }

    fn compare_and_set(
        &self,
        store: &str,
        key: &str,
        expected: &Json,
        value: Option<&Json>,
        ttl: Option<Duration>,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let (store, key, expected, value) = (store.to_string(), key.to_string(), expected.clone(), value.cloned());
        self.call("replacing an entry", move |c| async move {
            objects::compare_and_set(&c, &store, &key, &expected, value.as_ref(), ttl, now).await
        })
    }

    fn is_exclusive(&self) -> bool {
        false
    }

    fn is_available(&self) -> bool {
        self.shared.available.load(Ordering::Relaxed)
    }

    fn remove(&self, store: &str, key: &str, now: Timestamp) -> Result<bool, StoreError> {
        let (store, key) = (store.to_string(), key.to_string());
        self.call("removing an entry", move |c| async move { objects::remove(&c, &store, &key, now).await })
    }

    fn sweep_expired(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.call("sweeping expired entries", move |c| async move { objects::sweep_expired(&c, now).await })
    }

    fn object_entries(&self) -> Result<u64, StoreError> {
        self.call("counting entries", |c| async move { objects::count(&c).await })
    }

    fn enqueue(&self, queue: &str, message: &Message, now: Timestamp) -> Result<MessageId, StoreError> {
        let (queue, message) = (queue.to_string(), message.clone());
        self.call("enqueueing a message", move |c| async move { queues::enqueue(&c, &queue, &message, now).await })
    }

    fn lease(&self, queue: &str, visibility_timeout: Duration, now: Timestamp) -> Result<Option<Leased>, StoreError> {
        Ok(self.ack_and_lease(queue, &[], 1, visibility_timeout, now)?.into_iter().next())
    }

    fn ack(&self, queue: &str, id: MessageId) -> Result<bool, StoreError> {
        let queue = queue.to_string();
        self.call("acking a message", move |c| async move { queues::ack(&c, &queue, id).await })
    }

    fn ack_and_lease(
        &self,
        queue: &str,
        acks: &[MessageId],
        max: usize,
        visibility_timeout: Duration,
        now: Timestamp,
    ) -> Result<Vec<Leased>, StoreError> {
        if acks.is_empty() && max == 0 {
            return Ok(Vec::new());
        }
        let (queue, acks) = (queue.to_string(), acks.to_vec());
        self.call("leasing messages", move |c| async move {
            queues::ack_and_lease(&c, &queue, &acks, max, visibility_timeout, now).await
        })
    }

    fn unlease(&self, queue: &str, ids: &[MessageId]) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let (queue, ids) = (queue.to_string(), ids.to_vec());
        self.call("giving back leased messages", move |c| async move { queues::unlease(&c, &queue, &ids).await })
    }

    fn nack(
        &self,
        queue: &str,
        id: MessageId,
        redelivery: Redelivery,
        failure: &Failure,
        now: Timestamp,
    ) -> Result<NackOutcome, StoreError> {
        let (queue, failure) = (queue.to_string(), failure.clone());
        self.call("nacking a message", move |mut c| async move {
            queues::nack(&mut c, &queue, id, redelivery, &failure, now).await
        })
    }

    fn release_leases(&self) -> Result<u64, StoreError> {
        self.call("releasing leases", |c| async move { queues::release_leases(&c).await })
    }

    fn queue_stats(&self, queue: &str, now: Timestamp) -> Result<QueueStats, StoreError> {
        let queue = queue.to_string();
        self.call("counting messages", move |c| async move { queues::stats(&c, &queue, now).await })
    }

    fn oldest_ready(&self, queue: &str) -> Result<Option<Timestamp>, StoreError> {
        let queue = queue.to_string();
        self.call("finding the oldest ready message", move |c| async move { queues::oldest_ready(&c, &queue).await })
    }

    fn dead_letter(&self, letter: &DeadLetter) -> Result<DeadLetterId, StoreError> {
        let letter = letter.clone();
        self.call("storing a dead letter", move |c| async move { dead_letters::insert(&c, &letter).await })
    }

    fn list_dead_letters(&self, filter: &DeadLetterFilter) -> Result<Vec<StoredDeadLetter>, StoreError> {
        let filter = filter.clone();
        self.call("listing dead letters", move |c| async move { dead_letters::list(&c, &filter).await })
    }

    fn get_dead_letter(&self, id: DeadLetterId) -> Result<Option<StoredDeadLetter>, StoreError> {
        self.call("reading a dead letter", move |c| async move { dead_letters::get(&c, id).await })
    }

    fn take_dead_letter(&self, id: DeadLetterId) -> Result<Option<StoredDeadLetter>, StoreError> {
        self.call("taking a dead letter", move |c| async move { dead_letters::take(&c, id).await })
    }

    fn replay_dead_letter(
        &self,
        id: DeadLetterId,
        now: Timestamp,
    ) -> Result<Option<(StoredDeadLetter, MessageId)>, StoreError> {
        self.call("replaying a dead letter", move |c| async move { dead_letters::replay(&c, id, now).await })
    }

    fn purge_dead_letters(&self, filter: &DeadLetterFilter) -> Result<u64, StoreError> {
        let filter = filter.clone();
        self.call("purging dead letters", move |c| async move { dead_letters::purge(&c, &filter).await })
    }

    fn try_acquire_lease(&self, name: &str, holder: &str, ttl: Duration, now: Timestamp) -> Result<bool, StoreError> {
        let (name, holder) = (name.to_string(), holder.to_string());
        self.call("taking a lease", move |c| async move { leases::try_acquire(&c, &name, &holder, ttl, now).await })
    }

    fn release_lease(&self, name: &str, holder: &str) -> Result<bool, StoreError> {
        let (name, holder) = (name.to_string(), holder.to_string());
        self.call("releasing a lease", move |c| async move { leases::release(&c, &name, &holder).await })
    }
}
