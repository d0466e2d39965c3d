//! The topology an `amqp` config declares (exchanges, queues with their dead-letter settings, bindings),
//! declared on every connect so that a broker restarted empty gets it back; and the mapping between JSON
//! values and AMQP field tables (queue arguments, message headers).

use super::{AmqpConfig, ExchangeKind};
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::Channel;
use serde_json::{Map, Value as Json};
use std::collections::BTreeMap;

/// Declares `config`'s exchanges, then its queues, then its bindings, on `channel`; the first refusal is
/// the error (`PRECONDITION_FAILED` when an existing queue has other settings).
pub async fn declare(channel: &Channel, config: &AmqpConfig) -> Result<(), String> {
    for exchange in &config.exchanges {
        let kind = match exchange.kind {
            ExchangeKind::Direct => lapin::ExchangeKind::Direct,
            ExchangeKind::Fanout => lapin::ExchangeKind::Fanout,
            ExchangeKind::Topic => lapin::ExchangeKind::Topic,
            ExchangeKind::Headers => lapin::ExchangeKind::Headers,
        };
        let options = ExchangeDeclareOptions { durable: exchange.durable, ..Default::default() };
        channel
            .exchange_declare(exchange.name.as_str().into(), kind, options, FieldTable::default())
            .await
            .map_err(|e| format!("cannot declare exchange `{}`: {}", exchange.name, super::broker::describe(&e)))?;
    }
    for queue in &config.queues {
        let mut arguments = table(&queue.arguments);
        if let Some(dlx) = &queue.dead_letter_exchange {
            arguments.insert("x-dead-letter-exchange".into(), AMQPValue::LongString(dlx.as_str().into()));
        }
        if let Some(key) = &queue.dead_letter_routing_key {
            arguments.insert("x-dead-letter-routing-key".into(), AMQPValue::LongString(key.as_str().into()));
        }
        let options = QueueDeclareOptions { durable: queue.durable, ..Default::default() };
        channel
            .queue_declare(queue.name.as_str().into(), options, arguments)
            .await
            .map_err(|e| format!("cannot declare queue `{}`: {}", queue.name, super::broker::describe(&e)))?;
    }
    for binding in &config.bindings {
        channel
            .queue_bind(
                binding.queue.as_str().into(),
                binding.exchange.as_str().into(),
                binding.routing_key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| {
                format!(
                    "cannot bind queue `{}` to exchange `{}`: {}",
                    binding.queue,
                    binding.exchange,
                    super::broker::describe(&e)
                )
            })?;
    }
    Ok(())
}

/// JSON values as an AMQP field table: strings, booleans, integers, floats, lists and maps.
pub fn table(values: &BTreeMap<String, Json>) -> FieldTable {
    let mut table = FieldTable::default();
    for (key, value) in values {
        table.insert(key.as_str().into(), value_of(value));
    }
    table
}

fn value_of(value: &Json) -> AMQPValue {
    match value {
        Json::Null => AMQPValue::Void,
        Json::Bool(b) => AMQPValue::Boolean(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => AMQPValue::LongLongInt(i),
            None => AMQPValue::Double(n.as_f64().unwrap_or_default()),
        },
        Json::String(s) => AMQPValue::LongString(s.as_str().into()),
        Json::Array(items) => AMQPValue::FieldArray(items.iter().map(value_of).collect::<Vec<_>>().into()),
        Json::Object(map) => {
            let mut inner = FieldTable::default();
            for (key, value) in map {
                inner.insert(key.as_str().into(), value_of(value));
            }
            AMQPValue::FieldTable(inner)
        }
    }
}

/// A field table (a message's headers) as a JSON map, for the event's attributes.
pub fn json_of_table(table: &FieldTable) -> Json {
    let map: Map<String, Json> = table.inner().iter().map(|(k, v)| (k.as_str().to_string(), json_of(v))).collect();
    Json::Object(map)
}

fn text(s: &LongString) -> Json {
    Json::String(String::from_utf8_lossy(s.as_bytes()).into_owned())
}

fn json_of(value: &AMQPValue) -> Json {
    match value {
        AMQPValue::Boolean(b) => Json::Bool(*b),
        AMQPValue::ShortShortInt(i) => Json::from(*i),
        AMQPValue::ShortShortUInt(i) => Json::from(*i),
        AMQPValue::ShortInt(i) => Json::from(*i),
        AMQPValue::ShortUInt(i) => Json::from(*i),
        AMQPValue::LongInt(i) => Json::from(*i),
        AMQPValue::LongUInt(i) => Json::from(*i),
        AMQPValue::LongLongInt(i) => Json::from(*i),
        AMQPValue::Float(f) => Json::from(*f),
        AMQPValue::Double(f) => Json::from(*f),
        AMQPValue::DecimalValue(d) => Json::from(d.value as f64 / 10f64.powi(i32::from(d.scale))),
        AMQPValue::ShortString(s) => Json::String(s.as_str().to_string()),
        AMQPValue::LongString(s) => text(s),
        AMQPValue::FieldArray(items) => Json::Array(items.as_slice().iter().map(json_of).collect()),
        AMQPValue::Timestamp(t) => Json::from(*t),
        AMQPValue::FieldTable(t) => json_of_table(t),
        AMQPValue::ByteArray(b) => Json::String(String::from_utf8_lossy(b.as_slice()).into_owned()),
        AMQPValue::Void => Json::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_values_go_to_a_field_table_and_come_back_alike() {
        let values: BTreeMap<String, Json> = serde_json::from_value(json!({
            "text": "a", "flag": true, "count": 3, "ratio": 0.5, "list": [1, "b"], "map": { "k": "v" }, "none": null
        }))
        .unwrap_or_default();
        let back = json_of_table(&table(&values));
        assert_eq!(back, serde_json::to_value(&values).unwrap_or_default());
    }
}
