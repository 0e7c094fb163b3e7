//! OTLP/gRPC export of request bytes as they were received.

use std::time::Duration;

use bytes::Bytes;
use http::uri::PathAndQuery;
use prost::Message;
use tonic::codec::CompressionEncoding;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint, Identity};

use super::client::ExportError;
use super::client::{self, CONNECT_TIMEOUT, USER_AGENT};
use crate::config::{self, Compression};
use crate::receiver::codec::RawCodec;
use crate::signal::Signal;

pub struct GrpcClient {
    grpc: tonic::client::Grpc<Channel>,
    /// The configured endpoint, for error messages.
    endpoint: String,
    metadata: MetadataMap,
    timeout: Duration,
}

impl GrpcClient {
    /// Builds a client that connects lazily, so an upstream that is down at
    /// start-up delays delivery but not burnrate's start. Reads the TLS files
    /// now. Must be called inside a tokio runtime.
    pub fn new(settings: &config::Exporter) -> Result<GrpcClient, ExportError> {
        let setup_error = |message: String| ExportError::setup(settings, message);
        let uri = config::parse_endpoint_url(&settings.endpoint).map_err(setup_error)?;

        let mut endpoint = Endpoint::from(uri.clone())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(settings.timeout)
            .user_agent(USER_AGENT)
            .map_err(|error| setup_error(format!("invalid user agent: {error}")))?;
        if uri.scheme_str() == Some("https") {
            let tls = tls_config(&settings.tls).map_err(setup_error)?;
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|error| setup_error(format!("TLS setup failed: {error}")))?;
        }

        let mut grpc = tonic::client::Grpc::new(endpoint.connect_lazy());
        if settings.compression == Compression::Gzip {
            grpc = grpc.send_compressed(CompressionEncoding::Gzip);
        }
        grpc = grpc.accept_compressed(CompressionEncoding::Gzip);

        let mut metadata = MetadataMap::new();
        for (name, value) in &settings.headers {
            let key = AsciiMetadataKey::from_bytes(name.as_bytes())
                .map_err(|_| setup_error(format!("invalid header name {name:?}")))?;
            let value: AsciiMetadataValue = value
                .parse()
                .map_err(|_| setup_error(format!("invalid value for header {name:?}")))?;
            metadata.insert(key, value);
        }

        Ok(GrpcClient {
            grpc,
            endpoint: settings.endpoint.clone(),
            metadata,
            timeout: settings.timeout,
        })
    }

    /// Sends one request and returns the number of items that the upstream
    /// reported as rejected in a partial success.
    pub async fn export(&self, signal: Signal, body: Bytes) -> Result<u64, ExportError> {
        let mut grpc = self.grpc.clone();
        grpc.ready().await.map_err(|error| ExportError::Transport {
            message: format!(
                "connection to {} failed: {}",
                self.endpoint,
                client::error_chain(&error)
            ),
        })?;

        let mut request = tonic::Request::new(body);
        *request.metadata_mut() = self.metadata.clone();
        request.set_timeout(self.timeout);
        let path = PathAndQuery::from_static(signal.grpc_path());
        let response = grpc.unary(request, path, RawCodec).await?;
        Ok(client::rejected_items(signal, response.into_inner()))
    }
}

/// Builds tonic's TLS settings: the system roots plus `tls.ca_file`, and the
/// client certificate when configured.
fn tls_config(tls: &config::Tls) -> Result<ClientTlsConfig, String> {
    let roots = client::root_certificates(tls)?;
    let mut config = ClientTlsConfig::new().trust_anchors(roots.roots);
    let identity = tls
        .read_client_identity()
        .map_err(|error| format!("`tls.{}`: {}", error.key, error.message))?;
    if let Some(identity) = identity {
        config = config.identity(Identity::from_pem(
            identity.certificate_pem,
            identity.private_key_pem,
        ));
    }
    Ok(config)
}

impl From<tonic::Status> for ExportError {
    /// Converts a status and distinguishes a status that the server sent from one that
    /// tonic made up for a broken connection. tonic 0.14 reports a broken
    /// connection as `UNKNOWN`, and an HTTP/2 error such as a GOAWAY as
    /// `INTERNAL`, with the transport error as its source; a status read from
    /// the wire has no source. A broken connection is retryable, as the OTLP
    /// specification asks, but a server's `UNKNOWN` or `INTERNAL` is permanent.
    fn from(status: tonic::Status) -> ExportError {
        let message = match std::error::Error::source(&status) {
            None => status.message().to_owned(),
            Some(source) => {
                // The source chain names the cause ("Connection refused")
                // that tonic's message alone leaves out.
                let chain = client::error_chain(source);
                if chain.contains(status.message()) {
                    chain
                } else {
                    format!("{}: {chain}", status.message())
                }
            }
        };
        let made_by_tonic = matches!(status.code(), tonic::Code::Unknown | tonic::Code::Internal)
            && std::error::Error::source(&status).is_some();
        if made_by_tonic {
            return ExportError::Transport { message };
        }
        ExportError::Grpc {
            code: status.code(),
            message,
            retry_after: retry_delay(status.details()),
        }
    }
}

/// `google.rpc.Status`, the error model of gRPC and of OTLP/HTTP error bodies.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<ProtoAny>,
}

/// `google.protobuf.Any`: a message with the URL of its type.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct ProtoAny {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "bytes", tag = "2")]
    pub value: Bytes,
}

/// `google.rpc.RetryInfo`: how long the client should wait before retrying.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct ProtoDuration {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

const RETRY_INFO_TYPE_URL: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// Reads the `RetryInfo` delay from a status's details (the decoded
/// `grpc-status-details-bin` trailer, a `google.rpc.Status`). Returns `None`
/// when the details are empty, do not decode, or contain no `RetryInfo`. A
/// negative delay counts as zero.
pub(super) fn retry_delay(details: &[u8]) -> Option<Duration> {
    if details.is_empty() {
        return None;
    }
    let status = RpcStatus::decode(details).ok()?;
    let retry_info = status
        .details
        .iter()
        .find(|detail| detail.type_url == RETRY_INFO_TYPE_URL)?;
    let delay = RetryInfo::decode(retry_info.value.clone())
        .ok()?
        .retry_delay
        .unwrap_or_default();
    let seconds = u64::try_from(delay.seconds).unwrap_or(0);
    let nanos = u32::try_from(delay.nanos).unwrap_or(0).min(999_999_999);
    Some(Duration::new(seconds, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_with_retry_info(seconds: i64, nanos: i32) -> Vec<u8> {
        let retry_info = RetryInfo {
            retry_delay: Some(ProtoDuration { seconds, nanos }),
        };
        RpcStatus {
            code: tonic::Code::ResourceExhausted as i32,
            message: "slow down".to_owned(),
            details: vec![ProtoAny {
                type_url: RETRY_INFO_TYPE_URL.to_owned(),
                value: retry_info.encode_to_vec().into(),
            }],
        }
        .encode_to_vec()
    }

    #[test]
    fn retry_delay_reads_retry_info() {
        let details = status_with_retry_info(3, 500_000_000);
        assert_eq!(retry_delay(&details), Some(Duration::from_millis(3500)));
    }

    #[test]
    fn retry_delay_negative_is_zero() {
        let details = status_with_retry_info(-5, 0);
        assert_eq!(retry_delay(&details), Some(Duration::ZERO));
    }

    #[test]
    fn retry_delay_ignores_other_details() {
        let details = RpcStatus {
            code: tonic::Code::ResourceExhausted as i32,
            message: String::new(),
            details: vec![ProtoAny {
                type_url: "type.googleapis.com/google.rpc.QuotaFailure".to_owned(),
                value: Bytes::from_static(b"\x0a\x00"),
            }],
        }
        .encode_to_vec();
        assert_eq!(retry_delay(&details), None);
    }

    #[test]
    fn retry_delay_empty_or_garbage_is_none() {
        assert_eq!(retry_delay(&[]), None);
        assert_eq!(retry_delay(&[0xff, 0xff, 0xff]), None);
    }

    #[test]
    fn status_conversion_keeps_retry_delay() {
        let details = status_with_retry_info(2, 0);
        let status = tonic::Status::with_details(
            tonic::Code::ResourceExhausted,
            "slow down",
            details.into(),
        );
        let error = ExportError::from(status);
        assert_eq!(error.retry_after(), Some(Duration::from_secs(2)));
        assert!(error.is_retryable());
    }
}
