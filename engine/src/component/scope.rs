//! Scopes a resource opens around a list of steps (a database transaction): the runtime opens one when
//! it enters the list, makes it visible to the steps inside through a task-local stack ([`within`],
//! [`innermost`]), and finishes it (commit or roll back) when the list ends. The plan and the runtime
//! know only these traits; the resource decides what opening and finishing mean.

use crate::event::FlowError;
use futures_util::future::BoxFuture;
use std::any::Any;
use std::future::Future;
use std::sync::Arc;

/// A scope opened for one run of a step list.
pub trait OpenScope: Any + Send + Sync {
    /// Ends the scope: `succeeded` tells whether the steps inside succeeded (commit) or failed (roll back).
    fn finish(&self, succeeded: bool) -> BoxFuture<'_, Result<(), FlowError>>;
}

tokio::task_local! {
    /// The scopes open around the running step, innermost last.
    static OPEN: Vec<Arc<dyn OpenScope>>;
}

/// Runs `work` with `scope` open on top of the scopes already open. Work spawned on other tasks from
/// inside (`async`, `parallel_foreach`) does not see it.
pub async fn within<F: Future>(scope: Arc<dyn OpenScope>, work: F) -> F::Output {
    let mut stack = OPEN.try_with(Clone::clone).unwrap_or_default();
    stack.push(scope);
    OPEN.scope(stack, work).await
}

/// The innermost open scope of type `T` that `accept` takes (a transaction of the step's own config).
pub fn innermost<T: OpenScope>(accept: impl Fn(&T) -> bool) -> Option<Arc<T>> {
    OPEN.try_with(|stack| {
        stack.iter().rev().find_map(|scope| {
            let any: Arc<dyn Any + Send + Sync> = scope.clone();
            any.downcast::<T>().ok().filter(|t| accept(t))
        })
    })
    .ok()
    .flatten()
}
