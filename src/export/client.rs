//! The connection of one exporter to its upstream, over OTLP/gRPC or
//! OTLP/HTTP with protobuf bodies, and the errors that both return.

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use rustls::RootCertStore;
use tonic::Code;

use super::grpc::GrpcClient;
use super::http::HttpClient;
use super::retry;
use crate::config::{self, Protocol};
use crate::signal::Signal;

/// Time allowed to open the TCP connection to the upstream. With gRPC it also
/// covers the TLS handshake.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The `User-Agent` of every export request.
pub(crate) const USER_AGENT: &str = concat!("burnrate/", env!("CARGO_PKG_VERSION"));

/// A client of one upstream OTLP backend, chosen by the exporter's `protocol`.
#[expect(
    clippy::large_enum_variant,
    reason = "one client per exporter, built once, so the size does not matter"
)]
pub enum Client {
    Grpc(GrpcClient),
    Http(HttpClient),
}

impl Client {
    /// Builds the client of `settings.protocol`. Connections open lazily, so
    /// an upstream that is down delays delivery but not burnrate's start.
    /// The TLS files are read now. Must be called inside a tokio runtime.
    pub fn new(settings: &config::Exporter) -> Result<Client, ExportError> {
        match settings.protocol {
            Protocol::Grpc => GrpcClient::new(settings).map(Client::Grpc),
            Protocol::HttpProtobuf => HttpClient::new(settings).map(Client::Http),
        }
    }

    /// Sends one request and returns the number of items that the upstream
    /// reported as rejected in a partial success. `body` is the protobuf
    /// encoding of the signal's `Export*ServiceRequest`.
    pub async fn export(&self, signal: Signal, body: Bytes) -> Result<u64, ExportError> {
        match self {
            Client::Grpc(client) => client.export(signal, body).await,
            Client::Http(client) => client.export(signal, body).await,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("invalid exporter `{name}`: {message}")]
    Setup { name: String, message: String },
    /// The gRPC upstream responded with a status other than OK.
    #[error("export failed with gRPC status {code:?}: {message}")]
    Grpc {
        code: Code,
        message: String,
        /// The delay of a `google.rpc.RetryInfo` in the status details.
        retry_after: Option<Duration>,
    },
    /// The HTTP upstream responded with a status other than 2xx.
    #[error("export failed with HTTP status {status}: {message}")]
    Http {
        status: StatusCode,
        /// The `google.rpc.Status` message of the body, or a description of
        /// the body when it contains none.
        message: String,
        /// The delay of the `Retry-After` header.
        retry_after: Option<Duration>,
    },
    /// The HTTP request got no response: the connection failed or broke, or
    /// the exporter's `timeout` passed.
    #[error("export failed: {message}")]
    Transport { message: String },
    #[error("burnrate stopped before the export finished")]
    Aborted,
}

impl ExportError {
    pub(super) fn setup(settings: &config::Exporter, message: String) -> ExportError {
        ExportError::Setup {
            name: settings.name.clone(),
            message,
        }
    }

    /// Returns whether a later attempt may succeed, following the OTLP
    /// specification for each protocol. A failed connection and a timeout
    /// are retryable.
    pub fn is_retryable(&self) -> bool {
        match self {
            ExportError::Setup { .. } | ExportError::Aborted => false,
            ExportError::Grpc {
                code, retry_after, ..
            } => retry::is_retryable_grpc(*code, retry_after.is_some()),
            ExportError::Http { status, .. } => retry::is_retryable_http(*status),
            ExportError::Transport { .. } => true,
        }
    }

    /// Returns the delay the upstream asked for before the next attempt: the
    /// HTTP `Retry-After` header or the gRPC `RetryInfo` detail.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ExportError::Grpc { retry_after, .. } | ExportError::Http { retry_after, .. } => {
                *retry_after
            }
            ExportError::Setup { .. } | ExportError::Transport { .. } | ExportError::Aborted => {
                None
            }
        }
    }
}

/// Reads the partial-success count of an export response. A response that
/// does not decode still means the upstream accepted the data.
pub(super) fn rejected_items(signal: Signal, body: Bytes) -> u64 {
    let rejected = match signal {
        Signal::Traces => ExportTraceServiceResponse::decode(body)
            .ok()
            .and_then(|response| response.partial_success)
            .map(|partial| partial.rejected_spans),
        Signal::Metrics => ExportMetricsServiceResponse::decode(body)
            .ok()
            .and_then(|response| response.partial_success)
            .map(|partial| partial.rejected_data_points),
        Signal::Logs => ExportLogsServiceResponse::decode(body)
            .ok()
            .and_then(|response| response.partial_success)
            .map(|partial| partial.rejected_log_records),
    };
    rejected.map_or(0, |count| u64::try_from(count).unwrap_or(0))
}

/// Collects the certificates that an `https://` upstream may chain to: the
/// system roots, which rustls-native-certs reads from the platform's store
/// (`SSL_CERT_FILE` and `SSL_CERT_DIR` override it), plus `tls.ca_file`.
pub(super) fn root_certificates(tls: &config::Tls) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let system = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(system.certs);

    let ca_certificates = tls
        .read_ca_certificates()
        .map_err(|error| format!("`tls.{}`: {}", error.key, error.message))?;
    for certificate in ca_certificates {
        roots
            .add(certificate)
            .map_err(|error| format!("`tls.ca_file`: invalid certificate: {error}"))?;
    }

    if roots.is_empty() {
        let cause = system
            .errors
            .first()
            .map(|error| format!(" ({error})"))
            .unwrap_or_default();
        return Err(format!(
            "no system root certificates were found{cause} and `tls.ca_file` is not set; \
             install the system CA bundle (the ca-certificates package) or set `tls.ca_file`"
        ));
    }
    Ok(roots)
}

/// Formats an error with its chain of sources, where hyper and rustls put the
/// cause: "client error (Connect)" alone does not name it.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    /// Real source chains are shorter, so the bound only guards against a cycle.
    const MAX_SOURCES: usize = 8;

    let mut text = error.to_string();
    let mut source = error.source();
    for _ in 0..MAX_SOURCES {
        let Some(cause) = source else { break };
        let cause_text = cause.to_string();
        // Some errors repeat their source's text in their own.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_error_keeps_retry_after() {
        let error = ExportError::Http {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: "slow down".to_owned(),
            retry_after: Some(Duration::from_secs(4)),
        };
        assert!(error.is_retryable());
        assert_eq!(error.retry_after(), Some(Duration::from_secs(4)));
    }

    #[test]
    fn transport_error_is_retryable() {
        let error = ExportError::Transport {
            message: "connection refused".to_owned(),
        };
        assert!(error.is_retryable());
        assert_eq!(error.retry_after(), None);
    }

    #[test]
    fn permanent_http_error_is_not_retryable() {
        let error = ExportError::Http {
            status: StatusCode::BAD_REQUEST,
            message: "invalid trace id".to_owned(),
            retry_after: None,
        };
        assert!(!error.is_retryable());
        assert_eq!(
            error.to_string(),
            "export failed with HTTP status 400 Bad Request: invalid trace id"
        );
    }

    /// An error that wraps a cause, as hyper's client errors do.
    #[derive(Debug)]
    struct Wrapper {
        text: &'static str,
        cause: std::io::Error,
    }

    impl std::fmt::Display for Wrapper {
        fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            formatter.write_str(self.text)
        }
    }

    impl std::error::Error for Wrapper {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.cause)
        }
    }

    #[test]
    fn error_chain_joins_sources() {
        let error = Wrapper {
            text: "client error (Connect)",
            cause: std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused"),
        };
        assert_eq!(error_chain(&error), "client error (Connect): refused");
    }

    #[test]
    fn error_chain_skips_repeated_text() {
        let error = Wrapper {
            text: "tcp connect error: refused",
            cause: std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused"),
        };
        assert_eq!(error_chain(&error), "tcp connect error: refused");
    }
}
