//! Attribute mapping from one OTLP span to an [`LlmSpan`] or an [`HttpSpan`].
//!
//! Names read, by source:
//! - GenAI semantic conventions, current: `gen_ai.provider.name`,
//!   `gen_ai.operation.name`, `gen_ai.request.model`, `gen_ai.response.model`,
//!   `gen_ai.response.id`, `gen_ai.usage.input_tokens`,
//!   `gen_ai.usage.output_tokens`, `gen_ai.usage.cache_read.input_tokens`,
//!   `gen_ai.usage.cache_creation.input_tokens`, `error.type`,
//!   `openai.response.service_tier`, `openai.request.service_tier`.
//! - Deprecated: `gen_ai.system`, `gen_ai.usage.prompt_tokens`,
//!   `gen_ai.usage.completion_tokens`, `gen_ai.openai.response.service_tier`,
//!   `gen_ai.openai.request.service_tier`.
//! - The Anthropic Python SDK's own spans: `gen_ai.usage.cache_write.input_tokens`,
//!   `anthropic.usage.cache_creation.ephemeral_1h_input_tokens`,
//!   `anthropic.response.service_tier`, `anthropic.organization.id`.
//! - OpenLLMetry: `gen_ai.usage.reasoning_tokens`,
//!   `gen_ai.usage.cache_read_input_tokens`, `gen_ai.usage.cache_creation_input_tokens`.
//! - HTTP client spans: `http.response.status_code` (or the older
//!   `http.status_code`), `http.response.header.<name>` and
//!   `http.request.header.<name>` with dashes or underscores in the name, and
//!   the host in `server.address`, `url.full` or the older `http.url`.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

use super::headers::{interpret_for_provider, parse_rate_limit_headers, provider_from_url};
use super::key_id::{CredentialHeader, key_id_from_account, key_id_from_credential};
use super::types::{
    AttributeProblem, AttributeProblems, HttpSpan, LlmSpan, Source, SpanId, TraceId,
};
use crate::call::{Outcome, ServiceTier, TokenCounts};

const HEADER_PREFIX: &str = "http.response.header.";
const REQUEST_HEADER_PREFIX: &str = "http.request.header.";

/// Largest token count accepted for one call. The largest context windows
/// hold a few million tokens, so anything above this is a broken counter.
pub const MAX_TOKENS_PER_CALL: u64 = 100_000_000;

/// Maximum length of an accepted provider, model, operation or id, in bytes. Longer values
/// would make unbounded Prometheus label values.
pub const MAX_LABEL_BYTES: usize = 256;

/// Operations whose spans carry one model call. Agent and tool spans
/// (`invoke_agent`, `execute_tool`) wrap calls that have spans of their own.
const INFERENCE_OPERATIONS: &[&str] = &[
    "chat",
    "text_completion",
    "generate_content",
    "embeddings",
    "completion",
    "responses",
];

/// The classification of one span.
// The value is moved into a Vec right away, so the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, PartialEq)]
pub enum SpanKind {
    Llm(LlmSpan),
    Http(HttpSpan),
    Other,
}

/// Token attributes as found, before they are partitioned.
#[derive(Default)]
struct RawUsage {
    input: Option<u64>,
    output: Option<u64>,
    cache_read: Option<u64>,
    cache_creation: Option<u64>,
    /// The part of `cache_creation` written to the 1-hour cache.
    cache_creation_1h: Option<u64>,
    reasoning: Option<u64>,
}

impl RawUsage {
    fn is_empty(&self) -> bool {
        self.input.is_none()
            && self.output.is_none()
            && self.cache_read.is_none()
            && self.cache_creation.is_none()
            && self.reasoning.is_none()
    }

    /// Partitions the counts. Output always includes reasoning. Input
    /// includes the cache tokens when `input_includes_cache` is true, as the
    /// semantic conventions, OpenAI and the known instrumentations count it,
    /// and excludes them when false, as Anthropic's own API counts it. When
    /// the instrumentation is unknown (`None`), an input smaller than its
    /// cache parts can only be exclusive, and any other input is taken as
    /// inclusive.
    fn partition(&self, input_includes_cache: Option<bool>) -> TokenCounts {
        let cache_read = self.cache_read.unwrap_or(0);
        let cache_creation = self.cache_creation.unwrap_or(0);
        let reasoning = self.reasoning.unwrap_or(0);
        let input = self.input.unwrap_or(0);
        let output = self.output.unwrap_or(0);
        let cached = cache_read + cache_creation;
        let includes_cache = input_includes_cache.unwrap_or(input >= cached);
        TokenCounts {
            input: if includes_cache {
                input.saturating_sub(cached)
            } else {
                input
            },
            output: output.saturating_sub(reasoning),
            cache_read,
            cache_creation,
            reasoning,
        }
    }
}

/// The resource and scope that a span was reported under, and the limits
/// that apply to reading it.
pub struct SpanContext<'a> {
    /// `service.name` of the resource.
    pub service: &'a Arc<str>,
    pub resource_id: u64,
    pub source: Source,
    pub max_attributes: usize,
    /// Whether the scope's `gen_ai.usage.input_tokens` includes cache
    /// tokens, or `None` when unknown.
    pub input_tokens_include_cache: Option<bool>,
}

/// Classifies one span, counting the attributes it had to ignore in `problems`.
pub fn classify_span(
    span: &Span,
    context: &SpanContext<'_>,
    problems: &mut AttributeProblems,
) -> SpanKind {
    let mut provider: Option<&str> = None;
    let mut operation: Option<&str> = None;
    let mut request_model: Option<&str> = None;
    let mut response_model: Option<&str> = None;
    let mut response_id: Option<&str> = None;
    let mut error_type: Option<&str> = None;
    let mut status_code: Option<u16> = None;
    let mut usage = RawUsage::default();
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut credential: Option<(CredentialHeader, &str)> = None;
    let mut organization: Option<&str> = None;
    let mut server_address: Option<&str> = None;
    let mut url: Option<&str> = None;
    let mut tier = TierAttributes::default();
    let mut reader = AttributeReader { problems };

    for KeyValue { key, value, .. } in span.attributes.iter().take(context.max_attributes) {
        let Some(value) = value.as_ref() else {
            continue;
        };
        if let Some(name) = key.strip_prefix(HEADER_PREFIX) {
            if let Some(text) = first_string(value) {
                headers.push((name.to_ascii_lowercase().replace('_', "-"), text));
            }
            continue;
        }
        if let Some(name) = key.strip_prefix(REQUEST_HEADER_PREFIX) {
            // Only credential headers are read, and only to hash them.
            if let Some(header) = CredentialHeader::from_name(name)
                && credential.is_none_or(|(preferred, _)| header < preferred)
                && let Some(text) = first_str(value)
            {
                credential = Some((header, text));
            }
            continue;
        }
        match key.as_str() {
            "gen_ai.provider.name" => provider = reader.label(value).or(provider),
            // Deprecated; the current name wins when both are present.
            "gen_ai.system" => provider = provider.or(reader.label(value)),
            "gen_ai.operation.name" => operation = reader.label(value),
            "gen_ai.request.model" => request_model = reader.label(value),
            "gen_ai.response.model" => response_model = reader.label(value),
            "gen_ai.response.id" => response_id = reader.label(value),
            "error.type" => error_type = reader.label(value),
            "http.response.status_code" => status_code = reader.status(value).or(status_code),
            "http.status_code" => status_code = status_code.or(reader.status(value)),
            "gen_ai.usage.input_tokens" => usage.input = reader.tokens(value).or(usage.input),
            "gen_ai.usage.prompt_tokens" => usage.input = usage.input.or(reader.tokens(value)),
            "gen_ai.usage.output_tokens" => usage.output = reader.tokens(value).or(usage.output),
            "gen_ai.usage.completion_tokens" => {
                usage.output = usage.output.or(reader.tokens(value))
            }
            "gen_ai.usage.cache_read.input_tokens" | "gen_ai.usage.cache_read_input_tokens" => {
                usage.cache_read = reader.tokens(value).or(usage.cache_read);
            }
            "gen_ai.usage.cache_creation.input_tokens"
            | "gen_ai.usage.cache_write.input_tokens"
            | "gen_ai.usage.cache_creation_input_tokens" => {
                usage.cache_creation = reader.tokens(value).or(usage.cache_creation);
            }
            "gen_ai.usage.reasoning_tokens" | "gen_ai.usage.reasoning.output_tokens" => {
                usage.reasoning = reader.tokens(value).or(usage.reasoning);
            }
            "anthropic.usage.cache_creation.ephemeral_1h_input_tokens" => {
                usage.cache_creation_1h = reader.tokens(value);
            }
            "openai.response.service_tier" | "anthropic.response.service_tier" => {
                tier.response = reader.label(value).or(tier.response);
            }
            "gen_ai.openai.response.service_tier" => {
                tier.response = tier.response.or(reader.label(value));
            }
            "openai.request.service_tier" => tier.request = reader.label(value).or(tier.request),
            "gen_ai.openai.request.service_tier" => {
                tier.request = tier.request.or(reader.label(value));
            }
            "anthropic.organization.id" => organization = reader.label(value),
            "server.address" => server_address = first_str(value),
            "url.full" => url = first_str(value).or(url),
            "http.url" => url = url.or(first_str(value)),
            _ => {}
        }
    }

    let end_time = unix_nanos(span.end_time_unix_nano);
    let mut rate_limits = parse_rate_limit_headers(
        headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str())),
        end_time,
    );
    let key_id = key_id(credential, organization, &headers);

    let Some(provider) = provider else {
        let host_provider = server_address
            .and_then(provider_from_url)
            .or_else(|| url.and_then(provider_from_url));
        if let Some(host_provider) = host_provider {
            interpret_for_provider(&mut rate_limits, host_provider);
        }
        let parent_span_id = span_id(&span.parent_span_id);
        let trace_id = trace_id(&span.trace_id);
        return match (trace_id, parent_span_id) {
            (Some(trace_id), Some(parent_span_id))
                if status_code.is_some() || !rate_limits.is_empty() =>
            {
                SpanKind::Http(HttpSpan {
                    trace_id,
                    parent_span_id,
                    status_code,
                    end_time,
                    rate_limits,
                    key_id,
                })
            }
            _ => SpanKind::Other,
        };
    };

    let operation = operation.unwrap_or("chat");
    if !INFERENCE_OPERATIONS.contains(&operation) {
        return SpanKind::Other;
    }
    let (Some(trace_id), Some(span_id)) = (trace_id(&span.trace_id), span_id(&span.span_id)) else {
        return SpanKind::Other;
    };

    let provider = provider.trim().to_ascii_lowercase();
    interpret_for_provider(&mut rate_limits, &provider);
    let tokens = (!usage.is_empty()).then(|| usage.partition(context.input_tokens_include_cache));
    let cache_creation_1h = tokens.map_or(0, |tokens| {
        usage
            .cache_creation_1h
            .unwrap_or(0)
            .min(tokens.cache_creation)
    });
    let service_tier = tier.resolve(&mut reader);

    let span_failed = span
        .status
        .as_ref()
        .is_some_and(|status| status.code == StatusCode::Error as i32);
    SpanKind::Llm(LlmSpan {
        trace_id,
        span_id,
        service: context.service.clone(),
        resource_id: context.resource_id,
        source: context.source,
        provider,
        operation: operation.to_owned(),
        request_model: request_model.map(str::to_owned),
        response_model: response_model.map(str::to_owned),
        response_id: response_id.map(str::to_owned),
        tokens,
        cache_creation_1h,
        service_tier,
        key_id,
        label_values: Vec::new(),
        outcome: span_outcome(status_code, error_type, span_failed),
        start_time: unix_nanos(span.start_time_unix_nano),
        end_time,
        rate_limits,
    })
}

/// Returns the outcome that an LLM span records about itself.
fn span_outcome(status_code: Option<u16>, error_type: Option<&str>, span_failed: bool) -> Outcome {
    if let Some(status) = status_code {
        return Outcome::from_http_status(status);
    }
    match error_type.map(str::to_ascii_lowercase).as_deref() {
        Some("rate_limit_error" | "ratelimiterror" | "429") => Outcome::RateLimited,
        Some("overloaded_error" | "overloadederror" | "529" | "503") => Outcome::Overloaded,
        Some(_) => Outcome::Error,
        None if span_failed => Outcome::Error,
        None => Outcome::Ok,
    }
}

/// The service tier attributes of one span, as found.
#[derive(Default)]
struct TierAttributes<'a> {
    response: Option<&'a str>,
    request: Option<&'a str>,
}

impl TierAttributes<'_> {
    /// Returns the tier that served the call: the response's, else the
    /// requested one. `auto` and `default` are OpenAI's names for its
    /// standard tier. An unknown value is counted and read as standard.
    fn resolve(&self, reader: &mut AttributeReader<'_>) -> ServiceTier {
        let Some(text) = self.response.or(self.request) else {
            return ServiceTier::Standard;
        };
        match text.trim().to_ascii_lowercase().as_str() {
            "default" | "auto" | "standard" => ServiceTier::Standard,
            "flex" => ServiceTier::Flex,
            "priority" => ServiceTier::Priority,
            "batch" => ServiceTier::Batch,
            _ => {
                reader.problems.add(AttributeProblem::UnknownValue);
                ServiceTier::Standard
            }
        }
    }
}

/// Returns the key id of a span: from its credential header if captured,
/// else from the account that the response headers or attributes name.
fn key_id(
    credential: Option<(CredentialHeader, &str)>,
    organization_attribute: Option<&str>,
    headers: &[(String, String)],
) -> Option<Arc<str>> {
    if let Some(key_id) =
        credential.and_then(|(header, value)| key_id_from_credential(header, value))
    {
        return Some(key_id);
    }
    let header = |name: &str| {
        headers
            .iter()
            .rev()
            .find(|(found, _)| found == name)
            .map(|(_, value)| value.as_str())
    };
    let organization = header("anthropic-organization-id")
        .or(organization_attribute)
        .or_else(|| header("openai-organization"));
    key_id_from_account(organization, header("openai-project"))
}

/// Reads a string attribute, or the first element of a string array as
/// Python's instrumentations record captured headers.
fn first_str(value: &AnyValue) -> Option<&str> {
    match &value.value {
        Some(Value::StringValue(text)) => Some(text),
        Some(Value::ArrayValue(array)) => array.values.first().and_then(first_str),
        _ => None,
    }
}

/// Reads a header value recorded as a string, an integer, or an array of either,
/// of which the first element is used.
fn first_string(value: &AnyValue) -> Option<String> {
    match &value.value {
        Some(Value::StringValue(text)) => Some(text.clone()),
        Some(Value::IntValue(number)) => Some(number.to_string()),
        Some(Value::DoubleValue(number)) => Some(number.to_string()),
        Some(Value::ArrayValue(array)) => array.values.first().and_then(first_string),
        _ => None,
    }
}

/// Reads the attributes that extraction uses, counting each value it has to
/// ignore by the reason.
struct AttributeReader<'a> {
    problems: &'a mut AttributeProblems,
}

impl<'a> AttributeReader<'a> {
    /// Reads a name or id that may become a label value.
    fn label<'v>(&mut self, value: &'v AnyValue) -> Option<&'v str> {
        match &value.value {
            Some(Value::StringValue(text)) if text.len() <= MAX_LABEL_BYTES => Some(text.as_str()),
            Some(Value::StringValue(_)) => self.reject(AttributeProblem::TooLong),
            _ => self.reject(AttributeProblem::WrongType),
        }
    }

    fn tokens(&mut self, value: &AnyValue) -> Option<u64> {
        let count = self.count(value)?;
        if count > MAX_TOKENS_PER_CALL {
            return self.reject(AttributeProblem::TooLarge);
        }
        Some(count)
    }

    fn status(&mut self, value: &AnyValue) -> Option<u16> {
        let code = self.count(value)?;
        match u16::try_from(code) {
            Ok(code) if (100..600).contains(&code) => Some(code),
            _ => self.reject(AttributeProblem::TooLarge),
        }
    }

    /// Reads a non-negative whole number recorded as an integer, an integral
    /// double or a decimal string.
    fn count(&mut self, value: &AnyValue) -> Option<u64> {
        match &value.value {
            Some(Value::IntValue(number)) => match u64::try_from(*number) {
                Ok(count) => Some(count),
                Err(_) => self.reject(AttributeProblem::Negative),
            },
            Some(Value::DoubleValue(number)) => self.count_from_double(*number),
            Some(Value::StringValue(text)) => {
                let text = text.trim();
                if let Ok(count) = text.parse::<u64>() {
                    return Some(count);
                }
                match text.parse::<f64>() {
                    Ok(number) => self.count_from_double(number),
                    Err(_) => self.reject(AttributeProblem::NotNumeric),
                }
            }
            _ => self.reject(AttributeProblem::WrongType),
        }
    }

    fn count_from_double(&mut self, number: f64) -> Option<u64> {
        if !number.is_finite() {
            self.reject(AttributeProblem::NotFinite)
        } else if number < 0.0 {
            self.reject(AttributeProblem::Negative)
        } else if number.fract() != 0.0 {
            self.reject(AttributeProblem::Fractional)
        } else if number > MAX_TOKENS_PER_CALL as f64 {
            self.reject(AttributeProblem::TooLarge)
        } else {
            Some(number as u64)
        }
    }

    fn reject<T>(&mut self, problem: AttributeProblem) -> Option<T> {
        self.problems.add(problem);
        None
    }
}

fn unix_nanos(nanos: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(nanos)
}

fn trace_id(bytes: &[u8]) -> Option<TraceId> {
    bytes
        .try_into()
        .ok()
        .filter(|id: &TraceId| id.iter().any(|byte| *byte != 0))
}

fn span_id(bytes: &[u8]) -> Option<SpanId> {
    bytes
        .try_into()
        .ok()
        .filter(|id: &SpanId| id.iter().any(|byte| *byte != 0))
}
