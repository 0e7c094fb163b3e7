//! The rule engine: loaded rule groups, their alert state and the sample
//! history they read, evaluated on burnrate's own metrics.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use super::history::{History, SampleCollector};
use super::promql::{self, Value};
use super::rules::{AlertRule, RuleFile, RuleGroup};
use super::state::{Alert, AlertState, RuleState, Transition};
use crate::pipeline::Pipeline;

/// One alert of an evaluated group, with what changed in this evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertUpdate {
    pub alert: Alert,
    pub transition: Option<Transition>,
}

/// The outcome of evaluating one group: every alert that is pending, firing
/// or recently resolved, for the notifiers.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupUpdate {
    pub file: PathBuf,
    pub group: String,
    /// Evaluation time, in milliseconds since the Unix epoch.
    pub at: i64,
    pub interval: Duration,
    pub alerts: Vec<AlertUpdate>,
}

/// Counters of the engine, for `/metrics`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    pub evaluations: u64,
    /// Failed rule evaluations, by alert name.
    pub failures: BTreeMap<String, u64>,
    pub reloads_succeeded: u64,
    pub reloads_failed: u64,
}

struct LoadedRule {
    rule: AlertRule,
    state: RuleState,
}

struct LoadedGroup {
    file: PathBuf,
    name: String,
    interval: Duration,
    rules: Vec<LoadedRule>,
    last_evaluated: Option<i64>,
}

/// Evaluates rule groups over a history of burnrate's metrics.
pub struct Engine {
    groups: Vec<LoadedGroup>,
    history: History,
    default_interval: Duration,
    max_history_series: usize,
    pub stats: EngineStats,
}

impl Engine {
    /// Creates an engine for `files`. Groups without their own interval are
    /// evaluated every `default_interval`.
    pub fn new(
        files: Vec<RuleFile>,
        default_interval: Duration,
        max_history_series: usize,
    ) -> Engine {
        let mut engine = Engine {
            groups: Vec::new(),
            history: History::new(BTreeSet::new(), Duration::ZERO, max_history_series),
            default_interval,
            max_history_series,
            stats: EngineStats::default(),
        };
        engine.replace_rules(files);
        engine
    }

    /// Puts `files` in use. A rule whose file, group, name and expression are
    /// unchanged keeps its pending and firing alerts. The history keeps its
    /// points for the metrics that the new rules still select.
    pub fn replace_rules(&mut self, files: Vec<RuleFile>) {
        // Matched as Prometheus matches rules across a reload: by file,
        // group, alert name and labels, in order, so a changed expression
        // keeps its alerts.
        let mut previous: BTreeMap<StateKey, VecDeque<RuleState>> = BTreeMap::new();
        for group in self.groups.drain(..) {
            for loaded in group.rules {
                let key = state_key(&group.file, &group.name, &loaded.rule);
                previous.entry(key).or_default().push_back(loaded.state);
            }
        }

        let mut names = Vec::new();
        let mut longest = Duration::ZERO;
        for file in files {
            for RuleGroup {
                name,
                interval,
                rules,
            } in file.groups
            {
                let interval = interval.unwrap_or(self.default_interval);
                let rules = rules
                    .into_iter()
                    .map(|rule| {
                        promql::metric_names(&rule.expr, &mut names);
                        longest = longest.max(promql::longest_range(&rule.expr)).max(interval);
                        let key = state_key(&file.path, &name, &rule);
                        let state = previous
                            .get_mut(&key)
                            .and_then(VecDeque::pop_front)
                            .unwrap_or_default();
                        LoadedRule { rule, state }
                    })
                    .collect();
                self.groups.push(LoadedGroup {
                    file: file.path.clone(),
                    name,
                    interval,
                    rules,
                    last_evaluated: None,
                });
            }
        }

        // Two intervals beyond the longest range, so that a range always
        // finds the points at both of its ends.
        let retention = longest + self.default_interval * 2;
        let names: BTreeSet<String> = names.into_iter().collect();
        let mut history = History::new(names, retention, self.max_history_series);
        history.keep_from(&self.history);
        self.history = history;
    }

    /// Returns the shortest group interval: how often [`Engine::tick`]
    /// should run.
    pub fn tick_interval(&self) -> Duration {
        self.groups
            .iter()
            .map(|group| group.interval)
            .min()
            .unwrap_or(self.default_interval)
    }

    pub fn rule_count(&self) -> usize {
        self.groups.iter().map(|group| group.rules.len()).sum()
    }

    pub fn history(&self) -> &History {
        &self.history
    }

    /// Replaces the history, such as with one that keeps every input series
    /// of a rule unit test.
    pub fn replace_history(&mut self, history: History) {
        self.history = history;
    }

    /// Adds points to the history; see [`History::record_points`].
    pub fn record_points(
        &mut self,
        at: i64,
        samples: Vec<(super::history::Labels, f64)>,
        gone: Vec<super::history::Labels>,
    ) {
        self.history.record_points(at, samples, gone);
    }

    /// Returns the alerts of every rule named `alertname`.
    pub fn alerts_of<'a>(&'a self, alertname: &'a str) -> impl Iterator<Item = &'a Alert> {
        self.groups
            .iter()
            .flat_map(|group| &group.rules)
            .filter(move |loaded| loaded.rule.name == alertname)
            .flat_map(|loaded| loaded.state.alerts.values())
    }

    /// Returns the number of alerts by (alert name, state).
    pub fn alert_counts(&self) -> BTreeMap<(String, AlertState), u64> {
        let mut counts = BTreeMap::new();
        for group in &self.groups {
            for loaded in &group.rules {
                for alert in loaded.state.alerts.values() {
                    *counts
                        .entry((loaded.rule.name.clone(), alert.state))
                        .or_default() += 1;
                }
            }
        }
        counts
    }

    /// Takes a snapshot of `pipeline`'s metrics at `now` into the history
    /// and evaluates every group whose interval has passed.
    pub fn tick(&mut self, pipeline: &Pipeline, now: SystemTime) -> Vec<GroupUpdate> {
        let at = unix_millis(now);
        let mut collector = SampleCollector::new(&self.history);
        crate::metrics::write_all(&mut collector, pipeline, now);
        let samples = collector.samples;
        self.history.record(at, samples);
        self.evaluate_due(at)
    }

    /// Evaluates every group whose interval has passed at `at`, over the
    /// history as it is.
    pub fn evaluate_due(&mut self, at: i64) -> Vec<GroupUpdate> {
        let mut updates = Vec::new();
        for group in &mut self.groups {
            let interval = group.interval.as_millis() as i64;
            let due = group
                .last_evaluated
                .is_none_or(|last| at - last >= interval);
            if !due {
                continue;
            }
            group.last_evaluated = Some(at);
            self.stats.evaluations += 1;
            let mut alerts = Vec::new();
            for loaded in &mut group.rules {
                let result = promql::evaluate(&loaded.rule.expr, &self.history, at);
                let samples = match result {
                    Ok(Value::Vector(samples)) => samples,
                    // A scalar has no labels to alert on, and Prometheus
                    // rejects it too.
                    Ok(Value::Scalar(_)) => {
                        let reason =
                            "the expression returns a scalar; an alert rule needs a vector";
                        record_failure(&mut self.stats, &group.name, &loaded.rule, reason);
                        continue;
                    }
                    Err(reason) => {
                        record_failure(&mut self.stats, &group.name, &loaded.rule, &reason);
                        continue;
                    }
                };
                let transitions = match loaded.state.apply(&loaded.rule, &samples, at) {
                    Ok(transitions) => transitions,
                    Err(reason) => {
                        record_failure(&mut self.stats, &group.name, &loaded.rule, &reason);
                        continue;
                    }
                };
                let mut changed: BTreeMap<_, Transition> = transitions
                    .into_iter()
                    .map(|(transition, alert)| (alert.labels, transition))
                    .collect();
                for alert in loaded.state.alerts.values() {
                    alerts.push(AlertUpdate {
                        transition: changed.remove(&alert.labels),
                        alert: alert.clone(),
                    });
                }
            }
            updates.push(GroupUpdate {
                file: group.file.clone(),
                group: group.name.clone(),
                at,
                interval: group.interval,
                alerts,
            });
        }
        updates
    }
}

/// Identifies a rule across a reload: file, group, alert name and labels.
type StateKey = (PathBuf, String, String, String);

fn state_key(file: &std::path::Path, group: &str, rule: &AlertRule) -> StateKey {
    let labels = format!("{:?}", rule.labels);
    (file.to_owned(), group.to_owned(), rule.name.clone(), labels)
}

fn record_failure(stats: &mut EngineStats, group: &str, rule: &AlertRule, reason: &str) {
    *stats.failures.entry(rule.name.clone()).or_default() += 1;
    tracing::warn!(
        group,
        alert = %rule.name,
        expr = %rule.expr_text,
        error = reason,
        "rule evaluation failed; its alerts keep their state until the next evaluation",
    );
}

pub fn unix_millis(time: SystemTime) -> i64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::history::{Labels, METRIC_NAME};
    use crate::alerts::rules::parse_rule_file;

    fn engine(rules: &str) -> Engine {
        let file = parse_rule_file(std::path::Path::new("rules.yaml"), rules).unwrap();
        let mut engine = Engine::new(vec![file], Duration::from_secs(15), 100);
        let names = ["utilization".to_owned()].into_iter().collect();
        engine.replace_history(History::new(names, Duration::from_secs(3_600), 100));
        engine
    }

    fn series() -> Labels {
        [(METRIC_NAME, "utilization"), ("service_name", "checkout")]
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect()
    }

    /// Feeds one value every 15 s and returns (second, alert name,
    /// transition) for every notification.
    fn run(engine: &mut Engine, values: &[f64]) -> Vec<(i64, String, Transition)> {
        let mut notifications = Vec::new();
        for (step, value) in values.iter().enumerate() {
            let at = step as i64 * 15_000;
            engine.record_points(at, vec![(series(), *value)], Vec::new());
            for update in engine.evaluate_due(at) {
                for alert in update.alerts {
                    if let Some(transition) = alert.transition {
                        let name = alert.alert.labels["alertname"].clone();
                        notifications.push((at / 1_000, name, transition));
                    }
                }
            }
        }
        notifications
    }

    #[test]
    fn crossing_dipping_returning_and_falling() {
        let mut engine = engine(
            "groups:\n  - name: g\n    interval: 15s\n    rules:\n      - alert: High\n        expr: utilization > 0.8\n        for: 60s\n        keep_firing_for: 120s\n",
        );
        // Below until 15 s, above from 30 s to 120 s, below at 135 s and
        // 150 s, above from 165 s to 210 s, then below from 225 s on.
        let mut values = vec![0.5, 0.5];
        values.extend([0.9; 7]);
        values.extend([0.5; 2]);
        values.extend([0.9; 4]);
        values.extend([0.5; 12]);
        let notifications = run(&mut engine, &values);
        // Fires 60 s after 30 s. The dip of 30 s is within keep_firing_for,
        // so it keeps firing; it resolves 120 s after it falls at 225 s.
        assert_eq!(
            notifications,
            [
                (90, "High".to_owned(), Transition::Fired),
                (345, "High".to_owned(), Transition::Resolved),
            ]
        );
    }

    #[test]
    fn group_interval_spaces_evaluations() {
        let mut engine = engine(
            "groups:\n  - name: g\n    interval: 30s\n    rules:\n      - alert: High\n        expr: utilization > 0.8\n",
        );
        // Above from 15 s: the group runs at 0 s, 30 s, 60 s, ... so its
        // first evaluation above the threshold is at 30 s.
        let notifications = run(&mut engine, &[0.5, 0.9, 0.9, 0.9]);
        assert_eq!(notifications, [(30, "High".to_owned(), Transition::Fired)]);
        assert_eq!(engine.stats.evaluations, 2);
    }

    #[test]
    fn reload_keeps_state_of_unchanged_rules() {
        let text = "groups:\n  - name: g\n    rules:\n      - alert: High\n        expr: utilization > 0.8\n        for: 30s\n";
        let mut engine = engine(text);
        run(&mut engine, &[0.9, 0.9]);
        let pending: Vec<AlertState> = engine.alerts_of("High").map(|alert| alert.state).collect();
        assert_eq!(pending, [AlertState::Pending]);

        let file = parse_rule_file(std::path::Path::new("rules.yaml"), text).unwrap();
        engine.replace_rules(vec![file]);
        let kept: Vec<i64> = engine
            .alerts_of("High")
            .map(|alert| alert.active_at)
            .collect();
        assert_eq!(kept, [0]);

        // A changed threshold keeps the alert, as in Prometheus.
        let changed = text.replace("> 0.8", "> 0.7");
        let file = parse_rule_file(std::path::Path::new("rules.yaml"), &changed).unwrap();
        engine.replace_rules(vec![file]);
        assert_eq!(engine.alerts_of("High").count(), 1);

        // Changed labels make it another rule.
        let relabelled = format!("{text}        labels: {{ severity: page }}\n");
        let file = parse_rule_file(std::path::Path::new("rules.yaml"), &relabelled).unwrap();
        engine.replace_rules(vec![file]);
        assert_eq!(engine.alerts_of("High").count(), 0);
    }
}
