//! Gauges derived from the ledger at one moment: rate-limit state, the
//! per-minute window, calendar spend and budgets. `GET /metrics` and the OTLP
//! metrics export both render these, so they always agree.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use crate::call::LimitKind;
use crate::config::BudgetPeriod;
use crate::ledger::{
    LedgerConfig, PICOS_PER_USD, SeriesKey, SeriesState, WINDOW_SECONDS, WindowTotals, local_day,
};

/// A gauge of one series.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SeriesGauge {
    Limit,
    Remaining,
    Utilization,
    Reset,
    RetryAfter,
    Blocked,
    Exhaustion,
    RequestsPerMinute,
    TokensPerMinute,
    Spend,
    SpendProjected,
}

impl SeriesGauge {
    pub const ALL: [SeriesGauge; 11] = [
        SeriesGauge::Limit,
        SeriesGauge::Remaining,
        SeriesGauge::Utilization,
        SeriesGauge::Reset,
        SeriesGauge::RetryAfter,
        SeriesGauge::Blocked,
        SeriesGauge::Exhaustion,
        SeriesGauge::RequestsPerMinute,
        SeriesGauge::TokensPerMinute,
        SeriesGauge::Spend,
        SeriesGauge::SpendProjected,
    ];

    /// Returns the OTLP name. The Prometheus name turns its dots into '_'.
    pub fn name(self) -> &'static str {
        match self {
            SeriesGauge::Limit => "burnrate.ratelimit.limit",
            SeriesGauge::Remaining => "burnrate.ratelimit.remaining",
            SeriesGauge::Utilization => "burnrate.ratelimit.utilization_ratio",
            SeriesGauge::Reset => "burnrate.ratelimit.reset_seconds",
            SeriesGauge::RetryAfter => "burnrate.ratelimit.retry_after_seconds",
            SeriesGauge::Blocked => "burnrate.ratelimit.blocked_seconds",
            SeriesGauge::Exhaustion => "burnrate.ratelimit.exhaustion_seconds",
            SeriesGauge::RequestsPerMinute => "burnrate.llm.requests_per_minute",
            SeriesGauge::TokensPerMinute => "burnrate.llm.tokens_per_minute",
            SeriesGauge::Spend => "burnrate.spend_usd",
            SeriesGauge::SpendProjected => "burnrate.spend_projected_usd",
        }
    }

    pub fn help(self) -> &'static str {
        match self {
            SeriesGauge::Limit => {
                "Size of the provider's rate-limit window, from the newest response."
            }
            SeriesGauge::Remaining => {
                "Requests or tokens left in the window, from the newest response; the full limit once the window has reset."
            }
            SeriesGauge::Utilization => "Used share of the window: 1 - remaining / limit.",
            SeriesGauge::Reset => "Seconds until the window resets; 0 once it has.",
            SeriesGauge::RetryAfter => {
                "Seconds until the newest retry-after deadline; 0 once it has passed."
            }
            SeriesGauge::Blocked => {
                "Seconds until the provider accepts calls again: the latest reset of the exhausted windows or retry-after; 0 when not blocked."
            }
            SeriesGauge::Exhaustion => {
                "Seconds until the window's remaining requests or tokens run out at the last minute's rate of this series."
            }
            SeriesGauge::RequestsPerMinute => "LLM calls whose span ended in the last 60 seconds.",
            SeriesGauge::TokensPerMinute => {
                "Tokens of the LLM calls whose span ended in the last 60 seconds, by type."
            }
            SeriesGauge::Spend => {
                "Cost of the calls that ended in the current calendar day or month, in the configured time zone, in US dollars."
            }
            SeriesGauge::SpendProjected => {
                "Spend projected to the end of the calendar day or month at the average rate so far, in US dollars."
            }
        }
    }
}

/// One gauge value of one series, with the labels it has beside the series'.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesSample {
    pub gauge: SeriesGauge,
    /// (OTLP attribute key, value).
    pub labels: Vec<(&'static str, Arc<str>)>,
    pub value: f64,
}

/// Returns every gauge value of one series at `now`, grouped by gauge in the
/// order of [`SeriesGauge::ALL`].
pub fn series_samples(
    state: &SeriesState,
    config: &LedgerConfig,
    started: SystemTime,
    now: SystemTime,
) -> Vec<SeriesSample> {
    let mut samples = Vec::new();
    let now_second = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let window = state.window.totals(now_second);
    // A key identity that the series labels carry is not repeated.
    let key_label = |key_id: &Option<Arc<str>>| -> Vec<(&'static str, Arc<str>)> {
        match key_id {
            Some(key_id) if !config.labels_by_key() => vec![("key_id", key_id.clone())],
            _ => Vec::new(),
        }
    };
    let mut push = |gauge, labels, value| {
        samples.push(SeriesSample {
            gauge,
            labels,
            value,
        })
    };

    // The window counts the calls of every key of the series, so a rate per
    // key is only known when the series has one.
    let mut key_ids = state.limits.keys().map(|(key_id, _)| key_id);
    let first_key = key_ids.next();
    let one_key = key_ids.all(|key_id| Some(key_id) == first_key);
    for ((key_id, kind), snapshot) in &state.limits {
        let mut reading = snapshot.reading;
        // Once a window's reset time has passed, the provider has refilled it.
        if reading.reset_at.is_some_and(|reset_at| reset_at <= now) {
            reading.remaining = reading.limit;
        }
        let mut labels = key_label(key_id);
        labels.push(("limit", Arc::from(kind.as_str())));
        if let Some(limit) = reading.limit {
            push(SeriesGauge::Limit, labels.clone(), limit as f64);
        }
        if let Some(remaining) = reading.remaining {
            push(SeriesGauge::Remaining, labels.clone(), remaining as f64);
        }
        if let (Some(limit), Some(remaining)) =
            (reading.limit.filter(|limit| *limit > 0), reading.remaining)
        {
            // Computed from the used count, which keeps small ratios exact.
            let used = limit.saturating_sub(remaining);
            push(
                SeriesGauge::Utilization,
                labels.clone(),
                used as f64 / limit as f64,
            );
        }
        if let Some(reset_at) = reading.reset_at {
            push(
                SeriesGauge::Reset,
                labels.clone(),
                seconds_until(reset_at, now),
            );
        }
        let per_second = consumed(*kind, &window) as f64 / WINDOW_SECONDS as f64;
        if let (Some(remaining), true) = (reading.remaining, one_key && per_second > 0.0) {
            push(
                SeriesGauge::Exhaustion,
                labels,
                remaining as f64 / per_second,
            );
        }
    }
    for (key_id, (until, _)) in &state.retry_after {
        push(
            SeriesGauge::RetryAfter,
            key_label(key_id),
            seconds_until(*until, now),
        );
    }
    let mut key_ids: Vec<&Option<Arc<str>>> =
        state.limits.keys().map(|(key_id, _)| key_id).collect();
    key_ids.extend(state.retry_after.keys());
    key_ids.sort();
    key_ids.dedup();
    for key_id in key_ids {
        let blocked = state
            .blocked_until(key_id, now)
            .map_or(0.0, |until| seconds_until(until, now));
        push(SeriesGauge::Blocked, key_label(key_id), blocked);
    }

    push(
        SeriesGauge::RequestsPerMinute,
        Vec::new(),
        window.requests as f64,
    );
    for (token_type, count) in window.tokens.by_type() {
        let labels = vec![("gen_ai.token.type", Arc::from(token_type))];
        push(SeriesGauge::TokensPerMinute, labels, count as f64);
    }

    let today = local_day(now, config.time_zone);
    for period in BudgetPeriod::ALL {
        let spent = state.spend.picos(period, today) as f64 / PICOS_PER_USD;
        let labels = vec![("period", Arc::from(period.as_str()))];
        push(SeriesGauge::Spend, labels, spent);
    }
    for period in BudgetPeriod::ALL {
        let spent = state.spend.picos(period, today) as f64 / PICOS_PER_USD;
        if let Some(projected) = config.project(spent, period, now, started) {
            let labels = vec![("period", Arc::from(period.as_str()))];
            push(SeriesGauge::SpendProjected, labels, projected);
        }
    }
    // Stable, so each gauge keeps its samples in the order above.
    samples.sort_by_key(|sample| sample.gauge);
    samples
}

/// Returns the requests or tokens that a window of `kind` counts, out of
/// what the series used in the last minute. Anthropic counts cache writes
/// toward its input token limit and cache reads toward neither.
fn consumed(kind: LimitKind, window: &WindowTotals) -> u64 {
    let tokens = &window.tokens;
    match kind {
        LimitKind::Requests | LimitKind::RequestsPerDay => window.requests,
        LimitKind::Tokens | LimitKind::TokensPerMonth => tokens.total(),
        LimitKind::InputTokens => tokens.input.saturating_add(tokens.cache_creation),
        LimitKind::OutputTokens => tokens.output.saturating_add(tokens.reasoning),
    }
}

/// A gauge of one configured budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum BudgetGauge {
    Amount,
    Spend,
    SpendProjected,
}

impl BudgetGauge {
    pub const ALL: [BudgetGauge; 3] = [
        BudgetGauge::Amount,
        BudgetGauge::Spend,
        BudgetGauge::SpendProjected,
    ];

    pub fn name(self) -> &'static str {
        match self {
            BudgetGauge::Amount => "burnrate.budget_usd",
            BudgetGauge::Spend => "burnrate.budget.spend_usd",
            BudgetGauge::SpendProjected => "burnrate.budget.spend_projected_usd",
        }
    }

    pub fn help(self) -> &'static str {
        match self {
            BudgetGauge::Amount => "Configured budget for the calendar period, in US dollars.",
            BudgetGauge::Spend => {
                "Spend of the series that the budget's selector matches in the current period, in US dollars."
            }
            BudgetGauge::SpendProjected => {
                "Spend of the budget's series projected to the end of the period, in US dollars."
            }
        }
    }
}

/// One gauge value of one budget.
#[derive(Clone, Debug, PartialEq)]
pub struct BudgetSample {
    pub gauge: BudgetGauge,
    pub budget: Arc<str>,
    pub period: BudgetPeriod,
    pub value: f64,
}

/// Returns every budget's amount, spend and projected spend at `now`,
/// grouped by gauge.
pub fn budget_samples(
    series: &BTreeMap<SeriesKey, SeriesState>,
    config: &LedgerConfig,
    started: SystemTime,
    now: SystemTime,
) -> Vec<BudgetSample> {
    let today = local_day(now, config.time_zone);
    let mut samples = Vec::new();
    for budget in &config.budgets {
        let picos = series
            .iter()
            .filter(|(key, _)| budget.matches(&key.labels(config)))
            .fold(0u128, |total, (_, state)| {
                total.saturating_add(state.spend.picos(budget.period, today))
            });
        let spent = picos as f64 / PICOS_PER_USD;
        let sample = |gauge, value| BudgetSample {
            gauge,
            budget: budget.name.clone(),
            period: budget.period,
            value,
        };
        samples.push(sample(BudgetGauge::Amount, budget.amount_usd));
        samples.push(sample(BudgetGauge::Spend, spent));
        if let Some(projected) = config.project(spent, budget.period, now, started) {
            samples.push(sample(BudgetGauge::SpendProjected, projected));
        }
    }
    samples.sort_by_key(|sample| sample.gauge);
    samples
}

pub fn seconds_until(deadline: SystemTime, now: SystemTime) -> f64 {
    deadline
        .duration_since(now)
        .map_or(0.0, |left| left.as_secs_f64())
}
