//! Turns OTLP spans into LLM call records: attribute mapping for the current
//! and deprecated GenAI semantic conventions, vendor SDK spans and OpenLLMetry,
//! and rate-limit headers captured on HTTP client spans.

pub mod headers;
mod key_id;
mod span;
mod token_rules;
mod types;

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::resource::v1::Resource;

pub use span::{MAX_LABEL_BYTES, MAX_TOKENS_PER_CALL, SpanContext, SpanKind, classify_span};
pub use token_rules::{BUILT_IN_INPUT_TOKEN_RULES, InputTokenRule, input_tokens_include_cache};
pub use types::{
    AttributeProblem, AttributeProblems, Extracted, HttpSpan, LlmSpan, Source, SpanId, TraceId,
};

/// `service.name` when the resource has none, as the OpenTelemetry SDKs do.
const UNKNOWN_SERVICE: &str = "unknown_service";

/// Attributes per span that extraction reads unless configured otherwise.
pub const DEFAULT_MAX_ATTRIBUTES: usize = 256;

/// Settings of extraction: what it reads and how it counts tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtractSettings {
    /// Attributes per span that extraction reads.
    pub max_attributes: usize,
    /// Configured rules on whether a scope's input tokens include cache
    /// tokens, checked before [`BUILT_IN_INPUT_TOKEN_RULES`].
    pub input_token_rules: Vec<InputTokenRule>,
    /// Attributes whose values each LLM span carries as labels, from the
    /// span or else its resource.
    pub label_attributes: Vec<String>,
}

impl Default for ExtractSettings {
    fn default() -> Self {
        ExtractSettings {
            max_attributes: DEFAULT_MAX_ATTRIBUTES,
            input_token_rules: Vec::new(),
            label_attributes: Vec::new(),
        }
    }
}

/// Finds the LLM spans and the HTTP client spans with rate-limit headers in
/// one export request, reading at most `max_attributes` attributes per span.
pub fn extract(request: &ExportTraceServiceRequest, max_attributes: usize) -> Extracted {
    let settings = ExtractSettings {
        max_attributes,
        ..ExtractSettings::default()
    };
    extract_with(request, &settings)
}

/// Finds the LLM spans and the HTTP client spans with rate-limit headers in
/// one export request.
pub fn extract_with(request: &ExportTraceServiceRequest, settings: &ExtractSettings) -> Extracted {
    let max_attributes = settings.max_attributes;
    let label_attributes = &settings.label_attributes;
    let mut extracted = Extracted::default();
    for resource_spans in &request.resource_spans {
        let (service, resource_id) = resource_identity(
            resource_spans.resource.as_ref(),
            &mut extracted.attribute_problems,
        );
        for scope_spans in &resource_spans.scope_spans {
            let scope_name = scope_spans
                .scope
                .as_ref()
                .map_or("", |scope| scope.name.as_str());
            let context = SpanContext {
                service: &service,
                resource_id,
                source: Source::from_scope(scope_name),
                max_attributes,
                input_tokens_include_cache: input_tokens_include_cache(
                    scope_name,
                    &settings.input_token_rules,
                ),
            };
            extracted.span_count += scope_spans.spans.len() as u64;
            for span in &scope_spans.spans {
                if span.attributes.len() > max_attributes {
                    extracted.truncated_spans += 1;
                }
                match classify_span(span, &context, &mut extracted.attribute_problems) {
                    SpanKind::Llm(mut call) => {
                        if !label_attributes.is_empty() {
                            let resource = resource_spans.resource.as_ref();
                            call.label_values = label_values(
                                label_attributes,
                                &span.attributes[..span.attributes.len().min(max_attributes)],
                                resource.map_or(&[][..], |resource| &resource.attributes[..]),
                                &mut extracted.attribute_problems,
                            );
                        }
                        extracted.llm_spans.push(call);
                    }
                    SpanKind::Http(http) => extracted.http_spans.push(http),
                    SpanKind::Other => {}
                }
            }
        }
    }
    extracted
}

/// Returns the value of each of `names`, from the span's attributes or else
/// from its resource's, as label text. A value that is not a string, integer,
/// boolean or double has none; one longer than [`MAX_LABEL_BYTES`] is counted
/// and has none.
fn label_values(
    names: &[String],
    span: &[KeyValue],
    resource: &[KeyValue],
    problems: &mut AttributeProblems,
) -> Vec<Option<Arc<str>>> {
    names
        .iter()
        .map(|name| {
            let value = span
                .iter()
                .chain(resource)
                .find(|attribute| attribute.key == *name)?
                .value
                .as_ref()?
                .value
                .as_ref()?;
            let text = match value {
                Value::StringValue(text) => text.clone(),
                Value::IntValue(number) => number.to_string(),
                Value::BoolValue(flag) => flag.to_string(),
                Value::DoubleValue(number) => number.to_string(),
                _ => {
                    problems.add(AttributeProblem::WrongType);
                    return None;
                }
            };
            if text.len() > MAX_LABEL_BYTES {
                problems.add(AttributeProblem::TooLong);
                return None;
            }
            Some(Arc::from(text))
        })
        .collect()
}

/// Returns the resource's `service.name` and a hash of all its attributes.
/// A name longer than [`MAX_LABEL_BYTES`] is counted and read as unknown.
fn resource_identity(
    resource: Option<&Resource>,
    problems: &mut AttributeProblems,
) -> (Arc<str>, u64) {
    let mut service = UNKNOWN_SERVICE;
    let mut hasher = DefaultHasher::new();
    for attribute in resource.map_or(&[][..], |resource| &resource.attributes[..]) {
        attribute.key.hash(&mut hasher);
        let value = attribute
            .value
            .as_ref()
            .and_then(|value| value.value.as_ref());
        if let Some(Value::StringValue(text)) = value {
            text.hash(&mut hasher);
            if attribute.key == "service.name" && text.len() <= MAX_LABEL_BYTES {
                service = text;
            } else if attribute.key == "service.name" {
                problems.add(AttributeProblem::TooLong);
            }
        } else if let Some(value) = value {
            format!("{value:?}").hash(&mut hasher);
        }
    }
    (Arc::from(service), hasher.finish())
}

#[cfg(test)]
pub(crate) mod tests;
