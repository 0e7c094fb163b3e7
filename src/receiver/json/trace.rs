//! Trace messages: `ExportTraceServiceRequest` down to spans, events and links.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use serde_json::Value;

use super::JsonError;
use super::common::{instrumentation_scope, key_value, resource};
use super::reader::{Object, Path, enumeration, span_id, string, trace_id, uint32, uint64};

pub(super) fn export_request(
    value: &Value,
    path: &Path<'_>,
) -> Result<ExportTraceServiceRequest, JsonError> {
    let object = Object::new(value, path)?;
    Ok(ExportTraceServiceRequest {
        resource_spans: object.repeated("resourceSpans", "resource_spans", resource_spans)?,
    })
}

fn resource_spans(value: &Value, path: &Path<'_>) -> Result<ResourceSpans, JsonError> {
    let object = Object::new(value, path)?;
    Ok(ResourceSpans {
        resource: object.optional("resource", "resource", resource)?,
        scope_spans: object.repeated("scopeSpans", "scope_spans", scope_spans)?,
        schema_url: object.field("schemaUrl", "schema_url", string)?,
    })
}

fn scope_spans(value: &Value, path: &Path<'_>) -> Result<ScopeSpans, JsonError> {
    let object = Object::new(value, path)?;
    Ok(ScopeSpans {
        scope: object.optional("scope", "scope", instrumentation_scope)?,
        spans: object.repeated("spans", "spans", span)?,
        schema_url: object.field("schemaUrl", "schema_url", string)?,
    })
}

fn span(value: &Value, path: &Path<'_>) -> Result<Span, JsonError> {
    let object = Object::new(value, path)?;
    Ok(Span {
        trace_id: object.field("traceId", "trace_id", trace_id)?,
        span_id: object.field("spanId", "span_id", span_id)?,
        trace_state: object.field("traceState", "trace_state", string)?,
        parent_span_id: object.field("parentSpanId", "parent_span_id", span_id)?,
        flags: object.field("flags", "flags", uint32)?,
        name: object.field("name", "name", string)?,
        kind: object.field("kind", "kind", span_kind)?,
        start_time_unix_nano: object.field("startTimeUnixNano", "start_time_unix_nano", uint64)?,
        end_time_unix_nano: object.field("endTimeUnixNano", "end_time_unix_nano", uint64)?,
        attributes: object.repeated("attributes", "attributes", key_value)?,
        dropped_attributes_count: object.field(
            "droppedAttributesCount",
            "dropped_attributes_count",
            uint32,
        )?,
        events: object.repeated("events", "events", event)?,
        dropped_events_count: object.field("droppedEventsCount", "dropped_events_count", uint32)?,
        links: object.repeated("links", "links", link)?,
        dropped_links_count: object.field("droppedLinksCount", "dropped_links_count", uint32)?,
        status: object.optional("status", "status", status)?,
    })
}

fn span_kind(value: &Value, path: &Path<'_>) -> Result<i32, JsonError> {
    enumeration(value, path, "SpanKind", |name| {
        SpanKind::from_str_name(name).map(|kind| kind as i32)
    })
}

fn event(value: &Value, path: &Path<'_>) -> Result<Event, JsonError> {
    let object = Object::new(value, path)?;
    Ok(Event {
        time_unix_nano: object.field("timeUnixNano", "time_unix_nano", uint64)?,
        name: object.field("name", "name", string)?,
        attributes: object.repeated("attributes", "attributes", key_value)?,
        dropped_attributes_count: object.field(
            "droppedAttributesCount",
            "dropped_attributes_count",
            uint32,
        )?,
    })
}

fn link(value: &Value, path: &Path<'_>) -> Result<Link, JsonError> {
    let object = Object::new(value, path)?;
    Ok(Link {
        trace_id: object.field("traceId", "trace_id", trace_id)?,
        span_id: object.field("spanId", "span_id", span_id)?,
        trace_state: object.field("traceState", "trace_state", string)?,
        attributes: object.repeated("attributes", "attributes", key_value)?,
        dropped_attributes_count: object.field(
            "droppedAttributesCount",
            "dropped_attributes_count",
            uint32,
        )?,
        flags: object.field("flags", "flags", uint32)?,
    })
}

fn status(value: &Value, path: &Path<'_>) -> Result<Status, JsonError> {
    let object = Object::new(value, path)?;
    Ok(Status {
        message: object.field("message", "message", string)?,
        code: object.field("code", "code", status_code)?,
    })
}

fn status_code(value: &Value, path: &Path<'_>) -> Result<i32, JsonError> {
    enumeration(value, path, "StatusCode", |name| {
        StatusCode::from_str_name(name).map(|code| code as i32)
    })
}
