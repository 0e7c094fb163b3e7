//! Alert rules in the Prometheus rule-file format, evaluated over a history
//! of burnrate's own metrics.

pub mod engine;
pub mod history;
pub mod notify;
pub mod promql;
pub mod rules;
pub mod state;
pub mod template;
