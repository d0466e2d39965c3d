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
mod metered;
mod phone;
mod random;
pub(crate) mod strings;
mod xml_format;

pub(crate) use csv_format::read_csv;

/// The result of a mapping function: a value or a Rhai runtime error.
pub(crate) type FnResult<T> = Result<T, Box<EvalAltResult>>;

/// A Rhai runtime error with `message`; Rhai adds the position of the call.
pub(crate) fn fail(message: impl Into<String>) -> Box<EvalAltResult> {
    let message: String = message.into();
    message.into()
}

/// Debits the meter for scanning `text` (see [`crate::meter`]): every function whose work grows with a string
/// argument calls it first.
pub(crate) fn scan(text: &str) -> FnResult<()> {
    crate::meter::charge_bytes(text.len())
}

/// Debits the meter for walking `value` (its items and string bytes), refusing it when its text would pass
/// `max` bytes: functions that write a whole value out call it before building the text.
pub(crate) fn scan_value(value: &rhai::Dynamic, max: usize) -> FnResult<()> {
    let size = crate::meter::text_size(value, if max == 0 { usize::MAX } else { max })?;
    crate::meter::charge_bytes(size)
}

/// Registers every family into `engine`.
pub(crate) fn register_all(engine: &mut Engine, limits: &Limits, lookups: &Lookups, clock: &Clock) {
    metered::register(engine, limits);
    dates::register(engine, clock);
    strings::register(engine, limits);
    phone::register(engine);
    email::register(engine);
    crypto::register(engine, limits);
    json_format::register(engine, limits);
    csv_format::register(engine, limits);
    xml_format::register(engine, limits);
    lookup::register(engine, lookups);
    masking::register(engine, limits);
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
