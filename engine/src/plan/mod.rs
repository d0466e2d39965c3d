//! Execution plans: the IR compiled into flat, index-addressed, immutable graphs shared by in-flight events.
