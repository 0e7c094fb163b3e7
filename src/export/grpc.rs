//! OTLP/gRPC export of request bytes as they were received.

use std::time::Duration;

use bytes::Bytes;
use http::uri::PathAndQuery;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use tonic::Code;
use tonic::codec::CompressionEncoding;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use crate::config::{self, Compression};
use crate::receiver::codec::RawCodec;
use crate::signal::Signal;

/// Time allowed to open a connection to the upstream.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("invalid exporter `{name}`: {message}")]
    Setup { name: String, message: String },
    #[error("export failed with {code:?}: {message}")]
    Status { code: Code, message: String },
    #[error("burnrate stopped before the export finished")]
    Aborted,
}

impl ExportError {
    pub fn is_retryable(&self) -> bool {
        match self {
            ExportError::Setup { .. } | ExportError::Aborted => false,
            ExportError::Status { code, .. } => super::retry::is_retryable(*code),
        }
    }
}

impl From<tonic::Status> for ExportError {
    fn from(status: tonic::Status) -> ExportError {
        ExportError::Status {
            code: status.code(),
            message: status.message().to_owned(),
        }
    }
}

pub struct GrpcClient {
    grpc: tonic::client::Grpc<Channel>,
    metadata: MetadataMap,
    timeout: Duration,
}

impl GrpcClient {
    /// Builds a client that connects lazily, so an upstream that is down at
    /// start-up delays delivery but not burnrate's start.
    pub fn new(settings: &config::Exporter) -> Result<GrpcClient, ExportError> {
        let setup_error = |message: String| ExportError::Setup {
            name: settings.name.clone(),
            message,
        };
        let uri = config::parse_endpoint_url(&settings.endpoint).map_err(setup_error)?;

        let mut endpoint = Endpoint::from(uri.clone())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(settings.timeout);
        if uri.scheme_str() == Some("https") {
            let tls = ClientTlsConfig::new().with_native_roots();
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
            metadata,
            timeout: settings.timeout,
        })
    }

    /// Sends one request and returns the number of items that the upstream
    /// reported as rejected in a partial success.
    pub async fn export(&self, signal: Signal, body: Bytes) -> Result<u64, ExportError> {
        let mut grpc = self.grpc.clone();
        grpc.ready()
            .await
            .map_err(|error| tonic::Status::unavailable(format!("connection failed: {error}")))?;

        let mut request = tonic::Request::new(body);
        *request.metadata_mut() = self.metadata.clone();
        request.set_timeout(self.timeout);
        let path = PathAndQuery::from_static(signal.grpc_path());
        let response = grpc.unary(request, path, RawCodec).await?;
        Ok(rejected_items(signal, response.into_inner()))
    }
}

/// Reads the partial-success count of an export response. A response that
/// does not decode still means the upstream accepted the data.
fn rejected_items(signal: Signal, body: Bytes) -> u64 {
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
