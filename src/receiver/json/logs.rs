//! Log messages: `ExportLogsServiceRequest` down to log records.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use serde_json::Value;

use super::JsonError;
use super::common::{any_value, instrumentation_scope, key_value, resource};
use super::reader::{Object, Path, enumeration, span_id, string, trace_id, uint32, uint64};

pub(super) fn export_request(
    value: &Value,
    path: &Path<'_>,
) -> Result<ExportLogsServiceRequest, JsonError> {
    let object = Object::new(value, path)?;
    Ok(ExportLogsServiceRequest {
        resource_logs: object.repeated("resourceLogs", "resource_logs", resource_logs)?,
    })
}

fn resource_logs(value: &Value, path: &Path<'_>) -> Result<ResourceLogs, JsonError> {
    let object = Object::new(value, path)?;
    Ok(ResourceLogs {
        resource: object.optional("resource", "resource", resource)?,
        scope_logs: object.repeated("scopeLogs", "scope_logs", scope_logs)?,
        schema_url: object.field("schemaUrl", "schema_url", string)?,
    })
}

fn scope_logs(value: &Value, path: &Path<'_>) -> Result<ScopeLogs, JsonError> {
    let object = Object::new(value, path)?;
    Ok(ScopeLogs {
        scope: object.optional("scope", "scope", instrumentation_scope)?,
        log_records: object.repeated("logRecords", "log_records", log_record)?,
        schema_url: object.field("schemaUrl", "schema_url", string)?,
    })
}

fn log_record(value: &Value, path: &Path<'_>) -> Result<LogRecord, JsonError> {
    let object = Object::new(value, path)?;
    Ok(LogRecord {
        time_unix_nano: object.field("timeUnixNano", "time_unix_nano", uint64)?,
        observed_time_unix_nano: object.field(
            "observedTimeUnixNano",
            "observed_time_unix_nano",
            uint64,
        )?,
        severity_number: object.field("severityNumber", "severity_number", severity_number)?,
        severity_text: object.field("severityText", "severity_text", string)?,
        body: object.optional("body", "body", any_value)?,
        attributes: object.repeated("attributes", "attributes", key_value)?,
        dropped_attributes_count: object.field(
            "droppedAttributesCount",
            "dropped_attributes_count",
            uint32,
        )?,
        flags: object.field("flags", "flags", uint32)?,
        trace_id: object.field("traceId", "trace_id", trace_id)?,
        span_id: object.field("spanId", "span_id", span_id)?,
        event_name: object.field("eventName", "event_name", string)?,
    })
}

fn severity_number(value: &Value, path: &Path<'_>) -> Result<i32, JsonError> {
    enumeration(value, path, "SeverityNumber", |name| {
        SeverityNumber::from_str_name(name).map(|severity| severity as i32)
    })
}
