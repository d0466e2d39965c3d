//! Resources: what a named config builds once per program and shares with every step naming it (a client
//! pool, a store), with the lifecycle the daemon drives.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Whether a resource can serve now: `/ready` answers 503 while any resource is not ready, naming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Serving.
    Ready,
    /// Not serving, and why (a pool that lost its database, a store that cannot be written).
    NotReady(String),
}

/// A config's shared resource. Every hook has a default, so a resource with no connection to manage
/// (a list of sensitive fields) implements none.
///
/// Lifecycle: built when a program is compiled (failing there refuses the program, at start or reload);
/// asked [`Resource::ready`] by `/ready`; [`Resource::close`]d when the program that built it is no longer
/// running anything (a reload's predecessor once drained, or shutdown).
pub trait Resource: Any + Send + Sync {
    /// Whether the resource can serve now.
    fn ready(&self) -> Readiness {
        Readiness::Ready
    }

    /// Releases what the resource holds (idle connections); events still running may still use it, so it
    /// must keep answering, if only with errors.
    fn close(&self) {}

    /// Opens a scope around a list of steps (`db.transaction`), when the resource has such scopes.
    fn open_scope(
        &self,
    ) -> Option<futures_util::future::BoxFuture<'_, Result<Arc<dyn super::OpenScope>, crate::event::FlowError>>> {
        None
    }
}

/// The resources of one program, by config name.
#[derive(Default, Clone)]
pub struct Resources {
    by_name: BTreeMap<String, Arc<dyn Resource>>,
}

impl Resources {
    /// Adds the resource of config `name`.
    pub fn insert(&mut self, name: &str, resource: Arc<dyn Resource>) {
        self.by_name.insert(name.to_string(), resource);
    }

    /// The resource of config `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Resource>> {
        self.by_name.get(name)
    }

    /// The resource of config `name` as the type its kind builds.
    pub fn get_as<R: Resource>(&self, name: &str) -> Option<Arc<R>> {
        let any: Arc<dyn Any + Send + Sync> = self.by_name.get(name)?.clone();
        any.downcast::<R>().ok()
    }

    /// Every resource of type `R` (the sensitive-field lists of every `sensitive_data` config).
    pub fn all_of<R: Resource>(&self) -> impl Iterator<Item = Arc<R>> + '_ {
        self.by_name.values().filter_map(|r| {
            let any: Arc<dyn Any + Send + Sync> = r.clone();
            any.downcast::<R>().ok()
        })
    }

    /// The configs whose resource is not ready, with the reason.
    pub fn not_ready(&self) -> Vec<(String, String)> {
        self.by_name
            .iter()
            .filter_map(|(name, r)| match r.ready() {
                Readiness::Ready => None,
                Readiness::NotReady(why) => Some((name.clone(), why)),
            })
            .collect()
    }

    /// Closes every resource.
    pub fn close(&self) {
        for resource in self.by_name.values() {
            resource.close();
        }
    }
}
