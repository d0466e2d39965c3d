//! Metered replacements for Rhai's own string functions whose cost grows with their input: registered on the
//! engine itself, they take precedence over the package versions. Each debits the meter by the bytes it scans
//! and produces, and `replace` computes its result's length before building it, so `s.replace("a", long)` on a
//! 1 MiB string is refused instead of allocating `1 MiB x long` first. Same names, arguments and results as
//! Rhai's, so scripts see no difference.

use rhai::{Array, Engine, EvalAltResult, ImmutableString, Position, INT};

use super::FnResult;
use crate::meter::charge_bytes;
use crate::Limits;

/// A string of `len` bytes would exceed `max`: refused before it is built.
pub(crate) fn ensure_fits(len: usize, max: usize) -> FnResult<()> {
    if max > 0 && len > max {
        return Err(EvalAltResult::ErrorDataTooLarge("Length of string".into(), Position::NONE).into());
    }
    Ok(())
}

fn replace(string: &mut ImmutableString, find: &str, substitute: &str, max: usize) -> FnResult<()> {
    if string.is_empty() {
        return Ok(());
    }
    charge_bytes(string.len())?;
    let count = string.matches(find).count();
    let len = (string.len() - count * find.len()).saturating_add(count.saturating_mul(substitute.len()));
    ensure_fits(len, max)?;
    charge_bytes(len)?;
    *string = string.replace(find, substitute).into();
    Ok(())
}

fn index_of(string: &str, find: &str) -> FnResult<INT> {
    charge_bytes(string.len())?;
    if string.is_empty() {
        return Ok(-1);
    }
    Ok(string.find(find).map_or(-1, |index| INT::try_from(string[..index].chars().count()).unwrap_or(-1)))
}

fn split(string: &str, delimiter: &str, max_items: usize) -> FnResult<Array> {
    charge_bytes(string.len())?;
    if string.is_empty() || (!delimiter.is_empty() && !string.contains(delimiter)) {
        return Ok(vec![string.into()]);
    }
    let count = string.matches(delimiter).count().saturating_add(1);
    if max_items > 0 && count > max_items {
        return Err(EvalAltResult::ErrorDataTooLarge("Size of array".into(), Position::NONE).into());
    }
    Ok(string.split(delimiter).map(Into::into).collect())
}

/// Registers the metered versions of Rhai's `replace`, `contains`, `index_of`, `split`, `to_upper` and
/// `to_lower`.
pub(crate) fn register(engine: &mut Engine, limits: &Limits) {
    let max = limits.max_string_size;
    engine.register_fn("replace", move |s: &mut ImmutableString, f: &str, r: &str| replace(s, f, r, max));
    engine.register_fn("replace", move |s: &mut ImmutableString, f: &str, r: char| {
        replace(s, f, r.encode_utf8(&mut [0; 4]), max)
    });
    engine.register_fn("replace", move |s: &mut ImmutableString, f: char, r: &str| {
        replace(s, f.encode_utf8(&mut [0; 4]), r, max)
    });
    engine.register_fn("replace", move |s: &mut ImmutableString, f: char, r: char| {
        replace(s, f.encode_utf8(&mut [0; 4]), r.encode_utf8(&mut [0; 4]), max)
    });
    engine.register_fn("contains", |s: &str, f: &str| -> FnResult<bool> {
        charge_bytes(s.len())?;
        Ok(s.contains(f))
    });
    engine.register_fn("index_of", index_of);
    let max_items = limits.max_array_size;
    engine.register_fn("split", move |s: &mut ImmutableString, d: &str| split(s, d, max_items));
    engine.register_fn("to_upper", |s: &str| -> FnResult<String> {
        charge_bytes(s.len())?;
        Ok(s.to_uppercase())
    });
    engine.register_fn("to_lower", |s: &str| -> FnResult<String> {
        charge_bytes(s.len())?;
        Ok(s.to_lowercase())
    });
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn replace_builds_what_rhai_builds() {
        let mut s: ImmutableString = "a-b-c".into();
        replace(&mut s, "-", "+=", 100).unwrap();
        assert_eq!(s.as_str(), "a+=b+=c");
        let mut s: ImmutableString = "ab".into();
        replace(&mut s, "", "_", 100).unwrap();
        assert_eq!(s.as_str(), "_a_b_");
    }

    #[test]
    fn a_replacement_too_long_is_refused_and_leaves_the_string_alone() {
        let mut s: ImmutableString = "aaaa".into();
        assert!(replace(&mut s, "a", "bbb", 10).is_err());
        assert_eq!(s.as_str(), "aaaa");
    }

    #[test]
    fn split_and_index_of_agree_with_rhai() {
        assert_eq!(split("a,b", ",", 10).unwrap().len(), 2);
        assert!(split(",,,,", ",", 3).is_err());
        assert_eq!(index_of("héllo", "l").unwrap(), 2);
        assert_eq!(index_of("", "l").unwrap(), -1);
    }
}
