//! Records that extraction produces from one export request.

use std::sync::Arc;
use std::time::SystemTime;

use super::headers::interpret_for_provider;
use crate::call::{Outcome, RateLimitObservation, ServiceTier, TokenCounts, Usage};

pub type TraceId = [u8; 16];
pub type SpanId = [u8; 8];

/// The instrumentation that produced an LLM span, in order of preference when
/// two report the same call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// The provider's own SDK, such as the Anthropic Python SDK's spans
    /// (scope `com.anthropic.sdk.python`). It records every HTTP attempt and the
    /// provider's exact usage.
    VendorSdk,
    Other,
    /// OpenLLMetry (`opentelemetry.instrumentation.anthropic`, `...openai`),
    /// which wraps the same SDK calls from outside.
    OpenLlmetry,
}

impl Source {
    /// Classifies an instrumentation scope name.
    pub fn from_scope(scope_name: &str) -> Source {
        if scope_name.starts_with("com.anthropic.") {
            Source::VendorSdk
        } else if scope_name.starts_with("opentelemetry.instrumentation.") {
            Source::OpenLlmetry
        } else {
            Source::Other
        }
    }
}

/// One span that describes an LLM call.
#[derive(Clone, Debug, PartialEq)]
pub struct LlmSpan {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    /// `service.name` of the resource.
    pub service: Arc<str>,
    /// Hash of all resource attributes: one process, as far as they tell.
    pub resource_id: u64,
    pub source: Source,
    /// Lowercase provider name as in `gen_ai.provider.name`, such as `anthropic`.
    pub provider: String,
    pub operation: String,
    pub request_model: Option<String>,
    pub response_model: Option<String>,
    /// `gen_ai.response.id`, which identifies one call across instrumentations.
    pub response_id: Option<String>,
    /// `None` when the span reports no usage, as a streamed call without
    /// usage does.
    pub tokens: Option<TokenCounts>,
    /// The part of `tokens.cache_creation` written to a 1-hour cache.
    pub cache_creation_1h: u64,
    pub service_tier: ServiceTier,
    /// Identifies the API key or account the call was made with, whose rate
    /// limits it shares. Never the key itself.
    pub key_id: Option<Arc<str>>,
    /// Values of the attributes that `ledger.labels` lists, in its order:
    /// from the span, or else from its resource.
    pub label_values: Vec<Option<Arc<str>>>,
    /// Outcome read from the span itself; the HTTP child span, when joined,
    /// is more precise.
    pub outcome: Outcome,
    pub start_time: SystemTime,
    pub end_time: SystemTime,
    /// Rate-limit headers recorded on the LLM span itself.
    pub rate_limits: RateLimitObservation,
}

impl LlmSpan {
    /// Returns what the call's price depends on, or `None` when the span
    /// reports no usage.
    pub fn usage(&self) -> Option<Usage> {
        Some(Usage {
            tokens: self.tokens?,
            cache_creation_1h: self.cache_creation_1h,
            tier: self.service_tier,
        })
    }

    /// Takes what an HTTP child span adds to its call: the child's
    /// rate-limit headers are re-read for the call's provider, and the
    /// child's key id is used when the call has none.
    pub fn join_child(&mut self, child: &mut HttpSpan) {
        interpret_for_provider(&mut child.rate_limits, &self.provider);
        if self.key_id.is_none() {
            self.key_id = child.key_id.clone();
        }
    }

    /// Returns the model that labels the call: the requested one, or the one that
    /// responded when the request did not name it.
    pub fn model(&self) -> Option<&str> {
        self.request_model
            .as_deref()
            .or(self.response_model.as_deref())
    }
}

/// An HTTP client span that may carry the captured response headers of the
/// LLM call that is its parent.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpSpan {
    pub trace_id: TraceId,
    pub parent_span_id: SpanId,
    pub status_code: Option<u16>,
    pub end_time: SystemTime,
    pub rate_limits: RateLimitObservation,
    /// Identifies the API key or account of the request, as on [`LlmSpan`].
    pub key_id: Option<Arc<str>>,
}

/// Reason an attribute that extraction reads was ignored, as the `reason` label
/// of `burnrate_extract_rejected_attributes_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttributeProblem {
    /// A token count or status code below zero.
    Negative,
    /// A count with a fractional part, such as 12.5.
    Fractional,
    /// NaN or an infinity.
    NotFinite,
    /// A string that is not a decimal number.
    NotNumeric,
    /// A token count above [`MAX_TOKENS_PER_CALL`](super::MAX_TOKENS_PER_CALL).
    TooLarge,
    /// A value of a type the attribute never has, such as a boolean model name.
    WrongType,
    /// A name or id longer than [`MAX_LABEL_BYTES`](super::MAX_LABEL_BYTES).
    TooLong,
    /// A string outside the values the attribute is known to take, such as
    /// an unknown service tier.
    UnknownValue,
}

impl AttributeProblem {
    pub const ALL: [AttributeProblem; 8] = [
        AttributeProblem::Negative,
        AttributeProblem::Fractional,
        AttributeProblem::NotFinite,
        AttributeProblem::NotNumeric,
        AttributeProblem::TooLarge,
        AttributeProblem::WrongType,
        AttributeProblem::TooLong,
        AttributeProblem::UnknownValue,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AttributeProblem::Negative => "negative",
            AttributeProblem::Fractional => "fractional",
            AttributeProblem::NotFinite => "not_finite",
            AttributeProblem::NotNumeric => "not_numeric",
            AttributeProblem::TooLarge => "too_large",
            AttributeProblem::WrongType => "wrong_type",
            AttributeProblem::TooLong => "too_long",
            AttributeProblem::UnknownValue => "unknown_value",
        }
    }
}

/// Counts of ignored attributes, by problem.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AttributeProblems([u64; AttributeProblem::ALL.len()]);

impl AttributeProblems {
    pub fn add(&mut self, problem: AttributeProblem) {
        self.0[problem as usize] += 1;
    }

    pub fn get(&self, problem: AttributeProblem) -> u64 {
        self.0[problem as usize]
    }

    pub fn merge(&mut self, other: &AttributeProblems) {
        for (total, count) in self.0.iter_mut().zip(other.0) {
            *total += count;
        }
    }
}

/// Everything extraction found in one request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Extracted {
    pub llm_spans: Vec<LlmSpan>,
    pub http_spans: Vec<HttpSpan>,
    /// Number of spans in the request.
    pub span_count: u64,
    pub attribute_problems: AttributeProblems,
    /// Spans with more attributes than extraction reads.
    pub truncated_spans: u64,
}
