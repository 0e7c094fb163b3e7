use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::call::{LimitKind, LimitReading, RateLimitObservation, ServiceTier, TokenCounts};
use crate::extract::{Extracted, LlmSpan, Source};
use crate::ledger::{Ledger, Now};
use crate::pricing::Prices;

fn at(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

fn nanos(seconds: u64) -> u64 {
    seconds * 1_000_000_000
}

fn call(span: u8) -> LlmSpan {
    LlmSpan {
        trace_id: [1; 16],
        span_id: [span; 8],
        service: Arc::from("checkout"),
        resource_id: 0,
        source: Source::Other,
        provider: "anthropic".to_owned(),
        operation: "chat".to_owned(),
        request_model: Some("claude-sonnet-4-5".to_owned()),
        response_model: None,
        response_id: None,
        tokens: Some(TokenCounts {
            input: 1000,
            output: 100,
            ..TokenCounts::default()
        }),
        cache_creation_1h: 0,
        service_tier: ServiceTier::Standard,
        key_id: None,
        label_values: Vec::new(),
        outcome: Outcome::Ok,
        start_time: at(99),
        end_time: at(100),
        rate_limits: RateLimitObservation {
            limits: vec![(
                LimitKind::Requests,
                LimitReading {
                    limit: Some(50),
                    remaining: Some(40),
                    reset_at: Some(at(1_000)),
                },
            )],
            ..RateLimitObservation::default()
        },
    }
}

fn record(ledger: &Ledger, span: u8, wall_seconds: u64) {
    let extracted = Extracted {
        llm_spans: vec![call(span)],
        ..Extracted::default()
    };
    let now = Now {
        instant: Instant::now(),
        wall: at(wall_seconds),
    };
    ledger.record(extracted, now);
}

fn metric<'a>(request: &'a ExportMetricsServiceRequest, name: &str) -> &'a Metric {
    request.resource_metrics[0].scope_metrics[0]
        .metrics
        .iter()
        .find(|metric| metric.name == name)
        .unwrap_or_else(|| panic!("no metric {name}"))
}

fn sum_points<'a>(
    request: &'a ExportMetricsServiceRequest,
    name: &str,
) -> (&'a Sum, &'a [NumberDataPoint]) {
    match &metric(request, name).data {
        Some(Data::Sum(sum)) => (sum, &sum.data_points),
        other => panic!("{name} is not a sum: {other:?}"),
    }
}

fn attribute<'a>(point: &'a [KeyValue], key: &str) -> Option<&'a str> {
    point
        .iter()
        .find(|attribute| attribute.key == key)
        .and_then(
            |attribute| match attribute.value.as_ref()?.value.as_ref()? {
                Value::StringValue(text) => Some(text.as_str()),
                _ => None,
            },
        )
}

fn ok_requests(request: &ExportMetricsServiceRequest) -> &NumberDataPoint {
    let (_, points) = sum_points(request, "burnrate.llm.requests");
    points
        .iter()
        .find(|point| attribute(&point.attributes, "outcome") == Some("ok"))
        .unwrap()
}

fn ledger() -> Ledger {
    Ledger::new(Prices::embedded())
}

#[test]
fn cumulative_points_start_when_series_was_first_seen() {
    let ledger = ledger();
    record(&ledger, 1, 500);
    record(&ledger, 2, 600);
    let (series, _) = ledger.snapshot();
    let request = OtlpMetricsBuilder::new(Temporality::Cumulative, &ledger).build(&series, at(700));

    let (sum, _) = sum_points(&request, "burnrate.llm.requests");
    assert!(sum.is_monotonic);
    assert_eq!(
        sum.aggregation_temporality,
        AggregationTemporality::Cumulative as i32
    );
    let point = ok_requests(&request);
    assert_eq!(point.start_time_unix_nano, nanos(500));
    assert_eq!(point.time_unix_nano, nanos(700));
    assert_eq!(point.value, Some(number_data_point::Value::AsInt(2)));
    assert_eq!(
        attribute(&point.attributes, "gen_ai.provider.name"),
        Some("anthropic")
    );
    assert_eq!(
        attribute(&point.attributes, "gen_ai.request.model"),
        Some("claude-sonnet-4-5")
    );
    assert_eq!(
        attribute(&point.attributes, "service.name"),
        Some("checkout")
    );
}

#[test]
fn cost_is_in_dollars() {
    let ledger = ledger();
    record(&ledger, 1, 500);
    let (series, _) = ledger.snapshot();
    let request = OtlpMetricsBuilder::new(Temporality::Cumulative, &ledger).build(&series, at(700));
    let (_, points) = sum_points(&request, "burnrate.llm.cost_usd");
    // 1000 input tokens at 3 USD and 100 output tokens at 15 USD per million.
    assert_eq!(
        points[0].value,
        Some(number_data_point::Value::AsDouble(0.0045))
    );
}

#[test]
fn delta_points_chain() {
    let ledger = ledger();
    let mut builder = OtlpMetricsBuilder::new(Temporality::Delta, &ledger);
    record(&ledger, 1, 500);
    let first = builder.build(&ledger.snapshot().0, at(600));
    record(&ledger, 2, 650);
    record(&ledger, 3, 660);
    let second = builder.build(&ledger.snapshot().0, at(700));
    let third = builder.build(&ledger.snapshot().0, at(800));

    let (sum, _) = sum_points(&first, "burnrate.llm.requests");
    assert_eq!(
        sum.aggregation_temporality,
        AggregationTemporality::Delta as i32
    );
    let points = [
        ok_requests(&first),
        ok_requests(&second),
        ok_requests(&third),
    ];
    let starts: Vec<u64> = points
        .iter()
        .map(|point| point.start_time_unix_nano)
        .collect();
    let ends: Vec<u64> = points.iter().map(|point| point.time_unix_nano).collect();
    let values: Vec<_> = points.iter().map(|point| point.value).collect();
    assert_eq!(starts, [nanos(500), nanos(600), nanos(700)]);
    assert_eq!(ends, [nanos(600), nanos(700), nanos(800)]);
    use number_data_point::Value::AsInt;
    assert_eq!(values, [Some(AsInt(1)), Some(AsInt(2)), Some(AsInt(0))]);
}

#[test]
fn delta_histogram_holds_only_new_calls() {
    let ledger = ledger();
    let mut builder = OtlpMetricsBuilder::new(Temporality::Delta, &ledger);
    record(&ledger, 1, 500);
    builder.build(&ledger.snapshot().0, at(600));
    record(&ledger, 2, 650);
    let second = builder.build(&ledger.snapshot().0, at(700));
    let Some(Data::Histogram(histogram)) =
        &metric(&second, "gen_ai.client.operation.duration").data
    else {
        panic!("duration is not a histogram");
    };
    assert_eq!(histogram.data_points[0].count, 1);
    assert_eq!(
        histogram.data_points[0].bucket_counts.iter().sum::<u64>(),
        1
    );
    assert_eq!(histogram.data_points[0].start_time_unix_nano, nanos(600));
}

#[test]
fn rate_limit_gauges_and_reset() {
    let ledger = ledger();
    record(&ledger, 1, 500);
    let request = OtlpMetricsBuilder::new(Temporality::Cumulative, &ledger)
        .build(&ledger.snapshot().0, at(900));
    let gauge_value = |name: &str| match &metric(&request, name).data {
        Some(Data::Gauge(gauge)) => gauge.data_points[0].value,
        other => panic!("{name} is not a gauge: {other:?}"),
    };
    use number_data_point::Value::AsDouble;
    assert_eq!(
        gauge_value("burnrate.ratelimit.limit"),
        Some(AsDouble(50.0))
    );
    assert_eq!(
        gauge_value("burnrate.ratelimit.remaining"),
        Some(AsDouble(40.0))
    );
    assert_eq!(
        gauge_value("burnrate.ratelimit.utilization_ratio"),
        Some(AsDouble(0.2))
    );
    assert_eq!(
        gauge_value("burnrate.ratelimit.reset_seconds"),
        Some(AsDouble(100.0))
    );
    assert_eq!(
        metric(&request, "burnrate.ratelimit.reset_seconds").unit,
        "s"
    );
}

#[test]
fn empty_ledger_sends_no_metrics() {
    let request =
        OtlpMetricsBuilder::new(Temporality::Cumulative, &ledger()).build(&BTreeMap::new(), at(1));
    assert!(
        request.resource_metrics[0].scope_metrics[0]
            .metrics
            .is_empty()
    );
}
