//! Helpers shared by the receiver integration tests: the burnrate binary as a
//! child process, a recording upstream OTLP/gRPC server, OTLP/gRPC and
//! OTLP/HTTP clients, OTLP message builders and a Prometheus text parser.
//!
//! Every server listens on 127.0.0.1 on a port chosen at run time, and every
//! wait is bounded by a timeout.

// Each test file uses a different part of these helpers.
#![allow(dead_code)]
#![allow(clippy::unwrap_used)]

pub mod client;
pub mod metrics;
pub mod otlp;
pub mod process;
pub mod upstream;

use std::future::Future;
use std::time::Duration;

/// An OTLP signal with its gRPC method and OTLP/HTTP path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Signal {
    Traces,
    Metrics,
    Logs,
}

impl Signal {
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }

    /// Returns the item name in burnrate's counters, as in
    /// `burnrate_receiver_accepted_spans_total`.
    pub fn item_name(self) -> &'static str {
        match self {
            Signal::Traces => "spans",
            Signal::Metrics => "metric_points",
            Signal::Logs => "log_records",
        }
    }

    pub fn grpc_path(self) -> &'static str {
        match self {
            Signal::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            Signal::Metrics => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
            Signal::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
        }
    }

    pub fn http_path(self) -> &'static str {
        match self {
            Signal::Traces => "/v1/traces",
            Signal::Metrics => "/v1/metrics",
            Signal::Logs => "/v1/logs",
        }
    }

    /// Finds the signal of a gRPC method path.
    pub fn from_grpc_path(path: &str) -> Option<Signal> {
        Signal::ALL
            .into_iter()
            .find(|signal| signal.grpc_path() == path)
    }
}

/// Polls `condition` every 20 ms until it returns true or `timeout` passes,
/// and returns its last result.
pub async fn wait_until<F, Fut>(timeout: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if condition().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Gzip-compresses `data` at the default level.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}
