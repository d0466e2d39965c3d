//! The behaviour suite on the in-memory backend.

mod behaviour;

use relais_store::MemoryStore;

behaviour_suite!(Box::new(MemoryStore::new()), stream_keys: 100_000);
