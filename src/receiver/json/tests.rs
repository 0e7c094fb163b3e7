use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
use opentelemetry_proto::tonic::metrics::v1::summary_data_point::ValueAtQuantile;
use opentelemetry_proto::tonic::metrics::v1::{
    Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary,
    SummaryDataPoint, exemplar, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::Event;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use serde_json::{Value, json};

use super::common::{MAX_ANY_VALUE_DEPTH, nested_any_value};
use super::reader::Path;
use super::*;

const TRACE_ID_HEX: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACE_ID: [u8; 16] = [
    0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36,
];
const LLM_SPAN_ID: [u8; 8] = [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7];
const HTTP_SPAN_ID: [u8; 8] = [0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31];
const APP_SPAN_ID: [u8; 8] = [0x53, 0x99, 0x5c, 0x3f, 0x42, 0xcd, 0x8a, 0xd8];

/// Wraps span objects in one resource and one scope.
fn traces_body(spans: &[Value]) -> Vec<u8> {
    json!({ "resourceSpans": [{ "scopeSpans": [{ "spans": spans }] }] })
        .to_string()
        .into_bytes()
}

fn decode_span(span: Value) -> Result<Span, JsonError> {
    let request = decode_traces(&traces_body(&[span]))?;
    Ok(request.resource_spans[0].scope_spans[0].spans[0].clone())
}

/// Decodes `value` as the value of one span attribute.
fn decode_attribute(value: Value) -> Result<Option<any_value::Value>, JsonError> {
    let span = decode_span(json!({ "attributes": [{ "key": "k", "value": value }] }))?;
    Ok(span.attributes[0].value.clone().and_then(|any| any.value))
}

fn metrics_body(metrics: &[Value]) -> Vec<u8> {
    json!({ "resourceMetrics": [{ "scopeMetrics": [{ "metrics": metrics }] }] })
        .to_string()
        .into_bytes()
}

fn decode_metric(metric: Value) -> Result<Metric, JsonError> {
    let request = decode_metrics(&metrics_body(&[metric]))?;
    Ok(request.resource_metrics[0].scope_metrics[0].metrics[0].clone())
}

fn logs_body(records: &[Value]) -> Vec<u8> {
    json!({ "resourceLogs": [{ "scopeLogs": [{ "logRecords": records }] }] })
        .to_string()
        .into_bytes()
}

fn decode_log_record(record: Value) -> Result<LogRecord, JsonError> {
    let request = decode_logs(&logs_body(&[record]))?;
    Ok(request.resource_logs[0].scope_logs[0].log_records[0].clone())
}

fn error(path: &str, message: &str) -> JsonError {
    JsonError {
        path: path.to_owned(),
        message: message.to_owned(),
    }
}

fn string_attribute(key: &str, value: &str) -> KeyValue {
    attribute(key, any_value::Value::StringValue(value.to_owned()))
}

fn int_attribute(key: &str, value: i64) -> KeyValue {
    attribute(key, any_value::Value::IntValue(value))
}

fn string_array_attribute(key: &str, values: &[&str]) -> KeyValue {
    let values = values
        .iter()
        .map(|value| AnyValue {
            value: Some(any_value::Value::StringValue((*value).to_owned())),
        })
        .collect();
    attribute(key, any_value::Value::ArrayValue(ArrayValue { values }))
}

fn attribute(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        key_strindex: 0,
    }
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/otlp_json/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|error| panic!("cannot read {path}: {error}"))
}

// Trace and span ids.

#[test]
fn trace_id_accepts_mixed_case_hex() {
    let span = decode_span(json!({ "traceId": "4BF92F3577B34DA6a3ce929d0e0e4736" })).unwrap();

    assert_eq!(span.trace_id, TRACE_ID);
}

#[test]
fn span_id_wrong_length_names_field() {
    let body = traces_body(&[
        json!({ "spanId": "00f067aa0ba902b7" }),
        json!({ "spanId": "00f067aa0ba902" }),
    ]);

    let result = decode_traces(&body);

    assert_eq!(
        result.unwrap_err(),
        error(
            "resourceSpans[0].scopeSpans[0].spans[1].spanId",
            "expected 16 hex digits, found 14 in \"00f067aa0ba902\"",
        )
    );
}

#[test]
fn trace_id_non_hex_rejected() {
    let result = decode_span(json!({ "traceId": "4bf92f3577b34da6a3ce929d0e0e473g" }));

    assert_eq!(
        result.unwrap_err(),
        error(
            "resourceSpans[0].scopeSpans[0].spans[0].traceId",
            "expected 32 hex digits, found non-hex character 'g' in \
             \"4bf92f3577b34da6a3ce929d0e0e473g\"",
        )
    );
}

#[test]
fn empty_and_absent_ids_are_empty() {
    let span = decode_span(json!({ "traceId": "", "spanId": "" })).unwrap();

    assert!(span.trace_id.is_empty());
    assert!(span.span_id.is_empty());
    assert!(span.parent_span_id.is_empty());
}

#[test]
fn id_errors_name_each_id_field() {
    let span_prefix = "resourceSpans[0].scopeSpans[0].spans[0]";
    let cases = [
        (
            decode_span(json!({ "parentSpanId": "abc" })).map(drop),
            format!("{span_prefix}.parentSpanId"),
        ),
        (
            decode_span(json!({ "links": [{ "traceId": "abc" }] })).map(drop),
            format!("{span_prefix}.links[0].traceId"),
        ),
        (
            decode_span(json!({ "links": [{ "spanId": "abc" }] })).map(drop),
            format!("{span_prefix}.links[0].spanId"),
        ),
        (
            decode_log_record(json!({ "traceId": "abc" })).map(drop),
            "resourceLogs[0].scopeLogs[0].logRecords[0].traceId".to_owned(),
        ),
        (
            decode_log_record(json!({ "spanId": "abc" })).map(drop),
            "resourceLogs[0].scopeLogs[0].logRecords[0].spanId".to_owned(),
        ),
        (
            decode_metric(json!({
                "gauge": { "dataPoints": [{ "exemplars": [{ "traceId": "abc" }] }] }
            }))
            .map(drop),
            "resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[0]\
             .exemplars[0].traceId"
                .to_owned(),
        ),
        (
            decode_metric(json!({
                "sum": { "dataPoints": [{ "exemplars": [{ "spanId": "abc" }] }] }
            }))
            .map(drop),
            "resourceMetrics[0].scopeMetrics[0].metrics[0].sum.dataPoints[0]\
             .exemplars[0].spanId"
                .to_owned(),
        ),
    ];

    for (result, expected_path) in cases {
        let error = result.unwrap_err();
        assert_eq!(error.path, expected_path);
        assert!(
            error.message.ends_with("hex digits, found 3 in \"abc\""),
            "{error}"
        );
    }
}

#[test]
fn id_given_as_number_rejected() {
    let result = decode_span(json!({ "spanId": 12 }));

    assert_eq!(
        result.unwrap_err(),
        error(
            "resourceSpans[0].scopeSpans[0].spans[0].spanId",
            "expected a hex string, found a number",
        )
    );
}

// 64-bit and 32-bit integers.

#[test]
fn uint64_fields_accept_number_and_string() {
    let span = decode_span(json!({
        "startTimeUnixNano": 1_718_000_000_000_000_000_u64,
        "endTimeUnixNano": "1718000001250000000",
        "events": [{ "timeUnixNano": "18446744073709551615" }],
    }))
    .unwrap();
    let metric = decode_metric(json!({
        "histogram": { "dataPoints": [{ "count": 3, "bucketCounts": ["1", 2] }] }
    }))
    .unwrap();
    let record = decode_log_record(json!({ "observedTimeUnixNano": "7" })).unwrap();

    assert_eq!(span.start_time_unix_nano, 1_718_000_000_000_000_000);
    assert_eq!(span.end_time_unix_nano, 1_718_000_001_250_000_000);
    assert_eq!(span.events[0].time_unix_nano, u64::MAX);
    let Some(metric::Data::Histogram(histogram)) = metric.data else {
        panic!("expected a histogram, got {:?}", metric.data);
    };
    assert_eq!(histogram.data_points[0].count, 3);
    assert_eq!(histogram.data_points[0].bucket_counts, vec![1, 2]);
    assert_eq!(record.observed_time_unix_nano, 7);
}

#[test]
fn uint64_rejects_negative_values() {
    let expected_message = "-1 is out of range; expected 0 to 18446744073709551615";

    let from_number = decode_span(json!({ "startTimeUnixNano": -1 })).unwrap_err();
    let from_string = decode_span(json!({ "startTimeUnixNano": "-1" })).unwrap_err();
    let from_list = decode_metric(json!({
        "histogram": { "dataPoints": [{ "bucketCounts": ["1", "-1"] }] }
    }))
    .unwrap_err();

    assert_eq!(
        from_number,
        error(
            "resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano",
            expected_message
        )
    );
    assert_eq!(
        from_string,
        error(
            "resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano",
            expected_message
        )
    );
    assert_eq!(
        from_list,
        error(
            "resourceMetrics[0].scopeMetrics[0].metrics[0].histogram.dataPoints[0]\
             .bucketCounts[1]",
            expected_message
        )
    );
}

#[test]
fn uint64_rejects_value_above_max() {
    let result = decode_span(json!({ "startTimeUnixNano": "18446744073709551616" }));

    assert_eq!(
        result.unwrap_err().message,
        "18446744073709551616 is out of range; expected 0 to 18446744073709551615"
    );
}

#[test]
fn int64_accepts_negative_number_and_string() {
    let from_string = decode_attribute(json!({ "intValue": "-9223372036854775808" })).unwrap();
    let from_number = decode_attribute(json!({ "intValue": -42 })).unwrap();
    let metric = decode_metric(json!({ "gauge": { "dataPoints": [{ "asInt": "-7" }] } })).unwrap();

    assert_eq!(from_string, Some(any_value::Value::IntValue(i64::MIN)));
    assert_eq!(from_number, Some(any_value::Value::IntValue(-42)));
    let Some(metric::Data::Gauge(gauge)) = metric.data else {
        panic!("expected a gauge, got {:?}", metric.data);
    };
    assert_eq!(
        gauge.data_points[0].value,
        Some(number_data_point::Value::AsInt(-7))
    );
}

#[test]
fn integer_accepts_exact_exponent_form() {
    let span = decode_span(json!({ "startTimeUnixNano": 1e3, "flags": 5.0 })).unwrap();

    assert_eq!(span.start_time_unix_nano, 1000);
    assert_eq!(span.flags, 5);
}

#[test]
fn integer_rejects_fraction() {
    let result = decode_span(json!({ "startTimeUnixNano": 1.5 }));

    assert_eq!(
        result.unwrap_err().message,
        "expected an integer, found 1.5"
    );
}

#[test]
fn integer_rejects_inexact_large_number() {
    let result = decode_span(json!({ "startTimeUnixNano": 1.8e19 }));

    assert_eq!(
        result.unwrap_err().message,
        "1.8e+19 is too large to be read exactly from a JSON number; \
         send it as a decimal string"
    );
}

#[test]
fn integer_rejects_non_decimal_strings() {
    for text in ["", "+5", " 5", "0x10", "1e3", "5.0", "--1"] {
        let result = decode_span(json!({ "startTimeUnixNano": text }));

        assert_eq!(
            result.unwrap_err().message,
            format!("expected a decimal integer string, found \"{text}\""),
            "input {text:?}"
        );
    }
}

#[test]
fn uint32_accepts_string() {
    let span = decode_span(json!({ "droppedAttributesCount": "3", "flags": 257 })).unwrap();

    assert_eq!(span.dropped_attributes_count, 3);
    assert_eq!(span.flags, 257);
}

#[test]
fn uint32_rejects_value_above_max() {
    let result = decode_span(json!({ "droppedEventsCount": 4_294_967_296_u64 }));

    assert_eq!(
        result.unwrap_err(),
        error(
            "resourceSpans[0].scopeSpans[0].spans[0].droppedEventsCount",
            "4294967296 is out of range; expected 0 to 4294967295",
        )
    );
}

// Enums.

#[test]
fn enums_accept_value_names() {
    let span = decode_span(json!({
        "kind": "SPAN_KIND_SERVER",
        "status": { "code": "STATUS_CODE_ERROR" },
    }))
    .unwrap();
    let record = decode_log_record(json!({ "severityNumber": "SEVERITY_NUMBER_INFO" })).unwrap();
    let metric = decode_metric(json!({
        "sum": { "aggregationTemporality": "AGGREGATION_TEMPORALITY_DELTA" }
    }))
    .unwrap();

    assert_eq!(span.kind, 2);
    assert_eq!(span.status.unwrap().code, 2);
    assert_eq!(record.severity_number, 9);
    let Some(metric::Data::Sum(sum)) = metric.data else {
        panic!("expected a sum, got {:?}", metric.data);
    };
    assert_eq!(sum.aggregation_temporality, 1);
}

#[test]
fn enums_accept_integers() {
    let span = decode_span(json!({ "kind": 3, "status": { "code": 1 } })).unwrap();
    let record = decode_log_record(json!({ "severityNumber": 17 })).unwrap();
    let metric = decode_metric(json!({ "histogram": { "aggregationTemporality": 2 } })).unwrap();

    assert_eq!(span.kind, 3);
    assert_eq!(span.status.unwrap().code, 1);
    assert_eq!(record.severity_number, 17);
    let Some(metric::Data::Histogram(histogram)) = metric.data else {
        panic!("expected a histogram, got {:?}", metric.data);
    };
    assert_eq!(histogram.aggregation_temporality, 2);
}

#[test]
fn enum_unknown_integer_kept() {
    let span = decode_span(json!({ "kind": 42 })).unwrap();

    assert_eq!(span.kind, 42);
}

#[test]
fn enum_numeric_string_rejected() {
    let result = decode_span(json!({ "kind": "2" }));

    assert_eq!(
        result.unwrap_err(),
        error(
            "resourceSpans[0].scopeSpans[0].spans[0].kind",
            "unknown SpanKind value \"2\"",
        )
    );
}

#[test]
fn enum_unknown_names_rejected() {
    let cases = [
        (
            decode_span(json!({ "kind": "SERVER" })).map(drop),
            error(
                "resourceSpans[0].scopeSpans[0].spans[0].kind",
                "unknown SpanKind value \"SERVER\"",
            ),
        ),
        (
            decode_span(json!({ "status": { "code": "ERROR" } })).map(drop),
            error(
                "resourceSpans[0].scopeSpans[0].spans[0].status.code",
                "unknown StatusCode value \"ERROR\"",
            ),
        ),
        (
            decode_log_record(json!({ "severityNumber": "INFO" })).map(drop),
            error(
                "resourceLogs[0].scopeLogs[0].logRecords[0].severityNumber",
                "unknown SeverityNumber value \"INFO\"",
            ),
        ),
        (
            decode_metric(json!({ "sum": { "aggregationTemporality": "DELTA" } })).map(drop),
            error(
                "resourceMetrics[0].scopeMetrics[0].metrics[0].sum.aggregationTemporality",
                "unknown AggregationTemporality value \"DELTA\"",
            ),
        ),
    ];

    for (result, expected) in cases {
        assert_eq!(result.unwrap_err(), expected);
    }
}

// Field names.

#[test]
fn snake_case_names_match_camel_case() {
    let camel_case = json!({
        "resourceSpans": [{
            "schemaUrl": "https://opentelemetry.io/schemas/1.26.0",
            "scopeSpans": [{
                "spans": [{
                    "traceId": TRACE_ID_HEX,
                    "parentSpanId": "00f067aa0ba902b7",
                    "startTimeUnixNano": "5",
                    "droppedAttributesCount": 1,
                    "attributes": [{ "key": "k", "value": { "intValue": "1" } }],
                    "status": { "code": 2 },
                }]
            }]
        }]
    });
    let snake_case = json!({
        "resource_spans": [{
            "schema_url": "https://opentelemetry.io/schemas/1.26.0",
            "scope_spans": [{
                "spans": [{
                    "trace_id": TRACE_ID_HEX,
                    "parent_span_id": "00f067aa0ba902b7",
                    "start_time_unix_nano": "5",
                    "dropped_attributes_count": 1,
                    "attributes": [{ "key": "k", "value": { "int_value": "1" } }],
                    "status": { "code": 2 },
                }]
            }]
        }]
    });

    let from_camel_case = decode_traces(camel_case.to_string().as_bytes()).unwrap();
    let from_snake_case = decode_traces(snake_case.to_string().as_bytes()).unwrap();

    assert_eq!(from_snake_case, from_camel_case);
    assert_eq!(
        from_snake_case.resource_spans[0].scope_spans[0].spans[0].start_time_unix_nano,
        5
    );
}

#[test]
fn snake_case_metric_and_log_names() {
    let metric = decode_metric(json!({
        "exponential_histogram": {
            "aggregation_temporality": 1,
            "data_points": [{ "zero_count": "2", "positive": { "bucket_counts": [1] } }]
        }
    }))
    .unwrap();
    let record = decode_log_record(json!({
        "severity_number": 9,
        "severity_text": "INFO",
        "event_name": "e",
    }))
    .unwrap();

    let Some(metric::Data::ExponentialHistogram(histogram)) = metric.data else {
        panic!("expected an exponential histogram, got {:?}", metric.data);
    };
    assert_eq!(histogram.aggregation_temporality, 1);
    assert_eq!(histogram.data_points[0].zero_count, 2);
    assert_eq!(
        histogram.data_points[0]
            .positive
            .as_ref()
            .unwrap()
            .bucket_counts,
        vec![1]
    );
    assert_eq!(record.severity_number, 9);
    assert_eq!(record.severity_text, "INFO");
    assert_eq!(record.event_name, "e");
}

#[test]
fn both_names_for_field_rejected() {
    let result = decode_span(json!({ "traceId": TRACE_ID_HEX, "trace_id": TRACE_ID_HEX }));

    assert_eq!(
        result.unwrap_err(),
        error(
            "resourceSpans[0].scopeSpans[0].spans[0].trace_id",
            "duplicates `traceId`; set the field under one name only",
        )
    );
}

#[test]
fn unknown_fields_ignored() {
    let body = json!({
        "resourceSpans": [{
            "futureField": { "nested": [1, 2, 3] },
            "scopeSpans": [{
                "scope": { "name": "s", "unknown": true },
                "spans": [{
                    "name": "n",
                    "TraceId": "not an id, and not the traceId field",
                    "attributes": [{
                        "key": "k",
                        "value": { "stringValue": "v", "futureValue": 1 },
                        "extra": null
                    }],
                }]
            }]
        }],
        "extension": "x",
    });

    let request = decode_traces(body.to_string().as_bytes()).unwrap();

    let scope_spans = &request.resource_spans[0].scope_spans[0];
    assert_eq!(scope_spans.scope.as_ref().unwrap().name, "s");
    assert_eq!(scope_spans.spans[0].name, "n");
    assert!(scope_spans.spans[0].trace_id.is_empty());
    assert_eq!(
        scope_spans.spans[0].attributes,
        vec![string_attribute("k", "v")]
    );
}

#[test]
fn any_value_with_only_unknown_member_is_empty() {
    let value = decode_attribute(json!({ "decimalValue": "1.5" })).unwrap();

    assert_eq!(value, None);
}

// bytes, doubles and null.

#[test]
fn bytes_value_accepts_padded_and_unpadded() {
    let padded = decode_attribute(json!({ "bytesValue": "aGk=" })).unwrap();
    let unpadded = decode_attribute(json!({ "bytesValue": "aGk" })).unwrap();
    let double_padded = decode_attribute(json!({ "bytesValue": "/w==" })).unwrap();
    let empty = decode_attribute(json!({ "bytesValue": "" })).unwrap();

    assert_eq!(padded, Some(any_value::Value::BytesValue(b"hi".to_vec())));
    assert_eq!(unpadded, Some(any_value::Value::BytesValue(b"hi".to_vec())));
    assert_eq!(
        double_padded,
        Some(any_value::Value::BytesValue(vec![0xff]))
    );
    assert_eq!(empty, Some(any_value::Value::BytesValue(Vec::new())));
}

#[test]
fn bytes_value_accepts_url_safe_alphabet() {
    let standard = decode_attribute(json!({ "bytesValue": "+/8=" })).unwrap();
    let url_safe = decode_attribute(json!({ "bytesValue": "-_8" })).unwrap();

    assert_eq!(
        standard,
        Some(any_value::Value::BytesValue(vec![0xfb, 0xff]))
    );
    assert_eq!(
        url_safe,
        Some(any_value::Value::BytesValue(vec![0xfb, 0xff]))
    );
}

#[test]
fn bytes_value_rejects_invalid_base64() {
    let cases = [
        (
            "a",
            "invalid base64: \"a\" has a length that no encoding produces",
        ),
        (
            "aGk=aGk=",
            "invalid base64: unexpected character '=' at byte offset 3",
        ),
        (
            "aG=",
            "invalid base64: unexpected character '=' at byte offset 2",
        ),
        (
            "aG!k",
            "invalid base64: unexpected character '!' at byte offset 2",
        ),
        (
            "+-8=",
            "invalid base64: unexpected character '+' at byte offset 0",
        ),
    ];

    for (text, expected_message) in cases {
        let result = decode_attribute(json!({ "bytesValue": text }));

        assert_eq!(
            result.unwrap_err(),
            error(
                "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.bytesValue",
                expected_message,
            ),
            "input {text:?}"
        );
    }
}

#[test]
fn doubles_accept_special_strings() {
    let nan = decode_attribute(json!({ "doubleValue": "NaN" })).unwrap();
    let infinity = decode_attribute(json!({ "doubleValue": "Infinity" })).unwrap();
    let negative_infinity = decode_attribute(json!({ "doubleValue": "-Infinity" })).unwrap();
    let numeric_string = decode_attribute(json!({ "doubleValue": "2.5e-1" })).unwrap();
    let metric = decode_metric(json!({
        "histogram": { "dataPoints": [{
            "sum": "Infinity",
            "min": "-Infinity",
            "max": "NaN",
            "explicitBounds": [1, "Infinity"],
        }] }
    }))
    .unwrap();

    let Some(any_value::Value::DoubleValue(nan)) = nan else {
        panic!("expected a double, got {nan:?}");
    };
    assert!(nan.is_nan());
    assert_eq!(infinity, Some(any_value::Value::DoubleValue(f64::INFINITY)));
    assert_eq!(
        negative_infinity,
        Some(any_value::Value::DoubleValue(f64::NEG_INFINITY))
    );
    assert_eq!(numeric_string, Some(any_value::Value::DoubleValue(0.25)));
    let Some(metric::Data::Histogram(histogram)) = metric.data else {
        panic!("expected a histogram, got {:?}", metric.data);
    };
    let point = &histogram.data_points[0];
    assert_eq!(point.sum, Some(f64::INFINITY));
    assert_eq!(point.min, Some(f64::NEG_INFINITY));
    assert!(point.max.unwrap().is_nan());
    assert_eq!(point.explicit_bounds, vec![1.0, f64::INFINITY]);
}

#[test]
fn doubles_reject_other_strings() {
    for text in [
        "nan",
        "inf",
        "infinity",
        "+Infinity",
        "1.5x",
        "",
        " 1",
        "1e999",
    ] {
        let result = decode_attribute(json!({ "doubleValue": text }));

        assert_eq!(
            result.unwrap_err().message,
            format!(
                "expected a number or one of \"NaN\", \"Infinity\", \"-Infinity\", \
                 found \"{text}\""
            ),
            "input {text:?}"
        );
    }
}

#[test]
fn null_fields_mean_default() {
    let span = decode_span(json!({
        "traceId": null,
        "name": null,
        "kind": null,
        "startTimeUnixNano": null,
        "attributes": null,
        "events": null,
        "status": null,
    }))
    .unwrap();
    let attribute = decode_attribute(json!({ "stringValue": null, "intValue": "5" })).unwrap();
    let histogram_sum =
        decode_metric(json!({ "histogram": { "dataPoints": [{ "sum": null }] } })).unwrap();

    assert_eq!(span, Span::default());
    assert_eq!(attribute, Some(any_value::Value::IntValue(5)));
    let Some(metric::Data::Histogram(histogram)) = histogram_sum.data else {
        panic!("expected a histogram, got {:?}", histogram_sum.data);
    };
    assert_eq!(histogram.data_points[0].sum, None);
}

#[test]
fn null_list_element_rejected() {
    let result = decode_span(json!({ "attributes": [null] }));

    assert_eq!(
        result.unwrap_err(),
        error(
            "resourceSpans[0].scopeSpans[0].spans[0].attributes[0]",
            "expected an object, found null",
        )
    );
}

// Malformed documents.

#[test]
fn syntax_error_reports_line_and_column() {
    let result = decode_traces(b"{\n  \"resourceSpans\": [\n    {\"scopeSpans\": ]\n");

    assert_eq!(
        result.unwrap_err(),
        error("", "malformed JSON: expected value at line 3 column 20")
    );
}

#[test]
fn empty_body_rejected() {
    let result = decode_logs(b"");

    assert_eq!(
        result.unwrap_err().to_string(),
        "invalid request body: malformed JSON: EOF while parsing a value at line 1 column 0"
    );
}

#[test]
fn top_level_array_rejected() {
    let result = decode_metrics(b"[]");

    assert_eq!(
        result.unwrap_err().to_string(),
        "invalid request body: expected an object, found an array"
    );
}

#[test]
fn wrong_type_names_path() {
    let result = decode_span(json!({ "status": "STATUS_CODE_OK" }));

    let error = result.unwrap_err();
    assert_eq!(error.path, "resourceSpans[0].scopeSpans[0].spans[0].status");
    assert_eq!(error.message, "expected an object, found a string");
    assert_eq!(
        error.to_string(),
        "invalid `resourceSpans[0].scopeSpans[0].spans[0].status`: \
         expected an object, found a string"
    );
}

#[test]
fn list_given_as_object_rejected() {
    let result = decode_traces(br#"{"resourceSpans": {"scopeSpans": []}}"#);

    assert_eq!(
        result.unwrap_err(),
        error("resourceSpans", "expected an array, found an object")
    );
}

#[test]
fn string_given_as_number_rejected() {
    let result = decode_span(json!({ "name": 7 }));

    assert_eq!(
        result.unwrap_err(),
        error(
            "resourceSpans[0].scopeSpans[0].spans[0].name",
            "expected a string, found a number",
        )
    );
}

#[test]
fn bool_given_as_string_rejected() {
    let result = decode_metric(json!({ "sum": { "isMonotonic": "true" } }));

    assert_eq!(
        result.unwrap_err(),
        error(
            "resourceMetrics[0].scopeMetrics[0].metrics[0].sum.isMonotonic",
            "expected true or false, found a string",
        )
    );
}

// Nesting.

/// Builds an `AnyValue` of `depth` levels: arrays around one string.
fn nested_array_value(depth: usize) -> Value {
    let mut value = json!({ "stringValue": "leaf" });
    for _ in 1..depth {
        value = json!({ "arrayValue": { "values": [value] } });
    }
    value
}

#[test]
fn any_value_nesting_at_limit_accepted() {
    let value = nested_array_value(MAX_ANY_VALUE_DEPTH);

    let mut decoded = nested_any_value(&value, &Path::ROOT, 1).unwrap();

    let mut depth = 1;
    while let Some(any_value::Value::ArrayValue(array)) = decoded.value {
        decoded = array.values[0].clone();
        depth += 1;
    }
    assert_eq!(depth, MAX_ANY_VALUE_DEPTH);
    assert_eq!(
        decoded.value,
        Some(any_value::Value::StringValue("leaf".to_owned()))
    );
}

#[test]
fn any_value_nesting_past_limit_rejected() {
    let value = nested_array_value(MAX_ANY_VALUE_DEPTH + 1);

    let result = nested_any_value(&value, &Path::ROOT, 1);

    let expected_path = vec!["arrayValue.values[0]"; MAX_ANY_VALUE_DEPTH].join(".");
    assert_eq!(
        result.unwrap_err(),
        error(
            &expected_path,
            "AnyValue nesting is deeper than the maximum of 64 levels",
        )
    );
}

#[test]
fn kvlist_nesting_past_limit_rejected() {
    let mut value = json!({ "boolValue": true });
    for _ in 0..MAX_ANY_VALUE_DEPTH {
        value = json!({ "kvlistValue": { "values": [{ "key": "k", "value": value }] } });
    }

    let result = nested_any_value(&value, &Path::ROOT, 1);

    let error = result.unwrap_err();
    assert_eq!(
        error.message,
        "AnyValue nesting is deeper than the maximum of 64 levels"
    );
    assert!(
        error.path.ends_with("kvlistValue.values[0].value"),
        "{error}"
    );
}

#[test]
fn deep_json_rejected_by_parser_limit() {
    let attribute_value = nested_array_value(60).to_string();
    let body = format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"attributes":[{{"key":"k","value":{attribute_value}}}]}}]}}]}}]}}"#
    );

    let result = decode_traces(body.as_bytes());

    let error = result.unwrap_err();
    assert_eq!(error.path, "");
    assert!(
        error.message.starts_with(
            "JSON nesting is deeper than serde_json's limit of 128 levels: \
             recursion limit exceeded at line 1 column "
        ),
        "{error}"
    );
}

// oneof fields.

#[test]
fn any_value_two_members_rejected() {
    let result = decode_attribute(json!({ "stringValue": "x", "intValue": "1" }));

    assert_eq!(
        result.unwrap_err(),
        error(
            "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.intValue",
            "cannot be set together with `stringValue`; set only one of them",
        )
    );
}

#[test]
fn metric_two_data_members_rejected() {
    let result = decode_metric(json!({ "gauge": {}, "sum": {} }));

    assert_eq!(
        result.unwrap_err(),
        error(
            "resourceMetrics[0].scopeMetrics[0].metrics[0].sum",
            "cannot be set together with `gauge`; set only one of them",
        )
    );
}

#[test]
fn data_point_two_values_rejected() {
    let result = decode_metric(json!({
        "gauge": { "dataPoints": [{ "asDouble": 1.0, "as_int": "1" }] }
    }));

    assert_eq!(
        result.unwrap_err(),
        error(
            "resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[0].as_int",
            "cannot be set together with `asDouble`; set only one of them",
        )
    );
}

// Whole requests of each signal.

fn expected_llm_trace_request() -> ExportTraceServiceRequest {
    let llm_span = Span {
        trace_id: TRACE_ID.to_vec(),
        span_id: LLM_SPAN_ID.to_vec(),
        parent_span_id: APP_SPAN_ID.to_vec(),
        flags: 257,
        name: "chat gpt-4o".to_owned(),
        kind: 3,
        start_time_unix_nano: 1_718_000_000_000_000_000,
        end_time_unix_nano: 1_718_000_001_250_000_000,
        attributes: vec![
            string_attribute("gen_ai.operation.name", "chat"),
            string_attribute("gen_ai.provider.name", "openai"),
            string_attribute("gen_ai.request.model", "gpt-4o"),
            int_attribute("gen_ai.request.max_tokens", 1024),
            attribute(
                "gen_ai.request.temperature",
                any_value::Value::DoubleValue(0.2),
            ),
            string_attribute("gen_ai.response.id", "chatcmpl-9Xk2aQ"),
            string_attribute("gen_ai.response.model", "gpt-4o-2024-08-06"),
            string_array_attribute("gen_ai.response.finish_reasons", &["stop"]),
            int_attribute("gen_ai.usage.input_tokens", 1432),
            int_attribute("gen_ai.usage.output_tokens", 187),
            string_attribute("server.address", "api.openai.com"),
            int_attribute("server.port", 443),
        ],
        events: vec![Event {
            time_unix_nano: 1_718_000_001_240_000_000,
            name: "gen_ai.choice".to_owned(),
            attributes: vec![
                int_attribute("index", 0),
                string_attribute("finish_reason", "stop"),
            ],
            dropped_attributes_count: 0,
        }],
        status: Some(Status {
            message: String::new(),
            code: 1,
        }),
        ..Span::default()
    };
    let http_span = Span {
        trace_id: TRACE_ID.to_vec(),
        span_id: HTTP_SPAN_ID.to_vec(),
        parent_span_id: LLM_SPAN_ID.to_vec(),
        flags: 257,
        name: "POST".to_owned(),
        kind: 3,
        start_time_unix_nano: 1_718_000_000_010_000_000,
        end_time_unix_nano: 1_718_000_001_230_000_000,
        attributes: vec![
            string_attribute("http.request.method", "POST"),
            string_attribute("url.full", "https://api.openai.com/v1/chat/completions"),
            int_attribute("http.response.status_code", 200),
            string_array_attribute("http.response.header.x-ratelimit-limit-requests", &["500"]),
            string_array_attribute(
                "http.response.header.x-ratelimit-remaining-requests",
                &["499"],
            ),
            string_array_attribute(
                "http.response.header.x-ratelimit-remaining-tokens",
                &["28567"],
            ),
            string_array_attribute("http.response.header.x-ratelimit-reset-tokens", &["2.866s"]),
            string_attribute("server.address", "api.openai.com"),
        ],
        status: Some(Status::default()),
        ..Span::default()
    };

    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    string_attribute("service.name", "support-bot"),
                    string_attribute("service.version", "2.4.1"),
                    string_attribute("deployment.environment.name", "production"),
                ],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "opentelemetry.instrumentation.openai_v2".to_owned(),
                    version: "2.1b0".to_owned(),
                    ..InstrumentationScope::default()
                }),
                spans: vec![llm_span, http_span],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

#[test]
fn llm_trace_matches_protobuf_message() {
    let expected = expected_llm_trace_request();

    let decoded = decode_traces(&fixture("llm_trace.json")).unwrap();

    assert_eq!(decoded, expected);
    assert_eq!(decoded.encode_to_vec(), expected.encode_to_vec());
    let from_protobuf =
        ExportTraceServiceRequest::decode(expected.encode_to_vec().as_slice()).unwrap();
    assert_eq!(decoded, from_protobuf);
}

#[test]
fn metrics_fixture_decodes_all_types() {
    let start = 1_717_999_990_000_000_000;
    let time = 1_718_000_000_000_000_000;
    let gauge = Metric {
        name: "llm.queue.depth".to_owned(),
        unit: "{request}".to_owned(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: vec![NumberDataPoint {
                time_unix_nano: time,
                value: Some(number_data_point::Value::AsDouble(3.5)),
                ..NumberDataPoint::default()
            }],
        })),
        ..Metric::default()
    };
    let sum = Metric {
        name: "gen_ai.client.token.usage.total".to_owned(),
        description: "Tokens used".to_owned(),
        unit: "{token}".to_owned(),
        data: Some(metric::Data::Sum(Sum {
            data_points: vec![NumberDataPoint {
                attributes: vec![string_attribute("gen_ai.token.type", "input")],
                start_time_unix_nano: start,
                time_unix_nano: time,
                value: Some(number_data_point::Value::AsInt(1432)),
                ..NumberDataPoint::default()
            }],
            aggregation_temporality: 2,
            is_monotonic: true,
        })),
        ..Metric::default()
    };
    let histogram = Metric {
        name: "gen_ai.client.operation.duration".to_owned(),
        unit: "s".to_owned(),
        data: Some(metric::Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                start_time_unix_nano: start,
                time_unix_nano: time,
                count: 3,
                sum: Some(4.5),
                bucket_counts: vec![0, 1, 2],
                explicit_bounds: vec![0.5, 2.0],
                exemplars: vec![Exemplar {
                    filtered_attributes: vec![string_attribute("gen_ai.request.model", "gpt-4o")],
                    time_unix_nano: 1_717_999_995_000_000_000,
                    span_id: LLM_SPAN_ID.to_vec(),
                    trace_id: TRACE_ID.to_vec(),
                    value: Some(exemplar::Value::AsDouble(2.25)),
                }],
                min: Some(0.75),
                max: Some(2.25),
                ..HistogramDataPoint::default()
            }],
            aggregation_temporality: 1,
        })),
        ..Metric::default()
    };
    let exponential_histogram = Metric {
        name: "http.client.request.body.size".to_owned(),
        unit: "By".to_owned(),
        data: Some(metric::Data::ExponentialHistogram(ExponentialHistogram {
            data_points: vec![ExponentialHistogramDataPoint {
                start_time_unix_nano: start,
                time_unix_nano: time,
                count: 6,
                sum: Some(5120.0),
                scale: -1,
                zero_count: 1,
                positive: Some(Buckets {
                    offset: 4,
                    bucket_counts: vec![2, 3],
                }),
                negative: Some(Buckets {
                    offset: -2,
                    bucket_counts: Vec::new(),
                }),
                min: Some(0.0),
                max: Some(2048.0),
                zero_threshold: 0.001,
                ..ExponentialHistogramDataPoint::default()
            }],
            aggregation_temporality: 2,
        })),
        ..Metric::default()
    };
    let summary = Metric {
        name: "gen_ai.server.time_to_first_token".to_owned(),
        unit: "s".to_owned(),
        data: Some(metric::Data::Summary(Summary {
            data_points: vec![SummaryDataPoint {
                start_time_unix_nano: start,
                time_unix_nano: time,
                count: 10,
                sum: 3.2,
                quantile_values: vec![
                    ValueAtQuantile {
                        quantile: 0.5,
                        value: 0.29,
                    },
                    ValueAtQuantile {
                        quantile: 0.99,
                        value: 0.81,
                    },
                ],
                ..SummaryDataPoint::default()
            }],
        })),
        ..Metric::default()
    };
    let expected = ResourceMetrics {
        resource: Some(Resource {
            attributes: vec![string_attribute("service.name", "support-bot")],
            ..Resource::default()
        }),
        scope_metrics: vec![ScopeMetrics {
            scope: Some(InstrumentationScope {
                name: "burnrate-test".to_owned(),
                version: "1.0.0".to_owned(),
                ..InstrumentationScope::default()
            }),
            metrics: vec![gauge, sum, histogram, exponential_histogram, summary],
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    };

    let decoded = decode_metrics(&fixture("metrics_all_types.json")).unwrap();

    assert_eq!(decoded.resource_metrics, vec![expected]);
}

#[test]
fn logs_fixture_decodes_record() {
    let expected = ResourceLogs {
        resource: Some(Resource {
            attributes: vec![string_attribute("service.name", "support-bot")],
            ..Resource::default()
        }),
        scope_logs: vec![ScopeLogs {
            scope: Some(InstrumentationScope {
                name: "support_bot.client".to_owned(),
                ..InstrumentationScope::default()
            }),
            log_records: vec![LogRecord {
                time_unix_nano: 1_718_000_001_250_000_000,
                observed_time_unix_nano: 1_718_000_001_260_000_000,
                severity_number: 13,
                severity_text: "WARN".to_owned(),
                body: Some(AnyValue {
                    value: Some(any_value::Value::KvlistValue(KeyValueList {
                        values: vec![
                            int_attribute("remaining_requests", 1),
                            string_attribute("provider", "openai"),
                        ],
                    })),
                }),
                attributes: vec![string_attribute("gen_ai.request.model", "gpt-4o")],
                dropped_attributes_count: 0,
                flags: 1,
                trace_id: TRACE_ID.to_vec(),
                span_id: LLM_SPAN_ID.to_vec(),
                event_name: "rate_limit.near".to_owned(),
            }],
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    };

    let decoded = decode_logs(&fixture("logs.json")).unwrap();

    assert_eq!(decoded.resource_logs, vec![expected]);
}

// Responses.

#[test]
fn full_success_response_is_empty_object() {
    let response = ExportTraceServiceResponse {
        partial_success: None,
    };

    assert_eq!(encode_trace_response(&response), b"{}");
}

#[test]
fn partial_success_responses_use_signal_fields() {
    let traces = encode_trace_response(&ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans: 2,
            error_message: "2 spans had an invalid trace id".to_owned(),
        }),
    });
    let metrics = encode_metrics_response(&ExportMetricsServiceResponse {
        partial_success: Some(ExportMetricsPartialSuccess {
            rejected_data_points: 9_007_199_254_740_993,
            error_message: String::new(),
        }),
    });
    let logs = encode_logs_response(&ExportLogsServiceResponse {
        partial_success: Some(ExportLogsPartialSuccess {
            rejected_log_records: 0,
            error_message: "body truncated".to_owned(),
        }),
    });

    assert_eq!(
        String::from_utf8(traces).unwrap(),
        r#"{"partialSuccess":{"errorMessage":"2 spans had an invalid trace id","rejectedSpans":"2"}}"#
    );
    assert_eq!(
        String::from_utf8(metrics).unwrap(),
        r#"{"partialSuccess":{"rejectedDataPoints":"9007199254740993"}}"#
    );
    assert_eq!(
        String::from_utf8(logs).unwrap(),
        r#"{"partialSuccess":{"errorMessage":"body truncated"}}"#
    );
}

#[test]
fn status_body_escapes_message() {
    let body = encode_status(3, "invalid `spanId`: \"x\"");

    assert_eq!(
        String::from_utf8(body).unwrap(),
        r#"{"code":3,"message":"invalid `spanId`: \"x\""}"#
    );
}

#[test]
fn long_value_cut_in_message() {
    let long_id = "ab".repeat(1000);

    let result = decode_span(json!({ "spanId": long_id }));

    assert_eq!(
        result.unwrap_err().message,
        format!(
            "expected 16 hex digits, found 2000 in \"{}\"... (2000 bytes)",
            "ab".repeat(32)
        )
    );
}

#[test]
fn bytes_value_rejects_non_ascii() {
    let result = decode_attribute(json!({ "bytesValue": "aGé=" }));

    assert_eq!(
        result.unwrap_err().message,
        "invalid base64: unexpected character 'é' at byte offset 2"
    );
}

#[test]
fn repeated_key_keeps_last_value() {
    let body =
        br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"first","name":"second"}]}]}]}"#;

    let request = decode_traces(body).unwrap();

    assert_eq!(
        request.resource_spans[0].scope_spans[0].spans[0].name,
        "second"
    );
}
