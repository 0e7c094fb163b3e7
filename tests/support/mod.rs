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

pub use burnrate::signal::Signal;

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
