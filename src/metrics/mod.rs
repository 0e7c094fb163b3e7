//! Prometheus exposition of the ledger and of burnrate's own health.

mod exposition;
pub mod gauges;
pub mod otlp;
mod text;

pub use exposition::{render, write_all};
pub use text::MetricSink;
