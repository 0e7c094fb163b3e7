//! The ledger's metrics as OTLP, sent on an interval through the exporters
//! that take metrics.
//!
//! The requests are built from the ledger directly rather than through the
//! OpenTelemetry SDK's metrics pipeline. Each series carries its own start
//! time, when the ledger first recorded it, and the SDK gives every
//! cumulative series the start time of its reader instead.
//!
//! Names use dots and the semantic-convention attribute keys. The standard
//! OTLP-to-Prometheus translation (with metric suffixes) turns them into the
//! names that `GET /metrics` serves, so one PromQL rule works on both.

use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Histogram as OtlpHistogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::gauges::{BudgetGauge, SeriesGauge, budget_samples, series_samples};
use crate::call::Outcome;
use crate::config::Temporality;
use crate::ledger::{Histogram, Ledger, LedgerConfig, PICOS_PER_USD, SeriesKey, SeriesState};

const OUTCOMES: [Outcome; 4] = [
    Outcome::Ok,
    Outcome::RateLimited,
    Outcome::Overloaded,
    Outcome::Error,
];

/// Builds one OTLP metrics request per interval, keeping the previous
/// export's values so that delta points chain.
#[derive(Debug)]
pub struct OtlpMetricsBuilder {
    temporality: Temporality,
    config: LedgerConfig,
    /// When the ledger started counting.
    started: SystemTime,
    /// Per series, the time and state of the previous export.
    previous: HashMap<SeriesKey, (SystemTime, SeriesState)>,
}

/// One series' values for one export: the state, and what to subtract from
/// it with delta temporality.
struct Window<'a> {
    config: &'a LedgerConfig,
    key: &'a SeriesKey,
    state: &'a SeriesState,
    previous: Option<&'a SeriesState>,
    start: u64,
    now: u64,
}

impl Window<'_> {
    fn attributes(&self, extra: &[(&str, &str)]) -> Vec<KeyValue> {
        let mut attributes = vec![
            string_attribute("gen_ai.provider.name", &self.key.provider),
            string_attribute("gen_ai.request.model", &self.key.model),
            string_attribute("service.name", &self.key.service),
        ];
        let allowlisted = self.config.labels.iter().zip(self.key.extra.iter());
        attributes
            .extend(allowlisted.map(|(label, value)| string_attribute(&label.attribute, value)));
        attributes.extend(
            extra
                .iter()
                .map(|(key, value)| string_attribute(key, value)),
        );
        attributes
    }

    /// Returns a counter's value for this window: the total, or the change
    /// since the previous export.
    fn counter(&self, read: impl Fn(&SeriesState) -> u64) -> u64 {
        let total = read(self.state);
        total.saturating_sub(self.previous.map_or(0, &read))
    }

    fn sum_point(
        &self,
        extra: &[(&str, &str)],
        value: number_data_point::Value,
    ) -> NumberDataPoint {
        NumberDataPoint {
            attributes: self.attributes(extra),
            start_time_unix_nano: self.start,
            time_unix_nano: self.now,
            value: Some(value),
            ..Default::default()
        }
    }

    fn gauge_point(&self, extra: &[(&str, &str)], value: f64) -> NumberDataPoint {
        NumberDataPoint {
            attributes: self.attributes(extra),
            time_unix_nano: self.now,
            value: Some(number_data_point::Value::AsDouble(value)),
            ..Default::default()
        }
    }

    fn histogram_point(
        &self,
        extra: &[(&str, &str)],
        read: impl Fn(&SeriesState) -> &Histogram,
    ) -> Option<HistogramDataPoint> {
        let current = read(self.state);
        let previous = self.previous.map(&read);
        let count = current.count - previous.map_or(0, |histogram| histogram.count);
        if count == 0 && previous.is_some() {
            return None;
        }
        let bucket_counts = current
            .counts
            .iter()
            .enumerate()
            .map(|(index, bucket)| bucket - previous.map_or(0, |histogram| histogram.counts[index]))
            .collect();
        Some(HistogramDataPoint {
            attributes: self.attributes(extra),
            start_time_unix_nano: self.start,
            time_unix_nano: self.now,
            count,
            sum: Some(current.sum - previous.map_or(0.0, |histogram| histogram.sum)),
            bucket_counts,
            explicit_bounds: current.bounds.to_vec(),
            ..Default::default()
        })
    }
}

impl OtlpMetricsBuilder {
    /// Creates a builder for the series of `ledger`.
    pub fn new(temporality: Temporality, ledger: &Ledger) -> OtlpMetricsBuilder {
        OtlpMetricsBuilder {
            temporality,
            config: ledger.config().clone(),
            started: ledger.started(),
            previous: HashMap::new(),
        }
    }

    /// Builds the request for the export at `now` from the ledger's series.
    pub fn build(
        &mut self,
        series: &BTreeMap<SeriesKey, SeriesState>,
        now: SystemTime,
    ) -> ExportMetricsServiceRequest {
        let mut metrics = MetricSet::default();
        for (key, state) in series {
            let previous = match self.temporality {
                Temporality::Delta => self.previous.get(key),
                Temporality::Cumulative => None,
            };
            let window = Window {
                config: &self.config,
                key,
                state,
                previous: previous.map(|(_, state)| state),
                start: unix_nanos(previous.map_or(state.first_seen, |(time, _)| *time)),
                now: unix_nanos(now),
            };
            metrics.add_series(&window, self.started, now);
        }
        if self.temporality == Temporality::Delta {
            self.previous = series
                .iter()
                .map(|(key, state)| (key.clone(), (now, state.clone())))
                .collect();
        }
        for sample in budget_samples(series, &self.config, self.started, now) {
            let point = NumberDataPoint {
                attributes: vec![
                    string_attribute("budget", &sample.budget),
                    string_attribute("period", sample.period.as_str()),
                ],
                time_unix_nano: unix_nanos(now),
                value: Some(number_data_point::Value::AsDouble(sample.value)),
                ..Default::default()
            };
            metrics.budgets.entry(sample.gauge).or_default().push(point);
        }
        metrics.into_request(self.temporality)
    }
}

/// Reads one of a series' histograms.
type HistogramReader = fn(&SeriesState) -> &Histogram;

/// The data points of every metric, gathered series by series.
#[derive(Default)]
struct MetricSet {
    requests: Vec<NumberDataPoint>,
    tokens: Vec<NumberDataPoint>,
    cost: Vec<NumberDataPoint>,
    unpriced_tokens: Vec<NumberDataPoint>,
    missing_usage: Vec<NumberDataPoint>,
    late_calls: Vec<NumberDataPoint>,
    gauges: BTreeMap<SeriesGauge, Vec<NumberDataPoint>>,
    budgets: BTreeMap<BudgetGauge, Vec<NumberDataPoint>>,
    token_usage: Vec<HistogramDataPoint>,
    duration: Vec<HistogramDataPoint>,
}

impl MetricSet {
    fn add_series(&mut self, window: &Window<'_>, started: SystemTime, now: SystemTime) {
        use number_data_point::Value::{AsDouble, AsInt};
        let as_int = |count: u64| AsInt(i64::try_from(count).unwrap_or(i64::MAX));

        for outcome in OUTCOMES {
            let count = window.counter(|state| state.requests[outcome as usize]);
            self.requests
                .push(window.sum_point(&[("outcome", outcome.as_str())], as_int(count)));
        }
        let previous_tokens = window.previous.map(|previous| previous.tokens.by_type());
        for (index, (token_type, total)) in window.state.tokens.by_type().into_iter().enumerate() {
            let count =
                total.saturating_sub(previous_tokens.map_or(0, |previous| previous[index].1));
            self.tokens
                .push(window.sum_point(&[("gen_ai.token.type", token_type)], as_int(count)));
        }
        let cost_picos =
            window.state.cost_picos - window.previous.map_or(0, |previous| previous.cost_picos);
        self.cost
            .push(window.sum_point(&[], AsDouble(cost_picos as f64 / PICOS_PER_USD)));
        self.unpriced_tokens
            .push(window.sum_point(&[], as_int(window.counter(|state| state.unpriced_tokens))));
        self.missing_usage
            .push(window.sum_point(&[], as_int(window.counter(|state| state.missing_usage))));

        self.late_calls
            .push(window.sum_point(&[], as_int(window.counter(|state| state.late_calls))));
        for sample in series_samples(window.state, window.config, started, now) {
            let labels: Vec<(&str, &str)> = sample
                .labels
                .iter()
                .map(|(key, value)| (*key, &**value))
                .collect();
            let point = window.gauge_point(&labels, sample.value);
            self.gauges.entry(sample.gauge).or_default().push(point);
        }

        let histograms: [(&str, HistogramReader); 2] = [
            ("input", |state| &state.input_token_usage),
            ("output", |state| &state.output_token_usage),
        ];
        for (token_type, read) in histograms {
            if read(window.state).count > 0 {
                self.token_usage
                    .extend(window.histogram_point(&[("gen_ai.token.type", token_type)], read));
            }
        }
        if window.state.duration_seconds.count > 0 {
            self.duration
                .extend(window.histogram_point(&[], |state| &state.duration_seconds));
        }
    }

    fn into_request(self, temporality: Temporality) -> ExportMetricsServiceRequest {
        let temporality = match temporality {
            Temporality::Cumulative => AggregationTemporality::Cumulative,
            Temporality::Delta => AggregationTemporality::Delta,
        } as i32;
        let sum = |points: Vec<NumberDataPoint>| {
            Data::Sum(Sum {
                data_points: points,
                aggregation_temporality: temporality,
                is_monotonic: true,
            })
        };
        let histogram = |points: Vec<HistogramDataPoint>| {
            Data::Histogram(OtlpHistogram {
                data_points: points,
                aggregation_temporality: temporality,
            })
        };
        let mut metrics = vec![
            metric(
                "burnrate.llm.requests",
                "LLM calls by outcome.",
                "{request}",
                sum(self.requests),
            ),
            metric(
                "burnrate.llm.tokens",
                "Tokens by type; the types partition a call's tokens.",
                "{token}",
                sum(self.tokens),
            ),
            metric(
                "burnrate.llm.cost_usd",
                "Cost of priced LLM calls in US dollars.",
                "",
                sum(self.cost),
            ),
            metric(
                "burnrate.llm.unpriced_tokens",
                "Tokens of calls whose model is missing from the price table.",
                "{token}",
                sum(self.unpriced_tokens),
            ),
            metric(
                "burnrate.llm.missing_usage",
                "Successful LLM calls whose span reported no usage.",
                "{request}",
                sum(self.missing_usage),
            ),
            metric(
                "burnrate.llm.late_calls",
                "LLM calls whose span ended 60 seconds or more before it arrived.",
                "{request}",
                sum(self.late_calls),
            ),
            metric(
                "gen_ai.client.token.usage",
                "Tokens per call.",
                "{token}",
                histogram(self.token_usage),
            ),
            metric(
                "gen_ai.client.operation.duration",
                "Duration of LLM calls.",
                "s",
                histogram(self.duration),
            ),
        ];
        for (gauge, points) in self.gauges {
            metrics.push(metric(
                gauge.name(),
                gauge.help(),
                gauge_unit(gauge.name()),
                gauge_data(points),
            ));
        }
        for (gauge, points) in self.budgets {
            metrics.push(metric(
                gauge.name(),
                gauge.help(),
                gauge_unit(gauge.name()),
                gauge_data(points),
            ));
        }
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource {
                    attributes: vec![
                        string_attribute("service.name", "burnrate"),
                        string_attribute("service.version", env!("CARGO_PKG_VERSION")),
                    ],
                    ..Default::default()
                }),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(InstrumentationScope {
                        name: "burnrate".to_owned(),
                        version: env!("CARGO_PKG_VERSION").to_owned(),
                        ..Default::default()
                    }),
                    metrics: metrics.into_iter().filter(has_points).collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }
}

fn metric(name: &str, description: &str, unit: &str, data: Data) -> Metric {
    Metric {
        name: name.to_owned(),
        description: description.to_owned(),
        unit: unit.to_owned(),
        data: Some(data),
        ..Default::default()
    }
}

fn gauge_data(points: Vec<NumberDataPoint>) -> Data {
    Data::Gauge(Gauge {
        data_points: points,
    })
}

/// Returns the unit of a gauge, from the suffix of its name, so that the standard
/// translation to Prometheus names adds no second suffix.
fn gauge_unit(name: &str) -> &'static str {
    if name.ends_with("_seconds") {
        "s"
    } else if name.ends_with("_ratio") {
        "1"
    } else {
        ""
    }
}

fn has_points(metric: &Metric) -> bool {
    match &metric.data {
        Some(Data::Sum(sum)) => !sum.data_points.is_empty(),
        Some(Data::Gauge(gauge)) => !gauge.data_points.is_empty(),
        Some(Data::Histogram(histogram)) => !histogram.data_points.is_empty(),
        _ => false,
    }
}

/// Builds a string-valued OTLP attribute.
pub(crate) fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}

fn unix_nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| {
        u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
    })
}

#[cfg(test)]
mod tests;
