//! PostgreSQL values as flows see them, both ways: a row becomes a JSON map (column name -> value) and a
//! parameter's JSON value is encoded as the type the server expects for its placeholder.
//!
//! Columns: `bool` -> boolean; `int2`/`int4`/`int8`/`oid` -> integer; `float4`/`float8` -> number (NaN and
//! infinities as the strings `"NaN"`, `"Infinity"`, `"-Infinity"`); `numeric` -> a string holding the exact
//! decimal (`"12.50"`, scale kept: a JSON number would round it); text kinds and enums -> string;
//! `json`/`jsonb` -> the value itself; `timestamptz` -> RFC 3339 in UTC (`2026-07-26T18:30:00Z`);
//! `timestamp` -> the same without offset; `date` -> `YYYY-MM-DD`; `time` -> `HH:MM:SS[.f]`; `uuid` ->
//! string; `bytea` -> base64 string; arrays of any of these -> lists; NULL -> null. Any other type is a
//! `DB:QUERY` error naming the column, with the cast that reads it (`::text`).

use base64::Engine as _;
use serde_json::{Map, Number, Value as Json};
use std::error::Error;
use tokio_postgres::types::{to_sql_checked, FromSql, IsNull, Kind, ToSql, Type};
use tokio_postgres::Row;

type BoxError = Box<dyn Error + Sync + Send>;

/// A column's bytes as the server sent them, whatever its type: decoded by [`decode`].
struct Raw<'a>(&'a [u8]);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Raw(raw))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Row `row` as a JSON map, or why one column cannot be read (naming it).
pub fn row_to_json(row: &Row) -> Result<Json, String> {
    let mut map = Map::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let raw: Option<Raw<'_>> = row.try_get(i).map_err(|e| format!("column `{}`: {e}", column.name()))?;
        let value = match raw {
            None => Json::Null,
            Some(Raw(bytes)) => decode(column.type_(), bytes).map_err(|why| match why {
                Unreadable::Type(ty) => format!(
                    "column `{}` has type `{ty}`, which relais does not read; cast it in the query \
                     (`{}::text`)",
                    column.name(),
                    column.name()
                ),
                Unreadable::Bytes(e) => format!("column `{}` ({}): {e}", column.name(), column.type_()),
            })?,
        };
        map.insert(column.name().to_string(), value);
    }
    Ok(Json::Object(map))
}

/// Why a value could not be read.
enum Unreadable {
    /// A type relais has no mapping for.
    Type(String),
    /// Bytes that are not a value of the type (a server bug, in practice).
    Bytes(BoxError),
}

impl From<BoxError> for Unreadable {
    fn from(e: BoxError) -> Self {
        Unreadable::Bytes(e)
    }
}

fn float(f: f64) -> Json {
    match Number::from_f64(f) {
        Some(n) => Json::Number(n),
        None if f.is_nan() => Json::String("NaN".into()),
        None if f > 0.0 => Json::String("Infinity".into()),
        None => Json::String("-Infinity".into()),
    }
}

/// One non-null value of type `ty`.
fn decode(ty: &Type, raw: &[u8]) -> Result<Json, Unreadable> {
    Ok(match *ty {
        Type::BOOL => Json::Bool(bool::from_sql(ty, raw)?),
        Type::INT2 => Json::from(i16::from_sql(ty, raw)?),
        Type::INT4 => Json::from(i32::from_sql(ty, raw)?),
        Type::INT8 => Json::from(i64::from_sql(ty, raw)?),
        Type::OID => Json::from(u32::from_sql(ty, raw)?),
        Type::FLOAT4 => float(f64::from(f32::from_sql(ty, raw)?)),
        Type::FLOAT8 => float(f64::from_sql(ty, raw)?),
        Type::NUMERIC => Json::String(numeric_text(raw)?),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            Json::String(String::from_sql(&Type::TEXT, raw)?)
        }
        Type::JSON | Type::JSONB => serde_json::Value::from_sql(ty, raw)?,
        Type::TIMESTAMPTZ => Json::String(
            chrono::DateTime::<chrono::Utc>::from_sql(ty, raw)?.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        ),
        Type::TIMESTAMP => {
            Json::String(chrono::NaiveDateTime::from_sql(ty, raw)?.format("%Y-%m-%dT%H:%M:%S%.f").to_string())
        }
        Type::DATE => Json::String(chrono::NaiveDate::from_sql(ty, raw)?.to_string()),
        Type::TIME => Json::String(chrono::NaiveTime::from_sql(ty, raw)?.to_string()),
        Type::UUID => Json::String(uuid::Uuid::from_sql(ty, raw)?.to_string()),
        Type::BYTEA => Json::String(base64::engine::general_purpose::STANDARD.encode(raw)),
        _ => match ty.kind() {
            Kind::Enum(_) => Json::String(String::from_utf8(raw.to_vec()).map_err(|e| Unreadable::Bytes(e.into()))?),
            Kind::Array(member) => {
                let elements: Vec<Option<Raw<'_>>> = Vec::from_sql(ty, raw)?;
                let mut list = Vec::with_capacity(elements.len());
                for element in elements {
                    list.push(match element {
                        None => Json::Null,
                        Some(Raw(bytes)) => decode(member, bytes)?,
                    });
                }
                Json::Array(list)
            }
            Kind::Domain(base) => decode(base, raw)?,
            _ => return Err(Unreadable::Type(ty.name().to_string())),
        },
    })
}

/// A binary `numeric` as its exact decimal text, scale kept (`12.50`).
fn numeric_text(raw: &[u8]) -> Result<String, BoxError> {
    let word = |i: usize| -> Result<u16, BoxError> {
        raw.get(i * 2..i * 2 + 2).map(|b| u16::from_be_bytes([b[0], b[1]])).ok_or_else(|| "numeric too short".into())
    };
    let (ndigits, weight, sign, dscale) = (word(0)? as usize, word(1)? as i16, word(2)?, word(3)? as usize);
    match sign {
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        _ => {}
    }
    let digits = (0..ndigits).map(|i| word(4 + i)).collect::<Result<Vec<u16>, _>>()?;
    let digit = |position: i32| -> u16 {
        // Group `position` counts from the first stored one, whose weight is `weight`.
        usize::try_from(position).ok().and_then(|p| digits.get(p).copied()).unwrap_or(0)
    };
    let mut text = String::new();
    if sign == 0x4000 {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    } else {
        for (k, position) in (0..=i32::from(weight)).enumerate() {
            match k {
                0 => text.push_str(&digit(position).to_string()),
                _ => text.push_str(&format!("{:04}", digit(position))),
            }
        }
    }
    if dscale > 0 {
        let mut fraction = String::new();
        let mut position = i32::from(weight) + 1;
        while fraction.len() < dscale {
            fraction.push_str(&format!("{:04}", digit(position)));
            position += 1;
        }
        fraction.truncate(dscale);
        text.push('.');
        text.push_str(&fraction);
    }
    Ok(text)
}

/// Decimal text (`-12.50`, `3`) as a binary `numeric`.
fn numeric_bytes(text: &str, out: &mut bytes::BytesMut) -> Result<(), BoxError> {
    let bad = || -> BoxError { format!("`{text}` is not a decimal number").into() };
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    if int.is_empty() && frac.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let groups = |s: &str| -> Vec<u16> {
        s.as_bytes().chunks(4).map(|c| c.iter().fold(0, |n, d| n * 10 + u16::from(d - b'0'))).collect()
    };
    let int_padded = format!("{}{int}", "0".repeat((4 - int.len() % 4) % 4));
    let frac_padded = format!("{frac}{}", "0".repeat((4 - frac.len() % 4) % 4));
    let int_groups = groups(&int_padded);
    let mut digits: Vec<u16> = int_groups.iter().copied().chain(groups(&frac_padded)).collect();
    let mut weight = i32::try_from(int_groups.len()).map_err(|_| bad())? - 1;
    while digits.first() == Some(&0) {
        digits.remove(0);
        weight -= 1;
    }
    while digits.last() == Some(&0) {
        digits.pop();
    }
    if digits.is_empty() {
        weight = 0;
    }
    let word = |n: i64| -> Result<[u8; 2], BoxError> { Ok(i16::try_from(n).map_err(|_| bad())?.to_be_bytes()) };
    out.extend_from_slice(&word(digits.len() as i64)?);
    out.extend_from_slice(&word(i64::from(weight))?);
    out.extend_from_slice(&(if negative && !digits.is_empty() { 0x4000u16 } else { 0 }).to_be_bytes());
    out.extend_from_slice(&word(frac.len() as i64)?);
    for d in digits {
        out.extend_from_slice(&d.to_be_bytes());
    }
    Ok(())
}

/// A parameter's value, encoded as the type the server gave its placeholder.
#[derive(Debug)]
pub struct Param(pub Json);

/// The text of a value bound to a text placeholder: strings as they are, anything else as JSON.
fn as_text(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl ToSql for Param {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
        let value = &self.0;
        if value.is_null() {
            return Ok(IsNull::Yes);
        }
        let wrong = || -> BoxError { format!("{value} is not a value of type `{ty}`").into() };
        let integer = || -> Result<i64, BoxError> {
            match value {
                Json::Number(n) => n.as_i64().ok_or_else(wrong),
                Json::String(s) => s.trim().parse().map_err(|_| wrong()),
                _ => Err(wrong()),
            }
        };
        let number = || -> Result<f64, BoxError> {
            match value {
                Json::Number(n) => n.as_f64().ok_or_else(wrong),
                Json::String(s) => s.trim().parse().map_err(|_| wrong()),
                _ => Err(wrong()),
            }
        };
        let text = || value.as_str().ok_or_else(wrong);
        match *ty {
            Type::BOOL => value.as_bool().ok_or_else(wrong)?.to_sql(ty, out),
            Type::INT2 => i16::try_from(integer()?).map_err(|_| wrong())?.to_sql(ty, out),
            Type::INT4 => i32::try_from(integer()?).map_err(|_| wrong())?.to_sql(ty, out),
            Type::INT8 => integer()?.to_sql(ty, out),
            Type::FLOAT4 => (number()? as f32).to_sql(ty, out),
            Type::FLOAT8 => number()?.to_sql(ty, out),
            Type::NUMERIC => {
                numeric_bytes(&as_text(value), out)?;
                Ok(IsNull::No)
            }
            Type::JSON | Type::JSONB => value.to_sql(ty, out),
            Type::UUID => text()?.parse::<uuid::Uuid>().map_err(|_| wrong())?.to_sql(ty, out),
            Type::TIMESTAMPTZ => {
                chrono::DateTime::parse_from_rfc3339(text()?).map_err(|_| wrong())?.to_utc().to_sql(ty, out)
            }
            Type::TIMESTAMP => {
                let text = text()?;
                text.parse::<chrono::NaiveDateTime>()
                    .or_else(|_| chrono::DateTime::parse_from_rfc3339(text).map(|t| t.naive_utc()))
                    .map_err(|_| wrong())?
                    .to_sql(ty, out)
            }
            Type::DATE => text()?.parse::<chrono::NaiveDate>().map_err(|_| wrong())?.to_sql(ty, out),
            Type::TIME => text()?.parse::<chrono::NaiveTime>().map_err(|_| wrong())?.to_sql(ty, out),
            Type::BYTEA => {
                base64::engine::general_purpose::STANDARD.decode(text()?).map_err(|_| wrong())?.to_sql(ty, out)
            }
            _ if matches!(ty.kind(), Kind::Enum(_)) || is_text(ty) => {
                out.extend_from_slice(as_text(value).as_bytes());
                Ok(IsNull::No)
            }
            _ => {
                Err(format!("relais does not bind parameters of type `{ty}`; cast the placeholder (`$1::text`)").into())
            }
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn is_text(ty: &Type) -> bool {
    matches!(*ty, Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        let mut out = bytes::BytesMut::new();
        numeric_bytes(text, &mut out).unwrap_or_else(|e| panic!("{text}: {e}"));
        numeric_text(&out).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn numeric_text_survives_encoding_and_decoding_with_its_scale() {
        for (given, read) in [
            ("12.50", "12.50"),
            ("-0.0001", "-0.0001"),
            ("100000000", "100000000"),
            ("0", "0"),
            ("0.000", "0.000"),
            ("123456789.123456789", "123456789.123456789"),
            ("+7", "7"),
        ] {
            assert_eq!(round_trip(given), read);
        }
    }

    #[test]
    fn text_that_is_no_decimal_is_refused() {
        for bad in ["", "1e5", "abc", "1.2.3", "-"] {
            assert!(numeric_bytes(bad, &mut bytes::BytesMut::new()).is_err(), "{bad}");
        }
    }
}
