//! burnrate: an OTLP sidecar that forwards telemetry unchanged and turns LLM
//! spans into rate-limit and cost metrics.

pub mod alerts;
pub mod api;
pub mod app;
pub mod call;
pub mod config;
pub mod export;
pub mod extract;
pub mod ledger;
pub mod log_throttle;
pub mod metrics;
pub mod pipeline;
pub mod pricing;
pub mod receiver;
pub mod selector;
pub mod signal;
