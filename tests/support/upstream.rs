//! An upstream OTLP/gRPC server for burnrate's exporter. It records every
//! export request it accepts, for all three signals, as the exact bytes
//! received, and can respond slowly.

use std::convert::Infallible;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::codec::{
    Codec, CompressionEncoding, DecodeBuf, Decoder, EnabledCompressionEncodings, EncodeBuf, Encoder,
};
use tonic::server::{Grpc, NamedService, UnaryService};

use super::Signal;

/// Maximum delay of one response, so that a slow upstream cannot hang a
/// test.
pub const MAX_DELAY: Duration = Duration::from_secs(2);

/// One export request that the upstream accepted.
#[derive(Clone, Debug)]
pub struct Received {
    pub signal: Signal,
    /// The request bytes as received, after gRPC decompression. Empty when
    /// the upstream was started with [`Upstream::start_counting`].
    pub body: Bytes,
    /// Span ids of a trace request, in request order.
    pub span_ids: Vec<Vec<u8>>,
}

#[derive(Default)]
struct State {
    received: Mutex<Vec<Received>>,
    delay_ms: AtomicU64,
    keep_bodies: AtomicBool,
}

/// A running upstream server on 127.0.0.1.
pub struct Upstream {
    pub address: SocketAddr,
    state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Upstream {
    /// Starts an upstream on a free port that keeps every request body.
    pub async fn start() -> Upstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Upstream::serve(listener, true)
    }

    /// Starts an upstream on `address` (port 0 for a free port) that keeps
    /// span ids but not bodies, for floods whose bodies would not fit in
    /// memory.
    pub async fn start_counting(address: SocketAddr) -> Upstream {
        let listener = tokio::net::TcpListener::bind(address).await.unwrap();
        Upstream::serve(listener, false)
    }

    fn serve(listener: tokio::net::TcpListener, keep_bodies: bool) -> Upstream {
        let address = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        state.keep_bodies.store(keep_bodies, Ordering::SeqCst);
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tonic::transport::Server::builder()
            .add_service(RecordingService::<TraceMarker>::new(state.clone()))
            .add_service(RecordingService::<MetricsMarker>::new(state.clone()))
            .add_service(RecordingService::<LogsMarker>::new(state.clone()))
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener),
                async move {
                    let _ = stopped.await;
                },
            );
        let task = tokio::spawn(async move {
            server.await.unwrap();
        });
        Upstream {
            address,
            state,
            stop: Some(stop),
            task,
        }
    }

    /// Makes every later response wait `delay`, at most [`MAX_DELAY`].
    pub fn set_delay(&self, delay: Duration) {
        let delay = delay.min(MAX_DELAY);
        self.state
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Returns copies of the requests accepted so far, in the order of
    /// acceptance.
    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Calls `visit` on every request accepted so far without copying them.
    pub fn inspect<T>(&self, visit: impl FnOnce(&[Received]) -> T) -> T {
        visit(&self.state.received.lock().unwrap())
    }

    /// Stops the server and waits for it to end.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = &mut self.task;
        let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
    }
}

/// Names the gRPC service of one signal.
pub trait SignalMarker: Send + Sync + 'static {
    const SIGNAL: Signal;
    const SERVICE_NAME: &'static str;
}

pub struct TraceMarker;
pub struct MetricsMarker;
pub struct LogsMarker;

impl SignalMarker for TraceMarker {
    const SIGNAL: Signal = Signal::Traces;
    const SERVICE_NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

impl SignalMarker for MetricsMarker {
    const SIGNAL: Signal = Signal::Metrics;
    const SERVICE_NAME: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
}

impl SignalMarker for LogsMarker {
    const SIGNAL: Signal = Signal::Logs;
    const SERVICE_NAME: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
}

/// One signal's export service. It is written with tonic's server building
/// blocks and a pass-through codec so that it records the request bytes,
/// which generated services would decode and re-encode.
struct RecordingService<M> {
    state: Arc<State>,
    marker: PhantomData<fn() -> M>,
}

impl<M> RecordingService<M> {
    fn new(state: Arc<State>) -> RecordingService<M> {
        RecordingService {
            state,
            marker: PhantomData,
        }
    }
}

impl<M> Clone for RecordingService<M> {
    fn clone(&self) -> Self {
        RecordingService::new(self.state.clone())
    }
}

impl<M: SignalMarker> NamedService for RecordingService<M> {
    const NAME: &'static str = M::SERVICE_NAME;
}

impl<M: SignalMarker> tower::Service<http::Request<tonic::body::Body>> for RecordingService<M> {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = tonic::codegen::BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let handler = ExportHandler {
            state: self.state.clone(),
            signal: M::SIGNAL,
        };
        Box::pin(async move {
            if Signal::from_grpc_path(request.uri().path()) != Some(M::SIGNAL) {
                let status = tonic::Status::unimplemented(request.uri().path().to_owned());
                return Ok(status.into_http());
            }
            let mut accept = EnabledCompressionEncodings::default();
            accept.enable(CompressionEncoding::Gzip);
            let mut grpc = Grpc::new(PassThroughCodec)
                .apply_compression_config(accept, EnabledCompressionEncodings::default())
                .apply_max_message_size_config(Some(64 * 1024 * 1024), None);
            Ok(grpc.unary(handler, request).await)
        })
    }
}

struct ExportHandler {
    state: Arc<State>,
    signal: Signal,
}

impl UnaryService<Bytes> for ExportHandler {
    type Response = Bytes;
    type Future = tonic::codegen::BoxFuture<tonic::Response<Bytes>, tonic::Status>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let state = self.state.clone();
        let signal = self.signal;
        Box::pin(async move {
            let delay = Duration::from_millis(state.delay_ms.load(Ordering::SeqCst));
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }

            let body = request.into_inner();
            let span_ids = match signal {
                Signal::Traces => trace_span_ids(&body),
                Signal::Metrics | Signal::Logs => Vec::new(),
            };
            let body = if state.keep_bodies.load(Ordering::SeqCst) {
                body
            } else {
                Bytes::new()
            };
            state.received.lock().unwrap().push(Received {
                signal,
                body,
                span_ids,
            });
            // An empty Export*ServiceResponse: full success.
            Ok(tonic::Response::new(Bytes::new()))
        })
    }
}

/// Returns the span ids of a trace export request, or none when it does not
/// decode.
pub fn trace_span_ids(body: &[u8]) -> Vec<Vec<u8>> {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return Vec::new();
    };
    request
        .resource_spans
        .into_iter()
        .flat_map(|resource| resource.scope_spans)
        .flat_map(|scope| scope.spans)
        .map(|span| span.span_id)
        .collect()
}

/// A gRPC codec whose messages are the bytes on the wire.
#[derive(Clone, Copy, Debug, Default)]
pub struct PassThroughCodec;

impl Codec for PassThroughCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = PassThroughCodec;
    type Decoder = PassThroughCodec;

    fn encoder(&mut self) -> Self::Encoder {
        PassThroughCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        PassThroughCodec
    }
}

impl Encoder for PassThroughCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for PassThroughCodec {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
