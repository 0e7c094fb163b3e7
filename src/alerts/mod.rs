//! Alert rules in the Prometheus rule-file format, evaluated over a history
//! of burnrate's own metrics.

pub mod engine;
pub mod history;
pub mod notify;
pub mod promql;
pub mod rule_tests;
pub mod rules;
mod runner;
pub mod state;
pub mod template;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use crate::config;
use crate::metrics::MetricSink;
use engine::{Engine, EngineStats};
use notify::NotifierMetrics;
use rules::{RuleError, RuleFile};
use state::AlertState;

pub use runner::spawn_rule_runner;

/// The rule pack that `alerts.default_rules` enables.
pub const DEFAULT_RULES: &str = include_str!("../../rules/burnrate.yaml");
/// The name that problems in [`DEFAULT_RULES`] are reported under.
pub const DEFAULT_RULES_PATH: &str = "rules/burnrate.yaml (embedded)";

/// Loads the embedded rule pack, if enabled, and every file that
/// `alerts.rule_files` names, returning all problems found.
pub fn load_rules(settings: &config::Alerts) -> Result<Vec<RuleFile>, Vec<RuleError>> {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    if settings.default_rules {
        match rules::parse_rule_file(Path::new(DEFAULT_RULES_PATH), DEFAULT_RULES) {
            Ok(file) => files.push(file),
            Err(errors) => problems.extend(errors),
        }
    }
    match rules::load_all(&settings.rule_files, Path::new(".")) {
        Ok(loaded) => files.extend(loaded),
        Err(errors) => problems.extend(errors),
    }
    if problems.is_empty() {
        Ok(files)
    } else {
        Err(problems)
    }
}

/// The rule engine's figures that `/metrics` shows, updated after each
/// evaluation.
#[derive(Debug, Default)]
pub struct AlertsStatus {
    snapshot: Mutex<StatusSnapshot>,
    notifiers: Mutex<NotifierMetrics>,
}

#[derive(Clone, Debug, Default)]
struct StatusSnapshot {
    rules: usize,
    stats: EngineStats,
    alerts: BTreeMap<(String, AlertState), u64>,
    history_series: usize,
    history_dropped_series: u64,
}

impl AlertsStatus {
    /// Copies the engine's figures.
    pub fn update(&self, engine: &Engine) {
        let snapshot = StatusSnapshot {
            rules: engine.rule_count(),
            stats: engine.stats.clone(),
            alerts: engine.alert_counts(),
            history_series: engine.history().series_count(),
            history_dropped_series: engine.history().dropped_series(),
        };
        *self.snapshot.lock().unwrap_or_else(PoisonError::into_inner) = snapshot;
    }

    /// Shows the counters of `notifiers` from now on.
    pub fn set_notifiers(&self, notifiers: NotifierMetrics) {
        *self
            .notifiers
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = notifiers;
    }

    /// Writes the `burnrate_alerts_*` families of the engine and notifiers.
    pub fn write_metrics(&self, writer: &mut dyn MetricSink) {
        let notifiers = self
            .notifiers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        notifiers.write_metrics(writer);
        let snapshot = self
            .snapshot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let gauges: [(&str, &str, f64); 2] = [
            (
                "burnrate_alerts_rules",
                "Alerting rules loaded.",
                snapshot.rules as f64,
            ),
            (
                "burnrate_alerts_history_series",
                "Series that the history for range functions holds.",
                snapshot.history_series as f64,
            ),
        ];
        for (name, help, value) in gauges {
            writer.family(name, "gauge", help);
            writer.sample(name, &[], value);
        }

        let name = "burnrate_alerts_active";
        writer.family(
            name,
            "gauge",
            "Alerts by name and state: pending, firing, or resolved within the last 15 minutes.",
        );
        for ((alertname, state), count) in &snapshot.alerts {
            let labels = [("alertname", alertname.as_str()), ("state", state.as_str())];
            writer.sample(name, &labels, *count as f64);
        }

        let counters: [(&str, &str, f64); 2] = [
            (
                "burnrate_alerts_group_evaluations_total",
                "Rule group evaluations.",
                snapshot.stats.evaluations as f64,
            ),
            (
                "burnrate_alerts_history_dropped_series_total",
                "Series the history did not take because alerts.max_history_series was reached.",
                snapshot.history_dropped_series as f64,
            ),
        ];
        for (name, help, value) in counters {
            writer.family(name, "counter", help);
            writer.sample(name, &[], value);
        }

        let name = "burnrate_alerts_evaluation_failures_total";
        writer.family(
            name,
            "counter",
            "Rule evaluations that failed, by alert name; the log names the reason.",
        );
        for (alertname, count) in &snapshot.stats.failures {
            writer.sample(name, &[("alertname", alertname.as_str())], *count as f64);
        }

        let name = "burnrate_alerts_rule_reloads_total";
        writer.family(
            name,
            "counter",
            "Reloads of the rule files on SIGHUP or a changed file, by result; a failure keeps the previous rules.",
        );
        let reloads = [
            ("success", snapshot.stats.reloads_succeeded),
            ("failure", snapshot.stats.reloads_failed),
        ];
        for (result, count) in reloads {
            writer.sample(name, &[("result", result)], count as f64);
        }
    }
}
