//! Helpers shared by the exporter tests: a certificate authority generated
//! per test, a scripted OTLP/HTTP server and a scripted OTLP/gRPC trace
//! server. Both servers listen on 127.0.0.1 on a port chosen at run time,
//! optionally with TLS and client certificate checks, and stop when dropped.

// Each test file uses a different part of these helpers.
#![allow(dead_code)]
#![allow(clippy::unwrap_used)]

pub mod grpc_server;
pub mod http_server;
pub mod pki;

use std::time::Duration;

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

/// Maximum time a test waits for one export.
pub const EXPORT_WAIT: Duration = Duration::from_secs(20);

/// Builds a trace export request with one span named `name`.
pub fn trace_request(name: &str) -> ExportTraceServiceRequest {
    let span = Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: name.to_owned(),
        ..Span::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span],
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

/// Encodes [`trace_request`] as protobuf.
pub fn trace_body(name: &str) -> Bytes {
    trace_request(name).encode_to_vec().into()
}

/// Builds exporter settings for `endpoint` with every other key at its default.
pub fn exporter(
    endpoint: &str,
    protocol: burnrate::config::Protocol,
) -> burnrate::config::Exporter {
    burnrate::config::Exporter {
        name: "test".to_owned(),
        endpoint: endpoint.to_owned(),
        protocol,
        ..burnrate::config::Exporter::default()
    }
}

/// Runs one export with a bound on its duration.
pub async fn export(
    client: &burnrate::export::Client,
    signal: burnrate::signal::Signal,
    body: Bytes,
) -> Result<u64, burnrate::export::ExportError> {
    tokio::time::timeout(EXPORT_WAIT, client.export(signal, body))
        .await
        .expect("export did not finish in time")
}
