//! The mapping library: one file per family of functions, each registered as global Rhai functions.

use rhai::{Engine, EvalAltResult};

use crate::docs::FunctionDoc;
use crate::{Clock, Limits, Lookups};

mod calling_codes;
mod collections;
mod crypto;
mod csv_format;
mod dates;
mod durations;
mod email;
mod field_path;
mod json_format;
mod lookup;
mod masking;
mod phone;
mod random;
mod strings;
mod xml_format;

pub(crate) use csv_format::read_csv;

/// The result of a mapping function: a value or a Rhai runtime error.
pub(crate) type FnResult<T> = Result<T, Box<EvalAltResult>>;

/// A Rhai runtime error with `message`; Rhai adds the position of the call.
pub(crate) fn fail(message: impl Into<String>) -> Box<EvalAltResult> {
    let message: String = message.into();
    message.into()
}

/// Registers every family into `engine`.
pub(crate) fn register_all(engine: &mut Engine, limits: &Limits, lookups: &Lookups, clock: &Clock) {
    dates::register(engine, clock);
    strings::register(engine, limits);
    phone::register(engine);
    email::register(engine);
    crypto::register(engine);
    json_format::register(engine);
    csv_format::register(engine);
    xml_format::register(engine);
    lookup::register(engine, lookups);
    masking::register(engine);
    collections::register(engine);
    random::register(engine);
}

/// The documentation of every family, in the order of [`register_all`].
pub(crate) fn all_docs() -> Vec<FunctionDoc> {
    [
        dates::DOCS,
        strings::DOCS,
        phone::DOCS,
        email::DOCS,
        crypto::DOCS,
        json_format::DOCS,
        csv_format::DOCS,
        xml_format::DOCS,
        lookup::DOCS,
        masking::DOCS,
        collections::DOCS,
        random::DOCS,
    ]
    .concat()
}
