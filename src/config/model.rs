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
    pub extract: Extract,
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
    pub http: HttpReceiver,
}

/// The OTLP/gRPC listener.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default)]
pub struct GrpcReceiver {
    /// `host:port` to listen on.
    pub endpoint: String,
    /// Maximum size of one message, both as received and after gzip
    /// decompression, in MiB.
    pub max_recv_msg_size_mib: u64,
    /// Maximum number of open connections; more wait to be accepted.
    pub max_connections: usize,
    /// Maximum number of concurrent requests on one HTTP/2 connection.
    pub max_concurrent_streams: u32,
    /// Time allowed for one request, from its headers to the response.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
}

impl Default for GrpcReceiver {
    fn default() -> Self {
        GrpcReceiver {
            endpoint: "127.0.0.1:4317".to_owned(),
            max_recv_msg_size_mib: 16,
            max_connections: 256,
            max_concurrent_streams: 64,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// The OTLP/HTTP listener (`POST /v1/traces`, `/v1/metrics`, `/v1/logs`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default)]
pub struct HttpReceiver {
    /// `host:port` to listen on.
    pub endpoint: String,
    /// Maximum size of a request body as received, in MiB.
    pub max_request_body_size_mib: u64,
    /// Maximum size of a request body after gzip decompression, in MiB.
    pub max_decompressed_body_size_mib: u64,
    /// Maximum number of open connections; more wait to be accepted.
    pub max_connections: usize,
    /// Time allowed for one request, including reading its body.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
}

impl Default for HttpReceiver {
    fn default() -> Self {
        HttpReceiver {
            endpoint: "127.0.0.1:4318".to_owned(),
            max_request_body_size_mib: 16,
            max_decompressed_body_size_mib: 64,
            max_connections: 256,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// How spans are read for rate and cost metrics.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default)]
pub struct Extract {
    /// Attributes of one span that extraction reads; the rest are still
    /// forwarded but not looked at.
    pub max_attributes_per_span: usize,
}

impl Default for Extract {
    fn default() -> Self {
        Extract {
            max_attributes_per_span: 256,
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
    use std::fmt;
    use std::time::Duration;

    use serde::Deserializer;
    use serde::de::{Error, Visitor};

    struct DurationVisitor;

    impl Visitor<'_> for DurationVisitor {
        type Value = Duration;

        fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
            formatter.write_str("a duration with a unit, such as 500ms, 15s or 2m")
        }

        fn visit_str<E: Error>(self, text: &str) -> Result<Duration, E> {
            humantime::parse_duration(text).map_err(|error| {
                E::custom(format!(
                    "invalid duration {text:?} ({error}); write a number with a unit, such as 500ms, 15s or 2m"
                ))
            })
        }

        fn visit_u64<E: Error>(self, number: u64) -> Result<Duration, E> {
            Err(E::custom(format!(
                "a duration needs a unit; write {number}s or {number}ms"
            )))
        }

        fn visit_i64<E: Error>(self, number: i64) -> Result<Duration, E> {
            Err(E::custom(format!(
                "a duration needs a unit; write {number}s or {number}ms"
            )))
        }

        fn visit_f64<E: Error>(self, number: f64) -> Result<Duration, E> {
            Err(E::custom(format!(
                "a duration needs a unit; write {number}s"
            )))
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        deserializer.deserialize_any(DurationVisitor)
    }
}
