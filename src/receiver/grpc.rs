//! The OTLP/gRPC export services of the three signals.
//!
//! Written against tonic's server building blocks rather than generated code
//! because they use [`RawCodec`]: a handler gets the request bytes, decodes
//! them once, and forwards the same bytes.

use std::convert::Infallible;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::body::Body;
use tonic::codec::{CompressionEncoding, EnabledCompressionEncodings};
use tonic::codegen::{BoxFuture, StdError, http};
use tonic::server::{Grpc, NamedService, UnaryService};

use super::codec::RawCodec;
use crate::pipeline::{Accepted, ConsumeError, Pipeline};
use crate::signal::{Signal, Transport};

/// A signal's gRPC service, as a type so that it can name the service.
pub trait GrpcSignal: Send + Sync + 'static {
    const SIGNAL: Signal;
    const SERVICE_NAME: &'static str;
}

pub struct TraceService;
pub struct MetricsService;
pub struct LogsService;

impl GrpcSignal for TraceService {
    const SIGNAL: Signal = Signal::Traces;
    const SERVICE_NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

impl GrpcSignal for MetricsService {
    const SIGNAL: Signal = Signal::Metrics;
    const SERVICE_NAME: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
}

impl GrpcSignal for LogsService {
    const SIGNAL: Signal = Signal::Logs;
    const SERVICE_NAME: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
}

/// One signal's export service as a tower service for `tonic::transport::Server`.
pub struct GrpcServer<S> {
    pipeline: Arc<Pipeline>,
    max_message_bytes: usize,
    signal: PhantomData<fn() -> S>,
}

impl<S> GrpcServer<S> {
    pub fn new(pipeline: Arc<Pipeline>, max_message_bytes: usize) -> GrpcServer<S> {
        GrpcServer {
            pipeline,
            max_message_bytes,
            signal: PhantomData,
        }
    }
}

impl<S> Clone for GrpcServer<S> {
    fn clone(&self) -> Self {
        GrpcServer::new(self.pipeline.clone(), self.max_message_bytes)
    }
}

impl<S: GrpcSignal> NamedService for GrpcServer<S> {
    const NAME: &'static str = S::SERVICE_NAME;
}

impl<S, B> tower::Service<http::Request<B>> for GrpcServer<S>
where
    S: GrpcSignal,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.uri().path() != S::SIGNAL.grpc_path() {
            return Box::pin(async { Ok(unimplemented_response()) });
        }

        let handler = ExportHandler {
            pipeline: self.pipeline.clone(),
            signal: S::SIGNAL,
        };
        let max_message_bytes = self.max_message_bytes;
        let pipeline = self.pipeline.clone();
        Box::pin(async move {
            let mut accept = EnabledCompressionEncodings::default();
            accept.enable(CompressionEncoding::Gzip);
            let mut grpc = Grpc::new(RawCodec)
                .apply_compression_config(accept, EnabledCompressionEncodings::default())
                .apply_max_message_size_config(Some(max_message_bytes), None);
            let response = grpc.unary(handler, request).await;
            Ok(rewrite_decoding_status(response, &pipeline, S::SIGNAL))
        })
    }
}

/// Rewrites the statuses that tonic's decoder returns before the handler
/// runs, and counts those requests as invalid. The handler itself returns
/// only OK, INVALID_ARGUMENT and UNAVAILABLE, so any other code here comes
/// from decoding:
/// - a message over the size limit is OUT_OF_RANGE, which the OTLP
///   specification lists as retryable, or RESOURCE_EXHAUSTED when it passes
///   the limit while inflating. Both become RESOURCE_EXHAUSTED, which without
///   retry information is not retryable by the specification, although some
///   clients, such as the Python SDK 1.45, retry it anyway;
/// - corrupt gzip data and other framing errors are INTERNAL, which becomes
///   INVALID_ARGUMENT, because the request, not burnrate, is at fault.
fn rewrite_decoding_status(
    mut response: http::Response<Body>,
    pipeline: &Pipeline,
    signal: Signal,
) -> http::Response<Body> {
    let headers = response.headers_mut();
    let code = headers
        .get(tonic::Status::GRPC_STATUS)
        .and_then(|code| code.to_str().ok())
        .and_then(|code| code.parse::<i32>().ok())
        .map(tonic::Code::from_i32);
    let replacement = match code {
        Some(tonic::Code::OutOfRange | tonic::Code::ResourceExhausted) => {
            tonic::Code::ResourceExhausted
        }
        Some(tonic::Code::Internal) => tonic::Code::InvalidArgument,
        _ => return response,
    };
    headers.insert(tonic::Status::GRPC_STATUS, (replacement as i32).into());
    pipeline
        .receiver_stats
        .add_invalid_request(signal, Transport::Grpc);
    response
}

struct ExportHandler {
    pipeline: Arc<Pipeline>,
    signal: Signal,
}

impl UnaryService<Bytes> for ExportHandler {
    type Response = Bytes;
    type Future = BoxFuture<tonic::Response<Bytes>, tonic::Status>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let pipeline = self.pipeline.clone();
        let signal = self.signal;
        Box::pin(async move {
            match pipeline.consume_protobuf(signal, Transport::Grpc, request.into_inner()) {
                Ok(accepted) => {
                    let response = ExportResponse::new(signal, accepted).encode_protobuf();
                    Ok(tonic::Response::new(Bytes::from(response)))
                }
                Err(error @ ConsumeError::Invalid { .. }) => {
                    Err(tonic::Status::invalid_argument(error.to_string()))
                }
                Err(error @ ConsumeError::TooLarge { .. }) => {
                    Err(tonic::Status::resource_exhausted(error.to_string()))
                }
                Err(error @ ConsumeError::QueueFull { .. }) => {
                    Err(tonic::Status::unavailable(error.to_string()))
                }
            }
        })
    }
}

/// The export response of one signal.
pub enum ExportResponse {
    Traces(ExportTraceServiceResponse),
    Metrics(ExportMetricsServiceResponse),
    Logs(ExportLogsServiceResponse),
}

impl ExportResponse {
    /// Builds the signal's export response, with a partial success when items
    /// were rejected. Without rejections the response is empty, as OTLP
    /// specifies.
    pub fn new(signal: Signal, accepted: Accepted) -> ExportResponse {
        let rejected = i64::try_from(accepted.rejected).unwrap_or(i64::MAX);
        let error_message = accepted.error_message;
        let any_rejected = rejected > 0;
        match signal {
            Signal::Traces => ExportResponse::Traces(ExportTraceServiceResponse {
                partial_success: any_rejected.then_some(ExportTracePartialSuccess {
                    rejected_spans: rejected,
                    error_message,
                }),
            }),
            Signal::Metrics => ExportResponse::Metrics(ExportMetricsServiceResponse {
                partial_success: any_rejected.then_some(ExportMetricsPartialSuccess {
                    rejected_data_points: rejected,
                    error_message,
                }),
            }),
            Signal::Logs => ExportResponse::Logs(ExportLogsServiceResponse {
                partial_success: any_rejected.then_some(ExportLogsPartialSuccess {
                    rejected_log_records: rejected,
                    error_message,
                }),
            }),
        }
    }

    pub fn encode_protobuf(&self) -> Vec<u8> {
        match self {
            ExportResponse::Traces(response) => response.encode_to_vec(),
            ExportResponse::Metrics(response) => response.encode_to_vec(),
            ExportResponse::Logs(response) => response.encode_to_vec(),
        }
    }

    pub fn encode_json(&self) -> Vec<u8> {
        match self {
            ExportResponse::Traces(response) => super::json::encode_trace_response(response),
            ExportResponse::Metrics(response) => super::json::encode_metrics_response(response),
            ExportResponse::Logs(response) => super::json::encode_logs_response(response),
        }
    }
}

fn unimplemented_response() -> http::Response<Body> {
    let mut response = http::Response::new(Body::default());
    let headers = response.headers_mut();
    headers.insert(
        tonic::Status::GRPC_STATUS,
        (tonic::Code::Unimplemented as i32).into(),
    );
    headers.insert(
        http::header::CONTENT_TYPE,
        tonic::metadata::GRPC_CONTENT_TYPE,
    );
    response
}
