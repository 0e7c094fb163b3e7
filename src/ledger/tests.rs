use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::call::{LimitReading, ServiceTier};
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
        .get(&LimitKind::Requests)
        .and_then(|snapshot| snapshot.reading.remaining)
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
    assert!(state.retry_after.is_some());
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
    let ledger = ledger();
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
