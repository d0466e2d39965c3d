//! Maps keyed by the names of a program (flows, configs), which the hot path looks up for every event.

/// A map from a name written in the flow files (a flow, a config) to what the program built for it.
///
/// Hashed with foldhash instead of the standard library's SipHash: an event looks up its flow several
/// times (its plan, its listener responses, its metrics), and SipHash was 5 % of the daemon's instructions
/// answering a fixed document. SipHash resists hash flooding by whoever chooses the keys; these keys come
/// from the operator's files, never from a caller, so that resistance buys nothing here. foldhash still
/// seeds each map at random.
pub type NameMap<V> = std::collections::HashMap<String, V, foldhash::fast::RandomState>;
