//! With `storage: disk`, spans that burnrate acknowledged survive `kill -9`
//! and reach the upstream after a restart.

#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::uri::PathAndQuery;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

use burnrate::ledger::Ledger;
use burnrate::pipeline::{ItemFate, Pipeline};
use burnrate::pricing::Prices;
use burnrate::receiver::codec::RawCodec;
use burnrate::receiver::grpc::{GrpcServer, TraceService};
use burnrate::signal::{Signal, Transport};

const BINARY: &str = env!("CARGO_BIN_EXE_burnrate");
const REQUESTS: u8 = 20;
const SPANS_PER_REQUEST: u8 = 5;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn request(number: u8) -> Bytes {
    let spans = (0..SPANS_PER_REQUEST)
        .map(|index| Span {
            trace_id: vec![number + 1; 16],
            span_id: vec![number + 1, index + 1, 0, 0, 0, 0, 0, 1],
            name: "work".to_owned(),
            ..Default::default()
        })
        .collect();
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    Bytes::from(request.encode_to_vec())
}

struct Burnrate {
    child: Child,
    admin_port: u16,
}

impl Burnrate {
    /// Starts burnrate, appending its log to `log`.
    fn start(config: &std::path::Path, admin_port: u16, log: &std::path::Path) -> Burnrate {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = Command::new(BINARY)
            .args(["run", "--config"])
            .arg(config)
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let burnrate = Burnrate { child, admin_port };
        burnrate.wait_ready();
        burnrate
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.admin_port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("burnrate did not listen on its admin port within 20 s");
    }
}

impl Drop for Burnrate {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn send_all(grpc_port: u16) {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{grpc_port}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = tonic::client::Grpc::new(channel);
    for number in 0..REQUESTS {
        client.ready().await.unwrap();
        let path = PathAndQuery::from_static(Signal::Traces.grpc_path());
        let response = client
            .unary(tonic::Request::new(request(number)), path, RawCodec)
            .await;
        assert!(
            response.is_ok(),
            "request {number} was not acknowledged: {response:?}"
        );
    }
}

/// Starts an OTLP/gRPC upstream made of burnrate's own receiver, whose
/// counters show how many spans arrived.
async fn start_upstream(port: u16) -> Arc<Pipeline> {
    let ledger = Arc::new(Ledger::new(Prices::embedded()));
    let pipeline = Arc::new(Pipeline::new(ledger, Vec::new(), 256));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    let server = tonic::transport::Server::builder()
        .add_service(GrpcServer::<TraceService>::new(pipeline.clone(), 16 << 20))
        .serve_with_incoming(incoming);
    tokio::spawn(server);
    pipeline
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_spans_survive_kill_and_restart() {
    let directory = tempfile::tempdir().unwrap();
    let (grpc_port, http_port, metrics_port, admin_port, upstream_port) = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );
    let queue_directory = directory.path().join("queue");
    let config = [
        format!("receivers: {{ otlp: {{ grpc: {{ endpoint: 127.0.0.1:{grpc_port} }}, http: {{ endpoint: 127.0.0.1:{http_port} }} }} }}"),
        format!("metrics: {{ prometheus: {{ endpoint: 127.0.0.1:{metrics_port} }} }}"),
        format!("admin: {{ endpoint: 127.0.0.1:{admin_port} }}"),
        "exporters:".to_owned(),
        "  - name: upstream".to_owned(),
        format!("    endpoint: http://127.0.0.1:{upstream_port}"),
        "    retry_on_failure: { initial_interval: 50ms, max_interval: 200ms }".to_owned(),
        format!("    sending_queue: {{ storage: disk, directory: '{}' }}", queue_directory.display()),
    ]
    .join("\n");
    let config_path = directory.path().join("burnrate.yaml");
    std::fs::write(&config_path, config).unwrap();

    // The upstream is down: every acknowledged span waits on disk.
    let log = directory.path().join("burnrate.log");
    let mut first = Burnrate::start(&config_path, admin_port, &log);
    send_all(grpc_port).await;
    first.child.kill().unwrap();
    first.child.wait().unwrap();

    let upstream = start_upstream(upstream_port).await;
    let _second = Burnrate::start(&config_path, admin_port, &log);
    let expected = u64::from(REQUESTS) * u64::from(SPANS_PER_REQUEST);
    let deadline = Instant::now() + Duration::from_secs(30);
    let received = || {
        upstream
            .receiver_stats
            .items(Signal::Traces, Transport::Grpc, ItemFate::Accepted)
    };
    while received() < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(
        received(),
        expected,
        "spans acknowledged before kill -9 must arrive after restart; burnrate's log:\n{log}"
    );
}
