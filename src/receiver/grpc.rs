//! The OTLP/gRPC trace service (`opentelemetry.proto.collector.trace.v1.TraceService/Export`).
//!
//! Written against tonic's server building blocks rather than generated code
//! because it uses [`RawCodec`]: the handler gets the request bytes, decodes
//! them once for extraction, and forwards the same bytes.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use tonic::body::Body;
use tonic::codec::{CompressionEncoding, EnabledCompressionEncodings};
use tonic::codegen::{BoxFuture, StdError, http};
use tonic::server::{Grpc, NamedService, UnaryService};

use super::codec::RawCodec;
use crate::pipeline::Pipeline;

const SERVICE_NAME: &str = "opentelemetry.proto.collector.trace.v1.TraceService";
pub const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// The trace service as a tower service for `tonic::transport::Server`.
#[derive(Clone)]
pub struct TraceServer {
    pipeline: Arc<Pipeline>,
    max_decoding_message_size: usize,
}

impl TraceServer {
    pub fn new(pipeline: Arc<Pipeline>, max_decoding_message_size: usize) -> TraceServer {
        TraceServer {
            pipeline,
            max_decoding_message_size,
        }
    }
}

impl NamedService for TraceServer {
    const NAME: &'static str = SERVICE_NAME;
}

impl<B> tower::Service<http::Request<B>> for TraceServer
where
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
        if request.uri().path() != EXPORT_PATH {
            return Box::pin(async { Ok(unimplemented_response()) });
        }

        let handler = ExportHandler(self.pipeline.clone());
        let max_decoding_message_size = self.max_decoding_message_size;
        Box::pin(async move {
            let mut accept = EnabledCompressionEncodings::default();
            accept.enable(CompressionEncoding::Gzip);
            // NOTE: tonic rejects a message over the limit with OUT_OF_RANGE,
            // which OTLP clients retry; RESOURCE_EXHAUSTED would stop them.
            let mut grpc = Grpc::new(RawCodec)
                .apply_compression_config(accept, EnabledCompressionEncodings::default())
                .apply_max_message_size_config(Some(max_decoding_message_size), None);
            Ok(grpc.unary(handler, request).await)
        })
    }
}

struct ExportHandler(Arc<Pipeline>);

impl UnaryService<Bytes> for ExportHandler {
    type Response = Bytes;
    type Future = BoxFuture<tonic::Response<Bytes>, tonic::Status>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let pipeline = self.0.clone();
        Box::pin(async move {
            let body = pipeline.consume_traces(request.into_inner())?;
            Ok(tonic::Response::new(body))
        })
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
