//! The state of one alerting rule's alerts: inactive, pending, firing and
//! resolved, with `for` and `keep_firing_for`, following Prometheus.

use std::collections::BTreeMap;
use std::time::Duration;

use super::history::{Labels, METRIC_NAME};
use super::promql::Sample;
use super::rules::AlertRule;
use super::template::TemplateData;

/// How long a resolved alert is kept, so that notifiers can still report it.
pub const RESOLVED_RETENTION: Duration = Duration::from_secs(15 * 60);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AlertState {
    /// The expression holds, for less than the rule's `for`.
    Pending,
    Firing,
    /// Was firing and has stopped. It is kept for [`RESOLVED_RETENTION`].
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }
}

/// One alert of a rule: one series of the rule's result.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// The series' labels with the rule's labels and `alertname`.
    pub labels: Labels,
    pub annotations: BTreeMap<String, String>,
    pub state: AlertState,
    /// The expression's value at the last evaluation that returned it.
    pub value: f64,
    /// When the expression first held, in milliseconds.
    pub active_at: i64,
    pub fired_at: Option<i64>,
    pub resolved_at: Option<i64>,
    /// When the expression stopped holding while `keep_firing_for` keeps
    /// the alert firing.
    pub keep_firing_since: Option<i64>,
}

/// A change that notifiers report.
#[derive(Clone, Debug, PartialEq)]
pub enum Transition {
    Fired,
    Resolved,
}

/// The alerts of one rule, by labels.
#[derive(Clone, Debug, Default)]
pub struct RuleState {
    pub alerts: BTreeMap<Labels, Alert>,
}

impl RuleState {
    /// Applies the result of one evaluation at `at` (milliseconds) and
    /// returns the alerts that fired or resolved in it.
    ///
    /// Fails, changing nothing, when two result series have the same labels
    /// once the rule's labels are applied, as Prometheus does.
    pub fn apply(
        &mut self,
        rule: &AlertRule,
        result: &[Sample],
        at: i64,
    ) -> Result<Vec<(Transition, Alert)>, String> {
        let mut current: BTreeMap<Labels, (f64, BTreeMap<String, String>)> = BTreeMap::new();
        for sample in result {
            let (labels, annotations) = alert_labels(rule, sample);
            if current
                .insert(labels.clone(), (sample.value, annotations))
                .is_some()
            {
                return Err(format!(
                    "the result has more than one series with labels {labels:?} after the rule's labels are applied"
                ));
            }
        }

        for (labels, (value, annotations)) in &current {
            match self.alerts.get_mut(labels) {
                Some(alert) if alert.state != AlertState::Resolved => {
                    alert.value = *value;
                    alert.annotations = annotations.clone();
                    alert.keep_firing_since = None;
                }
                _ => {
                    let alert = Alert {
                        labels: labels.clone(),
                        annotations: annotations.clone(),
                        state: AlertState::Pending,
                        value: *value,
                        active_at: at,
                        fired_at: None,
                        resolved_at: None,
                        keep_firing_since: None,
                    };
                    self.alerts.insert(labels.clone(), alert);
                }
            }
        }

        let mut transitions = Vec::new();
        let keep_firing_for = rule.keep_firing_for.as_millis() as i64;
        let retention = RESOLVED_RETENTION.as_millis() as i64;
        let for_duration = rule.for_duration.as_millis() as i64;
        self.alerts.retain(|labels, alert| {
            if !current.contains_key(labels) {
                match alert.state {
                    AlertState::Pending => return false,
                    AlertState::Resolved => {
                        return alert
                            .resolved_at
                            .is_some_and(|resolved| at - resolved <= retention);
                    }
                    AlertState::Firing => {
                        let since = *alert.keep_firing_since.get_or_insert(at);
                        if at - since < keep_firing_for {
                            return true;
                        }
                        alert.state = AlertState::Resolved;
                        alert.resolved_at = Some(at);
                        alert.keep_firing_since = None;
                        transitions.push((Transition::Resolved, alert.clone()));
                        return true;
                    }
                }
            }
            if alert.state == AlertState::Pending && at - alert.active_at >= for_duration {
                alert.state = AlertState::Firing;
                alert.fired_at = Some(at);
                transitions.push((Transition::Fired, alert.clone()));
            }
            true
        });
        Ok(transitions)
    }
}

/// Returns an alert's labels (the series' labels without the metric name,
/// then the rule's rendered labels, then `alertname`) and its rendered
/// annotations.
fn alert_labels(rule: &AlertRule, sample: &Sample) -> (Labels, BTreeMap<String, String>) {
    let mut series = sample.labels.clone();
    series.remove(METRIC_NAME);
    let data = TemplateData {
        labels: &series,
        value: sample.value,
    };
    let mut labels = series.clone();
    for (name, template) in &rule.labels {
        // An empty value removes the label, as in Prometheus.
        let value = template.render(&data);
        if value.is_empty() {
            labels.remove(name);
        } else {
            labels.insert(name.clone(), value);
        }
    }
    labels.insert("alertname".to_owned(), rule.name.clone());
    let annotations = rule
        .annotations
        .iter()
        .map(|(name, template)| (name.clone(), template.render(&data)))
        .collect();
    (labels, annotations)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::rules::parse_rule_file;

    fn rule(for_duration: &str, keep_firing_for: &str) -> AlertRule {
        let text = format!(
            "groups:\n  - name: g\n    rules:\n      - alert: High\n        expr: x > 10\n        for: {for_duration}\n        keep_firing_for: {keep_firing_for}\n        labels: {{ severity: page }}\n        annotations: {{ summary: \"x is {{{{ $value }}}}\" }}\n"
        );
        let file = parse_rule_file(std::path::Path::new("r.yaml"), &text).unwrap();
        file.groups[0].rules[0].clone()
    }

    fn sample(value: f64) -> Sample {
        let labels = [(METRIC_NAME, "x"), ("service_name", "checkout")]
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        Sample { labels, value }
    }

    /// Runs the rule every 15 s over `values` (`None`: the expression does
    /// not hold) and returns (second, transition) for every change.
    fn run(rule: &AlertRule, values: &[Option<f64>]) -> Vec<(i64, Transition)> {
        let mut state = RuleState::default();
        let mut changes = Vec::new();
        for (step, value) in values.iter().enumerate() {
            let second = step as i64 * 15;
            let result: Vec<Sample> = value.iter().map(|value| sample(*value)).collect();
            for (transition, _) in state.apply(rule, &result, second * 1_000).unwrap() {
                changes.push((second, transition));
            }
        }
        changes
    }

    #[test]
    fn for_and_keep_firing_for_timing() {
        let rule = rule("60s", "120s");
        let high = Some(20.0);
        // Above the threshold from 0 s to 90 s, below it at 105 s and 120 s,
        // above again at 135 s and 150 s, and below from 165 s on.
        let mut values = vec![high; 7];
        values.extend([None, None, high, high]);
        values.extend(vec![None; 12]);
        let changes = run(&rule, &values);
        // Fires 60 s after it first held. The dip is shorter than 120 s, so
        // it keeps firing; it resolves 120 s after it stops at 165 s.
        assert_eq!(
            changes,
            [(60, Transition::Fired), (285, Transition::Resolved)]
        );
    }

    #[test]
    fn pending_alert_that_stops_never_fires() {
        let rule = rule("60s", "0s");
        let high = Some(20.0);
        let values = [high, high, high, None, high, high, high, high, high];
        // The dip at 45 s resets the pending time, so it fires at 60 + 60 s.
        assert_eq!(run(&rule, &values), [(120, Transition::Fired)]);
    }

    #[test]
    fn without_keep_firing_for_a_dip_resolves() {
        let rule = rule("0s", "0s");
        let high = Some(20.0);
        let values = [high, None, high, None];
        assert_eq!(
            run(&rule, &values),
            [
                (0, Transition::Fired),
                (15, Transition::Resolved),
                (30, Transition::Fired),
                (45, Transition::Resolved),
            ]
        );
    }

    #[test]
    fn labels_and_annotations_are_rendered() {
        let rule = rule("0s", "0s");
        let mut state = RuleState::default();
        let changes = state.apply(&rule, &[sample(42.0)], 0).unwrap();
        let (_, alert) = &changes[0];
        let label = |name: &str| alert.labels.get(name).map(String::as_str);
        assert_eq!(label("alertname"), Some("High"));
        assert_eq!(label("severity"), Some("page"));
        assert_eq!(label("service_name"), Some("checkout"));
        assert_eq!(label(METRIC_NAME), None);
        assert_eq!(alert.annotations["summary"], "x is 42");
        assert_eq!(alert.state, AlertState::Firing);
    }

    #[test]
    fn resolved_alert_is_forgotten_after_retention() {
        let rule = rule("0s", "0s");
        let mut state = RuleState::default();
        state.apply(&rule, &[sample(20.0)], 0).unwrap();
        state.apply(&rule, &[], 1_000).unwrap();
        assert_eq!(state.alerts.len(), 1);
        let retention = RESOLVED_RETENTION.as_millis() as i64;
        state.apply(&rule, &[], 1_000 + retention).unwrap();
        assert_eq!(state.alerts.len(), 1);
        state.apply(&rule, &[], 1_001 + retention).unwrap();
        assert!(state.alerts.is_empty());
    }

    #[test]
    fn duplicate_result_labels_are_an_error() {
        let rule = rule("0s", "0s");
        let mut state = RuleState::default();
        let mut other = sample(30.0);
        other.labels.insert(METRIC_NAME.to_owned(), "y".to_owned());
        let error = state.apply(&rule, &[sample(20.0), other], 0).unwrap_err();
        assert!(error.contains("more than one series"), "{error}");
        assert!(state.alerts.is_empty());
    }
}
