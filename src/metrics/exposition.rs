//! The metric families that `GET /metrics` serves. Names and labels are the
//! public contract that dashboards and alert rules depend on.

use std::sync::atomic::Ordering;
use std::time::SystemTime;

use super::text::TextWriter;
use crate::call::{LimitKind, Outcome};
use crate::export::{DropReason, ExportQueue};
use crate::extract::AttributeProblem;
use crate::ledger::{PICOS_PER_USD, SeriesKey, SeriesState};
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
    // Rendered from a copy, so a large scrape does not hold up the receivers.
    let (series, stats) = pipeline.ledger.snapshot();
    write_call_counters(&mut writer, &series);
    write_rate_limits(&mut writer, &series, now);
    write_histograms(&mut writer, &series);

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
    write_pricing_reloads(&mut writer, pipeline);
    write_receiver(&mut writer, pipeline);
    write_processing(&mut writer, pipeline);
    write_exporters(&mut writer, pipeline);
    writer.finish()
}

fn write_pricing_reloads(writer: &mut TextWriter, pipeline: &Pipeline) {
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

fn common_labels(key: &SeriesKey) -> [(&'static str, &str); 3] {
    [
        ("gen_ai_provider_name", &key.provider),
        ("gen_ai_request_model", &key.model),
        ("service_name", &key.service),
    ]
}

/// Writes one family with one sample per series and extra label value.
fn write_per_series<'a, T: Copy>(
    writer: &mut TextWriter,
    series: &'a std::collections::BTreeMap<SeriesKey, SeriesState>,
    family: (&str, &str, &str),
    extra: Option<(&str, &[(T, &str)])>,
    value: impl Fn(&'a SeriesState, Option<T>) -> Option<f64>,
) {
    let (name, kind, help) = family;
    writer.family(name, kind, help);
    for (key, state) in series {
        let common = common_labels(key);
        match extra {
            None => {
                if let Some(sample) = value(state, None) {
                    writer.sample(name, &common, sample);
                }
            }
            Some((label, values)) => {
                for (item, label_value) in values {
                    if let Some(sample) = value(state, Some(*item)) {
                        let mut labels = common.to_vec();
                        labels.push((label, label_value));
                        writer.sample(name, &labels, sample);
                    }
                }
            }
        }
    }
}

fn write_call_counters(
    writer: &mut TextWriter,
    series: &std::collections::BTreeMap<SeriesKey, SeriesState>,
) {
    let outcomes: Vec<(Outcome, &str)> = OUTCOMES
        .iter()
        .map(|outcome| (*outcome, outcome.as_str()))
        .collect();
    write_per_series(
        writer,
        series,
        (
            "burnrate_llm_requests_total",
            "counter",
            "LLM calls by outcome.",
        ),
        Some(("outcome", &outcomes)),
        |state, outcome| outcome.map(|outcome| state.requests[outcome as usize] as f64),
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
        (
            "burnrate_llm_tokens_total",
            "counter",
            "Tokens by type. The types partition a call's tokens: input excludes cache reads and writes, output excludes reasoning.",
        ),
        Some(("gen_ai_token_type", &token_types)),
        |state, index| Some(state.tokens.by_type()[index?].1 as f64),
    );

    write_per_series::<()>(
        writer,
        series,
        (
            "burnrate_llm_cost_usd_total",
            "counter",
            "Cost of priced LLM calls in US dollars.",
        ),
        None,
        |state, _| Some(state.cost_picos as f64 / PICOS_PER_USD),
    );
    write_per_series::<()>(
        writer,
        series,
        (
            "burnrate_llm_unpriced_tokens_total",
            "counter",
            "Tokens of calls whose model is missing from the price table; their cost is unknown, not zero.",
        ),
        None,
        |state, _| Some(state.unpriced_tokens as f64),
    );
    write_per_series::<()>(
        writer,
        series,
        (
            "burnrate_llm_missing_usage_total",
            "counter",
            "LLM calls whose span reported no token usage, such as streams without usage.",
        ),
        None,
        |state, _| Some(state.missing_usage as f64),
    );
}

fn write_rate_limits(
    writer: &mut TextWriter,
    series: &std::collections::BTreeMap<SeriesKey, SeriesState>,
    now: SystemTime,
) {
    let kinds: Vec<(LimitKind, &str)> = LimitKind::ALL
        .iter()
        .map(|kind| (*kind, kind.as_str()))
        .collect();
    // Once a window's reset time has passed, the provider has refilled it:
    // remaining is back at the limit, whatever the last response reported.
    let reading = |state: &SeriesState, kind: Option<LimitKind>| {
        let mut reading = state.limits.get(&kind?)?.reading;
        if reading.reset_at.is_some_and(|reset_at| reset_at <= now) {
            reading.remaining = reading.limit;
        }
        Some(reading)
    };

    write_per_series(
        writer,
        series,
        (
            "burnrate_ratelimit_limit",
            "gauge",
            "Size of the provider's rate-limit window, from the newest response.",
        ),
        Some(("limit", &kinds)),
        |state, kind| reading(state, kind)?.limit.map(|limit| limit as f64),
    );
    write_per_series(
        writer,
        series,
        (
            "burnrate_ratelimit_remaining",
            "gauge",
            "Requests or tokens left in the window, from the newest response.",
        ),
        Some(("limit", &kinds)),
        |state, kind| {
            reading(state, kind)?
                .remaining
                .map(|remaining| remaining as f64)
        },
    );
    write_per_series(
        writer,
        series,
        (
            "burnrate_ratelimit_utilization_ratio",
            "gauge",
            "Used share of the window: 1 - remaining / limit.",
        ),
        Some(("limit", &kinds)),
        |state, kind| {
            let reading = reading(state, kind)?;
            let limit = reading.limit.filter(|limit| *limit > 0)?;
            // Computed from the used count, which keeps small ratios exact.
            let used = limit.saturating_sub(reading.remaining?);
            Some(used as f64 / limit as f64)
        },
    );
    write_per_series(
        writer,
        series,
        (
            "burnrate_ratelimit_reset_seconds",
            "gauge",
            "Seconds until the window resets; 0 once it has.",
        ),
        Some(("limit", &kinds)),
        |state, kind| {
            reading(state, kind)?
                .reset_at
                .map(|reset_at| seconds_until(reset_at, now))
        },
    );
    write_per_series::<()>(
        writer,
        series,
        (
            "burnrate_ratelimit_retry_after_seconds",
            "gauge",
            "Seconds until the newest retry-after deadline; 0 once it has passed.",
        ),
        None,
        |state, _| {
            state
                .retry_after
                .map(|(until, _)| seconds_until(until, now))
        },
    );
}

fn seconds_until(deadline: SystemTime, now: SystemTime) -> f64 {
    deadline
        .duration_since(now)
        .map_or(0.0, |left| left.as_secs_f64())
}

fn write_histograms(
    writer: &mut TextWriter,
    series: &std::collections::BTreeMap<SeriesKey, SeriesState>,
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
            let mut labels = common_labels(key).to_vec();
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
                &common_labels(key),
                histogram.bounds,
                &histogram.counts,
                histogram.sum,
            );
        }
    }
}

fn write_receiver(writer: &mut TextWriter, pipeline: &Pipeline) {
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

fn write_processing(writer: &mut TextWriter, pipeline: &Pipeline) {
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

fn write_exporters(writer: &mut TextWriter, pipeline: &Pipeline) {
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
    use crate::call::{LimitReading, RateLimitObservation, ServiceTier, TokenCounts};
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
}
