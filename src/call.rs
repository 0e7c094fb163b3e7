//! The record that extraction produces for one LLM call, shared by the ledger,
//! pricing and metrics.

use std::time::SystemTime;

/// Token counts of one call, partitioned so that the fields add up to the
/// call's total: `input` is billed at the base input rate only, cache reads and
/// cache writes are never inside it, and `output` excludes `reasoning`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenCounts {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_creation: u64,
    pub reasoning: u64,
}

impl std::ops::AddAssign for TokenCounts {
    fn add_assign(&mut self, other: TokenCounts) {
        // Saturating, so a counter stops at its maximum instead of wrapping.
        self.input = self.input.saturating_add(other.input);
        self.output = self.output.saturating_add(other.output);
        self.cache_read = self.cache_read.saturating_add(other.cache_read);
        self.cache_creation = self.cache_creation.saturating_add(other.cache_creation);
        self.reasoning = self.reasoning.saturating_add(other.reasoning);
    }
}

impl TokenCounts {
    /// Returns the counts by `gen_ai_token_type` label value, in a fixed order.
    pub fn by_type(&self) -> [(&'static str, u64); 5] {
        [
            ("input", self.input),
            ("output", self.output),
            ("cache_read", self.cache_read),
            ("cache_creation", self.cache_creation),
            ("reasoning", self.reasoning),
        ]
    }

    pub fn total(&self) -> u64 {
        [
            self.output,
            self.cache_read,
            self.cache_creation,
            self.reasoning,
        ]
        .into_iter()
        .fold(self.input, u64::saturating_add)
    }
}

/// The service tier that processed a call, which sets its price.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceTier {
    #[default]
    Standard,
    /// Asynchronous batch processing, as OpenAI's Batch API and Anthropic's
    /// Message Batches API bill it.
    Batch,
    /// OpenAI's `flex` tier: slower, at batch prices.
    Flex,
    /// OpenAI's `priority` tier and Anthropic's Priority Tier.
    Priority,
}

impl ServiceTier {
    pub const ALL: [ServiceTier; 4] = [
        ServiceTier::Standard,
        ServiceTier::Batch,
        ServiceTier::Flex,
        ServiceTier::Priority,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ServiceTier::Standard => "standard",
            ServiceTier::Batch => "batch",
            ServiceTier::Flex => "flex",
            ServiceTier::Priority => "priority",
        }
    }
}

/// Everything a call's price depends on besides its provider and model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub tokens: TokenCounts,
    /// The part of `tokens.cache_creation` written to a 1-hour cache, which
    /// Anthropic bills at a higher rate than its 5-minute cache.
    pub cache_creation_1h: u64,
    pub tier: ServiceTier,
}

/// Result of a call, as the `outcome` label of `burnrate_llm_requests_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    Ok,
    /// HTTP 429.
    RateLimited,
    /// HTTP 529 (Anthropic) or 503.
    Overloaded,
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::RateLimited => "rate_limited",
            Outcome::Overloaded => "overloaded",
            Outcome::Error => "error",
        }
    }

    /// Maps an HTTP response status code to an outcome.
    pub fn from_http_status(status: u16) -> Outcome {
        match status {
            200..=399 => Outcome::Ok,
            429 => Outcome::RateLimited,
            503 | 529 => Outcome::Overloaded,
            _ => Outcome::Error,
        }
    }
}

/// The window that a rate-limit header describes, as the `limit` label.
/// `Requests`, `Tokens`, `InputTokens` and `OutputTokens` are per-minute
/// windows; the other kinds name their window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LimitKind {
    Requests,
    Tokens,
    InputTokens,
    OutputTokens,
    /// Groq's `x-ratelimit-*-requests` headers, which count requests per day.
    RequestsPerDay,
    /// Mistral's `x-ratelimit-*-tokens-month` headers.
    TokensPerMonth,
}

impl LimitKind {
    pub const ALL: [LimitKind; 6] = [
        LimitKind::Requests,
        LimitKind::Tokens,
        LimitKind::InputTokens,
        LimitKind::OutputTokens,
        LimitKind::RequestsPerDay,
        LimitKind::TokensPerMonth,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::Requests => "requests",
            LimitKind::Tokens => "tokens",
            LimitKind::InputTokens => "input_tokens",
            LimitKind::OutputTokens => "output_tokens",
            LimitKind::RequestsPerDay => "requests_per_day",
            LimitKind::TokensPerMonth => "tokens_per_month",
        }
    }
}

/// One rate-limit window as read from response headers. Each field is `None`
/// when its header was absent or invalid.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimitReading {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    /// When the window resets, as an absolute time.
    pub reset_at: Option<SystemTime>,
}

/// Rate-limit state read from the headers of one HTTP response.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RateLimitObservation {
    /// Readings per window, at most one per kind, sorted by kind.
    pub limits: Vec<(LimitKind, LimitReading)>,
    /// The time before which the provider requests no retry (`retry-after`,
    /// `retry-after-ms`).
    pub retry_after_until: Option<SystemTime>,
    /// Headers whose value could not be parsed, as (header name, value).
    pub invalid: Vec<(String, String)>,
}

impl RateLimitObservation {
    pub fn is_empty(&self) -> bool {
        self.limits.is_empty() && self.retry_after_until.is_none()
    }
}
