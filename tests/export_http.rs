#![allow(clippy::unwrap_used)]

//! The OTLP/HTTP exporter against a scripted server on 127.0.0.1: request
//! format, partial success, retryable and permanent statuses, `Retry-After`,
//! gzip, timeouts and headers read from files.

mod support_export;

use std::io::Read;
use std::time::{Duration, SystemTime};

use burnrate::config::{Compression, Protocol};
use burnrate::export::{Client, ExportError};
use burnrate::signal::Signal;
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;

use support_export::http_server::{HttpServer, Reply};
use support_export::{export, exporter, trace_body};

/// Encodes a `google.rpc.Status` (code 1, message 2) by hand, so the test
/// does not share the exporter's own message types.
fn rpc_status(code: i32, message: &str) -> Vec<u8> {
    let mut body = vec![0x08];
    prost::encoding::encode_varint(u64::try_from(code).unwrap(), &mut body);
    prost::encoding::string::encode(2, &message.to_owned(), &mut body);
    body
}

fn http_client(endpoint: &str) -> Client {
    Client::new(&exporter(endpoint, Protocol::HttpProtobuf)).unwrap()
}

#[tokio::test]
async fn partial_success_returns_rejected_count() {
    let server = HttpServer::start_plaintext().await;
    let response = ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans: 3,
            error_message: "3 spans too old".to_owned(),
        }),
    };
    server.script([Reply::new(200).protobuf(response.encode_to_vec())]);
    let mut settings = exporter(&server.url("http"), Protocol::HttpProtobuf);
    settings
        .headers
        .insert("x-honeycomb-team".to_owned(), "team-key".to_owned());
    let client = Client::new(&settings).unwrap();

    let body = trace_body("chat");
    let rejected = export(&client, Signal::Traces, body.clone()).await.unwrap();

    assert_eq!(rejected, 3);
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, http::Method::POST);
    assert_eq!(request.path, "/v1/traces");
    assert_eq!(request.headers["content-type"], "application/x-protobuf");
    assert_eq!(request.headers["x-honeycomb-team"], "team-key");
    assert!(request.headers.get("content-encoding").is_none());
    let user_agent = request.headers["user-agent"].to_str().unwrap();
    assert!(user_agent.starts_with("burnrate/"), "{user_agent}");
    assert_eq!(request.body, body);
}

#[tokio::test]
async fn empty_success_body_rejects_nothing() {
    let server = HttpServer::start_plaintext().await;
    let client = http_client(&server.url("http"));

    let rejected = export(&client, Signal::Logs, Bytes::new()).await.unwrap();

    assert_eq!(rejected, 0);
    assert_eq!(server.requests()[0].path, "/v1/logs");
}

#[tokio::test]
async fn base_path_gets_signal_path_appended() {
    let server = HttpServer::start_plaintext().await;
    let client = http_client(&format!("{}/otlp/", server.url("http")));

    export(&client, Signal::Metrics, Bytes::new())
        .await
        .unwrap();
    export(&client, Signal::Traces, Bytes::new()).await.unwrap();

    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/otlp/v1/metrics", "/otlp/v1/traces"]);
}

#[tokio::test]
async fn status_429_with_retry_after_seconds() {
    let server = HttpServer::start_plaintext().await;
    server.script([Reply::new(429).header("retry-after", "7")]);
    let client = http_client(&server.url("http"));

    let error = export(&client, Signal::Traces, trace_body("a"))
        .await
        .unwrap_err();

    assert!(error.is_retryable(), "{error}");
    assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
    let ExportError::Http { status, .. } = &error else {
        panic!("expected an HTTP status error, got {error:?}");
    };
    assert_eq!(status.as_u16(), 429);
}

#[tokio::test]
async fn status_503_with_retry_after_date() {
    let server = HttpServer::start_plaintext().await;
    let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
    server.script([Reply::new(503).header("retry-after", date)]);
    let client = http_client(&server.url("http"));

    let error = export(&client, Signal::Traces, trace_body("a"))
        .await
        .unwrap_err();

    assert!(error.is_retryable(), "{error}");
    let retry_after = error.retry_after().unwrap();
    // The date has whole seconds, and time passes before it is read.
    assert!(retry_after >= Duration::from_secs(27), "{retry_after:?}");
    assert!(retry_after <= Duration::from_secs(30), "{retry_after:?}");
}

#[tokio::test]
async fn status_503_without_retry_after() {
    let server = HttpServer::start_plaintext().await;
    server.script([Reply::new(503)]);
    let client = http_client(&server.url("http"));

    let error = export(&client, Signal::Traces, trace_body("a"))
        .await
        .unwrap_err();

    assert!(error.is_retryable(), "{error}");
    assert_eq!(error.retry_after(), None);
}

#[tokio::test]
async fn gateway_statuses_are_retryable() {
    let server = HttpServer::start_plaintext().await;
    server.script([Reply::new(502), Reply::new(504)]);
    let client = http_client(&server.url("http"));

    for expected in [502, 504] {
        let error = export(&client, Signal::Traces, trace_body("a"))
            .await
            .unwrap_err();
        assert!(error.is_retryable(), "{expected}: {error}");
    }
}

#[tokio::test]
async fn status_400_is_permanent_with_status_message() {
    let server = HttpServer::start_plaintext().await;
    let body = rpc_status(3, "span 0102 has an invalid trace id");
    server.script([Reply::new(400).protobuf(body).header("retry-after", "5")]);
    let client = http_client(&server.url("http"));

    let error = export(&client, Signal::Traces, trace_body("a"))
        .await
        .unwrap_err();

    assert!(!error.is_retryable(), "{error}");
    assert_eq!(error.retry_after(), None);
    assert_eq!(
        error.to_string(),
        "export failed with HTTP status 400 Bad Request: span 0102 has an invalid trace id"
    );
}

#[tokio::test]
async fn status_500_is_permanent() {
    let server = HttpServer::start_plaintext().await;
    server.script([Reply::new(500)]);
    let client = http_client(&server.url("http"));

    let error = export(&client, Signal::Traces, trace_body("a"))
        .await
        .unwrap_err();

    assert!(!error.is_retryable(), "{error}");
}

#[tokio::test]
async fn unauthorized_text_body_is_in_message() {
    let server = HttpServer::start_plaintext().await;
    let mut reply = Reply::new(401).header("content-type", "text/plain; charset=utf-8");
    reply.body = Bytes::from_static(b"invalid API key\n");
    server.script([reply]);
    let client = http_client(&server.url("http"));

    let error = export(&client, Signal::Traces, trace_body("a"))
        .await
        .unwrap_err();

    assert!(!error.is_retryable(), "{error}");
    assert!(error.to_string().contains("\"invalid API key\""), "{error}");
}

#[tokio::test]
async fn gzip_body_arrives_compressed() {
    let server = HttpServer::start_plaintext().await;
    let mut settings = exporter(&server.url("http"), Protocol::HttpProtobuf);
    settings.compression = Compression::Gzip;
    let client = Client::new(&settings).unwrap();
    let body = trace_body("compressed span");

    export(&client, Signal::Traces, body.clone()).await.unwrap();

    let request = &server.requests()[0];
    assert_eq!(request.headers["content-encoding"], "gzip");
    assert_ne!(request.body, body);
    let mut decompressed = Vec::new();
    flate2::read::GzDecoder::new(&request.body[..])
        .read_to_end(&mut decompressed)
        .unwrap();
    assert_eq!(decompressed, body);
    let decoded = ExportTraceServiceRequest::decode(&decompressed[..]).unwrap();
    let span = &decoded.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(span.name, "compressed span");
}

#[tokio::test]
async fn no_response_within_timeout_is_retryable() {
    let server = HttpServer::start_plaintext().await;
    server.script([Reply::new(200).delay(Duration::from_secs(2))]);
    let mut settings = exporter(&server.url("http"), Protocol::HttpProtobuf);
    settings.timeout = Duration::from_millis(200);
    let client = Client::new(&settings).unwrap();

    let error = export(&client, Signal::Traces, trace_body("a"))
        .await
        .unwrap_err();

    assert!(error.is_retryable(), "{error}");
    assert!(error.to_string().contains("within 200ms"), "{error}");
}

#[tokio::test]
async fn refused_connection_is_retryable() {
    // A port this test bound and released, so nothing listens on it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let client = http_client(&format!("http://{address}"));

    let error = export(&client, Signal::Traces, trace_body("a"))
        .await
        .unwrap_err();

    assert!(error.is_retryable(), "{error}");
    let ExportError::Transport { message } = &error else {
        panic!("expected a transport error, got {error:?}");
    };
    assert!(message.contains(&address.to_string()), "{message}");
}

#[tokio::test]
async fn header_from_file_is_sent_trimmed() {
    let server = HttpServer::start_plaintext().await;
    let directory = tempfile::tempdir().unwrap();
    let key_file = directory.path().join("api-key");
    std::fs::write(&key_file, "secret-from-file\n").unwrap();
    let text = format!(
        "exporters:\n  - name: upstream\n    endpoint: {}\n    protocol: http/protobuf\n    headers: {{ x-api-key: \"${{file:{}}}\" }}\n",
        server.url("http"),
        key_file.display()
    );
    let config = burnrate::config::parse_with_env(&text, &|_| None).unwrap();
    let client = Client::new(&config.exporters[0]).unwrap();

    export(&client, Signal::Traces, trace_body("a"))
        .await
        .unwrap();

    assert_eq!(
        server.requests()[0].headers["x-api-key"],
        "secret-from-file"
    );
}
