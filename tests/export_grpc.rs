#![allow(clippy::unwrap_used)]

//! The OTLP/gRPC exporter against a scripted tonic server on 127.0.0.1:
//! partial success, metadata, gzip, and the retry classification of
//! statuses, including `google.rpc.RetryInfo` in the status details.

mod support_export;

use std::time::Duration;

use burnrate::config::{Compression, Protocol};
use burnrate::export::{Client, ExportError};
use burnrate::signal::Signal;
use bytes::Bytes;
use prost::Message;

use support_export::grpc_server::{GrpcReply, GrpcServer};
use support_export::{export, exporter, trace_body};

/// `google.protobuf.Duration`, written here so that the test encodes the
/// status details independently of the exporter's own types.
#[derive(Clone, PartialEq, prost::Message)]
struct DurationMessage {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
struct RetryInfoMessage {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<DurationMessage>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
struct AnyMessage {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

/// `google.rpc.Status`.
#[derive(Clone, PartialEq, prost::Message)]
struct StatusMessage {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<AnyMessage>,
}

fn details_with_retry_info(code: tonic::Code, seconds: i64, nanos: i32) -> Bytes {
    let retry_info = RetryInfoMessage {
        retry_delay: Some(DurationMessage { seconds, nanos }),
    };
    let status = StatusMessage {
        code: code as i32,
        message: "slow down".to_owned(),
        details: vec![AnyMessage {
            type_url: "type.googleapis.com/google.rpc.RetryInfo".to_owned(),
            value: retry_info.encode_to_vec(),
        }],
    };
    status.encode_to_vec().into()
}

fn fail(code: tonic::Code, details: Bytes) -> GrpcReply {
    GrpcReply::Fail {
        code,
        message: "slow down".to_owned(),
        details,
    }
}

#[tokio::test]
async fn partial_success_returns_rejected_count() {
    let server = GrpcServer::start(None, false).await;
    server.script([GrpcReply::Accept { rejected_spans: 2 }]);
    let mut settings = exporter(&server.url("http"), Protocol::Grpc);
    settings
        .headers
        .insert("x-honeycomb-team".to_owned(), "team-key".to_owned());
    let client = Client::new(&settings).unwrap();

    let rejected = export(&client, Signal::Traces, trace_body("chat"))
        .await
        .unwrap();

    assert_eq!(rejected, 2);
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].metadata["x-honeycomb-team"], "team-key");
    let user_agent = requests[0].metadata["user-agent"].to_str().unwrap();
    assert!(user_agent.starts_with("burnrate/"), "{user_agent}");
    let span = &requests[0].request.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(span.name, "chat");
}

#[tokio::test]
async fn gzip_request_is_accepted() {
    let server = GrpcServer::start(None, false).await;
    let mut settings = exporter(&server.url("http"), Protocol::Grpc);
    settings.compression = Compression::Gzip;
    let client = Client::new(&settings).unwrap();

    export(&client, Signal::Traces, trace_body("gzip span"))
        .await
        .unwrap();

    let requests = server.requests();
    assert_eq!(requests[0].metadata["grpc-encoding"], "gzip");
    let span = &requests[0].request.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(span.name, "gzip span");
}

#[tokio::test]
async fn retry_info_sets_retry_after() {
    let server = GrpcServer::start(None, false).await;
    let details = details_with_retry_info(tonic::Code::ResourceExhausted, 2, 500_000_000);
    server.script([fail(tonic::Code::ResourceExhausted, details)]);
    let client = Client::new(&exporter(&server.url("http"), Protocol::Grpc)).unwrap();

    let error = export(&client, Signal::Traces, trace_body("a"))
        .await
        .unwrap_err();

    assert_eq!(error.retry_after(), Some(Duration::from_millis(2500)));
    assert!(error.is_retryable(), "{error}");
    let ExportError::Grpc { code, message, .. } = &error else {
        panic!("expected a gRPC status error, got {error:?}");
    };
    assert_eq!(*code, tonic::Code::ResourceExhausted);
    assert_eq!(message, "slow down");
}

#[tokio::test]
async fn resource_exhausted_without_retry_info_is_permanent() {
    let server = GrpcServer::start(None, false).await;
    server.script([fail(tonic::Code::ResourceExhausted, Bytes::new())]);
    let client = Client::new(&exporter(&server.url("http"), Protocol::Grpc)).unwrap();

    let error = export(&client, Signal::Traces, trace_body("a"))
        .await
        .unwrap_err();

    assert_eq!(error.retry_after(), None);
    assert!(!error.is_retryable(), "{error}");
}

#[tokio::test]
async fn unavailable_with_retry_info_is_retryable() {
    let server = GrpcServer::start(None, false).await;
    let details = details_with_retry_info(tonic::Code::Unavailable, 1, 0);
    server.script([fail(tonic::Code::Unavailable, details)]);
    let client = Client::new(&exporter(&server.url("http"), Protocol::Grpc)).unwrap();

    let error = export(&client, Signal::Traces, trace_body("a"))
        .await
        .unwrap_err();

    assert!(error.is_retryable(), "{error}");
    assert_eq!(error.retry_after(), Some(Duration::from_secs(1)));
}

#[tokio::test]
async fn server_unknown_status_is_permanent() {
    let server = GrpcServer::start(None, false).await;
    server.script([fail(tonic::Code::Unknown, Bytes::new())]);
    let client = Client::new(&exporter(&server.url("http"), Protocol::Grpc)).unwrap();

    let error = export(&client, Signal::Traces, trace_body("a"))
        .await
        .unwrap_err();

    assert!(!error.is_retryable(), "{error}");
    assert!(
        matches!(
            error,
            ExportError::Grpc {
                code: tonic::Code::Unknown,
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn invalid_argument_is_permanent() {
    let server = GrpcServer::start(None, false).await;
    server.script([fail(tonic::Code::InvalidArgument, Bytes::new())]);
    let client = Client::new(&exporter(&server.url("http"), Protocol::Grpc)).unwrap();

    let error = export(&client, Signal::Traces, trace_body("a"))
        .await
        .unwrap_err();

    assert!(!error.is_retryable(), "{error}");
}

#[tokio::test]
async fn refused_connection_is_retryable() {
    // A port this test bound and released, so nothing listens on it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let client = Client::new(&exporter(&format!("http://{address}"), Protocol::Grpc)).unwrap();

    let error = export(&client, Signal::Traces, trace_body("a"))
        .await
        .unwrap_err();

    assert!(error.is_retryable(), "{error}");
    assert!(error.to_string().contains("Connection refused"), "{error}");
}
