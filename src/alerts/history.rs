//! A bounded history of the samples that alert rules select, taken from
//! burnrate's own metrics at each evaluation, so that range functions such as
//! `rate` and `predict_linear` have points to work on.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use promql_parser::label::MatchOp;
use promql_parser::parser::VectorSelector;

use crate::log_throttle::LogThrottle;
use crate::metrics::MetricSink;
use crate::selector::all_match;

static DROPPED_LOG: LogThrottle = LogThrottle::new(Duration::from_secs(60));

/// Label name of the metric name, as in Prometheus.
pub const METRIC_NAME: &str = "__name__";

/// A series' labels, sorted by name, including [`METRIC_NAME`].
pub type Labels = BTreeMap<String, String>;

/// One point: milliseconds since the Unix epoch, and the value.
pub type Point = (i64, f64);

/// How far back an instant selector looks for a series' newest point, as in
/// Prometheus.
pub const LOOKBACK: Duration = Duration::from_secs(5 * 60);

/// The value that marks a series as gone, Prometheus' staleness marker: a
/// NaN with its own bit pattern, so a real NaN sample stays a sample.
const STALE_BITS: u64 = 0x7ff0_0000_0000_0002;

fn is_stale(value: f64) -> bool {
    value.to_bits() == STALE_BITS
}

/// Samples per series, by evaluation time, for as long as the longest range
/// of the rules needs. Only metrics that a rule selects are kept.
#[derive(Debug)]
pub struct History {
    metric_names: BTreeSet<String>,
    /// How far back points are kept.
    retention: Duration,
    max_series: usize,
    series: BTreeMap<Labels, VecDeque<Point>>,
    /// Time of the newest snapshot.
    newest: Option<i64>,
    /// Series that a snapshot could not add because of `max_series`.
    dropped_series: u64,
}

impl History {
    /// Creates a history of the metrics in `metric_names` that keeps points
    /// for `retention` and at most `max_series` series.
    pub fn new(metric_names: BTreeSet<String>, retention: Duration, max_series: usize) -> History {
        History {
            metric_names,
            retention,
            max_series,
            series: BTreeMap::new(),
            newest: None,
            dropped_series: 0,
        }
    }

    /// Returns whether a rule selects the metric `name`.
    pub fn wants(&self, name: &str) -> bool {
        self.metric_names.contains(name)
    }

    /// Adds one snapshot of samples taken at `at` (milliseconds). Every
    /// series of the history that is missing from it gets a staleness
    /// marker, as Prometheus marks a series missing from a scrape.
    /// Points older than the retention are dropped. A snapshot not later
    /// than the newest one is ignored.
    pub fn record(&mut self, at: i64, samples: Vec<(Labels, f64)>) {
        let present: BTreeSet<Labels> = samples.iter().map(|(labels, _)| labels.clone()).collect();
        let gone: Vec<Labels> = self
            .series
            .keys()
            .filter(|labels| !present.contains(*labels))
            .cloned()
            .collect();
        self.record_points(at, samples, gone);
    }

    /// Adds the points of `samples` at `at` and a staleness marker for each
    /// series in `gone`. Other series get no point, as with a missed scrape.
    pub fn record_points(&mut self, at: i64, samples: Vec<(Labels, f64)>, gone: Vec<Labels>) {
        if self.newest.is_some_and(|newest| newest >= at) {
            return;
        }
        self.newest = Some(at);
        for (labels, value) in samples {
            if !self.series.contains_key(&labels) && self.series.len() >= self.max_series {
                self.dropped_series += 1;
                if let Some(suppressed) = DROPPED_LOG.check() {
                    tracing::warn!(
                        max_series = self.max_series,
                        similar_warnings_suppressed = suppressed,
                        "the rule history is full; new series are not kept and rules do not see them, raise alerts.max_history_series",
                    );
                }
                continue;
            }
            self.series
                .entry(labels)
                .or_default()
                .push_back((at, value));
        }
        for labels in gone {
            if let Some(points) = self.series.get_mut(&labels)
                && points.back().is_some_and(|(_, value)| !is_stale(*value))
            {
                points.push_back((at, f64::from_bits(STALE_BITS)));
            }
        }

        let oldest_kept = at.saturating_sub(self.retention.max(LOOKBACK).as_millis() as i64);
        self.series.retain(|_, points| {
            while points.front().is_some_and(|(time, _)| *time < oldest_kept) {
                points.pop_front();
            }
            points.iter().any(|(_, value)| !is_stale(*value))
        });
    }

    /// Returns the series that `selector` matches at `at`, each with its
    /// newest point within [`LOOKBACK`] before `at`. A series whose newest
    /// point is a staleness marker has gone and is not returned.
    pub fn instant(&self, selector: &VectorSelector, at: i64) -> Vec<(Labels, f64)> {
        let oldest = at - LOOKBACK.as_millis() as i64;
        self.matching(selector)
            .filter_map(|(labels, points)| {
                let (time, value) = points.iter().rev().find(|(time, _)| *time <= at)?;
                (*time > oldest && !is_stale(*value)).then(|| (labels.clone(), *value))
            })
            .collect()
    }

    /// Returns the points of the series that `selector` matches with a time
    /// in `[at - range, at]`; series without such a point are left out.
    pub fn range(
        &self,
        selector: &VectorSelector,
        at: i64,
        range: Duration,
    ) -> Vec<(Labels, Vec<Point>)> {
        let start = at.saturating_sub(range.as_millis() as i64);
        self.matching(selector)
            .filter_map(|(labels, points)| {
                let inside: Vec<Point> = points
                    .iter()
                    .filter(|(time, value)| (start..=at).contains(time) && !is_stale(*value))
                    .copied()
                    .collect();
                (!inside.is_empty()).then(|| (labels.clone(), inside))
            })
            .collect()
    }

    /// Copies the points of `other` for the metrics this history wants, so
    /// that a rule reload keeps what range functions need.
    pub fn keep_from(&mut self, other: &History) {
        self.newest = other.newest;
        self.dropped_series = other.dropped_series;
        for (labels, points) in &other.series {
            let wanted = labels.get(METRIC_NAME).is_some_and(|name| self.wants(name));
            if wanted && self.series.len() < self.max_series {
                self.series.insert(labels.clone(), points.clone());
            }
        }
    }

    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    pub fn dropped_series(&self) -> u64 {
        self.dropped_series
    }

    fn matching<'a>(
        &'a self,
        selector: &'a VectorSelector,
    ) -> impl Iterator<Item = (&'a Labels, &'a VecDeque<Point>)> {
        self.series
            .iter()
            .filter(move |(labels, _)| selector_matches(selector, labels))
    }
}

/// Returns whether a series with `labels` is selected by `selector`.
pub fn selector_matches(selector: &VectorSelector, labels: &Labels) -> bool {
    let value_of = |name: &str| labels.get(name).map(String::as_str);
    if let Some(name) = &selector.name
        && value_of(METRIC_NAME) != Some(name.as_str())
    {
        return false;
    }
    let matchers = &selector.matchers;
    all_match(&matchers.matchers, value_of)
        && (matchers.or_matchers.is_empty()
            || matchers
                .or_matchers
                .iter()
                .any(|group| all_match(group, value_of)))
}

/// Returns the metric names that `selector` can select: its name, or the
/// values of its `__name__` equality matchers.
pub fn selected_names(selector: &VectorSelector) -> Vec<String> {
    let mut names: Vec<String> = selector.name.iter().cloned().collect();
    let all = selector
        .matchers
        .matchers
        .iter()
        .chain(selector.matchers.or_matchers.iter().flatten());
    for matcher in all {
        if matcher.name == METRIC_NAME && matches!(matcher.op, MatchOp::Equal) {
            names.push(matcher.value.clone());
        }
    }
    names
}

/// Collects the samples of the metrics that a [`History`] wants, as they are
/// rendered.
pub struct SampleCollector<'a> {
    history: &'a History,
    pub samples: Vec<(Labels, f64)>,
}

impl<'a> SampleCollector<'a> {
    pub fn new(history: &'a History) -> SampleCollector<'a> {
        SampleCollector {
            history,
            samples: Vec::new(),
        }
    }
}

impl MetricSink for SampleCollector<'_> {
    fn family(&mut self, _name: &str, _kind: &str, _help: &str) {}

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        if !self.history.wants(name) {
            return;
        }
        let mut series: Labels = labels
            .iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(label, value)| ((*label).to_owned(), (*value).to_owned()))
            .collect();
        series.insert(METRIC_NAME.to_owned(), name.to_owned());
        self.samples.push((series, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selector(text: &str) -> VectorSelector {
        match promql_parser::parser::parse(text).unwrap() {
            promql_parser::parser::Expr::VectorSelector(selector) => selector,
            other => panic!("{text} is not a selector: {other:?}"),
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    fn history() -> History {
        let names = ["m".to_owned()].into_iter().collect();
        History::new(names, Duration::from_secs(60), 3)
    }

    #[test]
    fn instant_takes_newest_snapshot_and_skips_stale() {
        let mut history = history();
        let a = labels(&[(METRIC_NAME, "m"), ("k", "a")]);
        let b = labels(&[(METRIC_NAME, "m"), ("k", "b")]);
        history.record(1_000, vec![(a.clone(), 1.0), (b.clone(), 2.0)]);
        history.record(2_000, vec![(a.clone(), 3.0)]);
        assert_eq!(
            history.instant(&selector("m"), 2_000),
            vec![(a.clone(), 3.0)]
        );
        assert_eq!(history.instant(&selector("m"), 1_500).len(), 2);
        assert_eq!(
            history.instant(&selector(r#"m{k="b"}"#), 1_999),
            vec![(b, 2.0)]
        );
        assert!(history.instant(&selector("m"), 999).is_empty());
    }

    #[test]
    fn range_is_closed_and_retention_drops_old_points() {
        let mut history = history();
        let a = labels(&[(METRIC_NAME, "m")]);
        for second in 0..=100 {
            history.record(second * 1_000, vec![(a.clone(), second as f64)]);
        }
        let points = history.range(&selector("m"), 100_000, Duration::from_secs(10));
        assert_eq!(points.len(), 1);
        let times: Vec<i64> = points[0].1.iter().map(|(time, _)| *time).collect();
        assert_eq!(times.first(), Some(&90_000));
        assert_eq!(times.last(), Some(&100_000));
        assert_eq!(times.len(), 11);
        // Only the lookback of 5 minutes is kept, because the retention of
        // 1 minute is shorter.
        let all = history.range(&selector("m"), 100_000, Duration::from_secs(600));
        assert_eq!(all[0].1.len(), 101);
    }

    #[test]
    fn series_past_the_cap_are_dropped_and_counted() {
        let mut history = history();
        let samples: Vec<(Labels, f64)> = (0..5)
            .map(|index| {
                (
                    labels(&[(METRIC_NAME, "m"), ("k", &index.to_string())]),
                    1.0,
                )
            })
            .collect();
        history.record(1_000, samples);
        assert_eq!(history.series_count(), 3);
        assert_eq!(history.dropped_series(), 2);
    }

    #[test]
    fn older_snapshot_is_ignored() {
        let mut history = history();
        let a = labels(&[(METRIC_NAME, "m")]);
        history.record(2_000, vec![(a.clone(), 2.0)]);
        history.record(1_000, vec![(a.clone(), 1.0)]);
        assert_eq!(history.instant(&selector("m"), 2_000), vec![(a, 2.0)]);
    }

    #[test]
    fn selected_names_reads_name_matchers() {
        assert_eq!(selected_names(&selector("m")), ["m"]);
        assert_eq!(selected_names(&selector(r#"{__name__="n", k="v"}"#)), ["n"]);
        assert!(selected_names(&selector(r#"{__name__=~"n.*"}"#)).is_empty());
    }
}
