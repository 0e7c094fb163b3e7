//! The configuration file's data model. Every field has a default, so an empty
//! file is a valid configuration.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

/// The whole configuration file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Config {
    pub receivers: Receivers,
    pub metrics: Metrics,
    pub admin: Admin,
    /// Upstream OTLP backends. When empty, `OTEL_EXPORTER_OTLP_ENDPOINT` names
    /// the upstream, and without it nothing is forwarded.
    pub exporters: Vec<Exporter>,
    pub service: Service,
}

/// Listeners that accept telemetry from services.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Receivers {
    pub otlp: Otlp,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Otlp {
    pub grpc: GrpcReceiver,
}

/// The OTLP/gRPC listener.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default)]
pub struct GrpcReceiver {
    /// `host:port` to listen on.
    pub endpoint: String,
    /// Maximum size of one request after gzip decompression, in MiB.
    pub max_recv_msg_size_mib: u64,
}

impl Default for GrpcReceiver {
    fn default() -> Self {
        GrpcReceiver {
            endpoint: "127.0.0.1:4317".to_owned(),
            max_recv_msg_size_mib: 16,
        }
    }
}

/// Metrics that burnrate serves.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Metrics {
    pub prometheus: Prometheus,
}

/// The Prometheus scrape endpoint (`GET /metrics`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default)]
pub struct Prometheus {
    /// `host:port` to listen on.
    pub endpoint: String,
}

impl Default for Prometheus {
    fn default() -> Self {
        Prometheus {
            endpoint: "127.0.0.1:9464".to_owned(),
        }
    }
}

/// The health endpoint (`GET /healthz`, `GET /readyz`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default)]
pub struct Admin {
    /// `host:port` to listen on.
    pub endpoint: String,
}

impl Default for Admin {
    fn default() -> Self {
        Admin {
            endpoint: "127.0.0.1:13133".to_owned(),
        }
    }
}

/// Wire protocol of an exporter.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub enum Protocol {
    #[default]
    #[serde(rename = "grpc")]
    Grpc,
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

/// Compression of exported requests.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    None,
    Gzip,
}

/// One upstream OTLP backend that receives every request unchanged.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default)]
pub struct Exporter {
    /// Name used in logs and in the `exporter` label of burnrate's own metrics.
    pub name: String,
    /// URL with scheme, such as `http://127.0.0.1:4317` or `https://api.honeycomb.io:443`.
    pub endpoint: String,
    pub protocol: Protocol,
    /// gRPC metadata sent with every request, such as `x-honeycomb-team`.
    pub headers: BTreeMap<String, String>,
    pub compression: Compression,
    /// Deadline of one export attempt.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    pub sending_queue: SendingQueue,
    pub retry_on_failure: RetryOnFailure,
}

impl Default for Exporter {
    fn default() -> Self {
        Exporter {
            name: String::new(),
            endpoint: String::new(),
            protocol: Protocol::Grpc,
            headers: BTreeMap::new(),
            compression: Compression::None,
            timeout: Duration::from_secs(10),
            sending_queue: SendingQueue::default(),
            retry_on_failure: RetryOnFailure::default(),
        }
    }
}

/// The in-memory queue in front of an exporter.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default)]
pub struct SendingQueue {
    /// Maximum number of export requests waiting. When the queue is full,
    /// services get a retryable `UNAVAILABLE` response.
    pub queue_size: usize,
    /// Number of export requests sent concurrently.
    pub num_consumers: usize,
}

impl Default for SendingQueue {
    fn default() -> Self {
        SendingQueue {
            queue_size: 1000,
            num_consumers: 4,
        }
    }
}

/// Retry of failed export attempts with exponential backoff and jitter.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default)]
pub struct RetryOnFailure {
    pub enabled: bool,
    #[serde(with = "humantime_serde")]
    pub initial_interval: Duration,
    #[serde(with = "humantime_serde")]
    pub max_interval: Duration,
    /// Time after the first attempt when a request is given up and counted as dropped.
    #[serde(with = "humantime_serde")]
    pub max_elapsed_time: Duration,
}

impl Default for RetryOnFailure {
    fn default() -> Self {
        RetryOnFailure {
            enabled: true,
            initial_interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(30),
            max_elapsed_time: Duration::from_secs(300),
        }
    }
}

/// Process-wide settings.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default)]
pub struct Service {
    /// Time allowed after SIGTERM or SIGINT to send what is queued.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    /// Log filter in `RUST_LOG` syntax; `RUST_LOG` overrides it.
    pub log_level: String,
}

impl Default for Service {
    fn default() -> Self {
        Service {
            shutdown_timeout: Duration::from_secs(10),
            log_level: "info".to_owned(),
        }
    }
}

/// Serde adapter for durations written as `15s`, `500ms` or `2m`.
mod humantime_serde {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, de::Error};

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(&text).map_err(|error| {
            D::Error::custom(format!(
                "invalid duration {text:?} ({error}); write a number with a unit, such as 500ms, 15s or 2m"
            ))
        })
    }
}
