//! What a component reaches outside its flow, as data: the map `relais graph` draws is read from it, so
//! the graph names no component and a new connector appears on the map by saying what it reaches.

/// How a step or source exchanges data with the system it reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The system starts the flow with an event (a listener, a queue consumer).
    Receives,
    /// The flow sends and reads the answer (an HTTP call): data goes both ways.
    Calls,
    /// The flow hands data over and expects nothing back (a queue publish, a store write).
    Sends,
    /// The flow reads from the system (a store read).
    Reads,
}

impl Direction {
    /// The word used on edges.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Receives => "receives",
            Direction::Calls => "calls",
            Direction::Sends => "sends",
            Direction::Reads => "reads",
        }
    }
}

/// A system a step or source reaches that its `config:` does not name (a queue by its name, the
/// dead-letter store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reach {
    /// The system's kind, as the map shows it (`queue`, `dead_letters`).
    pub kind: &'static str,
    /// Its name within the kind (the queue's name).
    pub name: String,
}
