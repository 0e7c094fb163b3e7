#![allow(clippy::unwrap_used)]

//! The receiving side of burnrate against the contract in docs/receiver.md.
//! A corpus of valid, odd and broken OTLP requests is sent over gRPC and over
//! HTTP (protobuf and JSON). Each case checks the exact status, the response
//! body where the contract defines it, the exact change of the
//! `burnrate_receiver_*` counters, and what reached the upstream.
//!
//! Each test starts its own burnrate and upstream and runs its cases one
//! after another. burnrate's exporter has one consumer, so the upstream
//! receives requests in the order burnrate accepted them. After each case a
//! sentinel request is sent, and everything the upstream received before the
//! sentinel is what the case forwarded.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, KeyValueList};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use prost::Message as _;
use serde_json::json;

use support::client::{GrpcClient, HttpClient, HttpReply};
use support::metrics::{Metrics, changes, series};
use support::otlp::{self, wire};
use support::process::{Burnrate, Settings};
use support::upstream::{Received, Upstream};
use support::{Signal, wait_until};

const MIB: usize = 1024 * 1024;

/// Size limits of the corpus configuration, small enough that requests over
/// them are cheap to build.
const GRPC_MAX_MESSAGE_MIB: u64 = 4;
const HTTP_MAX_BODY_MIB: u64 = 4;
const HTTP_MAX_DECOMPRESSED_MIB: u64 = 8;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/receiver");

// ---------------------------------------------------------------------------
// Cases and their expectations
// ---------------------------------------------------------------------------

/// How a case is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    Grpc,
    HttpProtobuf,
    HttpJson,
}

impl Via {
    fn transport(self) -> &'static str {
        match self {
            Via::Grpc => "grpc",
            Via::HttpProtobuf | Via::HttpJson => "http",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Via::Grpc => "application/grpc",
            Via::HttpProtobuf => "application/x-protobuf",
            Via::HttpJson => "application/json",
        }
    }
}

/// The response a case expects, per docs/receiver.md "Responses".
#[derive(Clone, Debug)]
enum Reply {
    /// HTTP 200 or gRPC OK with an empty `Export*ServiceResponse`.
    Accepted,
    /// HTTP 200 or gRPC OK with a partial success: the rejected count, and a
    /// message that starts with `prefix` and contains `path`.
    Partial {
        rejected: i64,
        prefix: String,
        path: String,
    },
    /// HTTP 400 with a `google.rpc.Status` body of code INVALID_ARGUMENT, or
    /// gRPC INVALID_ARGUMENT; the message contains the text.
    Invalid(String),
    /// HTTP 413 or gRPC RESOURCE_EXHAUSTED.
    TooLarge,
    /// HTTP 415; the plain-text body contains the text, when given.
    UnsupportedMediaType(Option<String>),
}

/// A `burnrate_receiver_*` counter of the case's signal and transport.
#[derive(Clone, Copy, Debug)]
enum Counter {
    Accepted,
    Rejected,
    InvalidRequests,
}

/// A function that checks the bytes forwarded for a case.
type CheckForwarded = fn(&[u8]);

/// What the upstream must have received because of the case.
#[derive(Clone, Debug)]
enum Forwarded {
    Nothing,
    /// Exactly these bytes, of the case's signal.
    Bytes(Vec<u8>),
    /// Spans with exactly these span ids, in this order.
    SpanIds(Vec<Vec<u8>>),
    /// This many items of the case's signal.
    Items(u64),
    /// Data of the case's signal that the function checks.
    Check(CheckForwarded),
}

#[derive(Clone, Debug)]
struct Case {
    name: String,
    via: Via,
    signal: Signal,
    body: Vec<u8>,
    /// Whether to gzip the body and name gzip in `grpc-encoding` or
    /// `Content-Encoding`.
    gzip: bool,
    /// The body is gzip data already: send it as it is, marked as gzip.
    precompressed: bool,
    /// HTTP headers sent instead of `Content-Type` of `via`.
    headers: Option<Vec<(String, String)>>,
    reply: Reply,
    counters: Vec<(Counter, f64)>,
    forwarded: Forwarded,
}

impl Case {
    fn new(name: impl Into<String>, via: Via, signal: Signal, body: impl Into<Vec<u8>>) -> Case {
        Case {
            name: name.into(),
            via,
            signal,
            body: body.into(),
            gzip: false,
            precompressed: false,
            headers: None,
            reply: Reply::Accepted,
            counters: Vec::new(),
            forwarded: Forwarded::Nothing,
        }
    }

    fn gzip(mut self) -> Case {
        self.gzip = true;
        self.name.push_str(" (gzip)");
        self
    }

    /// Marks the body, which is gzip data already, as gzip.
    fn precompressed(mut self) -> Case {
        self.precompressed = true;
        self.name.push_str(" (gzip)");
        self
    }

    fn headers(mut self, headers: &[(&str, &str)]) -> Case {
        let owned = headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        self.headers = Some(owned);
        self
    }

    fn expect(mut self, reply: Reply, counters: &[(Counter, f64)], forwarded: Forwarded) -> Case {
        self.reply = reply;
        self.counters = counters.to_vec();
        self.forwarded = forwarded;
        self
    }

    /// Expects the case to be accepted whole: the items counted as accepted
    /// and the body forwarded byte for byte when it is protobuf.
    fn accepted_as_is(self, items: u64) -> Case {
        let counters: &[(Counter, f64)] = if items == 0 {
            &[]
        } else {
            &[(Counter::Accepted, items as f64)]
        };
        let forwarded = if items == 0 {
            Forwarded::Nothing
        } else {
            Forwarded::Bytes(self.body.clone())
        };
        self.expect(Reply::Accepted, counters, forwarded)
    }

    /// Expects the case to be rejected whole with 400 or INVALID_ARGUMENT.
    fn invalid(self, message: &str) -> Case {
        self.expect(
            Reply::Invalid(message.to_owned()),
            &[(Counter::InvalidRequests, 1.0)],
            Forwarded::Nothing,
        )
    }

    fn label(&self) -> String {
        format!("{} via {:?}, {}", self.name, self.via, self.signal.as_str())
    }

    fn counter_series(&self, counter: Counter) -> String {
        let transport = self.via.transport();
        match counter {
            Counter::Accepted | Counter::Rejected => {
                let fate = if matches!(counter, Counter::Accepted) {
                    "accepted"
                } else {
                    "rejected"
                };
                let name = format!("burnrate_receiver_{fate}_{}_total", self.signal.item_name());
                series(&name, &[("transport", transport)])
            }
            Counter::InvalidRequests => series(
                "burnrate_receiver_invalid_requests_total",
                &[("signal", self.signal.as_str()), ("transport", transport)],
            ),
        }
    }
}

/// A response in either transport.
#[derive(Debug)]
enum Response {
    Grpc(support::client::GrpcReply),
    Http(HttpReply),
}

/// The scrapes before and after one case, for checks beyond the common ones.
struct Outcome {
    before: Metrics,
    after: Metrics,
}

// ---------------------------------------------------------------------------
// The harness: one burnrate, its upstream and clients
// ---------------------------------------------------------------------------

struct Harness {
    burnrate: Burnrate,
    upstream: Upstream,
    grpc: GrpcClient,
    http: HttpClient,
    /// Number of upstream requests that earlier cases account for.
    mark: usize,
    sentinels: u64,
}

impl Harness {
    async fn start() -> Harness {
        let upstream = Upstream::start().await;
        let mut settings = Settings::new(upstream.address);
        settings.grpc_max_recv_msg_size_mib = GRPC_MAX_MESSAGE_MIB;
        settings.http_max_request_body_size_mib = HTTP_MAX_BODY_MIB;
        settings.http_max_decompressed_body_size_mib = HTTP_MAX_DECOMPRESSED_MIB;
        let burnrate = Burnrate::start(&settings).await;
        let grpc = GrpcClient::connect(burnrate.grpc).await;
        let http = HttpClient::new(burnrate.http);
        Harness {
            burnrate,
            upstream,
            grpc,
            http,
            mark: 0,
            sentinels: 0,
        }
    }

    async fn send(&mut self, case: &Case) -> Response {
        let result = match case.via {
            Via::Grpc if case.precompressed => {
                let payload = Bytes::from(case.body.clone());
                self.grpc.export_frame(case.signal, payload, true).await
            }
            Via::Grpc if case.gzip => self.grpc.export_gzip(case.signal, &case.body).await,
            Via::Grpc => self.grpc.export(case.signal, &case.body).await,
            Via::HttpProtobuf | Via::HttpJson => {
                let mut headers: Vec<(&str, &str)> = match &case.headers {
                    Some(headers) => headers
                        .iter()
                        .map(|(name, value)| (name.as_str(), value.as_str()))
                        .collect(),
                    None => vec![("content-type", case.via.content_type())],
                };
                let body = if case.gzip {
                    headers.push(("content-encoding", "gzip"));
                    support::gzip(&case.body)
                } else {
                    if case.precompressed {
                        headers.push(("content-encoding", "gzip"));
                    }
                    case.body.clone()
                };
                let path = case.signal.http_path();
                return match self.http.post(path, &headers, body).await {
                    Ok(reply) => Response::Http(reply),
                    Err(error) => panic!("{}: {error}\n{}", case.label(), self.burnrate.log()),
                };
            }
        };
        match result {
            Ok(reply) => Response::Grpc(reply),
            Err(error) => panic!("{}: {error}\n{}", case.label(), self.burnrate.log()),
        }
    }

    /// Sends a sentinel trace request, waits until the upstream has it, and
    /// returns, per signal, the bytes that the upstream received since the
    /// last call, without the sentinel.
    ///
    /// burnrate's exporter may combine queued requests of one signal into
    /// one export by concatenating their encodings, so the sentinel may
    /// arrive at the end of a trace export that starts with the case's
    /// request. With one consumer, exports leave in queue order.
    async fn take_forwarded(&mut self) -> Vec<(Signal, Vec<u8>)> {
        self.sentinels += 1;
        let sentinel = otlp::traces(
            "sentinel",
            vec![otlp::span(
                otlp::trace_id(self.sentinels),
                otlp::span_id(0xeeee_0000_0000_0000 + self.sentinels),
                "sentinel",
                Vec::new(),
            )],
        )
        .encode_to_vec();
        let reply = self.grpc.export(Signal::Traces, &sentinel).await.unwrap();
        assert_eq!(reply.code, tonic::Code::Ok, "sentinel: {reply:?}");

        let upstream = &self.upstream;
        let ends_with_sentinel = |received: &Received| {
            received.signal == Signal::Traces && received.body.ends_with(&sentinel)
        };
        let arrived = wait_until(Duration::from_secs(30), || async {
            upstream.inspect(|received| received[self.mark..].iter().any(ends_with_sentinel))
        })
        .await;
        assert!(
            arrived,
            "the sentinel did not reach the upstream\n{}",
            self.burnrate.log()
        );

        let received = self.upstream.received();
        let position = self.mark
            + received[self.mark..]
                .iter()
                .position(ends_with_sentinel)
                .unwrap();
        let mut forwarded: Vec<(Signal, Vec<u8>)> = Vec::new();
        for (index, request) in received[self.mark..=position].iter().enumerate() {
            let mut body = request.body.to_vec();
            if self.mark + index == position {
                body.truncate(body.len() - sentinel.len());
            }
            if body.is_empty() {
                continue;
            }
            match forwarded.last_mut() {
                Some((signal, bytes)) if *signal == request.signal => bytes.extend(body),
                _ => forwarded.push((request.signal, body)),
            }
        }
        self.mark = position + 1;
        forwarded
    }

    /// Runs one case and checks the reply, the counters and the forwarded
    /// requests.
    async fn run(&mut self, case: &Case) -> Outcome {
        let before = self.burnrate.metrics().await;
        let response = self.send(case).await;
        let after = self.burnrate.metrics().await;
        let forwarded = self.take_forwarded().await;

        check_reply(case, &response);

        let expected: BTreeMap<String, f64> = case
            .counters
            .iter()
            .map(|(counter, change)| (case.counter_series(*counter), *change))
            .collect();
        let actual = changes(&before, &after, "burnrate_receiver_");
        assert_eq!(actual, expected, "{}: counter changes", case.label());

        check_forwarded(case, &forwarded);
        Outcome { before, after }
    }

    async fn run_all(&mut self, cases: &[Case]) {
        for case in cases {
            self.run(case).await;
        }
    }

    /// Checks that burnrate is still ready, then stops it with SIGTERM and
    /// checks that it exited with status 0.
    async fn finish(mut self) {
        assert!(
            self.burnrate.is_ready().await,
            "burnrate is not ready after the corpus\n{}",
            self.burnrate.log()
        );
        let status = self.burnrate.stop();
        let log = self.burnrate.log();
        assert_eq!(
            status.and_then(|status| status.code()),
            Some(0),
            "burnrate did not exit cleanly on SIGTERM\n{log}"
        );
        self.upstream.stop().await;
    }
}

fn check_reply(case: &Case, response: &Response) {
    let label = case.label();
    match response {
        Response::Grpc(reply) => {
            let expected_code = match &case.reply {
                Reply::Accepted | Reply::Partial { .. } => tonic::Code::Ok,
                Reply::Invalid(_) => tonic::Code::InvalidArgument,
                Reply::TooLarge => tonic::Code::ResourceExhausted,
                Reply::UnsupportedMediaType(_) => panic!("{label}: no 415 in gRPC"),
            };
            assert_eq!(reply.code, expected_code, "{label}: gRPC status {reply:?}");
            match &case.reply {
                Reply::Accepted => {
                    let partial = protobuf_partial_success(case.signal, &reply.body);
                    assert_eq!(partial, None, "{label}: response");
                }
                Reply::Partial {
                    rejected,
                    prefix,
                    path,
                } => {
                    let partial = protobuf_partial_success(case.signal, &reply.body);
                    check_partial(&label, partial, *rejected, prefix, path);
                }
                Reply::Invalid(text) => {
                    assert!(reply.message.contains(text), "{label}: {reply:?}");
                }
                Reply::TooLarge | Reply::UnsupportedMediaType(_) => {}
            }
        }
        Response::Http(reply) => check_http_reply(case, reply),
    }
}

fn check_http_reply(case: &Case, reply: &HttpReply) {
    let label = case.label();
    let expected_status = match &case.reply {
        Reply::Accepted | Reply::Partial { .. } => 200,
        Reply::Invalid(_) => 400,
        Reply::TooLarge => 413,
        Reply::UnsupportedMediaType(_) => 415,
    };
    assert_eq!(
        reply.status,
        expected_status,
        "{label}: HTTP status, body {:?}",
        reply.text()
    );
    let json = case.via == Via::HttpJson;
    match &case.reply {
        Reply::Accepted | Reply::Partial { .. } | Reply::Invalid(_) => {
            assert_eq!(
                reply.header("content-type"),
                case.via.content_type(),
                "{label}: the response uses the request's content type"
            );
        }
        Reply::TooLarge | Reply::UnsupportedMediaType(_) => {}
    }
    match &case.reply {
        Reply::Accepted => {
            let partial = if json {
                json_partial_success(case.signal, &reply.body)
            } else {
                protobuf_partial_success(case.signal, &reply.body)
            };
            assert_eq!(partial, None, "{label}: response {:?}", reply.text());
        }
        Reply::Partial {
            rejected,
            prefix,
            path,
        } => {
            let partial = if json {
                json_partial_success(case.signal, &reply.body)
            } else {
                protobuf_partial_success(case.signal, &reply.body)
            };
            check_partial(&label, partial, *rejected, prefix, path);
        }
        Reply::Invalid(text) => {
            let (code, message) = if json {
                let status: serde_json::Value = serde_json::from_slice(&reply.body)
                    .unwrap_or_else(|error| panic!("{label}: status body {error}"));
                (
                    status["code"].as_i64().unwrap_or(-1) as i32,
                    status["message"].as_str().unwrap_or_default().to_owned(),
                )
            } else {
                let status = RpcStatus::decode(reply.body.clone())
                    .unwrap_or_else(|error| panic!("{label}: status body {error}"));
                (status.code, status.message)
            };
            assert_eq!(
                code,
                tonic::Code::InvalidArgument as i32,
                "{label}: google.rpc.Status code"
            );
            assert!(
                message.contains(text.as_str()),
                "{label}: message {message:?} does not contain {text:?}"
            );
        }
        Reply::TooLarge => {}
        Reply::UnsupportedMediaType(text) => {
            if let Some(text) = text {
                assert!(
                    reply.header("content-type").starts_with("text/plain"),
                    "{label}: 415 body is plain text, got {:?}",
                    reply.header("content-type")
                );
                assert!(
                    reply.text().contains(text.as_str()),
                    "{label}: body {:?} does not contain {text:?}",
                    reply.text()
                );
            }
        }
    }
}

fn check_partial(
    label: &str,
    partial: Option<(i64, String)>,
    rejected: i64,
    prefix: &str,
    path: &str,
) {
    let Some((count, message)) = partial else {
        panic!("{label}: no partial success in the response");
    };
    assert_eq!(count, rejected, "{label}: rejected count");
    assert!(
        message.starts_with(prefix),
        "{label}: message {message:?} does not start with {prefix:?}"
    );
    assert!(
        message.contains(path),
        "{label}: message {message:?} does not name {path:?}"
    );
}

fn check_forwarded(case: &Case, forwarded: &[(Signal, Vec<u8>)]) {
    let label = case.label();
    if let Forwarded::Nothing = case.forwarded {
        assert!(
            forwarded.is_empty(),
            "{label}: forwarded {} bytes, expected nothing",
            forwarded
                .iter()
                .map(|(_, bytes)| bytes.len())
                .sum::<usize>()
        );
        return;
    }
    let signals: Vec<Signal> = forwarded.iter().map(|(signal, _)| *signal).collect();
    assert_eq!(signals, [case.signal], "{label}: signals forwarded");
    let bytes = &forwarded[0].1;
    match &case.forwarded {
        Forwarded::Nothing => {}
        Forwarded::Bytes(expected) => {
            assert!(
                bytes == expected,
                "{label}: forwarded bytes differ from the request ({} and {} bytes)",
                bytes.len(),
                expected.len()
            );
        }
        Forwarded::SpanIds(ids) => {
            let forwarded_ids = otlp::span_ids(&decode_traces(bytes));
            assert_eq!(&forwarded_ids, ids, "{label}: forwarded span ids");
        }
        Forwarded::Items(count) => {
            assert_eq!(
                item_count(case.signal, bytes),
                *count,
                "{label}: items forwarded"
            );
        }
        Forwarded::Check(check) => check(bytes),
    }
}

/// `google.rpc.Status`, the body of OTLP/HTTP error responses.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// Reads the partial success of a protobuf `Export*ServiceResponse`.
fn protobuf_partial_success(signal: Signal, body: &[u8]) -> Option<(i64, String)> {
    match signal {
        Signal::Traces => ExportTraceServiceResponse::decode(body)
            .unwrap()
            .partial_success
            .map(|partial| (partial.rejected_spans, partial.error_message)),
        Signal::Metrics => ExportMetricsServiceResponse::decode(body)
            .unwrap()
            .partial_success
            .map(|partial| (partial.rejected_data_points, partial.error_message)),
        Signal::Logs => ExportLogsServiceResponse::decode(body)
            .unwrap()
            .partial_success
            .map(|partial| (partial.rejected_log_records, partial.error_message)),
    }
}

/// Reads the partial success of an OTLP/JSON `Export*ServiceResponse`. The
/// count may be a JSON number or a decimal string, as the proto3 JSON
/// mapping allows for int64.
fn json_partial_success(signal: Signal, body: &[u8]) -> Option<(i64, String)> {
    let response: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert!(
        response.is_object(),
        "response is not an object: {response}"
    );
    let partial = response.get("partialSuccess")?;
    let field = match signal {
        Signal::Traces => "rejectedSpans",
        Signal::Metrics => "rejectedDataPoints",
        Signal::Logs => "rejectedLogRecords",
    };
    let count = match &partial[field] {
        serde_json::Value::String(text) => text.parse().unwrap(),
        serde_json::Value::Number(number) => number.as_i64().unwrap(),
        _ => 0,
    };
    let message = partial["errorMessage"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Some((count, message))
}

// ---------------------------------------------------------------------------
// Request builders
// ---------------------------------------------------------------------------

/// Returns the protobuf encoding of a small valid request of `signal`, and
/// its item count.
fn valid_protobuf(signal: Signal) -> (Vec<u8>, u64) {
    match signal {
        Signal::Traces => (otlp::plain_traces("corpus", 1, 3).encode_to_vec(), 3),
        Signal::Metrics => (otlp::gauge_metrics("corpus", 4).encode_to_vec(), 4),
        Signal::Logs => {
            let records = vec![
                otlp::log_record(otlp::trace_id(1), otlp::span_id(1), "first"),
                otlp::log_record(Vec::new(), Vec::new(), "second"),
            ];
            (otlp::logs("corpus", records).encode_to_vec(), 2)
        }
    }
}

/// Counts the spans, metric data points or log records of a protobuf request.
fn item_count(signal: Signal, body: &[u8]) -> u64 {
    match signal {
        Signal::Traces => otlp::span_ids(&decode_traces(body)).len() as u64,
        Signal::Metrics => ExportMetricsServiceRequest::decode(body)
            .unwrap()
            .resource_metrics
            .iter()
            .flat_map(|resource| &resource.scope_metrics)
            .flat_map(|scope| &scope.metrics)
            .map(|metric| match &metric.data {
                Some(metric::Data::Gauge(gauge)) => gauge.data_points.len(),
                Some(metric::Data::Sum(sum)) => sum.data_points.len(),
                Some(metric::Data::Histogram(histogram)) => histogram.data_points.len(),
                Some(metric::Data::ExponentialHistogram(histogram)) => histogram.data_points.len(),
                Some(metric::Data::Summary(summary)) => summary.data_points.len(),
                None => 0,
            } as u64)
            .sum(),
        Signal::Logs => ExportLogsServiceRequest::decode(body)
            .unwrap()
            .resource_logs
            .iter()
            .flat_map(|resource| &resource.scope_logs)
            .map(|scope| scope.log_records.len() as u64)
            .sum(),
    }
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{FIXTURES}/{name}");
    std::fs::read(&path).unwrap_or_else(|error| panic!("cannot read {path}: {error}"))
}

/// Returns a small valid OTLP/JSON request of `signal`, which is the fixture
/// of the JSON encoding rules, and its item count.
fn valid_json(signal: Signal) -> (Vec<u8>, u64) {
    match signal {
        Signal::Traces => (fixture("traces_json_rules.json"), 2),
        Signal::Metrics => (fixture("metrics_json_rules.json"), 5),
        Signal::Logs => (fixture("logs_json_rules.json"), 3),
    }
}

/// Generates bytes with a xorshift generator. The seed is fixed, so a
/// failure can be reproduced.
fn pseudo_random_bytes(length: usize, mut state: u64) -> Vec<u8> {
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Builds a trace request with one span whose encoded bytes are `span`, from
/// hand-made fields so that the span may be anything.
fn trace_request_around_span(span: &[u8]) -> Vec<u8> {
    let scope_spans = wire::bytes_field(2, span);
    let resource_spans = wire::bytes_field(2, &scope_spans);
    wire::bytes_field(1, &resource_spans)
}

/// Encodes an attribute `nested` whose value is `depth` kvlists nested in
/// each other, with a string at the bottom. It is written as bytes level by
/// level, because building, encoding or dropping the generated types
/// recurses once per level and a deep value overflows the test thread's
/// stack.
fn nested_kvlist_attribute(depth: usize) -> Vec<u8> {
    // AnyValue: string_value = 1, kvlist_value = 6. KeyValueList: values = 1.
    // KeyValue: key = 1, value = 2.
    let mut value = wire::bytes_field(1, b"bottom");
    for level in (0..depth).rev() {
        let mut key_value = wire::bytes_field(1, format!("level{level}").as_bytes());
        key_value.extend(wire::bytes_field(2, &value));
        let list = wire::bytes_field(1, &key_value);
        value = wire::bytes_field(6, &list);
    }
    let mut attribute = wire::bytes_field(1, b"nested");
    attribute.extend(wire::bytes_field(2, &value));
    attribute
}

/// Encodes a trace request with one span whose only attribute is
/// [`nested_kvlist_attribute`].
fn nested_kvlist_traces(depth: usize) -> Vec<u8> {
    let span = otlp::span(otlp::trace_id(1), otlp::span_id(1), "deep", Vec::new());
    let mut span = span.encode_to_vec();
    span.extend(wire::bytes_field(9, &nested_kvlist_attribute(depth)));
    trace_request_around_span(&span)
}

/// Writes the OTLP/JSON form of [`nested_kvlist_traces`], as text for the
/// same reason.
fn nested_kvlist_json(depth: usize) -> Vec<u8> {
    let mut value = String::new();
    for level in 0..depth {
        value.push_str(&format!(
            r#"{{"kvlistValue": {{"values": [{{"key": "level{level}", "value": "#
        ));
    }
    value.push_str(r#"{"stringValue": "bottom"}"#);
    for _ in 0..depth {
        value.push_str("}]}}");
    }
    let placeholder = "NESTED_VALUE";
    let document = json_traces(
        "corpus",
        vec![json_span(
            &hex(&otlp::trace_id(1)),
            &hex(&otlp::span_id(1)),
            json!([{ "key": "nested", "value": placeholder }]),
        )],
    );
    String::from_utf8(document)
        .unwrap()
        .replace(&format!("\"{placeholder}\""), &value)
        .into_bytes()
}

/// Returns the number of kvlists nested in the value of attribute `nested`.
fn kvlist_depth(attributes: &[KeyValue]) -> usize {
    let mut value = attribute(attributes, "nested");
    let mut depth = 0;
    while let Value::KvlistValue(list) = value {
        depth += 1;
        value = list.values[0]
            .value
            .as_ref()
            .and_then(|value| value.value.as_ref())
            .unwrap();
    }
    depth
}

/// Builds an OTLP/JSON trace request with one resource, one scope and
/// `spans`.
fn json_traces(service: &str, spans: Vec<serde_json::Value>) -> Vec<u8> {
    json!({
        "resourceSpans": [{
            "resource": {
                "attributes": [{ "key": "service.name", "value": { "stringValue": service } }]
            },
            "scopeSpans": [{ "scope": { "name": "burnrate.tests" }, "spans": spans }]
        }]
    })
    .to_string()
    .into_bytes()
}

/// Builds an OTLP/JSON span with the given hex ids and attributes.
fn json_span(trace_id: &str, span_id: &str, attributes: serde_json::Value) -> serde_json::Value {
    json!({
        "traceId": trace_id,
        "spanId": span_id,
        "name": "json span",
        "kind": 3,
        "startTimeUnixNano": "1718000000000000000",
        "endTimeUnixNano": "1718000001250000000",
        "attributes": attributes
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn decode_traces(body: &[u8]) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest::decode(body).unwrap()
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> &'a Value {
    attributes
        .iter()
        .find(|attribute| attribute.key == key)
        .and_then(|attribute| attribute.value.as_ref())
        .and_then(|value| value.value.as_ref())
        .unwrap_or_else(|| panic!("no attribute {key} in {attributes:?}"))
}

// ---------------------------------------------------------------------------
// Requests rejected whole
// ---------------------------------------------------------------------------

/// Bodies that are not valid protobuf or OTLP/JSON: 400 or INVALID_ARGUMENT,
/// counted in `burnrate_receiver_invalid_requests_total`, nothing forwarded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_rejected_whole() {
    let mut harness = Harness::start().await;
    let mut cases = Vec::new();

    for signal in Signal::ALL {
        let (protobuf, _) = valid_protobuf(signal);
        let truncated = &protobuf[..protobuf.len() / 2];
        for via in [Via::Grpc, Via::HttpProtobuf] {
            cases.push(Case::new("truncated protobuf", via, signal, truncated).invalid("protobuf"));
        }
        let (json, _) = valid_json(signal);
        let truncated = &json[..json.len() / 2];
        cases.push(Case::new("truncated JSON", Via::HttpJson, signal, truncated).invalid("JSON"));
    }

    let random = pseudo_random_bytes(1024, 0x9e37_79b9_7f4a_7c15);
    assert!(ExportTraceServiceRequest::decode(&random[..]).is_err());
    let not_a_message = wire::bytes_field(1, b"not a message");
    assert!(ExportTraceServiceRequest::decode(&not_a_message[..]).is_err());
    let span = otlp::span(otlp::trace_id(1), otlp::span_id(1), "span", Vec::new());
    let mut start_time_as_string = span.encode_to_vec();
    start_time_as_string.extend(wire::bytes_field(7, b"yesterday"));
    let mut name_not_utf8 = span.encode_to_vec();
    name_not_utf8.extend(wire::bytes_field(5, b"\xff\xfe-span"));
    let mut attribute_key_not_utf8 = span.encode_to_vec();
    attribute_key_not_utf8.extend(wire::bytes_field(
        9,
        &wire::bytes_field(1, b"model\xc3\x28"),
    ));
    let deep = nested_kvlist_traces(2000);
    let protobuf_cases: [(&str, Vec<u8>); 7] = [
        ("random bytes", random.clone()),
        ("varint where a message belongs", wire::varint_field(1, 5)),
        ("string where a message belongs", not_a_message),
        (
            "string where a fixed64 belongs",
            trace_request_around_span(&start_time_as_string),
        ),
        (
            "span name not UTF-8",
            trace_request_around_span(&name_not_utf8),
        ),
        (
            "attribute key not UTF-8",
            trace_request_around_span(&attribute_key_not_utf8),
        ),
        ("2000 nested kvlists", deep),
    ];
    for (name, body) in &protobuf_cases {
        for via in [Via::Grpc, Via::HttpProtobuf] {
            cases.push(Case::new(*name, via, Signal::Traces, body.clone()).invalid("protobuf"));
        }
    }

    let log_body_not_utf8 = {
        let record = wire::bytes_field(5, &wire::bytes_field(1, b"caf\xe9"));
        let scope_logs = wire::bytes_field(2, &record);
        wire::bytes_field(1, &wire::bytes_field(2, &scope_logs))
    };
    let metric_name_not_utf8 = {
        let metric = wire::bytes_field(1, b"queue\xff");
        let scope_metrics = wire::bytes_field(2, &metric);
        wire::bytes_field(1, &wire::bytes_field(2, &scope_metrics))
    };
    for via in [Via::Grpc, Via::HttpProtobuf] {
        cases.push(
            Case::new(
                "log body not UTF-8",
                via,
                Signal::Logs,
                log_body_not_utf8.clone(),
            )
            .invalid("protobuf"),
        );
        cases.push(
            Case::new(
                "metric name not UTF-8",
                via,
                Signal::Metrics,
                metric_name_not_utf8.clone(),
            )
            .invalid("protobuf"),
        );
    }

    let deep_json = nested_kvlist_json(2000);
    let json_cases: [(&str, Vec<u8>, &str); 9] = [
        ("random bytes", random, "JSON"),
        ("empty body", Vec::new(), "JSON"),
        (
            "string where an array belongs",
            br#"{"resourceSpans": "spans"}"#.to_vec(),
            "`resourceSpans`",
        ),
        (
            "number where a string belongs",
            json_traces(
                "corpus",
                vec![json!({ "traceId": hex(&otlp::trace_id(1)), "spanId": hex(&otlp::span_id(1)), "name": 5 })],
            ),
            "`resourceSpans[0].scopeSpans[0].spans[0].name`",
        ),
        (
            "boolean where an int64 belongs",
            json_traces(
                "corpus",
                vec![json_span(
                    &hex(&otlp::trace_id(1)),
                    &hex(&otlp::span_id(1)),
                    json!([{ "key": "count", "value": { "intValue": true } }]),
                )],
            ),
            "`resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.intValue`",
        ),
        (
            "string not UTF-8",
            br#"{"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "caf\xe9"}}]}}]}"#.to_vec(),
            "JSON",
        ),
        (
            "lone surrogate escape",
            br#"{"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "\ud800"}}]}}]}"#.to_vec(),
            "JSON",
        ),
        (
            "field under both JSON and proto names",
            json_traces(
                "corpus",
                vec![json!({
                    "traceId": hex(&otlp::trace_id(1)),
                    "trace_id": hex(&otlp::trace_id(2)),
                    "spanId": hex(&otlp::span_id(1))
                })],
            ),
            "trace_id",
        ),
        ("2000 nested kvlists", deep_json, "JSON"),
    ];
    for (name, body, message) in json_cases {
        cases.push(Case::new(name, Via::HttpJson, Signal::Traces, body).invalid(message));
    }

    for via in [Via::HttpProtobuf, Via::HttpJson] {
        let (body, _) = match via {
            Via::HttpJson => valid_json(Signal::Traces),
            _ => valid_protobuf(Signal::Traces),
        };
        let mut corrupt = support::gzip(&body);
        let middle = corrupt.len() / 2;
        corrupt[middle] ^= 0xff;
        let headers = [
            ("content-type", via.content_type()),
            ("content-encoding", "gzip"),
        ];
        cases.push(
            Case::new("corrupt gzip", via, Signal::Traces, corrupt)
                .headers(&headers)
                .invalid("gzip"),
        );
        cases.push(
            Case::new("uncompressed body marked gzip", via, Signal::Traces, body)
                .headers(&headers)
                .invalid("gzip"),
        );
    }

    harness.run_all(&cases).await;
    harness.finish().await;
}

/// gzip data that does not inflate is an invalid request over gRPC too:
/// docs/receiver.md lists corrupt gzip data with INVALID_ARGUMENT and counts
/// it in `burnrate_receiver_invalid_requests_total`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_corrupt_gzip_rejected_as_invalid() {
    let mut harness = Harness::start().await;
    let (body, _) = valid_protobuf(Signal::Traces);
    let mut corrupt = support::gzip(&body);
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0xff;
    let case = Case::new("corrupt data", Via::Grpc, Signal::Traces, corrupt)
        .precompressed()
        .invalid("gzip");
    harness.run(&case).await;
    harness.finish().await;
}

// ---------------------------------------------------------------------------
// Valid requests, plain and unusual
// ---------------------------------------------------------------------------

/// Kvlists nested this deep are within the limits of both decoders: prost
/// stops at 100 nested messages (31 kvlist levels in a span attribute) and
/// serde_json at 128 JSON levels (29 kvlist levels).
const DEEP_BUT_DECODABLE: usize = 25;

fn giant_attribute_forwarded(body: &[u8]) {
    let request = decode_traces(body);
    let span = &request.resource_spans[0].scope_spans[0].spans[0];
    let Value::StringValue(text) = attribute(&span.attributes, "giant") else {
        panic!("attribute giant is not a string");
    };
    assert_eq!(text.len(), MIB, "length of the forwarded giant attribute");
}

fn deep_attribute_forwarded(body: &[u8]) {
    let request = decode_traces(body);
    let span = &request.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(kvlist_depth(&span.attributes), DEEP_BUT_DECODABLE);
}

fn duplicate_keys_forwarded(body: &[u8]) {
    let request = decode_traces(body);
    let span = &request.resource_spans[0].scope_spans[0].spans[0];
    let routes: Vec<(&str, &Option<AnyValue>)> = span
        .attributes
        .iter()
        .map(|attribute| (attribute.key.as_str(), &attribute.value))
        .collect();
    assert_eq!(
        routes,
        [
            ("http.route", &Some(otlp::string_value("/first"))),
            ("http.route", &Some(otlp::string_value("/second"))),
        ],
        "both attributes are forwarded in order"
    );
}

/// Requests that are valid OTLP, however unusual: 200 or OK, every item
/// accepted and forwarded, protobuf bodies byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_requests_forwarded() {
    let mut harness = Harness::start().await;
    let mut cases = Vec::new();

    for signal in Signal::ALL {
        let (protobuf, items) = valid_protobuf(signal);
        for via in [Via::Grpc, Via::HttpProtobuf] {
            let case = Case::new("small request", via, signal, protobuf.clone());
            cases.push(case.clone().accepted_as_is(items));
            cases.push(case.gzip().accepted_as_is(items));
        }
        let (json, items) = valid_json(signal);
        let case = Case::new("small request", Via::HttpJson, signal, json).expect(
            Reply::Accepted,
            &[(Counter::Accepted, items as f64)],
            Forwarded::Items(items),
        );
        cases.push(case.clone());
        cases.push(case.gzip());
    }

    // Unknown fields on every level: OTLP receivers must ignore them, and
    // burnrate forwards the bytes it received.
    let mut key_value = otlp::string_attribute("http.route", "/").encode_to_vec();
    key_value.extend(wire::varint_field(50, 1));
    let mut span = otlp::span(
        otlp::trace_id(1),
        otlp::span_id(1),
        "unknown fields",
        Vec::new(),
    )
    .encode_to_vec();
    span.extend(wire::bytes_field(9, &key_value));
    span.extend(wire::varint_field(5000, 7));
    span.extend(wire::fixed32_field(5001, 9));
    let mut scope_spans = wire::bytes_field(2, &span);
    scope_spans.extend(wire::bytes_field(4000, b"unknown scope field"));
    let mut resource_spans = wire::bytes_field(2, &scope_spans);
    resource_spans.extend(wire::fixed64_field(3000, 1));
    let mut unknown_traces = wire::bytes_field(1, &resource_spans);
    unknown_traces.extend(wire::varint_field(99, 1));
    unknown_traces.extend(wire::bytes_field(100, &wire::varint_field(1, 1)));
    assert_eq!(
        otlp::span_ids(&decode_traces(&unknown_traces)),
        [otlp::span_id(1)]
    );

    let mut unknown_metrics = valid_protobuf(Signal::Metrics).0;
    unknown_metrics.extend(wire::bytes_field(77, b"unknown"));
    let mut record =
        otlp::log_record(otlp::trace_id(1), otlp::span_id(1), "unknown fields").encode_to_vec();
    record.extend(wire::varint_field(900, 3));
    let scope_logs = wire::bytes_field(2, &record);
    let unknown_logs = wire::bytes_field(1, &wire::bytes_field(2, &scope_logs));

    for via in [Via::Grpc, Via::HttpProtobuf] {
        for (signal, body, items) in [
            (Signal::Traces, &unknown_traces, 1),
            (Signal::Metrics, &unknown_metrics, 4),
            (Signal::Logs, &unknown_logs, 1),
        ] {
            let case = Case::new("unknown protobuf fields", via, signal, body.clone());
            cases.push(case.clone().accepted_as_is(items));
            cases.push(case.gzip().accepted_as_is(items));
        }
    }

    // Requests without items get 200 or OK and are not forwarded.
    for signal in Signal::ALL {
        for via in [Via::Grpc, Via::HttpProtobuf] {
            cases.push(Case::new("empty body", via, signal, Vec::new()).accepted_as_is(0));
        }
        cases.push(
            Case::new("empty object", Via::HttpJson, signal, b"{}".to_vec()).accepted_as_is(0),
        );
    }
    let no_spans = otlp::traces("corpus", Vec::new()).encode_to_vec();
    let no_records = otlp::logs("corpus", Vec::new()).encode_to_vec();
    let no_points = otlp::gauge_metrics("corpus", 0).encode_to_vec();
    for via in [Via::Grpc, Via::HttpProtobuf] {
        cases.push(
            Case::new(
                "resource without spans",
                via,
                Signal::Traces,
                no_spans.clone(),
            )
            .accepted_as_is(0),
        );
        cases.push(
            Case::new(
                "gauge without points",
                via,
                Signal::Metrics,
                no_points.clone(),
            )
            .accepted_as_is(0),
        );
        cases.push(
            Case::new(
                "resource without records",
                via,
                Signal::Logs,
                no_records.clone(),
            )
            .accepted_as_is(0),
        );
    }
    let no_spans_json = json!({
        "resourceSpans": [{
            "resource": { "attributes": [{ "key": "service.name", "value": { "stringValue": "corpus" } }] },
            "scopeSpans": [{ "scope": { "name": "burnrate.tests" } }]
        }]
    });
    cases.push(
        Case::new(
            "resource without spans",
            Via::HttpJson,
            Signal::Traces,
            no_spans_json.to_string(),
        )
        .accepted_as_is(0),
    );

    // A 1 MiB attribute value, a quarter of the size limit.
    let giant = "g".repeat(MIB);
    let giant_traces = otlp::traces(
        "corpus",
        vec![otlp::span(
            otlp::trace_id(1),
            otlp::span_id(1),
            "giant attribute",
            vec![otlp::string_attribute("giant", &giant)],
        )],
    )
    .encode_to_vec();
    let giant_json = json_traces(
        "corpus",
        vec![json_span(
            &hex(&otlp::trace_id(1)),
            &hex(&otlp::span_id(1)),
            json!([{ "key": "giant", "value": { "stringValue": giant } }]),
        )],
    );
    for via in [Via::Grpc, Via::HttpProtobuf] {
        let case = Case::new("1 MiB attribute", via, Signal::Traces, giant_traces.clone());
        cases.push(case.clone().accepted_as_is(1));
        cases.push(case.gzip().accepted_as_is(1));
    }
    let case = Case::new("1 MiB attribute", Via::HttpJson, Signal::Traces, giant_json).expect(
        Reply::Accepted,
        &[(Counter::Accepted, 1.0)],
        Forwarded::Check(giant_attribute_forwarded),
    );
    cases.push(case.clone());
    cases.push(case.gzip());

    // Deep kvlist nesting that the decoders still accept.
    let deep = nested_kvlist_traces(DEEP_BUT_DECODABLE);
    for via in [Via::Grpc, Via::HttpProtobuf] {
        cases.push(
            Case::new("25 nested kvlists", via, Signal::Traces, deep.clone()).accepted_as_is(1),
        );
    }
    cases.push(
        Case::new(
            "25 nested kvlists",
            Via::HttpJson,
            Signal::Traces,
            nested_kvlist_json(DEEP_BUT_DECODABLE),
        )
        .expect(
            Reply::Accepted,
            &[(Counter::Accepted, 1.0)],
            Forwarded::Check(deep_attribute_forwarded),
        ),
    );

    // Duplicate attribute keys are forwarded as they are.
    let duplicates = otlp::traces(
        "corpus",
        vec![otlp::span(
            otlp::trace_id(1),
            otlp::span_id(1),
            "duplicate keys",
            vec![
                otlp::string_attribute("http.route", "/first"),
                otlp::string_attribute("http.route", "/second"),
            ],
        )],
    )
    .encode_to_vec();
    for via in [Via::Grpc, Via::HttpProtobuf] {
        cases.push(
            Case::new(
                "duplicate attribute keys",
                via,
                Signal::Traces,
                duplicates.clone(),
            )
            .accepted_as_is(1),
        );
    }
    let duplicates_json = json_traces(
        "corpus",
        vec![json_span(
            &hex(&otlp::trace_id(1)),
            &hex(&otlp::span_id(1)),
            json!([
                { "key": "http.route", "value": { "stringValue": "/first" } },
                { "key": "http.route", "value": { "stringValue": "/second" } }
            ]),
        )],
    );
    cases.push(
        Case::new(
            "duplicate attribute keys",
            Via::HttpJson,
            Signal::Traces,
            duplicates_json,
        )
        .expect(
            Reply::Accepted,
            &[(Counter::Accepted, 1.0)],
            Forwarded::Check(duplicate_keys_forwarded),
        ),
    );

    let (protobuf, items) = valid_protobuf(Signal::Traces);
    cases.push(
        Case::new(
            "Content-Encoding identity",
            Via::HttpProtobuf,
            Signal::Traces,
            protobuf,
        )
        .headers(&[
            ("content-type", "application/x-protobuf"),
            ("content-encoding", "identity"),
        ])
        .accepted_as_is(items),
    );
    let (json, items) = valid_json(Signal::Traces);
    cases.push(
        Case::new(
            "JSON with a charset parameter",
            Via::HttpJson,
            Signal::Traces,
            json,
        )
        .headers(&[("content-type", "application/json; charset=utf-8")])
        .expect(
            Reply::Accepted,
            &[(Counter::Accepted, items as f64)],
            Forwarded::Items(items),
        ),
    );

    harness.run_all(&cases).await;
    harness.finish().await;
}

// ---------------------------------------------------------------------------
// Invalid ids: partial success
// ---------------------------------------------------------------------------

/// Spans and log records with invalid ids are removed and reported in a
/// partial success; the valid ones are accepted and forwarded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_ids_partial_success() {
    let mut harness = Harness::start().await;
    let mut cases = Vec::new();

    let valid = |number: u64| {
        otlp::span(
            otlp::trace_id(number),
            otlp::span_id(number),
            "valid",
            Vec::new(),
        )
    };
    let with_ids = |trace_id: Vec<u8>, span_id: Vec<u8>, parent: Vec<u8>| {
        let mut span = otlp::span(trace_id, span_id, "invalid", Vec::new());
        span.parent_span_id = parent;
        span
    };
    let mut with_parent = valid(12);
    with_parent.parent_span_id = otlp::span_id(11);
    let mut mixed = otlp::traces("first", vec![valid(1), valid(2)]);
    let second = otlp::traces(
        "second",
        vec![
            valid(10),
            with_ids(vec![7; 15], otlp::span_id(20), Vec::new()),
            with_ids(vec![0; 16], otlp::span_id(21), Vec::new()),
            with_ids(otlp::trace_id(22), vec![7; 7], Vec::new()),
            with_ids(otlp::trace_id(23), vec![0; 8], Vec::new()),
            with_ids(otlp::trace_id(24), otlp::span_id(24), vec![7; 3]),
            with_ids(Vec::new(), otlp::span_id(25), Vec::new()),
            with_parent,
        ],
    );
    mixed.resource_spans.extend(second.resource_spans);
    let mixed = mixed.encode_to_vec();
    let expected_ids = vec![
        otlp::span_id(1),
        otlp::span_id(2),
        otlp::span_id(10),
        otlp::span_id(12),
    ];
    let partial = Reply::Partial {
        rejected: 6,
        prefix: "6 spans rejected".to_owned(),
        path: "resourceSpans[1].scopeSpans[0].spans[1].traceId".to_owned(),
    };
    for via in [Via::Grpc, Via::HttpProtobuf] {
        let case = Case::new("spans with invalid ids", via, Signal::Traces, mixed.clone()).expect(
            partial.clone(),
            &[(Counter::Accepted, 4.0), (Counter::Rejected, 6.0)],
            Forwarded::SpanIds(expected_ids.clone()),
        );
        cases.push(case.clone());
        cases.push(case.gzip());
    }

    let all_invalid = otlp::traces(
        "corpus",
        vec![
            with_ids(otlp::trace_id(1), vec![0; 8], Vec::new()),
            with_ids(otlp::trace_id(2), vec![1; 9], Vec::new()),
        ],
    )
    .encode_to_vec();
    for via in [Via::Grpc, Via::HttpProtobuf] {
        cases.push(
            Case::new(
                "only invalid spans",
                via,
                Signal::Traces,
                all_invalid.clone(),
            )
            .expect(
                Reply::Partial {
                    rejected: 2,
                    prefix: "2 spans rejected".to_owned(),
                    path: "resourceSpans[0].scopeSpans[0].spans[0].spanId".to_owned(),
                },
                &[(Counter::Rejected, 2.0)],
                Forwarded::Nothing,
            ),
        );
    }

    // Log records may have no ids; an all-zero trace id counts as none.
    let records = vec![
        otlp::log_record(otlp::trace_id(1), otlp::span_id(1), "valid"),
        otlp::log_record(vec![7; 15], otlp::span_id(2), "trace id of 15 bytes"),
        otlp::log_record(Vec::new(), Vec::new(), "valid without ids"),
        otlp::log_record(otlp::trace_id(3), vec![7; 3], "span id of 3 bytes"),
        otlp::log_record(vec![0; 16], vec![0; 8], "valid with zero ids"),
    ];
    let logs = otlp::logs("corpus", records).encode_to_vec();
    for via in [Via::Grpc, Via::HttpProtobuf] {
        let case = Case::new(
            "log records with invalid ids",
            via,
            Signal::Logs,
            logs.clone(),
        )
        .expect(
            Reply::Partial {
                rejected: 2,
                prefix: "2 log_records rejected".to_owned(),
                path: "resourceLogs[0].scopeLogs[0].logRecords[1].traceId".to_owned(),
            },
            &[(Counter::Accepted, 3.0), (Counter::Rejected, 2.0)],
            Forwarded::Items(3),
        );
        cases.push(case.clone());
        cases.push(case.gzip());
    }

    // In OTLP/JSON, a hex id of the wrong length is a decoding error, but an
    // empty or all-zero id decodes and is then rejected like in protobuf.
    let json = json_traces(
        "corpus",
        vec![
            json_span(&hex(&otlp::trace_id(1)), &hex(&otlp::span_id(1)), json!([])),
            json_span(&"0".repeat(32), &hex(&otlp::span_id(2)), json!([])),
            json_span("", &hex(&otlp::span_id(3)), json!([])),
            json_span(&hex(&otlp::trace_id(4)), &"0".repeat(16), json!([])),
            json_span(&hex(&otlp::trace_id(5)), &hex(&otlp::span_id(5)), json!([])),
        ],
    );
    let case = Case::new(
        "spans with invalid ids",
        Via::HttpJson,
        Signal::Traces,
        json,
    )
    .expect(
        Reply::Partial {
            rejected: 3,
            prefix: "3 spans rejected".to_owned(),
            path: "resourceSpans[0].scopeSpans[0].spans[1].traceId".to_owned(),
        },
        &[(Counter::Accepted, 2.0), (Counter::Rejected, 3.0)],
        Forwarded::SpanIds(vec![otlp::span_id(1), otlp::span_id(5)]),
    );
    cases.push(case.clone());
    cases.push(case.gzip());

    harness.run_all(&cases).await;
    harness.finish().await;
}

// ---------------------------------------------------------------------------
// OTLP/JSON encoding rules
// ---------------------------------------------------------------------------

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|index| u8::from_str_radix(&text[index..index + 2], 16).unwrap())
        .collect()
}

fn double(value: &Value) -> f64 {
    match value {
        Value::DoubleValue(number) => *number,
        other => panic!("expected a double, found {other:?}"),
    }
}

/// Checks the forwarded form of `traces_json_rules.json`.
fn traces_rules_forwarded(body: &[u8]) {
    let request = decode_traces(body);
    let resource = &request.resource_spans[0];
    let service = attribute(
        &resource.resource.as_ref().unwrap().attributes,
        "service.name",
    );
    assert_eq!(service, &Value::StringValue("json-rules".to_owned()));
    let scope = &resource.scope_spans[0];
    assert_eq!(scope.scope.as_ref().unwrap().name, "burnrate.tests.json");
    let [upper, lower] = &scope.spans[..] else {
        panic!("expected 2 spans, found {}", scope.spans.len());
    };
    let trace_id = unhex("5b8efff798038103d269b633813fc60c");

    // Upper-case hex ids, an empty id, integers as JSON numbers, enum names.
    assert_eq!(upper.trace_id, trace_id, "upper-case traceId");
    assert_eq!(
        upper.span_id,
        unhex("eee19b7ec3c1b174"),
        "upper-case spanId"
    );
    assert!(upper.parent_span_id.is_empty(), "empty parentSpanId");
    assert_eq!(upper.kind, 3, "SPAN_KIND_CLIENT");
    assert_eq!(upper.start_time_unix_nano, 1_718_000_000_000_000_000);
    assert_eq!(upper.end_time_unix_nano, 1_718_000_001_250_000_000);
    let status = upper.status.as_ref().unwrap();
    assert_eq!(status.code, 2, "STATUS_CODE_ERROR");
    assert_eq!(status.message, "upstream failed");
    assert_eq!(
        attribute(&upper.attributes, "int.number"),
        &Value::IntValue(-42)
    );
    assert_eq!(
        attribute(&upper.attributes, "int.max.number"),
        &Value::IntValue(i64::MAX)
    );
    assert_eq!(double(attribute(&upper.attributes, "double.number")), 0.25);

    // Lower-case hex ids, integers as strings, enum integers, snake_case.
    assert_eq!(lower.trace_id, trace_id, "lower-case trace_id");
    assert_eq!(
        lower.span_id,
        unhex("eee19b7ec3c1b175"),
        "lower-case span_id"
    );
    assert_eq!(
        lower.parent_span_id,
        unhex("eee19b7ec3c1b174"),
        "parent_span_id"
    );
    assert_eq!(lower.kind, 3, "kind 3");
    assert_eq!(lower.start_time_unix_nano, 1_718_000_000_000_000_000);
    assert_eq!(lower.end_time_unix_nano, 1_718_000_001_250_000_000);
    assert_eq!(lower.status.as_ref().unwrap().code, 2, "status code 2");
    assert_eq!(
        attribute(&lower.attributes, "int.string"),
        &Value::IntValue(-42)
    );
    assert_eq!(
        attribute(&lower.attributes, "int.max.string"),
        &Value::IntValue(i64::MAX)
    );
    assert_eq!(
        attribute(&lower.attributes, "bytes.base64"),
        &Value::BytesValue(vec![0xde, 0xad, 0xbe, 0xef])
    );
    assert!(double(attribute(&lower.attributes, "double.nan")).is_nan());
    assert_eq!(
        double(attribute(&lower.attributes, "double.infinity")),
        f64::INFINITY
    );
    assert_eq!(
        double(attribute(&lower.attributes, "double.negative.infinity")),
        f64::NEG_INFINITY
    );
    assert_eq!(lower.events.len(), 1);
    assert_eq!(lower.events[0].time_unix_nano, 1_718_000_000_500_000_000);
    assert_eq!(lower.events[0].name, "retry");
}

/// Checks the forwarded form of `logs_json_rules.json`.
fn logs_rules_forwarded(body: &[u8]) {
    let request = ExportLogsServiceRequest::decode(body).unwrap();
    let records = &request.resource_logs[0].scope_logs[0].log_records;
    let [by_name, snake_case, bytes_body] = &records[..] else {
        panic!("expected 3 log records, found {}", records.len());
    };
    assert_eq!(by_name.time_unix_nano, 1_718_000_000_000_000_000);
    assert_eq!(by_name.severity_number, 9, "SEVERITY_NUMBER_INFO");
    assert_eq!(by_name.severity_text, "INFO");
    assert_eq!(
        by_name.body,
        Some(otlp::string_value("severity as a value name"))
    );
    assert_eq!(by_name.trace_id, unhex("5b8efff798038103d269b633813fc60c"));
    assert_eq!(by_name.span_id, unhex("eee19b7ec3c1b174"));

    assert_eq!(snake_case.time_unix_nano, 1_718_000_000_000_000_001);
    assert_eq!(snake_case.severity_number, 9, "severity_number 9");
    let expected_body = AnyValue {
        value: Some(Value::KvlistValue(KeyValueList {
            values: vec![otlp::key_value(
                "ok",
                AnyValue {
                    value: Some(Value::BoolValue(true)),
                },
            )],
        })),
    };
    assert_eq!(snake_case.body, Some(expected_body));
    assert!(snake_case.trace_id.is_empty(), "empty trace_id");
    assert!(snake_case.span_id.is_empty(), "empty span_id");

    assert_eq!(
        bytes_body.observed_time_unix_nano,
        1_718_000_000_000_000_002
    );
    assert_eq!(bytes_body.severity_number, 17, "SEVERITY_NUMBER_ERROR");
    assert_eq!(
        bytes_body.body,
        Some(AnyValue {
            value: Some(Value::BytesValue(vec![0, 1, 2]))
        })
    );
    assert_eq!(bytes_body.flags, 1);
}

/// Checks the forwarded form of `metrics_json_rules.json`.
fn metrics_rules_forwarded(body: &[u8]) {
    let request = ExportMetricsServiceRequest::decode(body).unwrap();
    let metrics = &request.resource_metrics[0].scope_metrics[0].metrics;
    let [gauge, cumulative, delta, histogram] = &metrics[..] else {
        panic!("expected 4 metrics, found {}", metrics.len());
    };

    let Some(metric::Data::Gauge(gauge)) = &gauge.data else {
        panic!("queue.depth is not a gauge: {gauge:?}");
    };
    let values: Vec<_> = gauge
        .data_points
        .iter()
        .map(|point| (point.time_unix_nano, point.value))
        .collect();
    assert_eq!(
        values,
        [
            (
                1_718_000_000_000_000_000,
                Some(number_data_point::Value::AsInt(5))
            ),
            (
                1_718_000_000_000_000_001,
                Some(number_data_point::Value::AsInt(6))
            ),
        ],
        "asInt as a string and as a number"
    );

    let Some(metric::Data::Sum(cumulative)) = &cumulative.data else {
        panic!("requests is not a sum: {cumulative:?}");
    };
    assert_eq!(
        cumulative.aggregation_temporality, 2,
        "AGGREGATION_TEMPORALITY_CUMULATIVE"
    );
    assert!(cumulative.is_monotonic);
    let Some(number_data_point::Value::AsDouble(nan)) = cumulative.data_points[0].value else {
        panic!("asDouble \"NaN\" is not a double");
    };
    assert!(nan.is_nan());

    let Some(metric::Data::Sum(delta)) = &delta.data else {
        panic!("errors is not a sum: {delta:?}");
    };
    assert_eq!(
        delta.aggregation_temporality, 1,
        "aggregation_temporality 1"
    );
    assert_eq!(
        delta.data_points[0].value,
        Some(number_data_point::Value::AsDouble(f64::INFINITY))
    );

    let Some(metric::Data::Histogram(histogram)) = &histogram.data else {
        panic!("latency is not a histogram: {histogram:?}");
    };
    assert_eq!(histogram.aggregation_temporality, 2);
    let point = &histogram.data_points[0];
    assert_eq!(point.count, 3, "count as a string");
    assert_eq!(point.sum, Some(4.5));
    assert_eq!(
        point.bucket_counts,
        [1, 2],
        "bucketCounts as a string and a number"
    );
    assert_eq!(point.explicit_bounds, [1.0]);
}

/// Every rule of the OTLP/JSON section of docs/receiver.md: accepted forms
/// decode to the same protobuf, and an invalid id names its field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_encoding_rules() {
    let mut harness = Harness::start().await;
    let mut cases = Vec::new();

    let rules: [(Signal, &str, u64, CheckForwarded); 3] = [
        (
            Signal::Traces,
            "traces_json_rules.json",
            2,
            traces_rules_forwarded,
        ),
        (
            Signal::Logs,
            "logs_json_rules.json",
            3,
            logs_rules_forwarded,
        ),
        (
            Signal::Metrics,
            "metrics_json_rules.json",
            5,
            metrics_rules_forwarded,
        ),
    ];
    for (signal, file, items, check) in rules {
        let case = Case::new(file, Via::HttpJson, signal, fixture(file)).expect(
            Reply::Accepted,
            &[(Counter::Accepted, items as f64)],
            Forwarded::Check(check),
        );
        cases.push(case.clone());
        cases.push(case.gzip());
    }

    let trace_id = hex(&otlp::trace_id(1));
    let span_id = hex(&otlp::span_id(1));
    let valid_span = json_span(&trace_id, &span_id, json!([]));
    let mut bad_hex = json_span(&trace_id, "00f067aa0ba9zzb7", json!([]));
    bad_hex["name"] = json!("span id with non-hex digits");
    let short_trace_id = json_span(&trace_id[..30], &span_id, json!([]));
    let long_span_id = json_span(&trace_id, &format!("{span_id}00"), json!([]));
    let mut bad_parent = json_span(&trace_id, &span_id, json!([]));
    bad_parent["parentSpanId"] = json!("parent");
    let mut bad_time = json_span(&trace_id, &span_id, json!([]));
    bad_time["startTimeUnixNano"] = json!("12x");
    let mut fractional_time = json_span(&trace_id, &span_id, json!([]));
    fractional_time["endTimeUnixNano"] = json!(1.5);
    let mut bad_kind = json_span(&trace_id, &span_id, json!([]));
    bad_kind["kind"] = json!("SPAN_KIND_SIDEWAYS");
    let bad_base64 = json_span(
        &trace_id,
        &span_id,
        json!([{ "key": "raw", "value": { "bytesValue": "not base64!" } }]),
    );
    let span_prefix = "invalid `resourceSpans[0].scopeSpans[0].spans";
    let invalid_traces: [(&str, serde_json::Value, String); 8] = [
        (
            "span id with non-hex digits",
            bad_hex,
            format!("{span_prefix}[1].spanId`"),
        ),
        (
            "trace id of 30 digits",
            short_trace_id,
            format!("{span_prefix}[1].traceId`"),
        ),
        (
            "span id of 18 digits",
            long_span_id,
            format!("{span_prefix}[1].spanId`"),
        ),
        (
            "parent span id not hex",
            bad_parent,
            format!("{span_prefix}[1].parentSpanId`"),
        ),
        (
            "int64 string not decimal",
            bad_time,
            format!("{span_prefix}[1].startTimeUnixNano`"),
        ),
        (
            "fractional uint64",
            fractional_time,
            format!("{span_prefix}[1].endTimeUnixNano`"),
        ),
        (
            "unknown enum value name",
            bad_kind,
            format!("{span_prefix}[1].kind`"),
        ),
        (
            "bytesValue not base64",
            bad_base64,
            format!("{span_prefix}[1].attributes[0].value.bytesValue`"),
        ),
    ];
    for (name, span, message) in invalid_traces {
        let body = json_traces("corpus", vec![valid_span.clone(), span]);
        cases.push(Case::new(name, Via::HttpJson, Signal::Traces, body).invalid(&message));
    }

    let bad_log = json!({
        "resourceLogs": [{
            "scopeLogs": [{
                "logRecords": [{ "timeUnixNano": "1718000000000000000", "traceId": "xyz" }]
            }]
        }]
    });
    cases.push(
        Case::new(
            "log trace id not hex",
            Via::HttpJson,
            Signal::Logs,
            bad_log.to_string(),
        )
        .invalid("invalid `resourceLogs[0].scopeLogs[0].logRecords[0].traceId`"),
    );
    let bad_exemplar = json!({
        "resourceMetrics": [{
            "scopeMetrics": [{
                "metrics": [{
                    "name": "requests",
                    "gauge": {
                        "dataPoints": [{
                            "asInt": "1",
                            "exemplars": [{ "asInt": "1", "spanId": "12345" }]
                        }]
                    }
                }]
            }]
        }]
    });
    cases.push(
        Case::new(
            "exemplar span id of 5 digits",
            Via::HttpJson,
            Signal::Metrics,
            bad_exemplar.to_string(),
        )
        .invalid(
            "invalid `resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[0].exemplars[0].spanId`",
        ),
    );

    harness.run_all(&cases).await;
    harness.finish().await;
}

// ---------------------------------------------------------------------------
// Size limits
// ---------------------------------------------------------------------------

/// Builds a trace request with one span whose encoding is exactly `size`
/// bytes, padded with a string attribute.
fn traces_of_size(size: usize) -> Vec<u8> {
    let build = |padding: usize| {
        otlp::traces(
            "corpus",
            vec![otlp::span(
                otlp::trace_id(1),
                otlp::span_id(1),
                "sized",
                vec![otlp::string_attribute("padding", &"p".repeat(padding))],
            )],
        )
        .encode_to_vec()
    };
    let mut padding = size.saturating_sub(build(0).len());
    // Length prefixes grow with the padding, so a few steps may be needed.
    for _ in 0..8 {
        let encoded = build(padding);
        if encoded.len() == size {
            return encoded;
        }
        padding = (padding + size).saturating_sub(encoded.len());
    }
    panic!("no trace request of exactly {size} bytes");
}

/// Builds a gzip file of `members` members that each inflate to 1 MiB of
/// zeros. A member takes about 1 KiB, so 256 members are a 256 MiB bomb of
/// about 256 KiB. Gzip readers inflate concatenated members as one stream.
fn multi_member_gzip_bomb(members: usize) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&vec![0; MIB]).unwrap();
    let member = encoder.finish().unwrap();
    member.repeat(members)
}

/// Bodies and messages over the size limits: 413 or RESOURCE_EXHAUSTED,
/// without inflating more than the limit; bodies exactly at a limit are
/// accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_limits_enforced() {
    let mut harness = Harness::start().await;
    let http_max = HTTP_MAX_BODY_MIB as usize * MIB;
    let decompressed_max = HTTP_MAX_DECOMPRESSED_MIB as usize * MIB;
    let grpc_max = GRPC_MAX_MESSAGE_MIB as usize * MIB;

    // The multi-member bomb runs first, while burnrate's peak resident
    // memory is still that of an idle process, so that its growth shows what
    // one inflation allocates.
    let bomb = multi_member_gzip_bomb(256);
    assert!(bomb.len() < http_max, "the bomb fits the body limit");
    let peak_before = harness.burnrate.memory().peak_rss_kib;
    for via in [Via::HttpProtobuf, Via::HttpJson] {
        let case = Case::new(
            "256 MiB multi-member gzip bomb",
            via,
            Signal::Traces,
            bomb.clone(),
        )
        .precompressed()
        .expect(
            Reply::TooLarge,
            &[(Counter::InvalidRequests, 1.0)],
            Forwarded::Nothing,
        );
        harness.run(&case).await;
    }
    let peak_growth_kib = harness.burnrate.memory().peak_rss_kib - peak_before;
    // Inflating stops past the 8 MiB limit. 32 MiB leaves room for the
    // 256 KiB body, the output buffer's growth by doubling and allocator
    // slack. Inflating the whole bomb would need 256 MiB.
    assert!(
        peak_growth_kib < 32 * 1024,
        "peak resident memory grew by {peak_growth_kib} KiB while rejecting the bomb"
    );

    let zeros = support::gzip(&vec![0; 2 * decompressed_max]);
    let mut cases = Vec::new();
    for via in [Via::Grpc, Via::HttpProtobuf] {
        // Requests rejected whole for their size are counted as invalid on
        // both transports (413 and RESOURCE_EXHAUSTED).
        let counters: &[(Counter, f64)] = &[(Counter::InvalidRequests, 1.0)];
        cases.push(
            Case::new(
                "16 MiB of zeros in gzip",
                via,
                Signal::Traces,
                zeros.clone(),
            )
            .precompressed()
            .expect(Reply::TooLarge, counters, Forwarded::Nothing),
        );
    }

    let at_limit = traces_of_size(http_max);
    let over_limit = traces_of_size(http_max + 1);
    cases.push(
        Case::new(
            "body at the limit",
            Via::HttpProtobuf,
            Signal::Traces,
            at_limit.clone(),
        )
        .accepted_as_is(1),
    );
    let grpc_at_limit = traces_of_size(grpc_max);
    cases.push(
        Case::new(
            "message at the limit",
            Via::Grpc,
            Signal::Traces,
            grpc_at_limit.clone(),
        )
        .accepted_as_is(1),
    );
    cases.push(
        Case::new(
            "message 1 byte over the limit",
            Via::Grpc,
            Signal::Traces,
            traces_of_size(grpc_max + 1),
        )
        .expect(
            Reply::TooLarge,
            &[(Counter::InvalidRequests, 1.0)],
            Forwarded::Nothing,
        ),
    );
    cases.push(
        Case::new(
            "message at the limit after inflation",
            Via::Grpc,
            Signal::Traces,
            grpc_at_limit,
        )
        .gzip()
        .accepted_as_is(1),
    );
    cases.push(
        Case::new(
            "message 1 byte over the limit after inflation",
            Via::Grpc,
            Signal::Traces,
            traces_of_size(grpc_max + 1),
        )
        .gzip()
        .expect(
            Reply::TooLarge,
            &[(Counter::InvalidRequests, 1.0)],
            Forwarded::Nothing,
        ),
    );
    cases.push(
        Case::new(
            "body at the limit after inflation",
            Via::HttpProtobuf,
            Signal::Traces,
            traces_of_size(decompressed_max),
        )
        .gzip()
        .accepted_as_is(1),
    );
    cases.push(
        Case::new(
            "body 1 byte over the limit after inflation",
            Via::HttpProtobuf,
            Signal::Traces,
            traces_of_size(decompressed_max + 1),
        )
        .gzip()
        .expect(
            Reply::TooLarge,
            &[(Counter::InvalidRequests, 1.0)],
            Forwarded::Nothing,
        ),
    );
    harness.run_all(&cases).await;

    // Bodies over the limit are sent with a raw client that reads while it
    // writes: burnrate responds before reading the whole body and closes the
    // connection, and hyper's client reports the failed write instead of the
    // response.
    let head = |framing: &str| {
        format!(
            "POST /v1/traces HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-protobuf\r\nConnection: close\r\n{framing}\r\n\r\n",
            harness.burnrate.http
        )
        .into_bytes()
    };
    let mut one_byte_over = head(&format!("Content-Length: {}", over_limit.len()));
    one_byte_over.extend(&over_limit);
    let mut chunked = head("Transfer-Encoding: chunked");
    for _ in 0..5 {
        chunked.extend(format!("{MIB:x}\r\n").as_bytes());
        chunked.extend(vec![0x0a; MIB]);
        chunked.extend(b"\r\n");
    }
    chunked.extend(b"0\r\n\r\n");
    // A Content-Length over the limit is rejected before the body is read,
    // so the request head alone gets the response.
    let head_only = head(&format!("Content-Length: {}", 1024 * MIB));
    let raw_requests = [
        ("body 1 byte over the limit", one_byte_over),
        ("chunked body of 5 MiB", chunked),
        ("Content-Length of 1 GiB without a body", head_only),
    ];
    let invalid_http_traces = BTreeMap::from([(
        series(
            "burnrate_receiver_invalid_requests_total",
            &[("signal", "traces"), ("transport", "http")],
        ),
        1.0,
    )]);
    for (name, request) in raw_requests {
        let before = harness.burnrate.metrics().await;
        let response = support::client::raw_http_exchange(harness.burnrate.http, request)
            .await
            .unwrap();
        let after = harness.burnrate.metrics().await;
        let status_line = response.lines().next().unwrap_or_default();
        assert_eq!(
            status_line, "HTTP/1.1 413 Payload Too Large",
            "{name}: {response:?}"
        );
        assert_eq!(
            changes(&before, &after, "burnrate_receiver_"),
            invalid_http_traces,
            "{name}: counter changes"
        );
        assert!(
            harness.take_forwarded().await.is_empty(),
            "{name}: nothing forwarded"
        );
    }

    harness.finish().await;
}

// ---------------------------------------------------------------------------
// Content types and encodings
// ---------------------------------------------------------------------------

/// A `Content-Type` other than protobuf or JSON, and a `Content-Encoding`
/// other than gzip or identity: 415, not counted, nothing forwarded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_media_types() {
    let mut harness = Harness::start().await;
    let mut cases = Vec::new();
    let (protobuf, _) = valid_protobuf(Signal::Traces);

    let content_types: [&[(&str, &str)]; 5] = [
        &[("content-type", "text/plain")],
        &[("content-type", "application/grpc")],
        &[("content-type", "application/protobuf")],
        &[("content-type", "multipart/form-data; boundary=x")],
        &[],
    ];
    for headers in content_types {
        let name = match headers.first() {
            Some((_, value)) => format!("Content-Type {value}"),
            None => "no Content-Type".to_owned(),
        };
        cases.push(
            Case::new(name, Via::HttpProtobuf, Signal::Traces, protobuf.clone())
                .headers(headers)
                .expect(
                    Reply::UnsupportedMediaType(Some("Content-Type".to_owned())),
                    &[],
                    Forwarded::Nothing,
                ),
        );
    }

    for encoding in ["br", "deflate", "zstd", "gzip, br"] {
        for via in [Via::HttpProtobuf, Via::HttpJson] {
            let body = match via {
                Via::HttpJson => valid_json(Signal::Traces).0,
                _ => protobuf.clone(),
            };
            cases.push(
                Case::new(
                    format!("Content-Encoding {encoding}"),
                    via,
                    Signal::Traces,
                    body,
                )
                .headers(&[
                    ("content-type", via.content_type()),
                    ("content-encoding", encoding),
                ])
                .expect(Reply::UnsupportedMediaType(None), &[], Forwarded::Nothing),
            );
        }
    }

    harness.run_all(&cases).await;
    harness.finish().await;
}

// ---------------------------------------------------------------------------
// LLM attribute values that extraction ignores
// ---------------------------------------------------------------------------

/// One LLM span attribute with a value that extraction may ignore.
struct AttributeCase {
    name: &'static str,
    key: &'static str,
    protobuf: Value,
    json: serde_json::Value,
    /// `reason` of `burnrate_extract_rejected_attributes_total`, or `None`
    /// when the value is usable.
    reason: Option<&'static str>,
    /// Input tokens that the call is counted with.
    input_tokens: f64,
}

const INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";

fn attribute_cases() -> Vec<AttributeCase> {
    let tokens = |name, protobuf, json, reason: Option<&'static str>, input_tokens| AttributeCase {
        name,
        key: INPUT_TOKENS,
        protobuf,
        json,
        reason,
        input_tokens,
    };
    vec![
        tokens(
            "negative integer",
            Value::IntValue(-5),
            json!({ "intValue": "-5" }),
            Some("negative"),
            0.0,
        ),
        tokens(
            "negative double",
            Value::DoubleValue(-5.0),
            json!({ "doubleValue": -5.0 }),
            Some("negative"),
            0.0,
        ),
        tokens(
            "negative string",
            Value::StringValue("-5".to_owned()),
            json!({ "stringValue": "-5" }),
            Some("negative"),
            0.0,
        ),
        tokens(
            "fractional double",
            Value::DoubleValue(12.5),
            json!({ "doubleValue": 12.5 }),
            Some("fractional"),
            0.0,
        ),
        tokens(
            "fractional string",
            Value::StringValue("12.5".to_owned()),
            json!({ "stringValue": "12.5" }),
            Some("fractional"),
            0.0,
        ),
        tokens(
            "NaN",
            Value::DoubleValue(f64::NAN),
            json!({ "doubleValue": "NaN" }),
            Some("not_finite"),
            0.0,
        ),
        tokens(
            "infinity",
            Value::DoubleValue(f64::INFINITY),
            json!({ "doubleValue": "Infinity" }),
            Some("not_finite"),
            0.0,
        ),
        tokens(
            "NaN as a string",
            Value::StringValue("NaN".to_owned()),
            json!({ "stringValue": "NaN" }),
            Some("not_finite"),
            0.0,
        ),
        tokens(
            "word",
            Value::StringValue("many".to_owned()),
            json!({ "stringValue": "many" }),
            Some("not_numeric"),
            0.0,
        ),
        tokens(
            "empty string",
            Value::StringValue(String::new()),
            json!({ "stringValue": "" }),
            Some("not_numeric"),
            0.0,
        ),
        tokens(
            "above 100,000,000",
            Value::IntValue(100_000_001),
            json!({ "intValue": "100000001" }),
            Some("too_large"),
            0.0,
        ),
        tokens(
            "1e300",
            Value::DoubleValue(1e300),
            json!({ "doubleValue": 1e300 }),
            Some("too_large"),
            0.0,
        ),
        tokens(
            "int64 maximum",
            Value::IntValue(i64::MAX),
            json!({ "intValue": "9223372036854775807" }),
            Some("too_large"),
            0.0,
        ),
        tokens(
            "23 digits",
            Value::StringValue("99999999999999999999999".to_owned()),
            json!({ "stringValue": "99999999999999999999999" }),
            Some("too_large"),
            0.0,
        ),
        tokens(
            "boolean",
            Value::BoolValue(true),
            json!({ "boolValue": true }),
            Some("wrong_type"),
            0.0,
        ),
        tokens(
            "array",
            Value::ArrayValue(ArrayValue {
                values: vec![AnyValue {
                    value: Some(Value::IntValue(5)),
                }],
            }),
            json!({ "arrayValue": { "values": [{ "intValue": "5" }] } }),
            Some("wrong_type"),
            0.0,
        ),
        tokens(
            "bytes",
            Value::BytesValue(vec![5]),
            json!({ "bytesValue": "BQ==" }),
            Some("wrong_type"),
            0.0,
        ),
        tokens(
            "integral double",
            Value::DoubleValue(350.0),
            json!({ "doubleValue": 350.0 }),
            None,
            350.0,
        ),
        tokens(
            "decimal string",
            Value::StringValue("350".to_owned()),
            json!({ "stringValue": "350" }),
            None,
            350.0,
        ),
        AttributeCase {
            name: "model of 300 bytes",
            key: "gen_ai.request.model",
            protobuf: Value::StringValue("m".repeat(300)),
            json: json!({ "stringValue": "m".repeat(300) }),
            reason: Some("too_long"),
            input_tokens: 5.0,
        },
        AttributeCase {
            name: "boolean model",
            key: "gen_ai.request.model",
            protobuf: Value::BoolValue(false),
            json: json!({ "boolValue": false }),
            reason: Some("wrong_type"),
            input_tokens: 5.0,
        },
        AttributeCase {
            name: "status code 700",
            key: "http.response.status_code",
            protobuf: Value::IntValue(700),
            json: json!({ "intValue": "700" }),
            reason: Some("too_large"),
            input_tokens: 5.0,
        },
    ]
}

/// Builds the attributes of an LLM call with 5 input and 7 output tokens,
/// with the case's attribute in place of the usual one, as protobuf and as
/// JSON.
fn llm_attributes(case: &AttributeCase) -> (Vec<KeyValue>, serde_json::Value) {
    let mut attributes: Vec<(&str, Value, serde_json::Value)> = vec![
        (
            "gen_ai.operation.name",
            Value::StringValue("chat".to_owned()),
            json!({ "stringValue": "chat" }),
        ),
        (
            "gen_ai.provider.name",
            Value::StringValue("openai".to_owned()),
            json!({ "stringValue": "openai" }),
        ),
        (
            "gen_ai.request.model",
            Value::StringValue("gpt-4o".to_owned()),
            json!({ "stringValue": "gpt-4o" }),
        ),
        (INPUT_TOKENS, Value::IntValue(5), json!({ "intValue": "5" })),
        (
            "gen_ai.usage.output_tokens",
            Value::IntValue(7),
            json!({ "intValue": 7 }),
        ),
    ];
    match attributes.iter_mut().find(|(key, _, _)| *key == case.key) {
        Some(attribute) => {
            attribute.1 = case.protobuf.clone();
            attribute.2 = case.json.clone();
        }
        None => attributes.push((case.key, case.protobuf.clone(), case.json.clone())),
    }
    let protobuf = attributes
        .iter()
        .map(|(key, value, _)| {
            otlp::key_value(
                key,
                AnyValue {
                    value: Some(value.clone()),
                },
            )
        })
        .collect();
    let json = attributes
        .iter()
        .map(|(key, _, value)| json!({ "key": key, "value": value }))
        .collect();
    (protobuf, json)
}

/// A token count, model or status code with an unusable value is ignored
/// and counted by reason. The span is still accepted and forwarded, and its
/// other attributes are still read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_llm_attribute_values() {
    let mut harness = Harness::start().await;
    let mut number = 0;
    for attribute_case in attribute_cases() {
        for via in [Via::Grpc, Via::HttpProtobuf, Via::HttpJson] {
            number += 1;
            let service = format!("llm-case-{number}");
            let (protobuf_attributes, json_attributes) = llm_attributes(&attribute_case);
            let (body, forwarded) = match via {
                Via::HttpJson => {
                    let span = json_span(
                        &hex(&otlp::trace_id(number)),
                        &hex(&otlp::span_id(number)),
                        json_attributes,
                    );
                    (json_traces(&service, vec![span]), Forwarded::Items(1))
                }
                _ => {
                    let span = otlp::span(
                        otlp::trace_id(number),
                        otlp::span_id(number),
                        "chat gpt-4o",
                        protobuf_attributes,
                    );
                    let body = otlp::traces(&service, vec![span]).encode_to_vec();
                    (body.clone(), Forwarded::Bytes(body))
                }
            };
            let case = Case::new(attribute_case.name, via, Signal::Traces, body).expect(
                Reply::Accepted,
                &[(Counter::Accepted, 1.0)],
                forwarded,
            );
            let outcome = harness.run(&case).await;
            let label = case.label();

            let rejected = changes(
                &outcome.before,
                &outcome.after,
                "burnrate_extract_rejected_attributes_total",
            );
            let expected: BTreeMap<String, f64> = attribute_case
                .reason
                .map(|reason| {
                    let name = "burnrate_extract_rejected_attributes_total";
                    (series(name, &[("reason", reason)]), 1.0)
                })
                .into_iter()
                .collect();
            assert_eq!(rejected, expected, "{label}: rejected attributes");

            let tokens = |token_type: &str| {
                let labels = [
                    ("service_name", service.as_str()),
                    ("gen_ai_token_type", token_type),
                ];
                let name = "burnrate_llm_tokens_total";
                outcome.after.sum(name, &labels) - outcome.before.sum(name, &labels)
            };
            assert_eq!(tokens("output"), 7.0, "{label}: output tokens");
            assert_eq!(
                tokens("input"),
                attribute_case.input_tokens,
                "{label}: input tokens"
            );
            let labels = [("service_name", service.as_str()), ("outcome", "ok")];
            let requests = outcome.after.sum("burnrate_llm_requests_total", &labels)
                - outcome.before.sum("burnrate_llm_requests_total", &labels);
            assert_eq!(requests, 1.0, "{label}: LLM calls counted");
        }
    }

    // A token count given twice is counted once, with either value.
    for via in [Via::Grpc, Via::HttpProtobuf, Via::HttpJson] {
        number += 1;
        let service = format!("llm-case-{number}");
        let attributes = [
            ("gen_ai.provider.name", json!({ "stringValue": "openai" })),
            ("gen_ai.request.model", json!({ "stringValue": "gpt-4o" })),
            (INPUT_TOKENS, json!({ "intValue": "10" })),
            (INPUT_TOKENS, json!({ "intValue": "20" })),
        ];
        let body = match via {
            Via::HttpJson => {
                let attributes: Vec<serde_json::Value> = attributes
                    .iter()
                    .map(|(key, value)| json!({ "key": key, "value": value }))
                    .collect();
                let span = json_span(
                    &hex(&otlp::trace_id(number)),
                    &hex(&otlp::span_id(number)),
                    json!(attributes),
                );
                json_traces(&service, vec![span])
            }
            _ => {
                let span = otlp::span(
                    otlp::trace_id(number),
                    otlp::span_id(number),
                    "chat gpt-4o",
                    vec![
                        otlp::string_attribute("gen_ai.provider.name", "openai"),
                        otlp::string_attribute("gen_ai.request.model", "gpt-4o"),
                        otlp::int_attribute(INPUT_TOKENS, 10),
                        otlp::int_attribute(INPUT_TOKENS, 20),
                    ],
                );
                otlp::traces(&service, vec![span]).encode_to_vec()
            }
        };
        let forwarded = match via {
            Via::HttpJson => Forwarded::Items(1),
            _ => Forwarded::Bytes(body.clone()),
        };
        let case = Case::new("input tokens given twice", via, Signal::Traces, body).expect(
            Reply::Accepted,
            &[(Counter::Accepted, 1.0)],
            forwarded,
        );
        let outcome = harness.run(&case).await;
        let labels = [
            ("service_name", service.as_str()),
            ("gen_ai_token_type", "input"),
        ];
        let name = "burnrate_llm_tokens_total";
        let input = outcome.after.sum(name, &labels) - outcome.before.sum(name, &labels);
        assert!(
            input == 10.0 || input == 20.0,
            "{}: input tokens counted as {input}, expected 10 or 20",
            case.label()
        );
    }
    harness.finish().await;
}
