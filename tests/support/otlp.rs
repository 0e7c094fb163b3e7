//! Builders of OTLP export requests and raw protobuf fields.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

/// Start time of every built span and point: 2024-06-10T06:13:20Z.
pub const START_NANOS: u64 = 1_718_000_000_000_000_000;

/// Builds a 16-byte trace id that encodes `number` and is never all zeros.
pub fn trace_id(number: u64) -> Vec<u8> {
    let mut id = vec![0x7a; 8];
    id.extend_from_slice(&number.to_be_bytes());
    id
}

/// Builds an 8-byte span id that encodes `number`. It is all zeros only
/// when `number` is 0.
pub fn span_id(number: u64) -> Vec<u8> {
    number.to_be_bytes().to_vec()
}

pub fn string_value(text: &str) -> AnyValue {
    AnyValue {
        value: Some(Value::StringValue(text.to_owned())),
    }
}

pub fn key_value(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(value),
        ..KeyValue::default()
    }
}

pub fn string_attribute(key: &str, text: &str) -> KeyValue {
    key_value(key, string_value(text))
}

pub fn int_attribute(key: &str, number: i64) -> KeyValue {
    key_value(
        key,
        AnyValue {
            value: Some(Value::IntValue(number)),
        },
    )
}

/// Builds a span of 1.25 s with the given ids and attributes.
pub fn span(trace_id: Vec<u8>, span_id: Vec<u8>, name: &str, attributes: Vec<KeyValue>) -> Span {
    Span {
        trace_id,
        span_id,
        name: name.to_owned(),
        kind: 3,
        start_time_unix_nano: START_NANOS,
        end_time_unix_nano: START_NANOS + 1_250_000_000,
        attributes,
        ..Span::default()
    }
}

fn resource(service: &str) -> Resource {
    Resource {
        attributes: vec![string_attribute("service.name", service)],
        ..Resource::default()
    }
}

/// Builds a trace export request with one resource and one scope.
pub fn traces(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource(service)),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "burnrate.tests".to_owned(),
                    ..InstrumentationScope::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// Builds a trace request of `count` plain spans whose span ids are
/// `first_span_id..first_span_id + count`.
pub fn plain_traces(service: &str, first_span_id: u64, count: u64) -> ExportTraceServiceRequest {
    let spans = (first_span_id..first_span_id + count)
        .map(|number| {
            span(
                trace_id(number),
                span_id(number),
                "GET /",
                vec![string_attribute("http.request.method", "GET")],
            )
        })
        .collect();
    traces(service, spans)
}

/// Builds a metrics export request with one gauge of `points` data points.
pub fn gauge_metrics(service: &str, points: usize) -> ExportMetricsServiceRequest {
    let data_points = (0..points)
        .map(|index| NumberDataPoint {
            time_unix_nano: START_NANOS + index as u64,
            value: Some(number_data_point::Value::AsInt(index as i64)),
            ..NumberDataPoint::default()
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource(service)),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "queue.depth".to_owned(),
                    data: Some(metric::Data::Gauge(Gauge { data_points })),
                    ..Metric::default()
                }],
                ..ScopeMetrics::default()
            }],
            schema_url: String::new(),
        }],
    }
}

/// Builds a log record with the given ids and body text.
pub fn log_record(trace_id: Vec<u8>, span_id: Vec<u8>, body: &str) -> LogRecord {
    LogRecord {
        time_unix_nano: START_NANOS,
        severity_number: 9,
        severity_text: "INFO".to_owned(),
        body: Some(string_value(body)),
        trace_id,
        span_id,
        ..LogRecord::default()
    }
}

/// Builds a logs export request with one resource and one scope.
pub fn logs(service: &str, records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource(service)),
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..ScopeLogs::default()
            }],
            schema_url: String::new(),
        }],
    }
}

/// Returns the span ids of a trace request, in request order.
pub fn span_ids(request: &ExportTraceServiceRequest) -> Vec<Vec<u8>> {
    request
        .resource_spans
        .iter()
        .flat_map(|resource| &resource.scope_spans)
        .flat_map(|scope| &scope.spans)
        .map(|span| span.span_id.clone())
        .collect()
}

/// Protobuf fields written by hand, for messages that the generated types
/// cannot express: unknown fields and wrong wire types.
pub mod wire {
    use prost::encoding::{WireType, encode_key, encode_varint};

    /// Encodes a varint field.
    pub fn varint_field(number: u32, value: u64) -> Vec<u8> {
        let mut field = Vec::new();
        encode_key(number, WireType::Varint, &mut field);
        encode_varint(value, &mut field);
        field
    }

    /// Encodes a length-delimited field: a string, bytes or an embedded
    /// message.
    pub fn bytes_field(number: u32, bytes: &[u8]) -> Vec<u8> {
        let mut field = Vec::new();
        encode_key(number, WireType::LengthDelimited, &mut field);
        encode_varint(bytes.len() as u64, &mut field);
        field.extend_from_slice(bytes);
        field
    }

    /// Encodes a 64-bit fixed field.
    pub fn fixed64_field(number: u32, value: u64) -> Vec<u8> {
        let mut field = Vec::new();
        encode_key(number, WireType::SixtyFourBit, &mut field);
        field.extend_from_slice(&value.to_le_bytes());
        field
    }

    /// Encodes a 32-bit fixed field.
    pub fn fixed32_field(number: u32, value: u32) -> Vec<u8> {
        let mut field = Vec::new();
        encode_key(number, WireType::ThirtyTwoBit, &mut field);
        field.extend_from_slice(&value.to_le_bytes());
        field
    }
}
