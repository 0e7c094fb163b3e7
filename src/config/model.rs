//! The configuration file's data model. Every field has a default, so an empty
//! file is a valid configuration.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

use crate::signal::Signal;

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
    pub ledger: LedgerSettings,
    pub alerts: Alerts,
    pub processing: Processing,
    pub pricing: Pricing,
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

/// Settings of the extraction that turns spans into rate and cost metrics.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default)]
pub struct Extract {
    /// Attributes of one span that extraction reads; the rest are still
    /// forwarded but not looked at.
    pub max_attributes_per_span: usize,
    /// Whether an instrumentation's `gen_ai.usage.input_tokens` includes the
    /// cache read and cache write tokens, by instrumentation scope name
    /// prefix. The first matching entry wins, before the built-in rules.
    pub input_tokens_include_cache: Vec<InputTokensIncludeCache>,
}

impl Default for Extract {
    fn default() -> Self {
        Extract {
            max_attributes_per_span: 256,
            input_tokens_include_cache: Vec::new(),
        }
    }
}

/// Settings of the ledger: how LLM calls become series and how spend is counted.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default)]
pub struct LedgerSettings {
    /// Span or resource attributes that become labels of every LLM metric,
    /// such as `deployment.environment`. `key_id` names the call's API key
    /// identity, which is a hash, never the key.
    pub labels: Vec<String>,
    /// Series per LLM metric before calls of new label combinations are
    /// counted in the one series whose labels all read `overflow`.
    pub max_series: usize,
    /// IANA time zone of the calendar days and months that spend is counted in.
    pub time_zone: String,
    pub budgets: Vec<Budget>,
    /// How long spend must have been watched in a day or month before
    /// burnrate projects it to the period's end.
    #[serde(with = "humantime_serde")]
    pub min_projection_basis: Duration,
}

impl Default for LedgerSettings {
    fn default() -> Self {
        LedgerSettings {
            labels: Vec::new(),
            max_series: 5_000,
            time_zone: "UTC".to_owned(),
            budgets: Vec::new(),
            min_projection_basis: Duration::from_secs(15 * 60),
        }
    }
}

/// A spend limit for the series that a selector matches.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Budget {
    /// The `budget` label of the budget's metrics.
    pub name: String,
    pub period: BudgetPeriod,
    pub amount_usd: f64,
    /// A PromQL series selector over the LLM metrics' labels, such as
    /// `{service_name="checkout"}`. Empty matches every series.
    pub selector: String,
}

/// The calendar period that a budget covers.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum BudgetPeriod {
    Day,
    #[default]
    Month,
}

impl BudgetPeriod {
    pub const ALL: [BudgetPeriod; 2] = [BudgetPeriod::Day, BudgetPeriod::Month];

    pub fn as_str(self) -> &'static str {
        match self {
            BudgetPeriod::Day => "day",
            BudgetPeriod::Month => "month",
        }
    }
}

/// One entry of `extract.input_tokens_include_cache`. Both fields are
/// required. Validation, not decoding, reports a missing one, so that
/// decoding goes on to find the other problems of the file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct InputTokensIncludeCache {
    /// Prefix of the instrumentation scope name, such as
    /// `com.anthropic.sdk.python`.
    pub scope: String,
    /// True when the scope's input tokens include the cache tokens, as the
    /// semantic conventions count them, and false when they exclude them, as
    /// Anthropic's API does.
    pub included: Option<bool>,
}

/// Alert rules and where their notifications go.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default)]
pub struct Alerts {
    /// How often a rule group without its own `interval` is evaluated.
    #[serde(with = "humantime_serde")]
    pub evaluation_interval: Duration,
    /// Evaluates the rule pack embedded from `rules/burnrate.yaml`.
    pub default_rules: bool,
    /// Rule files in the Prometheus format, as paths or glob patterns;
    /// relative ones are read from the configuration file's directory.
    pub rule_files: Vec<String>,
    /// Series that the history for range functions keeps at most.
    pub max_history_series: usize,
    /// Destinations of notifications. Without any, alerts are logged.
    pub notifiers: Vec<Notifier>,
}

impl Default for Alerts {
    fn default() -> Self {
        Alerts {
            evaluation_interval: Duration::from_secs(15),
            default_rules: true,
            rule_files: Vec::new(),
            max_history_series: 10_000,
            notifiers: Vec::new(),
        }
    }
}

/// One destination of alert notifications.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default)]
pub struct Notifier {
    /// Unique; the `notifier` label of burnrate's own metrics.
    pub name: String,
    pub kind: NotifierKind,
    /// The receiver's URL: Alertmanager's base URL, or the webhook URL.
    /// Unused by `log` and `otlp`.
    pub url: String,
    /// A PromQL series selector over the alert's labels, such as
    /// `{severity="page"}`. Empty takes every alert.
    pub selector: String,
    /// HTTP headers sent with every request.
    pub headers: BTreeMap<String, String>,
    /// Deadline of one delivery attempt.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// How often a firing alert is notified again while it fires; 4h when
    /// unset. For `alertmanager` it is the resend delay instead: firing and
    /// recently resolved alerts are sent again at this interval, as
    /// Prometheus does, and Alertmanager's own route decides how often a
    /// person is notified. Unset, it is 1m there. Read it with
    /// [`Notifier::repeat_interval`].
    #[serde(deserialize_with = "humantime_serde::deserialize_some")]
    pub repeat_interval: Option<Duration>,
    /// Whether resolved alerts are notified.
    pub send_resolved: bool,
    /// How long a failed delivery is retried before it is dropped.
    #[serde(with = "humantime_serde")]
    pub max_retry_time: Duration,
}

impl Default for Notifier {
    fn default() -> Self {
        Notifier {
            name: String::new(),
            kind: NotifierKind::Log,
            url: String::new(),
            selector: String::new(),
            headers: BTreeMap::new(),
            timeout: Duration::from_secs(10),
            repeat_interval: None,
            send_resolved: true,
            max_retry_time: Duration::from_secs(300),
        }
    }
}

impl Notifier {
    /// Default repeat interval of the kinds that notify people.
    pub const DEFAULT_REPEAT_INTERVAL: Duration = Duration::from_secs(4 * 3600);
    /// Default resend delay of `alertmanager`, Prometheus's default.
    pub const DEFAULT_RESEND_DELAY: Duration = Duration::from_secs(60);

    /// Returns the configured `repeat_interval`, or the kind's default.
    pub fn repeat_interval(&self) -> Duration {
        self.repeat_interval.unwrap_or(match self.kind {
            NotifierKind::Alertmanager => Notifier::DEFAULT_RESEND_DELAY,
            _ => Notifier::DEFAULT_REPEAT_INTERVAL,
        })
    }
}

/// The kind of a notifier.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NotifierKind {
    /// A log line per firing and resolved alert.
    #[default]
    Log,
    /// A JSON POST in the Alertmanager webhook format.
    Webhook,
    /// A Slack incoming webhook message.
    Slack,
    /// Alertmanager's API v2 (`POST /api/v2/alerts`).
    Alertmanager,
    /// OTLP log records, sent to the exporters that take logs.
    Otlp,
}

impl NotifierKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotifierKind::Log => "log",
            NotifierKind::Webhook => "webhook",
            NotifierKind::Slack => "slack",
            NotifierKind::Alertmanager => "alertmanager",
            NotifierKind::Otlp => "otlp",
        }
    }

    /// Returns whether the kind delivers over HTTP to `url`.
    pub fn uses_url(self) -> bool {
        matches!(
            self,
            NotifierKind::Webhook | NotifierKind::Slack | NotifierKind::Alertmanager
        )
    }
}

/// Metrics that burnrate serves and sends.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Metrics {
    pub prometheus: Prometheus,
    pub otlp: OtlpMetrics,
}

/// The ledger's metrics sent over OTLP through the exporters that take
/// metrics.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default)]
pub struct OtlpMetrics {
    pub enabled: bool,
    /// Time between two exports.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    pub temporality: Temporality,
}

impl Default for OtlpMetrics {
    fn default() -> Self {
        OtlpMetrics {
            enabled: false,
            interval: Duration::from_secs(60),
            temporality: Temporality::Cumulative,
        }
    }
}

/// Aggregation temporality of exported sums and histograms.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Temporality {
    /// Totals since each series was first seen.
    #[default]
    Cumulative,
    /// Changes since the previous export; each point starts where the
    /// previous one ended.
    Delta,
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

/// One upstream OTLP backend that receives every request of the signals it
/// takes, unchanged.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default)]
pub struct Exporter {
    /// Name used in logs and in the `exporter` label of burnrate's own metrics.
    pub name: String,
    /// URL with scheme, such as `http://127.0.0.1:4317` or `https://api.honeycomb.io:443`.
    /// With `http/protobuf` it is the base URL: burnrate appends `/v1/traces`,
    /// `/v1/metrics` or `/v1/logs` to its path.
    pub endpoint: String,
    pub protocol: Protocol,
    /// Signals sent to this exporter; requests of other signals skip it.
    #[serde(deserialize_with = "deserialize_signals")]
    pub signals: Vec<Signal>,
    /// Headers sent with every request, such as `x-honeycomb-team` (gRPC
    /// metadata with `grpc`).
    pub headers: BTreeMap<String, String>,
    pub compression: Compression,
    /// Deadline of one export attempt.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    pub tls: Tls,
    pub sending_queue: SendingQueue,
    pub batch: BatchSettings,
    pub retry_on_failure: RetryOnFailure,
}

impl Default for Exporter {
    fn default() -> Self {
        Exporter {
            name: String::new(),
            endpoint: String::new(),
            protocol: Protocol::Grpc,
            signals: Signal::ALL.to_vec(),
            headers: BTreeMap::new(),
            compression: Compression::None,
            timeout: Duration::from_secs(10),
            tls: Tls::default(),
            sending_queue: SendingQueue::default(),
            batch: BatchSettings::default(),
            retry_on_failure: RetryOnFailure::default(),
        }
    }
}

impl Exporter {
    /// Returns whether requests of `signal` go to this exporter.
    pub fn takes(&self, signal: Signal) -> bool {
        self.signals.contains(&signal)
    }
}

/// Reads `signals: [traces, metrics, logs]`, ignoring repeated names.
fn deserialize_signals<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<Signal>, D::Error> {
    let names = Vec::<String>::deserialize(deserializer)?;
    let mut signals = Vec::with_capacity(names.len());
    for name in names {
        let signal = Signal::ALL
            .into_iter()
            .find(|signal| signal.as_str() == name)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "unknown signal {name:?}; use traces, metrics or logs"
                ))
            })?;
        if !signals.contains(&signal) {
            signals.push(signal);
        }
    }
    Ok(signals)
}

/// TLS settings of an exporter. An `https://` endpoint always uses TLS and
/// trusts the system root certificates.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Tls {
    /// PEM file of CA certificates trusted in addition to the system roots.
    pub ca_file: Option<PathBuf>,
    /// PEM file of the client certificate chain, sent when the server
    /// requests one. Needs `key_file`.
    pub cert_file: Option<PathBuf>,
    /// PEM file of the client certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// Plaintext on purpose, as in the OpenTelemetry Collector. Valid only
    /// with an `http://` endpoint, which is plaintext with or without it.
    pub insecure: bool,
}

/// A client certificate and its private key, read from `tls.cert_file` and
/// `tls.key_file`.
pub struct ClientIdentity {
    pub certificate_chain: Vec<CertificateDer<'static>>,
    pub private_key: PrivateKeyDer<'static>,
    /// The two files' contents as read, for TLS stacks that take PEM.
    pub certificate_pem: Vec<u8>,
    pub private_key_pem: Vec<u8>,
}

/// A TLS file that cannot be used, with the `tls` key that names it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct TlsFileError {
    /// `ca_file`, `cert_file` or `key_file`.
    pub key: &'static str,
    pub message: String,
}

impl Tls {
    /// Returns whether any certificate or key file is set.
    pub fn has_files(&self) -> bool {
        self.ca_file.is_some() || self.cert_file.is_some() || self.key_file.is_some()
    }

    /// Reads the CA certificates of `ca_file`, or none when it is not set.
    pub fn read_ca_certificates(&self) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
        let Some(path) = &self.ca_file else {
            return Ok(Vec::new());
        };
        let error = |message: String| TlsFileError {
            key: "ca_file",
            message,
        };
        let pem = read_tls_file(path).map_err(error)?;
        let certificates = parse_pem_certificates(path, &pem).map_err(error)?;

        // A block that is valid base64 but not a certificate fails here.
        let mut roots = rustls::RootCertStore::empty();
        for certificate in &certificates {
            roots.add(certificate.clone()).map_err(|problem| {
                error(format!(
                    "{path:?} contains a certificate that cannot be a trust anchor: {problem}"
                ))
            })?;
        }
        Ok(certificates)
    }

    /// Reads the client certificate and key, or returns `None` when neither
    /// file is set, and checks that the key belongs to the certificate.
    pub fn read_client_identity(&self) -> Result<Option<ClientIdentity>, TlsFileError> {
        let (cert_path, key_path) = match (&self.cert_file, &self.key_file) {
            (None, None) => return Ok(None),
            (Some(cert_path), Some(key_path)) => (cert_path, key_path),
            (Some(_), None) => {
                let message = "missing, but `cert_file` is set; set both for a client certificate, or neither";
                return Err(TlsFileError {
                    key: "key_file",
                    message: message.to_owned(),
                });
            }
            (None, Some(_)) => {
                let message =
                    "missing, but `key_file` is set; set both for a client certificate, or neither";
                return Err(TlsFileError {
                    key: "cert_file",
                    message: message.to_owned(),
                });
            }
        };
        let cert_error = |message: String| TlsFileError {
            key: "cert_file",
            message,
        };
        let key_error = |message: String| TlsFileError {
            key: "key_file",
            message,
        };

        let certificate_pem = read_tls_file(cert_path).map_err(cert_error)?;
        let certificate_chain =
            parse_pem_certificates(cert_path, &certificate_pem).map_err(cert_error)?;
        let private_key_pem = read_tls_file(key_path).map_err(key_error)?;
        let private_key = PrivateKeyDer::from_pem_slice(&private_key_pem).map_err(|problem| {
            key_error(match problem {
                pem::Error::NoItemsFound => format!(
                    "{key_path:?} contains no PEM private key; expected a PKCS#8, PKCS#1 (RSA) or SEC1 (EC) key block"
                ),
                other => format!("{key_path:?} is not valid PEM: {other}"),
            })
        })?;

        // rustls compares the key's public half with the certificate's.
        let provider = rustls::crypto::ring::default_provider();
        rustls::sign::CertifiedKey::from_der(
            certificate_chain.clone(),
            private_key.clone_key(),
            &provider,
        )
        .map_err(|problem| match problem {
            rustls::Error::InconsistentKeys(_) => key_error(format!(
                "the private key in {key_path:?} does not match the certificate in {cert_path:?}"
            )),
            other => key_error(format!(
                "the key in {key_path:?} and the certificate in {cert_path:?} cannot be used together: {other}"
            )),
        })?;

        Ok(Some(ClientIdentity {
            certificate_chain,
            private_key,
            certificate_pem,
            private_key_pem,
        }))
    }
}

fn read_tls_file(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|error| {
        format!("failed to read {path:?}: {error}; check the path and the file's permissions")
    })
}

fn parse_pem_certificates(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("{path:?} is not valid PEM: {error}"))?;
    if certificates.is_empty() {
        return Err(format!(
            "{path:?} contains no PEM certificate; expected a -----BEGIN CERTIFICATE----- block"
        ));
    }
    Ok(certificates)
}

/// The queue in front of an exporter.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default)]
pub struct SendingQueue {
    /// Maximum number of export requests waiting. When the queue is full,
    /// services get a retryable error.
    pub queue_size: usize,
    /// Maximum size of the requests waiting, in MiB; the same retryable
    /// error past it.
    pub max_size_mib: u64,
    /// Number of batches sent concurrently.
    pub num_consumers: usize,
    pub storage: QueueStorage,
    /// Folder of the disk queue, one database file per exporter; required
    /// with `storage: disk`.
    pub directory: Option<std::path::PathBuf>,
}

impl Default for SendingQueue {
    fn default() -> Self {
        SendingQueue {
            queue_size: 1000,
            max_size_mib: 64,
            num_consumers: 4,
            storage: QueueStorage::Memory,
            directory: None,
        }
    }
}

/// Storage of an exporter's queue.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum QueueStorage {
    /// Lost when burnrate stops before sending them.
    #[default]
    Memory,
    /// Written to disk before the service's request is acknowledged, and
    /// sent after a restart.
    Disk,
}

/// Settings that combine queued requests into one export.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default)]
pub struct BatchSettings {
    /// Maximum size of one export, in MiB; queued requests of one signal are
    /// combined up to it.
    pub send_batch_max_size_mib: u64,
    /// Time to wait for more requests when less than the maximum is queued;
    /// 0s sends what is there at once.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for BatchSettings {
    fn default() -> Self {
        BatchSettings {
            send_batch_max_size_mib: 4,
            timeout: Duration::from_millis(200),
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

/// Changes made to spans before they are forwarded.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default)]
pub struct Processing {
    /// Captured request and response headers removed from spans
    /// (`http.request.header.<name>`, `http.response.header.<name>`), with
    /// dashes or underscores, in any case.
    pub credential_headers: Vec<String>,
    /// Headers removed in addition to `credential_headers`.
    pub additional_credential_headers: Vec<String>,
    pub content: ContentSettings,
    pub span_cost: SpanCost,
}

impl Default for Processing {
    fn default() -> Self {
        let defaults = [
            "authorization",
            "x-api-key",
            "api-key",
            "cookie",
            "set-cookie",
            "proxy-authorization",
        ];
        Processing {
            credential_headers: defaults.iter().map(|name| (*name).to_owned()).collect(),
            additional_credential_headers: Vec::new(),
            content: ContentSettings::default(),
            span_cost: SpanCost::default(),
        }
    }
}

/// Handling of prompt and response content attributes
/// (`gen_ai.input.messages`, `gen_ai.output.messages`,
/// `gen_ai.system_instructions`, and the older `gen_ai.prompt`,
/// `gen_ai.completion` and `gen_ai.{prompt,completion}.N.content`).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default)]
pub struct ContentSettings {
    pub action: ContentAction,
    /// Maximum length of a value kept with `action: truncate`, in bytes.
    pub max_bytes: usize,
}

impl Default for ContentSettings {
    fn default() -> Self {
        ContentSettings {
            action: ContentAction::Keep,
            max_bytes: 256,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ContentAction {
    /// Forwarded unchanged.
    #[default]
    Keep,
    /// Removed.
    Drop,
    /// Cut to `max_bytes`.
    Truncate,
    /// Replaced by `sha256:` and the hex SHA-256 of the value, so equal
    /// prompts can still be grouped.
    Hash,
}

/// Adding each LLM call's computed cost to its span before forwarding.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default)]
pub struct SpanCost {
    pub enabled: bool,
    /// Attribute that contains the cost in US dollars. `<attribute>` is set
    /// beside it to `currency` and `source` attributes named by replacing its
    /// last segment, so the default yields `gen_ai.usage.cost.currency = USD`
    /// and `gen_ai.usage.cost.source = local`.
    pub attribute: String,
}

impl Default for SpanCost {
    fn default() -> Self {
        SpanCost {
            enabled: false,
            attribute: "gen_ai.usage.cost.amount".to_owned(),
        }
    }
}

/// Prices added to or replacing the embedded price table, which burnrate
/// reloads on SIGHUP and when a listed file changes.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default)]
pub struct Pricing {
    /// Price tables in the format of `pricing/prices.yaml`. An entry replaces
    /// the embedded entry, or one of an earlier file, for the same provider
    /// and model.
    pub files: Vec<PathBuf>,
    /// Entries in the same format, applied after `files`.
    pub models: Vec<serde_yaml::Value>,
    /// Azure OpenAI deployment names mapped to the model id each deployment
    /// serves, for spans that report the deployment name as the model.
    pub azure_deployments: BTreeMap<String, String>,
    /// Time between two checks of the files' modification times.
    #[serde(with = "humantime_serde")]
    pub reload_interval: Duration,
}

impl Default for Pricing {
    fn default() -> Self {
        Pricing {
            files: Vec::new(),
            models: Vec::new(),
            azure_deployments: BTreeMap::new(),
            reload_interval: Duration::from_secs(5),
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

    /// Reads a duration into `Some`; a missing field keeps the default.
    pub fn deserialize_some<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        deserialize(deserializer).map(Some)
    }
}
