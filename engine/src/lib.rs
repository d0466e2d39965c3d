//! Relais engine.
