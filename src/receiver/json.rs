//! OTLP/JSON request decoding and response encoding for OTLP/HTTP receivers
//! that accept `application/json` bodies.
//!
//! Decoding follows the proto3 JSON mapping with the deviations that the OTLP
//! specification (opentelemetry-proto `docs/specification.md`, "JSON Protobuf
//! Encoding") makes: trace and span ids are hex strings, not base64, and
//! unknown fields are ignored. The OTLP specification requires senders to use
//! only lowerCamelCase keys and integer enum values. This decoder also accepts
//! the original snake_case field names and enum value names, as proto3 JSON
//! parsers do.
//!
//! The body is parsed into a `serde_json::Value` first and then converted to
//! the generated protobuf types by hand. The serde support of
//! opentelemetry-proto 0.33.1 is not used: it accepts trace ids of any length,
//! ignores snake_case keys, rejects enum names, `null` and unpadded base64, and
//! silently drops metric data that fails to decode.

mod common;
mod logs;
mod metrics;
mod reader;
mod trace;

#[cfg(test)]
mod tests;

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use serde_json::{Map, Value};

use reader::Path;

/// A request body that is not valid OTLP/JSON.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {}: {message}", describe_location(.path))]
pub struct JsonError {
    /// Field path of the invalid value in the JSON document, such as
    /// `resourceSpans[0].scopeSpans[0].spans[2].traceId`. Empty when the
    /// error concerns the whole body.
    pub path: String,
    /// Description of the problem. Syntax errors end with serde_json's
    /// "at line L column C".
    pub message: String,
}

fn describe_location(path: &str) -> String {
    if path.is_empty() {
        "request body".to_owned()
    } else {
        format!("`{path}`")
    }
}

/// Decodes an OTLP/JSON `ExportTraceServiceRequest`.
pub fn decode_traces(body: &[u8]) -> Result<ExportTraceServiceRequest, JsonError> {
    let document = parse(body)?;
    trace::export_request(&document, &Path::ROOT)
}

/// Decodes an OTLP/JSON `ExportMetricsServiceRequest`.
pub fn decode_metrics(body: &[u8]) -> Result<ExportMetricsServiceRequest, JsonError> {
    let document = parse(body)?;
    metrics::export_request(&document, &Path::ROOT)
}

/// Decodes an OTLP/JSON `ExportLogsServiceRequest`.
pub fn decode_logs(body: &[u8]) -> Result<ExportLogsServiceRequest, JsonError> {
    let document = parse(body)?;
    logs::export_request(&document, &Path::ROOT)
}

/// Parses the body into a JSON tree. serde_json rejects documents nested more
/// than 128 levels deep, which bounds the recursion of every later step.
///
/// NOTE: When an object repeats a key, serde_json keeps the last value, so a
/// repeated field is not reported as an error.
fn parse(body: &[u8]) -> Result<Value, JsonError> {
    serde_json::from_slice(body).map_err(|error| {
        let message = error.to_string();
        // serde_json reports its depth limit only through the message text.
        let message = if message.starts_with("recursion limit exceeded") {
            format!("JSON nesting is deeper than serde_json's limit of 128 levels: {message}")
        } else {
            format!("malformed JSON: {message}")
        };
        JsonError {
            path: String::new(),
            message,
        }
    })
}

/// Encodes an `ExportTraceServiceResponse` as OTLP/JSON.
pub fn encode_trace_response(response: &ExportTraceServiceResponse) -> Vec<u8> {
    let partial_success = response
        .partial_success
        .as_ref()
        .map(|partial| PartialSuccess {
            rejected_field: "rejectedSpans",
            rejected: partial.rejected_spans,
            error_message: &partial.error_message,
        });
    encode_response(partial_success)
}

/// Encodes an `ExportMetricsServiceResponse` as OTLP/JSON.
pub fn encode_metrics_response(response: &ExportMetricsServiceResponse) -> Vec<u8> {
    let partial_success = response
        .partial_success
        .as_ref()
        .map(|partial| PartialSuccess {
            rejected_field: "rejectedDataPoints",
            rejected: partial.rejected_data_points,
            error_message: &partial.error_message,
        });
    encode_response(partial_success)
}

/// Encodes an `ExportLogsServiceResponse` as OTLP/JSON.
pub fn encode_logs_response(response: &ExportLogsServiceResponse) -> Vec<u8> {
    let partial_success = response
        .partial_success
        .as_ref()
        .map(|partial| PartialSuccess {
            rejected_field: "rejectedLogRecords",
            rejected: partial.rejected_log_records,
            error_message: &partial.error_message,
        });
    encode_response(partial_success)
}

/// Encodes a `google.rpc.Status` error body, such as `{"code":3,"message":"..."}`,
/// which OTLP/HTTP servers send with 4xx and 5xx responses. Both fields are
/// always written, even when they contain their default values.
pub fn encode_status(code: i32, message: &str) -> Vec<u8> {
    let mut status = Map::new();
    status.insert("code".to_owned(), Value::from(code));
    status.insert("message".to_owned(), Value::from(message));
    Value::Object(status).to_string().into_bytes()
}

/// The fields shared by the three `Export*PartialSuccess` messages.
struct PartialSuccess<'a> {
    rejected_field: &'static str,
    rejected: i64,
    error_message: &'a str,
}

/// Writes `{}` for a full success. Inside `partialSuccess`, fields with their
/// default values are omitted and the int64 count is a decimal string, as the
/// proto3 JSON mapping writes them.
fn encode_response(partial_success: Option<PartialSuccess<'_>>) -> Vec<u8> {
    let mut response = Map::new();
    if let Some(partial) = partial_success {
        let mut fields = Map::new();
        if partial.rejected != 0 {
            fields.insert(
                partial.rejected_field.to_owned(),
                Value::from(partial.rejected.to_string()),
            );
        }
        if !partial.error_message.is_empty() {
            fields.insert(
                "errorMessage".to_owned(),
                Value::from(partial.error_message),
            );
        }
        response.insert("partialSuccess".to_owned(), Value::Object(fields));
    }
    Value::Object(response).to_string().into_bytes()
}
