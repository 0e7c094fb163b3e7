//! The ledger: per (provider, model, service) counters, cost and rate-limit
//! snapshots, built from extracted spans. The receiver updates it once per
//! export request under one lock; the Prometheus exposition reads it.

mod bounded;
mod histogram;
mod settings;
mod spend;
mod window;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use crate::call::{LimitKind, LimitReading, Outcome, RateLimitObservation, TokenCounts};
use crate::extract::headers::interpret_for_provider;
use crate::extract::{AttributeProblems, Extracted, HttpSpan, LlmSpan, Source, SpanId, TraceId};
use crate::log_throttle::LogThrottle;
use crate::pricing::{PriceTable, Prices, normalize_model};
use bounded::BoundedMap;
pub use histogram::{DURATION_BUCKETS, Histogram, TOKEN_BUCKETS};
pub use settings::{BudgetRule, COMMON_LABELS, KEY_ID, LabelSource, LedgerConfig};
pub use spend::{CalendarSpend, MIN_PROJECTION_BASIS, local_day, period_bounds, project};
pub use window::{MinuteWindow, WINDOW_SECONDS, WindowTotals};

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
/// Label value of the series that counts the calls of label combinations
/// past `ledger.max_series`, so totals stay exact.
pub const OVERFLOW_LABEL: &str = "overflow";
/// Maximum number of API key identities whose rate limits one series keeps.
/// A new one replaces the one seen longest ago.
const MAX_KEYS_PER_SERIES: usize = 16;
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
    /// Values of the allowlisted labels, in the order of
    /// [`LedgerConfig::labels`]; empty when the call did not have one.
    pub extra: Arc<[Arc<str>]>,
}

impl SeriesKey {
    /// Returns the series' labels by name.
    pub fn labels<'a>(&'a self, config: &'a LedgerConfig) -> Vec<(&'a str, &'a str)> {
        let common = [&self.provider, &self.model, &self.service];
        let mut labels: Vec<(&str, &str)> = COMMON_LABELS
            .iter()
            .zip(common)
            .map(|(name, value)| (*name, &**value))
            .collect();
        labels.extend(
            config
                .label_names()
                .zip(self.extra.iter().map(|value| &**value)),
        );
        labels
    }
}

/// Identity of one rate-limit window of a series: the API key identity, when
/// known, and the kind of window.
pub type LimitKey = (Option<Arc<str>>, LimitKind);

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
    pub limits: BTreeMap<LimitKey, LimitSnapshot>,
    /// Newest `retry-after` deadline and the response time it came with, by
    /// API key identity.
    pub retry_after: BTreeMap<Option<Arc<str>>, (SystemTime, SystemTime)>,
    /// Calls that ended in the last minute.
    pub window: MinuteWindow,
    /// Calls whose span ended before the last minute when it arrived. They
    /// count in every total, but not in the per-minute window.
    pub late_calls: u64,
    pub spend: CalendarSpend,
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
            retry_after: BTreeMap::new(),
            window: MinuteWindow::default(),
            late_calls: 0,
            spend: CalendarSpend::default(),
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

    fn apply_rate_limits(
        &mut self,
        key_id: Option<&Arc<str>>,
        observation: &RateLimitObservation,
        observed_at: SystemTime,
    ) {
        if observation.is_empty() {
            return;
        }
        let key_id = key_id.cloned();
        self.make_room_for_key(key_id.as_ref());
        for (kind, reading) in &observation.limits {
            let limit_key = (key_id.clone(), *kind);
            let newer = self
                .limits
                .get(&limit_key)
                .is_none_or(|snapshot| snapshot.observed_at <= observed_at);
            if newer {
                let snapshot = LimitSnapshot {
                    reading: *reading,
                    observed_at,
                };
                self.limits.insert(limit_key, snapshot);
            }
        }
        if let Some(until) = observation.retry_after_until {
            let newer = self
                .retry_after
                .get(&key_id)
                .is_none_or(|(_, at)| *at <= observed_at);
            if newer {
                self.retry_after.insert(key_id, (until, observed_at));
            }
        }
    }

    /// Forgets the key identity seen longest ago when `key_id` would be one
    /// more than [`MAX_KEYS_PER_SERIES`].
    fn make_room_for_key(&mut self, key_id: Option<&Arc<str>>) {
        // Most calls come with a key the series already has, so that is
        // checked before the key identities are counted.
        let known = self.limits.keys().any(|(key, _)| key.as_ref() == key_id)
            || self.retry_after.keys().any(|key| key.as_ref() == key_id);
        if known {
            return;
        }
        let mut last_seen: BTreeMap<&Option<Arc<str>>, SystemTime> = BTreeMap::new();
        for ((key, _), snapshot) in &self.limits {
            let seen = last_seen.entry(key).or_insert(snapshot.observed_at);
            *seen = (*seen).max(snapshot.observed_at);
        }
        for (key, (_, at)) in &self.retry_after {
            let seen = last_seen.entry(key).or_insert(*at);
            *seen = (*seen).max(*at);
        }
        if last_seen.len() < MAX_KEYS_PER_SERIES {
            return;
        }
        let Some(oldest) = last_seen
            .into_iter()
            .min_by_key(|(_, seen)| *seen)
            .map(|(key, _)| key.clone())
        else {
            return;
        };
        self.limits.retain(|(key, _), _| *key != oldest);
        self.retry_after.remove(&oldest);
    }

    /// Returns the time until which the provider turns calls of `key_id`
    /// away: the latest reset of its exhausted windows, or its `retry-after`
    /// deadline if later. `None` when neither is after `now`.
    pub fn blocked_until(&self, key_id: &Option<Arc<str>>, now: SystemTime) -> Option<SystemTime> {
        let exhausted = self
            .limits
            .iter()
            .filter(|((key, _), snapshot)| key == key_id && snapshot.reading.remaining == Some(0))
            .filter_map(|(_, snapshot)| snapshot.reading.reset_at);
        let retry_after = self.retry_after.get(key_id).map(|(until, _)| *until);
        exhausted
            .chain(retry_after)
            .filter(|until| *until > now)
            .max()
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

/// A recorded call's series and API key identity.
type RecentCall = (SeriesKey, Option<Arc<str>>);

#[derive(Debug)]
struct LedgerState {
    series: BTreeMap<SeriesKey, SeriesState>,
    stats: LedgerStats,
    /// HTTP spans whose parent has not arrived yet, by (trace id, parent span id).
    waiting_children: BoundedMap<(TraceId, SpanId), HttpSpan>,
    /// Recent LLM spans, by (trace id, span id), with their API key
    /// identity, for children that arrive later.
    recent_calls: BoundedMap<(TraceId, SpanId), RecentCall>,
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
    config: LedgerConfig,
    /// When the ledger started counting: spend before it is not known.
    started: SystemTime,
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

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// Dates a rate-limit reading: the span's end time, but never later than
/// [`MAX_CLOCK_SKEW`] past now.
fn observed_at(end_time: SystemTime, now: Now) -> SystemTime {
    end_time.min(now.wall + MAX_CLOCK_SKEW)
}

impl Ledger {
    /// Creates a ledger with the default settings, started now.
    pub fn new(prices: Prices) -> Ledger {
        Ledger::with_config(prices, LedgerConfig::default(), SystemTime::now())
    }

    /// Creates a ledger with `config` that counts from `started`.
    pub fn with_config(prices: Prices, config: LedgerConfig, started: SystemTime) -> Ledger {
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
            config,
            started,
        }
    }

    pub fn config(&self) -> &LedgerConfig {
        &self.config
    }

    /// When the ledger started counting.
    pub fn started(&self) -> SystemTime {
        self.started
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
        for mut child in extracted.http_spans {
            state.stats.invalid_headers += child.rate_limits.invalid.len() as u64;
            let parent = (child.trace_id, child.parent_span_id);
            if let Some((key, call_key_id)) = state.recent_calls.get(&parent).cloned() {
                interpret_for_provider(&mut child.rate_limits, &key.provider);
                let series = state
                    .series
                    .entry(key)
                    .or_insert_with(|| SeriesState::new(now.wall));
                let key_id = child.key_id.as_ref().or(call_key_id.as_ref());
                let observed_at = observed_at(child.end_time, now);
                series.apply_rate_limits(key_id, &child.rate_limits, observed_at);
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
        let mut child = state
            .waiting_children
            .remove(&(call.trace_id, call.span_id));
        let mut call = call;
        if let Some(child) = &mut child {
            call.join_child(child);
        }
        let key_id = call.key_id.clone();
        let key = self.series_key(state, &call, key_id.as_ref());
        let recent = (key.clone(), key_id.clone());
        state
            .recent_calls
            .insert((call.trace_id, call.span_id), recent, now.instant);

        let series = state
            .series
            .entry(key.clone())
            .or_insert_with(|| SeriesState::new(now.wall));
        let call_observed_at = observed_at(call.end_time, now);
        series.apply_rate_limits(key_id.as_ref(), &call.rate_limits, call_observed_at);
        if let Some(child) = &child {
            let observed_at = observed_at(child.end_time, now);
            series.apply_rate_limits(key_id.as_ref(), &child.rate_limits, observed_at);
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
        let in_window = series.window.add(
            unix_seconds(call_observed_at),
            unix_seconds(now.wall),
            call.tokens.as_ref(),
        );
        if !in_window {
            series.late_calls += 1;
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
            Some(cost) => {
                series.cost_picos += cost;
                // A clock running ahead must not move spend into tomorrow.
                let day = local_day(call.end_time.min(now.wall), self.config.time_zone);
                series.spend.add(day, cost);
            }
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
    /// `ledger.max_series` others.
    fn series_key(
        &self,
        state: &LedgerState,
        call: &LlmSpan,
        key_id: Option<&Arc<str>>,
    ) -> SeriesKey {
        let model = call
            .model()
            .map_or_else(|| "unknown".to_owned(), normalize_model);
        let extra = self
            .config
            .labels
            .iter()
            .enumerate()
            .map(|(index, label)| {
                let value = if label.attribute == KEY_ID {
                    key_id.cloned()
                } else {
                    call.label_values.get(index).cloned().flatten()
                };
                value.unwrap_or_else(|| Arc::from(""))
            })
            .collect();
        let key = SeriesKey {
            provider: Arc::from(call.provider.as_str()),
            model: Arc::from(model),
            service: call.service.clone(),
            extra,
        };
        let max_series = self.config.max_series;
        if state.series.len() < max_series || state.series.contains_key(&key) {
            return key;
        }
        if let Some(suppressed) = OVERFLOW_LOG.check() {
            tracing::warn!(
                max_series,
                provider = %key.provider,
                model = %key.model,
                service = %key.service,
                similar_warnings_suppressed = suppressed,
                "too many series; new ones are counted in the series labelled overflow, raise ledger.max_series or drop a label",
            );
        }
        let overflow: Arc<str> = Arc::from(OVERFLOW_LABEL);
        SeriesKey {
            provider: overflow.clone(),
            model: overflow.clone(),
            service: overflow.clone(),
            extra: self
                .config
                .labels
                .iter()
                .map(|_| overflow.clone())
                .collect(),
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
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
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
