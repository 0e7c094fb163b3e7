use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric::Data,
};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;

use super::*;
use crate::config;
use crate::pricing::Prices;

fn pipeline(exporters: Vec<ExportQueue>) -> Pipeline {
    Pipeline::new(
        Arc::new(Ledger::new(Prices::embedded())),
        exporters,
        crate::extract::DEFAULT_MAX_ATTRIBUTES,
    )
}

fn span(trace_id: Vec<u8>, span_id: Vec<u8>) -> Span {
    Span {
        trace_id,
        span_id,
        name: "work".to_owned(),
        ..Default::default()
    }
}

fn traces(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn valid_span(seed: u8) -> Span {
    span(vec![seed; 16], vec![seed; 8])
}

#[test]
fn undecodable_protobuf_is_invalid() {
    let pipeline = pipeline(Vec::new());
    let error = pipeline
        .consume_protobuf(
            Signal::Traces,
            Transport::Grpc,
            Bytes::from_static(&[0x0a, 0xff]),
        )
        .unwrap_err();
    assert!(matches!(error, ConsumeError::Invalid { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .starts_with("invalid traces request: protobuf decoding failed")
    );
    assert_eq!(
        pipeline
            .receiver_stats
            .invalid_requests(Signal::Traces, Transport::Grpc),
        1
    );
}

#[test]
fn spans_with_bad_ids_are_rejected_others_accepted() {
    let pipeline = pipeline(Vec::new());
    let request = traces(vec![
        valid_span(1),
        span(vec![1; 5], vec![1; 8]),
        span(vec![0; 16], vec![1; 8]),
        valid_span(2),
    ]);
    let body = Bytes::from(request.encode_to_vec());
    let accepted = pipeline
        .consume_protobuf(Signal::Traces, Transport::Http, body)
        .unwrap();
    assert_eq!(accepted.rejected, 2);
    assert_eq!(
        accepted.error_message,
        "2 spans rejected because of invalid ids; first: resourceSpans[0].scopeSpans[0].spans[1].traceId has 5 bytes, expected 16"
    );
    let stats = &pipeline.receiver_stats;
    assert_eq!(
        stats.items(Signal::Traces, Transport::Http, ItemFate::Accepted),
        2
    );
    assert_eq!(
        stats.items(Signal::Traces, Transport::Http, ItemFate::Rejected),
        2
    );
}

#[test]
fn bad_parent_id_is_rejected() {
    let mut child = valid_span(3);
    child.parent_span_id = vec![1; 3];
    let mut message = Message::Traces(traces(vec![child]));
    let rejections = message.remove_invalid_items();
    assert_eq!(rejections.count, 1);
    assert_eq!(
        rejections.first_problem.as_deref(),
        Some(
            "resourceSpans[0].scopeSpans[0].spans[0].parentSpanId has 3 bytes, expected 8 or none"
        )
    );
}

#[test]
fn metric_items_are_data_points() {
    let points = vec![NumberDataPoint::default(); 3];
    let request = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "m".to_owned(),
                    data: Some(Data::Gauge(Gauge {
                        data_points: points,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let pipeline = pipeline(Vec::new());
    let body = Bytes::from(request.encode_to_vec());
    pipeline
        .consume_protobuf(Signal::Metrics, Transport::Grpc, body)
        .unwrap();
    let stats = &pipeline.receiver_stats;
    assert_eq!(
        stats.items(Signal::Metrics, Transport::Grpc, ItemFate::Accepted),
        3
    );
}

#[tokio::test]
async fn full_queue_refuses_and_records_nothing() {
    // A port that this test bound and released, so every send fails and the
    // queue fills up.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let settings = config::Exporter {
        name: "down".to_owned(),
        endpoint: format!("http://127.0.0.1:{port}"),
        sending_queue: config::SendingQueue {
            queue_size: 1,
            num_consumers: 1,
            ..config::SendingQueue::default()
        },
        ..config::Exporter::default()
    };
    let (queue, _task) =
        crate::export::spawn(&settings, crate::export::Shutdown::default()).unwrap();
    let pipeline = pipeline(vec![queue]);

    let body = Bytes::from(traces(vec![valid_span(1)]).encode_to_vec());
    let mut refused = None;
    for _ in 0..10 {
        if let Err(error) = pipeline.consume_protobuf(Signal::Traces, Transport::Grpc, body.clone())
        {
            refused = Some(error);
            break;
        }
    }
    let refused = refused.expect("the queue never filled up");
    assert_eq!(
        refused.to_string(),
        "export queue of exporter `down` is full; retry later"
    );
    let stats = &pipeline.receiver_stats;
    assert_eq!(
        stats.items(Signal::Traces, Transport::Grpc, ItemFate::Refused),
        1
    );
    assert!(stats.items(Signal::Traces, Transport::Grpc, ItemFate::Accepted) >= 1);
}

#[tokio::test]
async fn request_larger_than_queue_is_rejected_not_refused() {
    let settings = config::Exporter {
        name: "small".to_owned(),
        endpoint: "http://127.0.0.1:1".to_owned(),
        sending_queue: config::SendingQueue {
            max_size_mib: 1,
            ..config::SendingQueue::default()
        },
        ..config::Exporter::default()
    };
    let (queue, _task) =
        crate::export::spawn(&settings, crate::export::Shutdown::default()).unwrap();
    let pipeline = pipeline(vec![queue]);
    let mut big = valid_span(1);
    big.name = "x".repeat(2 * 1024 * 1024);
    let body = Bytes::from(traces(vec![big]).encode_to_vec());

    let error = pipeline
        .consume_protobuf(Signal::Traces, Transport::Http, body)
        .unwrap_err();
    assert!(matches!(error, ConsumeError::TooLarge { .. }), "{error:?}");
    assert!(
        error.to_string().contains("send smaller batches"),
        "{error}"
    );
    let stats = &pipeline.receiver_stats;
    assert_eq!(
        stats.items(Signal::Traces, Transport::Http, ItemFate::Rejected),
        1
    );
    assert_eq!(
        stats.items(Signal::Traces, Transport::Http, ItemFate::Refused),
        0
    );
}

#[test]
fn key_id_extracted_before_credentials_removed() {
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};

    let raw_key = "sk-test-pipeline-5e3b";
    let header = |key: &str, value: &str| KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    };
    let mut child = span(vec![1; 16], vec![3; 8]);
    child.parent_span_id = vec![2; 8];
    child.attributes = vec![
        header("http.request.header.x_api_key", raw_key),
        header(
            "http.request.header.authorization",
            &format!("Bearer {raw_key}"),
        ),
        header("http.response.header.x_ratelimit_remaining_tokens", "5"),
    ];
    let mut request = traces(vec![child]);

    let (extracted, changed) = pipeline(Vec::new()).extract_and_transform(&mut request);

    let key_id = extracted.http_spans[0].key_id.as_deref().unwrap();
    assert!(key_id.starts_with("key:"), "{key_id}");
    assert!(!key_id.contains(raw_key));
    assert!(changed);
    let forwarded = &request.resource_spans[0].scope_spans[0].spans[0].attributes;
    let keys: Vec<&str> = forwarded.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["http.response.header.x_ratelimit_remaining_tokens"]);
    assert!(!format!("{request:?}").contains(raw_key));
    assert!(!format!("{extracted:?}").contains(raw_key));
}
