//! An event's attributes: what its source knows (an HTTP request's method, path, parameters, query and
//! headers; a message's delivery count), as a JSON value, built on first read.
//!
//! Most flows never read them: a listener answering a fixed body or forwarding the request body pays for
//! nothing but keeping the request's head. A source that has them at hand gives a value
//! ([`Attributes::from`]); one that would have to build a tree gives a recipe ([`Attributes::lazy`]), run
//! once, when a step, a script or a scrubber first reads them. Reading goes through `Deref` to the JSON
//! value, so `event.attributes["method"]` reads as it did when they were a plain value.

use serde_json::{Map, Value as Json};
use std::sync::{Arc, OnceLock};

/// How lazy attributes are built.
type Recipe = Box<dyn Fn() -> Json + Send + Sync>;

/// An event's attributes (see the module comment). Cloning shares them.
#[derive(Clone)]
pub struct Attributes(Arc<Inner>);

struct Inner {
    value: OnceLock<Json>,
    recipe: Option<Recipe>,
}

impl Attributes {
    /// Attributes built by `recipe` the first time they are read (never, if nothing reads them).
    pub fn lazy(recipe: impl Fn() -> Json + Send + Sync + 'static) -> Self {
        Attributes(Arc::new(Inner { value: OnceLock::new(), recipe: Some(Box::new(recipe)) }))
    }

    /// No attributes: an empty map, shared by every event that has none (making one allocates nothing).
    pub fn none() -> Self {
        static EMPTY: OnceLock<Attributes> = OnceLock::new();
        EMPTY.get_or_init(|| Attributes::from(Json::Object(Map::new()))).clone()
    }

    /// The attributes as a value, built now if they were not yet.
    pub fn value(&self) -> &Json {
        self.0.value.get_or_init(|| match &self.0.recipe {
            Some(recipe) => recipe(),
            None => Json::Object(Map::new()),
        })
    }
}

impl From<Json> for Attributes {
    fn from(value: Json) -> Self {
        let cell = OnceLock::new();
        let _ = cell.set(value);
        Attributes(Arc::new(Inner { value: cell, recipe: None }))
    }
}

impl From<Arc<Json>> for Attributes {
    fn from(value: Arc<Json>) -> Self {
        Attributes::from(Arc::unwrap_or_clone(value))
    }
}

impl std::ops::Deref for Attributes {
    type Target = Json;

    fn deref(&self) -> &Json {
        self.value()
    }
}

impl AsRef<Json> for Attributes {
    fn as_ref(&self) -> &Json {
        self.value()
    }
}

impl std::fmt::Debug for Attributes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn lazy_attributes_are_built_once_on_first_read_and_shared_by_clones() {
        let built = Arc::new(AtomicUsize::new(0));
        let counter = built.clone();
        let attributes = Attributes::lazy(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            serde_json::json!({ "method": "GET" })
        });
        let copy = attributes.clone();
        assert_eq!(built.load(Ordering::SeqCst), 0, "nothing read them yet");
        assert_eq!(attributes["method"], "GET");
        assert_eq!(copy["method"], "GET");
        assert_eq!(built.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn given_attributes_read_as_given_and_none_is_an_empty_map() {
        assert_eq!(Attributes::from(serde_json::json!({ "delivery": 2 }))["delivery"], 2);
        assert_eq!(*Attributes::none(), Json::Object(Map::new()));
    }
}
