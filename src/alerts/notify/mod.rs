//! Notification of alerts: which notifier gets which alert and when. Each
//! notifier takes the alerts that its selector matches.

use std::collections::BTreeMap;
use std::sync::Mutex;

use promql_parser::label::Matcher;

use super::engine::{AlertUpdate, GroupUpdate};
use super::history::Labels;
use super::state::{AlertState, Transition};
use crate::config::{Notifier, NotifierKind};

/// Sends the alerts of each evaluation to every configured notifier.
pub struct Dispatcher {
    notifiers: Vec<NotifierState>,
}

struct NotifierState {
    settings: Notifier,
    matchers: Vec<Matcher>,
    /// When each alert was last notified, in milliseconds, by its labels.
    last_sent: Mutex<BTreeMap<Labels, i64>>,
}

impl Dispatcher {
    /// Creates a dispatcher for `settings`; without any notifier, alerts are
    /// logged.
    pub fn new(settings: &[Notifier]) -> Result<Dispatcher, String> {
        let mut notifiers = Vec::new();
        let defaults = [Notifier {
            name: "log".to_owned(),
            ..Notifier::default()
        }];
        let settings = if settings.is_empty() {
            &defaults[..]
        } else {
            settings
        };
        for notifier in settings {
            notifiers.push(NotifierState {
                matchers: parse_alert_selector(&notifier.selector)?,
                settings: notifier.clone(),
                last_sent: Mutex::new(BTreeMap::new()),
            });
        }
        Ok(Dispatcher { notifiers })
    }

    /// Hands the alerts of `updates` to the notifiers whose selector matches
    /// them: firing and resolved alerts when they change, and firing ones
    /// again every `repeat_interval`.
    pub fn dispatch(&self, updates: &[GroupUpdate]) {
        for notifier in &self.notifiers {
            for update in updates {
                for alert in &update.alerts {
                    if !matches_alert(&notifier.matchers, &alert.alert.labels) {
                        continue;
                    }
                    if notifier.due(alert, update.at) {
                        notifier.send(alert);
                    }
                }
            }
        }
    }
}

impl NotifierState {
    /// Returns whether `alert` is notified at `at`, and records it as sent.
    fn due(&self, alert: &AlertUpdate, at: i64) -> bool {
        let mut last_sent = match self.last_sent.lock() {
            Ok(last_sent) => last_sent,
            Err(poisoned) => poisoned.into_inner(),
        };
        let labels = &alert.alert.labels;
        let due = match (&alert.transition, alert.alert.state) {
            (Some(Transition::Fired), _) => true,
            (Some(Transition::Resolved), _) => self.settings.send_resolved,
            (None, AlertState::Firing) => last_sent
                .get(labels)
                .is_some_and(|sent| at - sent >= self.settings.repeat_interval.as_millis() as i64),
            (None, _) => false,
        };
        if alert.alert.state == AlertState::Resolved {
            last_sent.remove(labels);
        } else if due {
            last_sent.insert(labels.clone(), at);
        }
        due
    }

    fn send(&self, update: &AlertUpdate) {
        let alert = &update.alert;
        match self.settings.kind {
            NotifierKind::Log => {
                let labels = format!("{:?}", alert.labels);
                let annotations = format!("{:?}", alert.annotations);
                let alertname = alert.labels.get("alertname").map_or("", String::as_str);
                match alert.state {
                    AlertState::Resolved => tracing::info!(
                        notifier = %self.settings.name,
                        alertname,
                        %labels,
                        %annotations,
                        "alert resolved",
                    ),
                    _ => tracing::warn!(
                        notifier = %self.settings.name,
                        alertname,
                        value = alert.value,
                        %labels,
                        %annotations,
                        "alert firing",
                    ),
                }
            }
            kind => tracing::error!(
                notifier = %self.settings.name,
                ?kind,
                "this notifier kind cannot deliver yet; the alert is only logged by log notifiers",
            ),
        }
    }
}

/// Parses a PromQL series selector over alert labels; empty matches all.
pub fn parse_alert_selector(selector: &str) -> Result<Vec<Matcher>, String> {
    if selector.trim().is_empty() {
        return Ok(Vec::new());
    }
    match promql_parser::parser::parse(selector) {
        Ok(promql_parser::parser::Expr::VectorSelector(vector))
            if vector.name.is_none() && vector.matchers.or_matchers.is_empty() =>
        {
            Ok(vector.matchers.matchers)
        }
        Ok(_) => Err(format!(
            "{selector:?} is not a label selector; write one such as {{severity=\"page\"}}"
        )),
        Err(reason) => Err(format!(
            "{selector:?} is not a label selector ({reason}); write one such as {{severity=\"page\"}}"
        )),
    }
}

fn matches_alert(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers.iter().all(|matcher| {
        let value = labels.get(&matcher.name).map_or("", String::as_str);
        matcher.is_match(value)
    })
}
