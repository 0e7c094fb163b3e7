//! Prometheus exposition of the ledger and of burnrate's own health.

mod exposition;
mod text;

pub use exposition::render;
