//! Tests of the `.flow` printer.
