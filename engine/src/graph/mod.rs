//! `relais graph`: the map of a checked program (systems by zone, flows, data types, the steps joining
//! them, measured volumes) and one flow's execution graph, drawn as Mermaid, DOT, JSON or one
//! self-contained HTML page.
//!
//! [`model`] reads the map from the checked IR and the typed settings `check` kept, through what each
//! component says it reaches; [`flow`] draws one flow's steps; [`volume`] reads a daemon's `/metrics`;
//! [`drawing`] turns either into boxes and arrows, which [`mermaid`], [`dot`] and [`html`] (laid out by
//! [`layout`]) render. The JSON of the map is [`model::Map`] itself, versioned by [`model::VERSION`].

pub mod dot;
pub mod drawing;
pub mod flow;
pub mod html;
pub mod layout;
pub mod mermaid;
pub mod model;
pub mod volume;

pub use model::{build, Map};
