use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono_tz::Tz;

use super::*;
use crate::call::{LimitReading, ServiceTier};
use crate::config::BudgetPeriod;
use crate::extract::tests::extract_all;
use crate::extract::tests::fixture;

fn ledger() -> Ledger {
    Ledger::new(Prices::embedded())
}

fn key(provider: &str, model: &str, service: &str) -> SeriesKey {
    SeriesKey {
        provider: Arc::from(provider),
        model: Arc::from(model),
        service: Arc::from(service),
        extra: Arc::from([]),
    }
}

fn series(ledger: &Ledger, key: &SeriesKey) -> SeriesState {
    ledger.read(|series, _| series.get(key).cloned()).unwrap()
}

fn at(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

fn call(response_id: Option<&str>, source: Source, end_seconds: u64) -> LlmSpan {
    LlmSpan {
        trace_id: [1; 16],
        span_id: [2; 8],
        service: Arc::from("svc"),
        resource_id: 7,
        source,
        provider: "anthropic".to_owned(),
        operation: "chat".to_owned(),
        request_model: Some("claude-sonnet-4-5".to_owned()),
        response_model: None,
        response_id: response_id.map(str::to_owned),
        tokens: Some(TokenCounts {
            input: 1000,
            ..TokenCounts::default()
        }),
        cache_creation_1h: 0,
        service_tier: ServiceTier::Standard,
        key_id: None,
        label_values: Vec::new(),
        outcome: Outcome::Ok,
        start_time: at(end_seconds - 1),
        end_time: at(end_seconds),
        rate_limits: RateLimitObservation::default(),
    }
}

fn child(remaining: u64, end_seconds: u64) -> HttpSpan {
    HttpSpan {
        trace_id: [1; 16],
        parent_span_id: [2; 8],
        status_code: Some(200),
        end_time: at(end_seconds),
        rate_limits: RateLimitObservation {
            limits: vec![(
                LimitKind::Requests,
                LimitReading {
                    limit: Some(100),
                    remaining: Some(remaining),
                    reset_at: None,
                },
            )],
            ..RateLimitObservation::default()
        },
        key_id: None,
    }
}

fn batch(llm_spans: Vec<LlmSpan>, http_spans: Vec<HttpSpan>) -> Extracted {
    Extracted {
        llm_spans,
        http_spans,
        span_count: 0,
        ..Extracted::default()
    }
}

fn remaining_requests(state: &SeriesState) -> Option<u64> {
    state
        .limits
        .iter()
        .find(|((_, kind), _)| *kind == LimitKind::Requests)
        .and_then(|(_, snapshot)| snapshot.reading.remaining)
}

#[test]
fn sdk_and_openllmetry_call_counted_once() {
    let ledger = ledger();
    ledger.record(extract_all(&fixture("anthropic_cache")), Now::current());
    let state = series(&ledger, &key("anthropic", "claude-sonnet-4-5", "checkout"));
    assert_eq!(state.requests[Outcome::Ok as usize], 1);
    assert_eq!(state.tokens.input, 1200);
    assert_eq!(state.tokens.cache_read, 30000);
    assert_eq!(state.tokens.cache_creation, 2000);
    assert_eq!(state.tokens.output, 350);
    // 1200 * 3 + 30000 * 0.30 + 2000 * 3.75 + 350 * 15 USD per million tokens.
    assert_eq!(state.cost_picos, 25_350_000_000);
    assert_eq!(ledger.read(|_, stats| stats.duplicate_spans), 1);
}

#[test]
fn rate_limited_call_without_response_id_counted_once() {
    let ledger = ledger();
    ledger.record(extract_all(&fixture("anthropic_429")), Now::current());
    let state = series(&ledger, &key("anthropic", "claude-sonnet-4-5", "checkout"));
    assert_eq!(state.requests[Outcome::RateLimited as usize], 1);
    assert_eq!(state.requests.iter().sum::<u64>(), 1);
    assert_eq!(state.missing_usage, 0);
    assert_eq!(remaining_requests(&state), Some(0));
    // The organization id on the SDK span identifies the account of both
    // readings.
    let key_ids: Vec<_> = state.retry_after.keys().collect();
    assert_eq!(key_ids.len(), 1);
    let key_id = key_ids[0].as_deref().unwrap_or_default();
    assert!(key_id.starts_with("org:"), "{key_id}");
}

#[test]
fn duplicate_response_id_in_later_batch_is_skipped() {
    let ledger = ledger();
    let now = Now::current();
    ledger.record(
        batch(vec![call(Some("msg_1"), Source::Other, 10)], vec![]),
        now,
    );
    ledger.record(
        batch(vec![call(Some("msg_1"), Source::Other, 10)], vec![]),
        now,
    );
    let state = series(&ledger, &key("anthropic", "claude-sonnet-4-5", "svc"));
    assert_eq!(state.requests[Outcome::Ok as usize], 1);
    assert_eq!(state.tokens.input, 1000);
}

#[test]
fn child_arriving_after_parent_still_joins() {
    let ledger = ledger();
    let now = Now::current();
    ledger.record(batch(vec![call(None, Source::Other, 10)], vec![]), now);
    ledger.record(batch(vec![], vec![child(42, 10)]), now);
    let state = series(&ledger, &key("anthropic", "claude-sonnet-4-5", "svc"));
    assert_eq!(remaining_requests(&state), Some(42));
}

#[test]
fn newest_snapshot_by_end_time_wins() {
    let ledger = ledger();
    let now = Now::current();
    let mut newer = call(None, Source::Other, 20);
    newer.span_id = [3; 8];
    let mut newer_child = child(10, 20);
    newer_child.parent_span_id = [3; 8];
    ledger.record(batch(vec![newer], vec![newer_child]), now);
    // An older response that arrives later must not overwrite the newer one.
    ledger.record(
        batch(vec![call(None, Source::Other, 10)], vec![child(90, 10)]),
        now,
    );
    let state = series(&ledger, &key("anthropic", "claude-sonnet-4-5", "svc"));
    assert_eq!(remaining_requests(&state), Some(10));
    assert_eq!(state.requests[Outcome::Ok as usize], 2);
}

#[test]
fn child_status_sets_outcome() {
    let ledger = ledger();
    let mut overloaded = child(5, 10);
    overloaded.status_code = Some(529);
    ledger.record(
        batch(vec![call(None, Source::Other, 10)], vec![overloaded]),
        Now::current(),
    );
    let state = series(&ledger, &key("anthropic", "claude-sonnet-4-5", "svc"));
    assert_eq!(state.requests[Outcome::Overloaded as usize], 1);
}

#[test]
fn unpriced_model_counts_tokens_not_cost() {
    let ledger = ledger();
    let mut unknown = call(None, Source::Other, 10);
    unknown.request_model = Some("claude-imaginary-9".to_owned());
    ledger.record(batch(vec![unknown], vec![]), Now::current());
    let state = series(&ledger, &key("anthropic", "claude-imaginary-9", "svc"));
    assert_eq!(state.unpriced_tokens, 1000);
    assert_eq!(state.cost_picos, 0);
    assert_eq!(state.requests[Outcome::Ok as usize], 1);
}

#[test]
fn successful_call_without_usage_is_missing_usage() {
    let ledger = ledger();
    let mut stream = call(None, Source::Other, 10);
    stream.tokens = None;
    ledger.record(batch(vec![stream], vec![]), Now::current());
    let state = series(&ledger, &key("anthropic", "claude-sonnet-4-5", "svc"));
    assert_eq!(state.missing_usage, 1);
    assert_eq!(state.requests[Outcome::Ok as usize], 1);
    assert_eq!(state.tokens, TokenCounts::default());
}

#[test]
fn model_label_is_normalized() {
    let ledger = ledger();
    let mut dated = call(None, Source::Other, 10);
    dated.request_model = Some("claude-sonnet-4-5-20250929".to_owned());
    ledger.record(batch(vec![dated], vec![]), Now::current());
    let state = series(&ledger, &key("anthropic", "claude-sonnet-4-5", "svc"));
    assert_eq!(state.requests[Outcome::Ok as usize], 1);
}

#[test]
fn future_end_time_cannot_freeze_snapshot() {
    let ledger = ledger();
    let now = Now::current();
    let far_future = now.wall + Duration::from_secs(10 * 365 * 24 * 3600);
    let mut future_child = child(1, 0);
    future_child.end_time = far_future;
    let mut parent = call(None, Source::Other, 10);
    parent.end_time = far_future;
    ledger.record(batch(vec![parent], vec![future_child]), now);

    // A real response a moment later must replace the reading.
    let later = Now {
        instant: now.instant,
        wall: now.wall + Duration::from_secs(120),
    };
    let mut current = call(None, Source::Other, 10);
    current.span_id = [4; 8];
    current.end_time = later.wall;
    let mut current_child = child(77, 0);
    current_child.parent_span_id = [4; 8];
    current_child.end_time = later.wall;
    ledger.record(batch(vec![current], vec![current_child]), later);

    let state = series(&ledger, &key("anthropic", "claude-sonnet-4-5", "svc"));
    assert_eq!(remaining_requests(&state), Some(77));
}

#[test]
fn series_past_cap_fold_into_overflow() {
    const MAX_SERIES: usize = 50;
    let config = LedgerConfig {
        max_series: MAX_SERIES,
        ..LedgerConfig::default()
    };
    let ledger = Ledger::with_config(Prices::embedded(), config, UNIX_EPOCH);
    let now = Now::current();
    for index in 0..MAX_SERIES + 3 {
        let mut next = call(None, Source::Other, 10);
        next.request_model = Some(format!("model-{index}"));
        next.span_id = (index as u64).to_be_bytes();
        ledger.record(batch(vec![next], vec![]), now);
    }
    let (series, _) = ledger.snapshot();
    assert_eq!(series.len(), MAX_SERIES + 1);
    let overflow = key(OVERFLOW_LABEL, OVERFLOW_LABEL, OVERFLOW_LABEL);
    assert_eq!(series[&overflow].requests[Outcome::Ok as usize], 3);
    let total: u64 = series
        .values()
        .map(|state| state.requests[Outcome::Ok as usize])
        .sum();
    assert_eq!(total, (MAX_SERIES + 3) as u64);
}

/// Returns the time of an update at `wall`, for tests that set the clock.
fn wall(wall: SystemTime) -> Now {
    Now {
        instant: std::time::Instant::now(),
        wall,
    }
}

fn utc(text: &str) -> SystemTime {
    chrono::DateTime::parse_from_rfc3339(text).unwrap().into()
}

fn ledger_with(settings: crate::config::LedgerSettings, started: SystemTime) -> Ledger {
    let config = LedgerConfig::from_settings(&settings).unwrap();
    Ledger::with_config(Prices::embedded(), config, started)
}

fn ending_at(span: u8, end_time: SystemTime) -> LlmSpan {
    let mut next = call(None, Source::Other, 10);
    next.span_id = [span; 8];
    next.start_time = end_time - Duration::from_secs(1);
    next.end_time = end_time;
    next
}

/// 1000 input tokens of claude-sonnet-4-5 at 3 USD per million.
const CALL_PICOS: u128 = 3_000_000_000;

#[test]
fn window_counts_late_calls_in_totals() {
    let ledger = ledger();
    let now = at(10_000);
    let calls = vec![
        ending_at(1, at(9_990)),
        // Out of order, still inside the minute.
        ending_at(2, at(9_941)),
        // Late: ended 60 s or more before it arrived.
        ending_at(3, at(9_940)),
        ending_at(4, at(5_000)),
        // A clock ahead of ours counts now.
        ending_at(5, at(10_030)),
    ];
    ledger.record(batch(calls, vec![]), wall(now));
    let state = series(&ledger, &key("anthropic", "claude-sonnet-4-5", "svc"));
    assert_eq!(state.requests[Outcome::Ok as usize], 5);
    assert_eq!(state.tokens.input, 5_000);
    assert_eq!(state.late_calls, 2);
    let window = state.window.totals(10_000);
    assert_eq!(window.requests, 3);
    assert_eq!(window.tokens.input, 3_000);
    // One second later the call of 9941 has left the window.
    assert_eq!(state.window.totals(10_001).requests, 2);
}

#[test]
fn spend_rolls_over_at_local_midnight() {
    let settings = |zone: &str| crate::config::LedgerSettings {
        time_zone: zone.to_owned(),
        ..crate::config::LedgerSettings::default()
    };
    // 23:59:59 and 00:00:00 in Berlin, both on 31 March in UTC.
    let before_midnight = utc("2026-03-31T21:59:59Z");
    let at_midnight = utc("2026-03-31T22:00:00Z");
    let scraped = utc("2026-03-31T22:30:00Z");
    let started = utc("2026-03-01T00:00:00Z");

    let berlin = ledger_with(settings("Europe/Berlin"), started);
    berlin.record(
        batch(vec![ending_at(1, before_midnight)], vec![]),
        wall(before_midnight),
    );
    berlin.record(
        batch(vec![ending_at(2, at_midnight)], vec![]),
        wall(at_midnight),
    );
    let state = series(&berlin, &key("anthropic", "claude-sonnet-4-5", "svc"));
    let april_1 = chrono::NaiveDate::from_ymd_opt(2026, 4, 1).unwrap();
    assert_eq!(local_day(scraped, Tz::Europe__Berlin), april_1);
    assert_eq!(state.spend.picos(BudgetPeriod::Day, april_1), CALL_PICOS);
    assert_eq!(state.spend.picos(BudgetPeriod::Month, april_1), CALL_PICOS);
    assert_eq!(state.cost_picos, 2 * CALL_PICOS);

    let utc_ledger = ledger_with(settings("UTC"), started);
    utc_ledger.record(
        batch(vec![ending_at(1, before_midnight)], vec![]),
        wall(before_midnight),
    );
    utc_ledger.record(
        batch(vec![ending_at(2, at_midnight)], vec![]),
        wall(at_midnight),
    );
    let state = series(&utc_ledger, &key("anthropic", "claude-sonnet-4-5", "svc"));
    let march_31 = chrono::NaiveDate::from_ymd_opt(2026, 3, 31).unwrap();
    assert_eq!(
        state.spend.picos(BudgetPeriod::Day, march_31),
        2 * CALL_PICOS
    );
    assert_eq!(
        state.spend.picos(BudgetPeriod::Month, march_31),
        2 * CALL_PICOS
    );
}

#[test]
fn allowlisted_labels_and_key_id_split_series() {
    let settings = crate::config::LedgerSettings {
        labels: vec!["deployment.environment".to_owned(), KEY_ID.to_owned()],
        ..crate::config::LedgerSettings::default()
    };
    let ledger = ledger_with(settings, UNIX_EPOCH);
    let labelled = |span: u8, environment: Option<&str>, key_id: Option<&str>| {
        let mut next = call(None, Source::Other, 10);
        next.span_id = [span; 8];
        next.label_values = vec![environment.map(Arc::from), None];
        next.key_id = key_id.map(Arc::from);
        next
    };
    let calls = vec![
        labelled(1, Some("prod"), Some("key:aaaa")),
        labelled(2, Some("prod"), Some("key:aaaa")),
        labelled(3, Some("prod"), Some("key:bbbb")),
        labelled(4, None, None),
    ];
    ledger.record(batch(calls, vec![]), Now::current());
    let (all, _) = ledger.snapshot();
    let found: Vec<(Vec<&str>, u64)> = all
        .iter()
        .map(|(key, state)| {
            let extra = key.extra.iter().map(|value| &**value).collect();
            (extra, state.requests[Outcome::Ok as usize])
        })
        .collect();
    assert_eq!(
        found,
        [
            (vec!["", ""], 1),
            (vec!["prod", "key:aaaa"], 2),
            (vec!["prod", "key:bbbb"], 1),
        ]
    );
    let labels = all.keys().nth(1).unwrap().labels(ledger.config());
    assert_eq!(
        labels,
        [
            ("gen_ai_provider_name", "anthropic"),
            ("gen_ai_request_model", "claude-sonnet-4-5"),
            ("service_name", "svc"),
            ("deployment_environment", "prod"),
            ("key_id", "key:aaaa"),
        ]
    );
}

#[test]
fn overflow_keeps_requests_tokens_and_cost_exact() {
    let settings = crate::config::LedgerSettings {
        labels: vec!["tenant.id".to_owned()],
        max_series: 3,
        ..crate::config::LedgerSettings::default()
    };
    let ledger = ledger_with(settings, UNIX_EPOCH);
    let calls: Vec<LlmSpan> = (0..10u8)
        .map(|index| {
            let mut next = call(None, Source::Other, 10);
            next.span_id = [index; 8];
            next.label_values = vec![Some(Arc::from(format!("tenant-{index}")))];
            next
        })
        .collect();
    ledger.record(batch(calls, vec![]), Now::current());
    let (all, _) = ledger.snapshot();
    assert_eq!(all.len(), 4);
    let overflow: Arc<str> = Arc::from(OVERFLOW_LABEL);
    let overflow_key = SeriesKey {
        provider: overflow.clone(),
        model: overflow.clone(),
        service: overflow.clone(),
        extra: Arc::from([overflow]),
    };
    assert_eq!(all[&overflow_key].requests[Outcome::Ok as usize], 7);
    let requests: u64 = all.values().map(|state| state.requests[0]).sum();
    let input: u64 = all.values().map(|state| state.tokens.input).sum();
    let cost: u128 = all.values().map(|state| state.cost_picos).sum();
    assert_eq!((requests, input, cost), (10, 10_000, 10 * CALL_PICOS));
}

fn reading(limit: u64, remaining: u64, reset_at: SystemTime) -> LimitReading {
    LimitReading {
        limit: Some(limit),
        remaining: Some(remaining),
        reset_at: Some(reset_at),
    }
}

#[test]
fn blocked_until_takes_latest_deadline() {
    let now = at(1_000);
    let mut state = SeriesState::default();
    let observation = RateLimitObservation {
        limits: vec![
            (LimitKind::Requests, reading(50, 0, at(1_030))),
            (LimitKind::InputTokens, reading(10_000, 0, at(1_045))),
            // Not exhausted, so its later reset does not block.
            (LimitKind::OutputTokens, reading(10_000, 5, at(1_090))),
        ],
        retry_after_until: Some(at(1_040)),
        invalid: Vec::new(),
    };
    state.apply_rate_limits(None, &observation, now);
    assert_eq!(state.blocked_until(&None, now), Some(at(1_045)));

    let longer_retry = RateLimitObservation {
        retry_after_until: Some(at(1_100)),
        ..RateLimitObservation::default()
    };
    state.apply_rate_limits(None, &longer_retry, at(1_001));
    assert_eq!(state.blocked_until(&None, now), Some(at(1_100)));
    // Past every deadline, nothing blocks.
    assert_eq!(state.blocked_until(&None, at(1_100)), None);
    // Another key is not blocked by this one's limits.
    assert_eq!(
        state.blocked_until(&Some(Arc::from("key:other")), now),
        None
    );
}

#[test]
fn rate_limits_are_kept_per_key_and_bounded() {
    let mut state = SeriesState::default();
    let observation = |remaining| RateLimitObservation {
        limits: vec![(LimitKind::Requests, reading(50, remaining, at(2_000)))],
        ..RateLimitObservation::default()
    };
    for index in 0..MAX_KEYS_PER_SERIES as u64 + 2 {
        let key_id: Arc<str> = Arc::from(format!("key:{index}"));
        state.apply_rate_limits(Some(&key_id), &observation(index), at(1_000 + index));
    }
    assert_eq!(state.limits.len(), MAX_KEYS_PER_SERIES);
    // The two keys seen longest ago gave way.
    let kept: Vec<u64> = state
        .limits
        .values()
        .filter_map(|snapshot| snapshot.reading.remaining)
        .collect();
    assert!(!kept.contains(&0), "{kept:?}");
    assert!(!kept.contains(&1), "{kept:?}");
    let key_17: Option<Arc<str>> = Some(Arc::from("key:17"));
    let newest = &state.limits[&(key_17, LimitKind::Requests)];
    assert_eq!(newest.reading.remaining, Some(17));
}
