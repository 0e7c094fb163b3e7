//! One decoded OTLP export request of any signal, with the checks and counts
//! that the pipeline needs.

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use prost::Message as _;

use crate::signal::Signal;

const TRACE_ID_BYTES: usize = 16;
const SPAN_ID_BYTES: usize = 8;

#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    Traces(ExportTraceServiceRequest),
    Metrics(ExportMetricsServiceRequest),
    Logs(ExportLogsServiceRequest),
}

/// Items removed from a request because they cannot be valid OTLP.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rejections {
    pub count: u64,
    /// The first problem found, with its path in OTLP/JSON field names.
    pub first_problem: Option<String>,
}

impl Rejections {
    fn reject(&mut self, problem: impl FnOnce() -> String) {
        self.count += 1;
        if self.first_problem.is_none() {
            self.first_problem = Some(problem());
        }
    }
}

impl Message {
    /// Decodes protobuf bytes as the signal's export request.
    pub fn decode(signal: Signal, body: Bytes) -> Result<Message, prost::DecodeError> {
        Ok(match signal {
            Signal::Traces => Message::Traces(ExportTraceServiceRequest::decode(body)?),
            Signal::Metrics => Message::Metrics(ExportMetricsServiceRequest::decode(body)?),
            Signal::Logs => Message::Logs(ExportLogsServiceRequest::decode(body)?),
        })
    }

    pub fn signal(&self) -> Signal {
        match self {
            Message::Traces(_) => Signal::Traces,
            Message::Metrics(_) => Signal::Metrics,
            Message::Logs(_) => Signal::Logs,
        }
    }

    pub fn encode(&self) -> Bytes {
        Bytes::from(match self {
            Message::Traces(request) => request.encode_to_vec(),
            Message::Metrics(request) => request.encode_to_vec(),
            Message::Logs(request) => request.encode_to_vec(),
        })
    }

    /// Number of spans, metric data points or log records.
    pub fn item_count(&self) -> u64 {
        match self {
            Message::Traces(request) => request
                .resource_spans
                .iter()
                .flat_map(|resource| &resource.scope_spans)
                .map(|scope| scope.spans.len() as u64)
                .sum(),
            Message::Metrics(request) => request
                .resource_metrics
                .iter()
                .flat_map(|resource| &resource.scope_metrics)
                .flat_map(|scope| &scope.metrics)
                .map(|metric| data_point_count(metric.data.as_ref()))
                .sum(),
            Message::Logs(request) => request
                .resource_logs
                .iter()
                .flat_map(|resource| &resource.scope_logs)
                .map(|scope| scope.log_records.len() as u64)
                .sum(),
        }
    }

    /// Removes spans and log records whose trace or span id has the wrong
    /// length or, where required, is all zeros.
    pub fn remove_invalid_items(&mut self) -> Rejections {
        let mut rejections = Rejections::default();
        match self {
            Message::Traces(request) => {
                for (r, resource) in request.resource_spans.iter_mut().enumerate() {
                    for (s, scope) in resource.scope_spans.iter_mut().enumerate() {
                        let mut index = 0;
                        scope.spans.retain(|span| {
                            let position = index;
                            index += 1;
                            let path =
                                || format!("resourceSpans[{r}].scopeSpans[{s}].spans[{position}]");
                            let problem = span_id_problem(
                                &span.trace_id,
                                &span.span_id,
                                &span.parent_span_id,
                            );
                            match problem {
                                Some(problem) => {
                                    rejections.reject(|| format!("{}.{problem}", path()));
                                    false
                                }
                                None => true,
                            }
                        });
                    }
                }
            }
            Message::Logs(request) => {
                for (r, resource) in request.resource_logs.iter_mut().enumerate() {
                    for (s, scope) in resource.scope_logs.iter_mut().enumerate() {
                        let mut index = 0;
                        scope.log_records.retain(|record| {
                            let position = index;
                            index += 1;
                            let path = || {
                                format!("resourceLogs[{r}].scopeLogs[{s}].logRecords[{position}]")
                            };
                            let problem =
                                optional_id_problem("traceId", &record.trace_id, TRACE_ID_BYTES)
                                    .or_else(|| {
                                        optional_id_problem(
                                            "spanId",
                                            &record.span_id,
                                            SPAN_ID_BYTES,
                                        )
                                    });
                            match problem {
                                Some(problem) => {
                                    rejections.reject(|| format!("{}.{problem}", path()));
                                    false
                                }
                                None => true,
                            }
                        });
                    }
                }
            }
            Message::Metrics(_) => {}
        }
        rejections
    }
}

fn data_point_count(data: Option<&Data>) -> u64 {
    let count = match data {
        Some(Data::Gauge(gauge)) => gauge.data_points.len(),
        Some(Data::Sum(sum)) => sum.data_points.len(),
        Some(Data::Histogram(histogram)) => histogram.data_points.len(),
        Some(Data::ExponentialHistogram(histogram)) => histogram.data_points.len(),
        Some(Data::Summary(summary)) => summary.data_points.len(),
        None => 0,
    };
    count as u64
}

/// Returns what is wrong with a span's ids: trace and span ids are required
/// and non-zero, the parent id is empty or 8 bytes.
fn span_id_problem(trace_id: &[u8], span_id: &[u8], parent_span_id: &[u8]) -> Option<String> {
    required_id_problem("traceId", trace_id, TRACE_ID_BYTES)
        .or_else(|| required_id_problem("spanId", span_id, SPAN_ID_BYTES))
        .or_else(|| optional_id_problem("parentSpanId", parent_span_id, SPAN_ID_BYTES))
}

fn required_id_problem(field: &str, id: &[u8], expected: usize) -> Option<String> {
    if id.len() != expected {
        return Some(format!(
            "{field} has {} bytes, expected {expected}",
            id.len()
        ));
    }
    if id.iter().all(|byte| *byte == 0) {
        return Some(format!("{field} is all zeros"));
    }
    None
}

/// Checks an id that may be absent: empty, or of the expected length (all
/// zeros is read as absent, as the OTLP specification allows).
fn optional_id_problem(field: &str, id: &[u8], expected: usize) -> Option<String> {
    if id.is_empty() || id.len() == expected {
        None
    } else {
        Some(format!(
            "{field} has {} bytes, expected {expected} or none",
            id.len()
        ))
    }
}
