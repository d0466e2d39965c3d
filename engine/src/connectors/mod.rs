//! What components connecting to partner systems share: secrets.

pub mod secrets;
