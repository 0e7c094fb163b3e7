//! The ledger: per (provider, model, service) counters, cost and rate-limit
//! snapshots, built from extracted spans. The receiver updates it once per
//! export request under one lock; the Prometheus exposition reads it.

mod bounded;
mod histogram;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use crate::call::{LimitKind, LimitReading, Outcome, RateLimitObservation, TokenCounts};
use crate::extract::{AttributeProblems, Extracted, HttpSpan, LlmSpan, Source, SpanId, TraceId};
use crate::log_throttle::LogThrottle;
use crate::pricing::{PriceTable, Prices, normalize_model};
use bounded::BoundedMap;
pub use histogram::{DURATION_BUCKETS, Histogram, TOKEN_BUCKETS};

/// How long an HTTP span waits for its parent LLM span, and an LLM span for
/// late HTTP children. An SDK's batch processor exports spans in the order
/// they end, so a child normally arrives no later than its parent. The margin
/// covers collectors and retries that reorder requests.
const JOIN_TTL: Duration = Duration::from_secs(120);
/// Maximum number of spans waiting to be joined.
const JOIN_CAPACITY: usize = 50_000;
/// How long a response id is remembered to recognize the same call reported
/// by a second instrumentation.
const DEDUP_TTL: Duration = Duration::from_secs(600);
const DEDUP_CAPACITY: usize = 100_000;
/// How long a process that emitted vendor SDK spans is remembered.
const VENDOR_SDK_TTL: Duration = Duration::from_secs(3600);
const VENDOR_SDK_CAPACITY: usize = 10_000;
/// Maximum number of series. Calls of new (provider, model, service)
/// combinations past it are counted in one series whose labels are all
/// [`OVERFLOW_LABEL`], so totals stay exact.
pub const MAX_SERIES: usize = 5_000;
pub const OVERFLOW_LABEL: &str = "overflow";
/// How far in the future a span may end and still date its rate-limit
/// reading. Later end times are read as now, so one span with a wrong clock
/// cannot freeze the gauges.
const MAX_CLOCK_SKEW: Duration = Duration::from_secs(60);

/// The time of one update, by both clocks: `instant` drives the expiry of
/// join and de-duplication state, `wall` bounds span end times.
#[derive(Clone, Copy, Debug)]
pub struct Now {
    pub instant: Instant,
    pub wall: SystemTime,
}

impl Now {
    pub fn current() -> Now {
        Now {
            instant: Instant::now(),
            wall: SystemTime::now(),
        }
    }
}

/// Identity of one series: the common labels of every LLM metric.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    pub provider: Arc<str>,
    /// Normalized model id.
    pub model: Arc<str>,
    pub service: Arc<str>,
}

/// The newest reading of one rate-limit window, by response time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitSnapshot {
    pub reading: LimitReading,
    pub observed_at: SystemTime,
}

/// Everything the ledger accumulates for one series.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesState {
    /// Calls by outcome, indexed by `Outcome as usize`.
    pub requests: [u64; 4],
    pub tokens: TokenCounts,
    /// Cost in pico-USD (10^-12 USD), exact for any price with up to 6
    /// decimal places per million tokens.
    pub cost_picos: u128,
    /// Tokens of calls whose model has no price.
    pub unpriced_tokens: u64,
    /// Calls that reported no token usage.
    pub missing_usage: u64,
    pub limits: BTreeMap<LimitKind, LimitSnapshot>,
    /// Newest `retry-after` deadline and the response time it came with.
    pub retry_after: Option<(SystemTime, SystemTime)>,
    /// Token usage as the semantic conventions count it: input including
    /// cache tokens, and output including reasoning.
    pub input_token_usage: Histogram,
    pub output_token_usage: Histogram,
    pub duration_seconds: Histogram,
    /// When the ledger first recorded this series: the start time of its
    /// cumulative OTLP points.
    pub first_seen: SystemTime,
}

impl Default for SeriesState {
    fn default() -> Self {
        SeriesState {
            requests: [0; 4],
            tokens: TokenCounts::default(),
            cost_picos: 0,
            unpriced_tokens: 0,
            missing_usage: 0,
            limits: BTreeMap::new(),
            retry_after: None,
            input_token_usage: Histogram::new(TOKEN_BUCKETS),
            output_token_usage: Histogram::new(TOKEN_BUCKETS),
            duration_seconds: Histogram::new(DURATION_BUCKETS),
            first_seen: SystemTime::UNIX_EPOCH,
        }
    }
}

impl SeriesState {
    fn new(first_seen: SystemTime) -> SeriesState {
        SeriesState {
            first_seen,
            ..SeriesState::default()
        }
    }

    fn apply_rate_limits(&mut self, observation: &RateLimitObservation, observed_at: SystemTime) {
        for (kind, reading) in &observation.limits {
            let newer = self
                .limits
                .get(kind)
                .is_none_or(|snapshot| snapshot.observed_at <= observed_at);
            if newer {
                let snapshot = LimitSnapshot {
                    reading: *reading,
                    observed_at,
                };
                self.limits.insert(*kind, snapshot);
            }
        }
        if let Some(until) = observation.retry_after_until {
            let newer = self.retry_after.is_none_or(|(_, at)| at <= observed_at);
            if newer {
                self.retry_after = Some((until, observed_at));
            }
        }
    }
}

/// Counters about the ledger's own input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LedgerStats {
    /// LLM spans skipped because another instrumentation reported the same call.
    pub duplicate_spans: u64,
    /// Header values that could not be parsed.
    pub invalid_headers: u64,
    /// Attributes that extraction ignored, by problem.
    pub attribute_problems: AttributeProblems,
    /// Spans with more attributes than extraction reads.
    pub truncated_spans: u64,
}

#[derive(Debug)]
struct LedgerState {
    series: BTreeMap<SeriesKey, SeriesState>,
    stats: LedgerStats,
    /// HTTP spans whose parent has not arrived yet, by (trace id, parent span id).
    waiting_children: BoundedMap<(TraceId, SpanId), HttpSpan>,
    /// Recent LLM spans, by (trace id, span id), for children that arrive later.
    recent_calls: BoundedMap<(TraceId, SpanId), SeriesKey>,
    /// Recently counted calls, by (provider, response id).
    seen_responses: BoundedMap<(String, String), ()>,
    /// Processes, by (resource hash, provider), whose provider SDK emits its
    /// own spans, which makes their OpenLLMetry spans for that provider duplicates.
    vendor_sdk_processes: BoundedMap<(u64, String), ()>,
}

#[derive(Debug)]
pub struct Ledger {
    state: Mutex<LedgerState>,
    prices: Prices,
}

static UNPRICED_LOG: LogThrottle = LogThrottle::new(Duration::from_secs(60));
static OVERFLOW_LOG: LogThrottle = LogThrottle::new(Duration::from_secs(60));

/// 10^12 pico-USD make one US dollar.
pub const PICOS_PER_USD: f64 = 1e12;

/// Returns the model a call is priced by: the one that responded, which names
/// the exact version, or else the requested one.
fn priced_model(call: &LlmSpan) -> &str {
    call.response_model
        .as_deref()
        .or(call.model())
        .unwrap_or_default()
}

/// Dates a rate-limit reading: the span's end time, but never later than
/// [`MAX_CLOCK_SKEW`] past now.
fn observed_at(end_time: SystemTime, now: Now) -> SystemTime {
    end_time.min(now.wall + MAX_CLOCK_SKEW)
}

impl Ledger {
    pub fn new(prices: Prices) -> Ledger {
        let state = LedgerState {
            series: BTreeMap::new(),
            stats: LedgerStats::default(),
            waiting_children: BoundedMap::new(JOIN_CAPACITY, JOIN_TTL),
            recent_calls: BoundedMap::new(JOIN_CAPACITY, JOIN_TTL),
            seen_responses: BoundedMap::new(DEDUP_CAPACITY, DEDUP_TTL),
            vendor_sdk_processes: BoundedMap::new(VENDOR_SDK_CAPACITY, VENDOR_SDK_TTL),
        };
        Ledger {
            state: Mutex::new(state),
            prices,
        }
    }

    /// Returns the handle on the price table that prices calls.
    pub fn prices(&self) -> &Prices {
        &self.prices
    }

    /// Records what one export request contained.
    pub fn record(&self, extracted: Extracted, now: Now) {
        let nothing_to_record = extracted.llm_spans.is_empty()
            && extracted.http_spans.is_empty()
            && extracted.attribute_problems == AttributeProblems::default()
            && extracted.truncated_spans == 0;
        if nothing_to_record {
            return;
        }
        let prices = self.prices.current();
        let mut state = self.lock();
        state
            .stats
            .attribute_problems
            .merge(&extracted.attribute_problems);
        state.stats.truncated_spans += extracted.truncated_spans;

        // Children first: an SDK exports a child span no later than its parent.
        for child in extracted.http_spans {
            state.stats.invalid_headers += child.rate_limits.invalid.len() as u64;
            let parent = (child.trace_id, child.parent_span_id);
            if let Some(key) = state.recent_calls.get(&parent).cloned() {
                let series = state
                    .series
                    .entry(key)
                    .or_insert_with(|| SeriesState::new(now.wall));
                series.apply_rate_limits(&child.rate_limits, observed_at(child.end_time, now));
                continue;
            }
            let newer = state
                .waiting_children
                .get(&parent)
                .is_none_or(|waiting| waiting.end_time <= child.end_time);
            if newer {
                state.waiting_children.insert(parent, child, now.instant);
            }
        }

        // The preferred instrumentation of a call counts it; see `Source`.
        let mut calls = extracted.llm_spans;
        calls.sort_by_key(|call| call.source);
        for call in calls {
            self.record_call(&mut state, &prices, call, now);
        }
    }

    fn record_call(&self, state: &mut LedgerState, prices: &PriceTable, call: LlmSpan, now: Now) {
        state.stats.invalid_headers += call.rate_limits.invalid.len() as u64;
        let child = state
            .waiting_children
            .remove(&(call.trace_id, call.span_id));
        let key = self.series_key(state, &call);
        state
            .recent_calls
            .insert((call.trace_id, call.span_id), key.clone(), now.instant);

        let series = state
            .series
            .entry(key.clone())
            .or_insert_with(|| SeriesState::new(now.wall));
        series.apply_rate_limits(&call.rate_limits, observed_at(call.end_time, now));
        if let Some(child) = &child {
            series.apply_rate_limits(&child.rate_limits, observed_at(child.end_time, now));
        }

        if is_duplicate(state, &call, now) {
            state.stats.duplicate_spans += 1;
            return;
        }

        let outcome = child
            .as_ref()
            .and_then(|child| child.status_code)
            .map_or(call.outcome, Outcome::from_http_status);
        let series = state
            .series
            .entry(key.clone())
            .or_insert_with(|| SeriesState::new(now.wall));
        series.requests[outcome as usize] += 1;
        if let Ok(elapsed) = call.end_time.duration_since(call.start_time) {
            series.duration_seconds.record(elapsed.as_secs_f64());
        }

        let Some(usage) = call.usage() else {
            // A failed call has no usage to report; a successful one without
            // usage, such as a stream without usage, is counted as missing it.
            if outcome == Outcome::Ok {
                series.missing_usage += 1;
            }
            return;
        };
        let tokens = usage.tokens;
        series.tokens += tokens;
        series
            .input_token_usage
            .record((tokens.input + tokens.cache_read + tokens.cache_creation) as f64);
        series
            .output_token_usage
            .record((tokens.output + tokens.reasoning) as f64);

        let priced_model = priced_model(&call);
        match prices.cost_picos(&call.provider, priced_model, &usage) {
            Some(cost) => series.cost_picos += cost,
            None => {
                series.unpriced_tokens += tokens.total();
                if let Some(suppressed) = UNPRICED_LOG.check() {
                    tracing::warn!(
                        provider = %key.provider,
                        model = priced_model,
                        similar_warnings_suppressed = suppressed,
                        "model has no price; its tokens are counted in burnrate_llm_unpriced_tokens_total, add it to the price table",
                    );
                }
            }
        }
    }

    /// Returns the call's series, or the overflow series once there are
    /// [`MAX_SERIES`] others.
    fn series_key(&self, state: &LedgerState, call: &LlmSpan) -> SeriesKey {
        let model = call
            .model()
            .map_or_else(|| "unknown".to_owned(), normalize_model);
        let key = SeriesKey {
            provider: Arc::from(call.provider.as_str()),
            model: Arc::from(model),
            service: call.service.clone(),
        };
        if state.series.len() < MAX_SERIES || state.series.contains_key(&key) {
            return key;
        }
        if let Some(suppressed) = OVERFLOW_LOG.check() {
            tracing::warn!(
                max_series = MAX_SERIES,
                provider = %key.provider,
                model = %key.model,
                service = %key.service,
                similar_warnings_suppressed = suppressed,
                "too many series; new ones are counted in the series labelled overflow",
            );
        }
        let overflow: Arc<str> = Arc::from(OVERFLOW_LABEL);
        SeriesKey {
            provider: overflow.clone(),
            model: overflow.clone(),
            service: overflow,
        }
    }

    /// Returns the cost of one call in US dollars, or `None` when it reported
    /// no usage or its model has no price.
    pub fn cost_usd(&self, call: &LlmSpan) -> Option<f64> {
        let usage = call.usage()?;
        let prices = self.prices.current();
        let cost = prices.cost_picos(&call.provider, priced_model(call), &usage)?;
        Some(cost as f64 / PICOS_PER_USD)
    }

    /// Returns a copy of the series and stats, taken under the lock, so that
    /// rendering does not hold up the receivers.
    pub fn snapshot(&self) -> (BTreeMap<SeriesKey, SeriesState>, LedgerStats) {
        let state = self.lock();
        (state.series.clone(), state.stats)
    }

    /// Runs `read` on the current series and stats under the ledger's lock.
    pub fn read<R>(
        &self,
        read: impl FnOnce(&BTreeMap<SeriesKey, SeriesState>, &LedgerStats) -> R,
    ) -> R {
        let state = self.lock();
        read(&state.series, &state.stats)
    }

    fn lock(&self) -> MutexGuard<'_, LedgerState> {
        // A panic while holding the lock leaves counters that are still valid
        // numbers, so the state is used as it is.
        match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// Returns whether another instrumentation already reported this call: the same
/// response id, or, for calls without one such as a 429, an OpenLLMetry span
/// from a process whose provider SDK reports every call itself.
fn is_duplicate(state: &mut LedgerState, call: &LlmSpan, now: Now) -> bool {
    let process = (call.resource_id, call.provider.clone());
    match call.source {
        Source::VendorSdk => state.vendor_sdk_processes.insert(process, (), now.instant),
        Source::OpenLlmetry if state.vendor_sdk_processes.get(&process).is_some() => return true,
        Source::OpenLlmetry | Source::Other => {}
    }

    let Some(response_id) = &call.response_id else {
        return false;
    };
    let identity = (call.provider.clone(), response_id.clone());
    if state.seen_responses.get(&identity).is_some() {
        return true;
    }
    state.seen_responses.insert(identity, (), now.instant);
    false
}

#[cfg(test)]
mod tests;
