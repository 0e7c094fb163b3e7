//! The metric families that `GET /metrics` serves. Names and labels are the
//! public contract that dashboards and alert rules depend on.

use std::sync::atomic::Ordering;
use std::time::SystemTime;

use super::text::{MetricSink, TextWriter};
use std::collections::BTreeMap;

use super::gauges::{BudgetGauge, SeriesGauge, SeriesSample, budget_samples, series_samples};
use crate::call::Outcome;
use crate::export::{DropReason, ExportQueue};
use crate::extract::AttributeProblem;
use crate::ledger::{LedgerConfig, PICOS_PER_USD, SeriesKey, SeriesState};
use crate::pipeline::{ItemFate, Pipeline};
use crate::signal::{Signal, Transport};

const OUTCOMES: [Outcome; 4] = [
    Outcome::Ok,
    Outcome::RateLimited,
    Outcome::Overloaded,
    Outcome::Error,
];

/// Renders every metric family at time `now`, which the seconds-to-reset
/// gauges count from.
pub fn render(pipeline: &Pipeline, now: SystemTime) -> String {
    let mut writer = TextWriter::new();
    write_all(&mut writer, pipeline, now);
    writer.finish()
}

/// Renders every metric family at time `now` into `writer`.
pub fn write_all(writer: &mut dyn MetricSink, pipeline: &Pipeline, now: SystemTime) {
    // Rendered from a copy, so a large scrape does not hold up the receivers.
    let (series, stats) = pipeline.ledger.snapshot();
    let config = pipeline.ledger.config();
    let started = pipeline.ledger.started();
    write_call_counters(writer, &series, config);
    write_gauges(writer, &series, config, started, now);
    write_histograms(writer, &series, config);

    writer.family(
        "burnrate_llm_duplicate_spans_total",
        "counter",
        "LLM spans skipped because another instrumentation already reported the same call.",
    );
    writer.sample(
        "burnrate_llm_duplicate_spans_total",
        &[],
        stats.duplicate_spans as f64,
    );
    writer.family(
        "burnrate_ratelimit_invalid_headers_total",
        "counter",
        "Captured rate-limit header values that could not be parsed.",
    );
    writer.sample(
        "burnrate_ratelimit_invalid_headers_total",
        &[],
        stats.invalid_headers as f64,
    );

    let name = "burnrate_extract_rejected_attributes_total";
    writer.family(
        name,
        "counter",
        "Attributes that extraction ignored because of their value; the span is still used and forwarded.",
    );
    for problem in AttributeProblem::ALL {
        let count = stats.attribute_problems.get(problem) as f64;
        writer.sample(name, &[("reason", problem.as_str())], count);
    }
    let name = "burnrate_extract_truncated_spans_total";
    writer.family(
        name,
        "counter",
        "Spans with more attributes than extract.max_attributes_per_span; the rest were not read.",
    );
    writer.sample(name, &[], stats.truncated_spans as f64);
    write_pricing_reloads(writer, pipeline);
    pipeline.alerts.write_metrics(writer);
    write_receiver(writer, pipeline);
    write_processing(writer, pipeline);
    write_exporters(writer, pipeline);
}

fn write_pricing_reloads(writer: &mut dyn MetricSink, pipeline: &Pipeline) {
    let name = "burnrate_pricing_reloads_total";
    writer.family(
        name,
        "counter",
        "Reloads of the price table on SIGHUP or a changed price file, by result; a failure keeps the previous prices.",
    );
    let (succeeded, failed) = pipeline.ledger.prices().reload_counts();
    writer.sample(name, &[("result", "success")], succeeded as f64);
    writer.sample(name, &[("result", "failure")], failed as f64);
}

/// Writes one counter family with one sample per series and extra label value.
fn write_per_series<'a, T: Copy>(
    writer: &mut dyn MetricSink,
    series: &'a BTreeMap<SeriesKey, SeriesState>,
    config: &LedgerConfig,
    family: (&str, &str),
    extra: Option<(&str, &[(T, &str)])>,
    value: impl Fn(&'a SeriesState, Option<T>) -> f64,
) {
    let (name, help) = family;
    writer.family(name, "counter", help);
    for (key, state) in series {
        let labels = key.labels(config);
        match extra {
            None => writer.sample(name, &labels, value(state, None)),
            Some((label, values)) => {
                for (item, label_value) in values {
                    let mut labels = labels.clone();
                    labels.push((label, label_value));
                    writer.sample(name, &labels, value(state, Some(*item)));
                }
            }
        }
    }
}

fn write_call_counters(
    writer: &mut dyn MetricSink,
    series: &BTreeMap<SeriesKey, SeriesState>,
    config: &LedgerConfig,
) {
    let outcomes: Vec<(Outcome, &str)> = OUTCOMES
        .iter()
        .map(|outcome| (*outcome, outcome.as_str()))
        .collect();
    write_per_series(
        writer,
        series,
        config,
        ("burnrate_llm_requests_total", "LLM calls by outcome."),
        Some(("outcome", &outcomes)),
        |state, outcome| outcome.map_or(0.0, |outcome| state.requests[outcome as usize] as f64),
    );

    let token_types: Vec<(usize, &str)> = crate::call::TokenCounts::default()
        .by_type()
        .iter()
        .enumerate()
        .map(|(index, (token_type, _))| (index, *token_type))
        .collect();
    write_per_series(
        writer,
        series,
        config,
        (
            "burnrate_llm_tokens_total",
            "Tokens by type. The types partition a call's tokens: input excludes cache reads and writes, output excludes reasoning.",
        ),
        Some(("gen_ai_token_type", &token_types)),
        |state, index| index.map_or(0.0, |index| state.tokens.by_type()[index].1 as f64),
    );

    type Counter = (&'static str, &'static str, fn(&SeriesState) -> f64);
    let counters: [Counter; 4] = [
        (
            "burnrate_llm_cost_usd_total",
            "Cost of priced LLM calls in US dollars.",
            |state| state.cost_picos as f64 / PICOS_PER_USD,
        ),
        (
            "burnrate_llm_unpriced_tokens_total",
            "Tokens of calls whose model is missing from the price table; their cost is unknown, not zero.",
            |state| state.unpriced_tokens as f64,
        ),
        (
            "burnrate_llm_missing_usage_total",
            "LLM calls whose span reported no token usage, such as streams without usage.",
            |state| state.missing_usage as f64,
        ),
        (
            "burnrate_llm_late_calls_total",
            "LLM calls whose span ended 60 seconds or more before it arrived; they count in every total but not in the per-minute gauges.",
            |state| state.late_calls as f64,
        ),
    ];
    for (name, help, value) in counters {
        write_per_series::<()>(writer, series, config, (name, help), None, |state, _| {
            value(state)
        });
    }
}

/// Writes the gauges of every series and budget, one family at a time.
fn write_gauges(
    writer: &mut dyn MetricSink,
    series: &BTreeMap<SeriesKey, SeriesState>,
    config: &LedgerConfig,
    started: SystemTime,
    now: SystemTime,
) {
    let per_series: Vec<(&SeriesKey, Vec<SeriesSample>)> = series
        .iter()
        .map(|(key, state)| (key, series_samples(state, config, started, now)))
        .collect();
    for gauge in SeriesGauge::ALL {
        let name = prometheus_name(gauge.name());
        writer.family(&name, "gauge", gauge.help());
        for (key, samples) in &per_series {
            for sample in samples.iter().filter(|sample| sample.gauge == gauge) {
                let label_names: Vec<String> = sample
                    .labels
                    .iter()
                    .map(|(label, _)| prometheus_name(label))
                    .collect();
                let mut labels = key.labels(config);
                for (name, (_, value)) in label_names.iter().zip(&sample.labels) {
                    labels.push((name, value));
                }
                writer.sample(&name, &labels, sample.value);
            }
        }
    }

    let budgets = budget_samples(series, config, started, now);
    for gauge in BudgetGauge::ALL {
        let name = prometheus_name(gauge.name());
        writer.family(&name, "gauge", gauge.help());
        for sample in budgets.iter().filter(|sample| sample.gauge == gauge) {
            let labels = [
                ("budget", &*sample.budget),
                ("period", sample.period.as_str()),
            ];
            writer.sample(&name, &labels, sample.value);
        }
    }
}

/// Turns an OTLP metric or attribute name into its Prometheus form.
fn prometheus_name(name: &str) -> String {
    name.replace('.', "_")
}

fn write_histograms(
    writer: &mut dyn MetricSink,
    series: &BTreeMap<SeriesKey, SeriesState>,
    config: &LedgerConfig,
) {
    let name = "gen_ai_client_token_usage";
    writer.family(
        name,
        "histogram",
        "Tokens per call as the GenAI semantic conventions count them: input includes cache tokens, output includes reasoning.",
    );
    for (key, state) in series {
        for (token_type, histogram) in [
            ("input", &state.input_token_usage),
            ("output", &state.output_token_usage),
        ] {
            if histogram.count == 0 {
                continue;
            }
            let mut labels = key.labels(config);
            labels.push(("gen_ai_token_type", token_type));
            writer.histogram(
                name,
                &labels,
                histogram.bounds,
                &histogram.counts,
                histogram.sum,
            );
        }
    }

    let name = "gen_ai_client_operation_duration_seconds";
    writer.family(
        name,
        "histogram",
        "Duration of LLM calls in seconds, from the LLM span.",
    );
    for (key, state) in series {
        let histogram = &state.duration_seconds;
        if histogram.count > 0 {
            writer.histogram(
                name,
                &key.labels(config),
                histogram.bounds,
                &histogram.counts,
                histogram.sum,
            );
        }
    }
}

fn write_receiver(writer: &mut dyn MetricSink, pipeline: &Pipeline) {
    let stats = &pipeline.receiver_stats;
    for signal in Signal::ALL {
        for fate in ItemFate::ALL {
            let name = format!(
                "burnrate_receiver_{}_{}_total",
                fate.as_str(),
                signal.item_name()
            );
            let help = match fate {
                ItemFate::Accepted => "recorded and queued for export",
                ItemFate::Refused => {
                    "answered with a retryable error because an export queue was full"
                }
                ItemFate::Rejected => {
                    "removed from requests as invalid and reported in a partial success"
                }
            };
            writer.family(
                &name,
                "counter",
                &format!("Received {}: {help}.", signal.item_name().replace('_', " ")),
            );
            for transport in Transport::ALL {
                let labels = [("transport", transport.as_str())];
                writer.sample(&name, &labels, stats.items(signal, transport, fate) as f64);
            }
        }
    }

    let name = "burnrate_receiver_invalid_requests_total";
    writer.family(
        name,
        "counter",
        "Requests rejected whole because they could not be read or decoded.",
    );
    for signal in Signal::ALL {
        for transport in Transport::ALL {
            let labels = [
                ("signal", signal.as_str()),
                ("transport", transport.as_str()),
            ];
            writer.sample(
                name,
                &labels,
                stats.invalid_requests(signal, transport) as f64,
            );
        }
    }
}

fn write_processing(writer: &mut dyn MetricSink, pipeline: &Pipeline) {
    let stats = &pipeline.processing_stats;
    let families = [
        (
            "burnrate_processing_removed_headers_total",
            "Captured credential header attributes removed from spans before forwarding.",
            &stats.removed_headers,
        ),
        (
            "burnrate_processing_changed_content_total",
            "Prompt and response content attributes dropped, truncated or hashed before forwarding.",
            &stats.changed_content,
        ),
        (
            "burnrate_processing_costed_spans_total",
            "LLM spans that got their computed cost as an attribute before forwarding.",
            &stats.costed_spans,
        ),
    ];
    for (name, help, counter) in families {
        writer.family(name, "counter", help);
        writer.sample(name, &[], counter.load(Ordering::Relaxed) as f64);
    }
}

fn write_exporters(writer: &mut dyn MetricSink, pipeline: &Pipeline) {
    let exporters = &pipeline.exporters;
    for signal in Signal::ALL {
        let items = signal.item_name();
        let name = format!("burnrate_exporter_sent_{items}_total");
        writer.family(
            &name,
            "counter",
            &format!("{} the upstream accepted.", capitalize(items)),
        );
        for exporter in exporters {
            writer.sample(
                &name,
                &[("exporter", &exporter.name)],
                exporter.stats.sent_items(signal) as f64,
            );
        }

        let name = format!("burnrate_exporter_rejected_{items}_total");
        writer.family(
            &name,
            "counter",
            &format!(
                "{} the upstream reported as rejected in a partial success.",
                capitalize(items)
            ),
        );
        for exporter in exporters {
            writer.sample(
                &name,
                &[("exporter", &exporter.name)],
                exporter.stats.rejected_items(signal) as f64,
            );
        }

        let name = format!("burnrate_exporter_send_failed_{items}_total");
        writer.family(
            &name,
            "counter",
            "Items given up, by reason: permanent error, retries exhausted, or shutdown.",
        );
        for exporter in exporters {
            for reason in DropReason::ALL {
                let labels = [("exporter", &*exporter.name), ("reason", reason.as_str())];
                writer.sample(
                    &name,
                    &labels,
                    exporter.stats.failed_items(signal, reason) as f64,
                );
            }
        }
    }

    let name = "burnrate_exporter_retries_total";
    writer.family(
        name,
        "counter",
        "Export attempts that failed and were retried.",
    );
    for exporter in exporters {
        writer.sample(
            name,
            &[("exporter", &exporter.name)],
            exporter.stats.retries.load(Ordering::Relaxed) as f64,
        );
    }
    let name = "burnrate_exporter_in_flight_requests";
    writer.family(
        name,
        "gauge",
        "Export requests taken from the queue whose delivery, including retries, has not ended.",
    );
    for exporter in exporters {
        let in_flight = exporter.stats.in_flight_requests.load(Ordering::Relaxed);
        writer.sample(name, &[("exporter", &exporter.name)], in_flight as f64);
    }
    let gauges: [QueueGauge; 4] = [
        (
            "burnrate_queue_size",
            "Export requests waiting in the queue.",
            ExportQueue::depth,
        ),
        (
            "burnrate_queue_size_bytes",
            "Bytes of the export requests waiting in the queue.",
            ExportQueue::queued_bytes,
        ),
        (
            "burnrate_queue_capacity",
            "Maximum number of export requests in the queue.",
            |queue| queue.limits().max_requests,
        ),
        (
            "burnrate_queue_capacity_bytes",
            "Maximum bytes of export requests in the queue.",
            |queue| queue.limits().max_bytes,
        ),
    ];
    for (name, help, value) in gauges {
        writer.family(name, "gauge", help);
        for exporter in exporters {
            writer.sample(
                name,
                &[("exporter", &exporter.name)],
                value(exporter) as f64,
            );
        }
    }
}

/// A queue gauge: name, help, and how to read it.
type QueueGauge = (&'static str, &'static str, fn(&ExportQueue) -> usize);

fn capitalize(text: &str) -> String {
    let text = text.replace('_', " ");
    let mut characters = text.chars();
    characters
        .next()
        .map(|first| first.to_uppercase().chain(characters).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::call::{LimitKind, LimitReading, RateLimitObservation, ServiceTier, TokenCounts};
    use crate::extract::{Extracted, LlmSpan, Source};
    use crate::ledger::{Ledger, Now};
    use crate::pricing::Prices;

    fn pipeline_with_reading(reset_at: SystemTime) -> Pipeline {
        let ledger = Arc::new(Ledger::new(Prices::embedded()));
        let reading = LimitReading {
            limit: Some(100),
            remaining: Some(0),
            reset_at: Some(reset_at),
        };
        let call = LlmSpan {
            trace_id: [1; 16],
            span_id: [2; 8],
            service: Arc::from("svc"),
            resource_id: 0,
            source: Source::Other,
            provider: "openai".to_owned(),
            operation: "chat".to_owned(),
            request_model: Some("gpt-4o".to_owned()),
            response_model: None,
            response_id: None,
            tokens: Some(TokenCounts::default()),
            cache_creation_1h: 0,
            service_tier: ServiceTier::Standard,
            key_id: None,
            label_values: Vec::new(),
            outcome: Outcome::Ok,
            start_time: UNIX_EPOCH,
            end_time: UNIX_EPOCH + Duration::from_secs(100),
            rate_limits: RateLimitObservation {
                limits: vec![(LimitKind::Requests, reading)],
                ..RateLimitObservation::default()
            },
        };
        let extracted = Extracted {
            llm_spans: vec![call],
            ..Extracted::default()
        };
        ledger.record(extracted, Now::current());
        Pipeline::new(ledger, Vec::new(), crate::extract::DEFAULT_MAX_ATTRIBUTES)
    }

    fn sample(text: &str, prefix: &str) -> String {
        text.lines()
            .find(|line| line.starts_with(prefix))
            .unwrap()
            .to_owned()
    }

    #[test]
    fn window_before_reset_shows_last_response() {
        let now = UNIX_EPOCH + Duration::from_secs(200);
        let text = render(&pipeline_with_reading(now + Duration::from_secs(30)), now);
        assert!(sample(&text, "burnrate_ratelimit_remaining{").ends_with(" 0"));
        assert!(sample(&text, "burnrate_ratelimit_utilization_ratio{").ends_with(" 1"));
        assert!(sample(&text, "burnrate_ratelimit_reset_seconds{").ends_with(" 30"));
    }

    #[test]
    fn window_after_reset_is_full_again() {
        let now = UNIX_EPOCH + Duration::from_secs(200);
        let text = render(&pipeline_with_reading(now - Duration::from_secs(1)), now);
        assert!(sample(&text, "burnrate_ratelimit_remaining{").ends_with(" 100"));
        assert!(sample(&text, "burnrate_ratelimit_utilization_ratio{").ends_with(" 0"));
        assert!(sample(&text, "burnrate_ratelimit_reset_seconds{").ends_with(" 0"));
    }

    fn utc(text: &str) -> SystemTime {
        chrono::DateTime::parse_from_rfc3339(text).unwrap().into()
    }

    /// Two calls of 1000 input tokens (0.003 USD each) that ended 10 and 20
    /// seconds before `now`, the newest with 10 of 50 requests left.
    fn pipeline_with_budgets(started: SystemTime, now: SystemTime) -> Pipeline {
        let yaml = r#"
time_zone: UTC
labels: [deployment.environment]
budgets:
  - { name: svc-month, period: month, amount_usd: 100, selector: '{service_name="svc"}' }
  - { name: svc-day, period: day, amount_usd: 1.5, selector: '{deployment_environment="prod"}' }
  - { name: other, period: month, amount_usd: 7, selector: '{service_name="other"}' }
"#;
        let settings: crate::config::LedgerSettings = serde_yaml::from_str(yaml).unwrap();
        let config = crate::ledger::LedgerConfig::from_settings(&settings).unwrap();
        let ledger = Arc::new(Ledger::with_config(Prices::embedded(), config, started));
        let mut calls = Vec::new();
        for (span, ago, remaining) in [(1u8, 20, 20), (2, 10, 10)] {
            let end_time = now - Duration::from_secs(ago);
            let reading = LimitReading {
                limit: Some(50),
                remaining: Some(remaining),
                reset_at: Some(now + Duration::from_secs(30)),
            };
            calls.push(LlmSpan {
                trace_id: [1; 16],
                span_id: [span; 8],
                service: Arc::from("svc"),
                resource_id: 0,
                source: Source::Other,
                provider: "anthropic".to_owned(),
                operation: "chat".to_owned(),
                request_model: Some("claude-sonnet-4-5".to_owned()),
                response_model: None,
                response_id: None,
                tokens: Some(TokenCounts {
                    input: 1_000,
                    ..TokenCounts::default()
                }),
                cache_creation_1h: 0,
                service_tier: ServiceTier::Standard,
                key_id: None,
                label_values: vec![Some(Arc::from("prod"))],
                outcome: Outcome::Ok,
                start_time: end_time - Duration::from_secs(1),
                end_time,
                rate_limits: RateLimitObservation {
                    limits: vec![(LimitKind::Requests, reading)],
                    ..RateLimitObservation::default()
                },
            });
        }
        let extracted = Extracted {
            llm_spans: calls,
            ..Extracted::default()
        };
        let update = Now {
            instant: std::time::Instant::now(),
            wall: now,
        };
        ledger.record(extracted, update);
        Pipeline::new(ledger, Vec::new(), crate::extract::DEFAULT_MAX_ATTRIBUTES)
    }

    #[test]
    fn spend_budget_and_window_gauges() {
        let started = utc("2026-04-01T00:00:00Z");
        // 10 of 30 days of April gone, 6 of 24 hours of the day.
        let now = utc("2026-04-11T06:00:00Z");
        let text = render(&pipeline_with_budgets(started, now), now);
        let series = r#"gen_ai_provider_name="anthropic",gen_ai_request_model="claude-sonnet-4-5",service_name="svc",deployment_environment="prod""#;
        let expected = [
            format!("burnrate_spend_usd{{{series},period=\"day\"}} 0.006"),
            format!("burnrate_spend_usd{{{series},period=\"month\"}} 0.006"),
            format!("burnrate_spend_projected_usd{{{series},period=\"day\"}} 0.024"),
            // 0.006 * 30 / 10.25 days.
            format!("burnrate_spend_projected_usd{{{series},period=\"month\"}} 0.0175609756097561"),
            format!("burnrate_llm_requests_per_minute{{{series}}} 2"),
            format!("burnrate_llm_tokens_per_minute{{{series},gen_ai_token_type=\"input\"}} 2000"),
            format!("burnrate_llm_tokens_per_minute{{{series},gen_ai_token_type=\"output\"}} 0"),
            format!("burnrate_ratelimit_remaining{{{series},limit=\"requests\"}} 10"),
            // 10 requests left at 2 a minute.
            format!("burnrate_ratelimit_exhaustion_seconds{{{series},limit=\"requests\"}} 300"),
            format!("burnrate_ratelimit_blocked_seconds{{{series}}} 0"),
            format!("burnrate_llm_late_calls_total{{{series}}} 0"),
            r#"burnrate_budget_usd{budget="svc-month",period="month"} 100"#.to_owned(),
            r#"burnrate_budget_usd{budget="svc-day",period="day"} 1.5"#.to_owned(),
            r#"burnrate_budget_spend_usd{budget="svc-month",period="month"} 0.006"#.to_owned(),
            r#"burnrate_budget_spend_usd{budget="svc-day",period="day"} 0.006"#.to_owned(),
            r#"burnrate_budget_spend_usd{budget="other",period="month"} 0"#.to_owned(),
            r#"burnrate_budget_spend_projected_usd{budget="svc-day",period="day"} 0.024"#
                .to_owned(),
            r#"burnrate_budget_spend_projected_usd{budget="other",period="month"} 0"#.to_owned(),
        ];
        for line in expected {
            assert!(
                text.lines().any(|found| found == line),
                "missing {line}\n{text}"
            );
        }
    }

    #[test]
    fn projection_waits_for_a_basis() {
        let started = utc("2026-04-11T06:00:00Z");
        let now = utc("2026-04-11T06:05:00Z");
        let text = render(&pipeline_with_budgets(started, now), now);
        assert!(!text.contains("burnrate_spend_projected_usd{"), "{text}");
        assert!(
            !text.contains("burnrate_budget_spend_projected_usd{"),
            "{text}"
        );
        assert!(
            text.contains("burnrate_budget_spend_usd{budget=\"svc-month\",period=\"month\"} 0.006")
        );
    }
}
