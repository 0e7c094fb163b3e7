//! Changes made to spans before they are forwarded: removal of captured
//! credential headers, handling of prompt and response content, and the
//! computed cost of each LLM call.

use std::collections::{HashMap, HashSet};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use prost::Message;
use sha2::{Digest, Sha256};

use crate::config::{ContentAction, ContentSettings, Processing};
use crate::extract::{SpanId, TraceId};

const HEADER_PREFIXES: [&str; 2] = ["http.request.header.", "http.response.header."];

/// Content attributes of the current GenAI semantic conventions and the
/// older single-value forms.
const CONTENT_KEYS: [&str; 5] = [
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.prompt",
    "gen_ai.completion",
];

/// Older per-message forms: `gen_ai.prompt.0.content`, `gen_ai.completion.1.content`.
const PER_MESSAGE_PREFIXES: [&str; 2] = ["gen_ai.prompt.", "gen_ai.completion."];

/// Counts of the changes one pass made, for burnrate's own counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransformCounts {
    pub removed_headers: u64,
    pub changed_content: u64,
    pub costed_spans: u64,
}

impl TransformCounts {
    pub fn changed_anything(&self) -> bool {
        self.removed_headers + self.changed_content + self.costed_spans > 0
    }
}

/// Attribute names of the span cost.
#[derive(Clone, Debug)]
struct CostNames {
    amount: String,
    currency: String,
    source: String,
}

#[derive(Clone, Debug)]
pub struct SpanTransform {
    /// Header names, lowercase with dashes.
    credential_headers: HashSet<String>,
    content: ContentSettings,
    cost: Option<CostNames>,
}

impl SpanTransform {
    pub fn new(settings: &Processing) -> SpanTransform {
        let credential_headers = settings
            .credential_headers
            .iter()
            .chain(&settings.additional_credential_headers)
            .map(|name| normalize_header(name))
            .collect();
        let cost = settings.span_cost.enabled.then(|| {
            let amount = settings.span_cost.attribute.clone();
            let base = amount.rsplit_once('.').map_or("", |(base, _)| base);
            let sibling = |name: &str| {
                if base.is_empty() {
                    name.to_owned()
                } else {
                    format!("{base}.{name}")
                }
            };
            CostNames {
                currency: sibling("currency"),
                source: sibling("source"),
                amount,
            }
        });
        SpanTransform {
            credential_headers,
            content: settings.content.clone(),
            cost,
        }
    }

    pub fn adds_cost(&self) -> bool {
        self.cost.is_some()
    }

    /// Applies every change to the request. `costs` are the computed costs
    /// of LLM calls in US dollars, by trace and span id.
    pub fn apply(
        &self,
        request: &mut ExportTraceServiceRequest,
        costs: &HashMap<(TraceId, SpanId), f64>,
    ) -> TransformCounts {
        let mut counts = TransformCounts::default();
        let spans = request
            .resource_spans
            .iter_mut()
            .flat_map(|resource| &mut resource.scope_spans)
            .flat_map(|scope| &mut scope.spans);
        for span in spans {
            self.clean_attributes(&mut span.attributes, &mut counts);
            for event in &mut span.events {
                self.clean_attributes(&mut event.attributes, &mut counts);
            }

            let Some(names) = &self.cost else { continue };
            let (Ok(trace_id), Ok(span_id)) = (
                span.trace_id.as_slice().try_into(),
                span.span_id.as_slice().try_into(),
            ) else {
                continue;
            };
            if let Some(cost) = costs.get(&(trace_id, span_id)) {
                set_attribute(
                    &mut span.attributes,
                    &names.amount,
                    Value::DoubleValue(*cost),
                );
                set_attribute(
                    &mut span.attributes,
                    &names.currency,
                    Value::StringValue("USD".to_owned()),
                );
                set_attribute(
                    &mut span.attributes,
                    &names.source,
                    Value::StringValue("local".to_owned()),
                );
                counts.costed_spans += 1;
            }
        }
        counts
    }

    fn clean_attributes(&self, attributes: &mut Vec<KeyValue>, counts: &mut TransformCounts) {
        attributes.retain_mut(|attribute| {
            if self.is_credential_header(&attribute.key) {
                counts.removed_headers += 1;
                return false;
            }
            if self.content.action == ContentAction::Keep || !is_content(&attribute.key) {
                return true;
            }
            counts.changed_content += 1;
            self.rewrite_content(attribute)
        });
    }

    fn is_credential_header(&self, key: &str) -> bool {
        HEADER_PREFIXES
            .iter()
            .filter_map(|prefix| key.strip_prefix(prefix))
            .any(|name| self.credential_headers.contains(&normalize_header(name)))
    }

    /// Rewrites one content attribute; returns false when it is to be removed.
    fn rewrite_content(&self, attribute: &mut KeyValue) -> bool {
        let value = attribute
            .value
            .as_ref()
            .and_then(|value| value.value.as_ref());
        let rewritten = match (self.content.action, value) {
            (ContentAction::Keep, _) => return true,
            (ContentAction::Drop, _) | (_, None) => return false,
            (ContentAction::Truncate, Some(Value::StringValue(text))) => {
                truncate(text, self.content.max_bytes)
            }
            // A structured value cannot be cut meaningfully, so it is removed.
            (ContentAction::Truncate, Some(_)) => return false,
            (ContentAction::Hash, Some(Value::StringValue(text))) => sha256_text(text.as_bytes()),
            (ContentAction::Hash, Some(other)) => {
                let encoded = AnyValue {
                    value: Some(other.clone()),
                }
                .encode_to_vec();
                sha256_text(&encoded)
            }
        };
        attribute.value = Some(AnyValue {
            value: Some(Value::StringValue(rewritten)),
        });
        true
    }
}

fn is_content(key: &str) -> bool {
    CONTENT_KEYS.contains(&key)
        || (key.ends_with(".content")
            && PER_MESSAGE_PREFIXES
                .iter()
                .any(|prefix| key.starts_with(prefix)))
}

fn normalize_header(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace('_', "-")
}

/// Cuts `text` to at most `max_bytes`, at a character boundary.
fn truncate(text: &str, max_bytes: usize) -> String {
    let mut end = max_bytes.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

fn sha256_text(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("sha256:{hex}")
}

/// Sets an attribute, replacing an existing one of the same key.
fn set_attribute(attributes: &mut Vec<KeyValue>, key: &str, value: Value) {
    let value = Some(AnyValue { value: Some(value) });
    match attributes.iter_mut().find(|attribute| attribute.key == key) {
        Some(existing) => existing.value = value,
        None => attributes.push(KeyValue {
            key: key.to_owned(),
            value,
            ..Default::default()
        }),
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::trace::v1::span::Event;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    use super::*;
    use crate::config::SpanCost;

    fn string(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(value.to_owned())),
            }),
            ..Default::default()
        }
    }

    fn request(attributes: Vec<KeyValue>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        trace_id: vec![1; 16],
                        span_id: vec![2; 8],
                        attributes,
                        events: vec![Event {
                            name: "gen_ai.content.prompt".to_owned(),
                            attributes: vec![string("gen_ai.prompt", "secret plan")],
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn attributes(request: &ExportTraceServiceRequest) -> &[KeyValue] {
        &request.resource_spans[0].scope_spans[0].spans[0].attributes
    }

    fn text_of<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
        attributes
            .iter()
            .find(|attribute| attribute.key == key)
            .and_then(
                |attribute| match attribute.value.as_ref()?.value.as_ref()? {
                    Value::StringValue(text) => Some(text.as_str()),
                    _ => None,
                },
            )
    }

    #[test]
    fn default_removes_credential_headers_in_both_spellings() {
        let mut request = request(vec![
            string("http.request.header.x_api_key", "sk-1"),
            string("http.request.header.Authorization", "Bearer x"),
            string("http.response.header.set-cookie", "a=b"),
            string("http.response.header.x_ratelimit_remaining_tokens", "5"),
        ]);
        let counts =
            SpanTransform::new(&Processing::default()).apply(&mut request, &HashMap::new());
        assert_eq!(counts.removed_headers, 3);
        let keys: Vec<&str> = attributes(&request)
            .iter()
            .map(|attribute| attribute.key.as_str())
            .collect();
        assert_eq!(keys, ["http.response.header.x_ratelimit_remaining_tokens"]);
    }

    #[test]
    fn additional_header_is_removed() {
        let settings = Processing {
            additional_credential_headers: vec!["X-Tenant-Token".to_owned()],
            ..Processing::default()
        };
        let mut request = request(vec![string("http.request.header.x_tenant_token", "t")]);
        let counts = SpanTransform::new(&settings).apply(&mut request, &HashMap::new());
        assert_eq!(counts.removed_headers, 1);
        assert!(attributes(&request).is_empty());
    }

    #[test]
    fn content_kept_by_default() {
        let mut request = request(vec![string("gen_ai.input.messages", "[hello]")]);
        let counts =
            SpanTransform::new(&Processing::default()).apply(&mut request, &HashMap::new());
        assert!(!counts.changed_anything());
        assert_eq!(
            text_of(attributes(&request), "gen_ai.input.messages"),
            Some("[hello]")
        );
    }

    fn with_content(action: ContentAction) -> Processing {
        Processing {
            content: ContentSettings {
                action,
                max_bytes: 4,
            },
            ..Processing::default()
        }
    }

    #[test]
    fn content_dropped_on_span_and_events() {
        let mut request = request(vec![
            string("gen_ai.output.messages", "[answer]"),
            string("gen_ai.prompt.0.content", "hi"),
            string("gen_ai.prompt.0.role", "user"),
        ]);
        let counts = SpanTransform::new(&with_content(ContentAction::Drop))
            .apply(&mut request, &HashMap::new());
        assert_eq!(counts.changed_content, 3);
        let keys: Vec<&str> = attributes(&request)
            .iter()
            .map(|attribute| attribute.key.as_str())
            .collect();
        assert_eq!(keys, ["gen_ai.prompt.0.role"]);
        assert!(
            request.resource_spans[0].scope_spans[0].spans[0].events[0]
                .attributes
                .is_empty()
        );
    }

    #[test]
    fn content_truncated_at_character_boundary() {
        let mut request = request(vec![string("gen_ai.input.messages", "héllo")]);
        SpanTransform::new(&with_content(ContentAction::Truncate))
            .apply(&mut request, &HashMap::new());
        assert_eq!(
            text_of(attributes(&request), "gen_ai.input.messages"),
            Some("hél")
        );
    }

    #[test]
    fn content_hashed_with_sha256() {
        let mut request = request(vec![string("gen_ai.input.messages", "abc")]);
        SpanTransform::new(&with_content(ContentAction::Hash)).apply(&mut request, &HashMap::new());
        assert_eq!(
            text_of(attributes(&request), "gen_ai.input.messages"),
            Some("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
    }

    #[test]
    fn cost_added_to_matching_span() {
        let settings = Processing {
            span_cost: SpanCost {
                enabled: true,
                ..SpanCost::default()
            },
            ..Processing::default()
        };
        let mut request = request(Vec::new());
        let costs = HashMap::from([(([1; 16], [2; 8]), 0.02535)]);
        let counts = SpanTransform::new(&settings).apply(&mut request, &costs);
        assert_eq!(counts.costed_spans, 1);
        let attributes = attributes(&request);
        let amount = attributes
            .iter()
            .find(|attribute| attribute.key == "gen_ai.usage.cost.amount")
            .unwrap();
        assert_eq!(
            amount.value.as_ref().unwrap().value,
            Some(Value::DoubleValue(0.02535))
        );
        assert_eq!(
            text_of(attributes, "gen_ai.usage.cost.currency"),
            Some("USD")
        );
        assert_eq!(
            text_of(attributes, "gen_ai.usage.cost.source"),
            Some("local")
        );
    }
}
