//! Notification of alerts: which notifier gets which alert and when. Each
//! notifier takes the alerts that its selector matches.
//!
//! `log`, `webhook`, `slack` and `otlp` notify an alert when it fires, when
//! it resolves (with `send_resolved`), and again every `repeat_interval`
//! while it fires. `alertmanager` follows Prometheus instead: every
//! evaluation sends the firing alerts and recently resolved alerts that were
//! not sent within the resend delay (`repeat_interval`), and Alertmanager
//! decides whom to notify and how often.

mod delivery;
pub mod payload;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use promql_parser::label::Matcher;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::engine::{AlertUpdate, GroupUpdate};
use super::history::Labels;
use super::state::{Alert, AlertState, Transition};
use crate::config::{Notifier, NotifierKind};
use crate::log_throttle::LogThrottle;
use crate::metrics::MetricSink;
use crate::pipeline::{Message, Pipeline};
use crate::signal::Signal;
pub use delivery::NotifierStats;

static OTLP_LOG: LogThrottle = LogThrottle::new(Duration::from_secs(60));

/// Sends the alerts of each evaluation to every configured notifier.
pub struct Dispatcher {
    notifiers: Vec<NotifierState>,
    pipeline: Arc<Pipeline>,
    tasks: Vec<JoinHandle<()>>,
    abort: CancellationToken,
}

/// A rule group, by file and name.
type GroupKey = (PathBuf, String);

struct NotifierState {
    settings: Notifier,
    matchers: Vec<Matcher>,
    /// When each alert was last notified, in milliseconds, by group and
    /// labels.
    last_sent: Mutex<BTreeMap<GroupKey, BTreeMap<Labels, i64>>>,
    stats: Arc<NotifierStats>,
    /// The delivery queue of the kinds that send over HTTP.
    sender: Option<delivery::Sender>,
}

impl Dispatcher {
    /// Creates a dispatcher for `settings` and starts a delivery task per
    /// HTTP notifier, so it must be called inside a tokio runtime. Without
    /// any notifier, alerts are logged. The `otlp` kind sends through
    /// `pipeline`'s exporters.
    pub fn new(settings: &[Notifier], pipeline: Arc<Pipeline>) -> Result<Dispatcher, String> {
        Dispatcher::with_backoff(settings, pipeline, delivery::INITIAL_BACKOFF)
    }

    fn with_backoff(
        settings: &[Notifier],
        pipeline: Arc<Pipeline>,
        initial_backoff: Duration,
    ) -> Result<Dispatcher, String> {
        let defaults = [Notifier {
            name: "log".to_owned(),
            ..Notifier::default()
        }];
        let settings = if settings.is_empty() {
            &defaults[..]
        } else {
            settings
        };
        let abort = CancellationToken::new();
        let mut notifiers = Vec::new();
        let mut tasks = Vec::new();
        for notifier in settings {
            let stats = Arc::new(NotifierStats::default());
            let sender = if notifier.kind.uses_url() {
                let (sender, task) =
                    delivery::spawn(notifier, stats.clone(), initial_backoff, abort.clone())
                        .map_err(|error| format!("notifier `{}`: {error}", notifier.name))?;
                tasks.push(task);
                Some(sender)
            } else {
                None
            };
            notifiers.push(NotifierState {
                matchers: parse_alert_selector(&notifier.selector)?,
                settings: notifier.clone(),
                last_sent: Mutex::new(BTreeMap::new()),
                stats,
                sender,
            });
        }
        Ok(Dispatcher {
            notifiers,
            pipeline,
            tasks,
            abort,
        })
    }

    /// Hands the alerts of `updates` to the notifiers whose selector matches
    /// them. Never waits for delivery: HTTP requests go to each notifier's
    /// queue.
    pub fn dispatch(&self, updates: &[GroupUpdate]) {
        for notifier in &self.notifiers {
            for update in updates {
                let due = notifier.take_due(update);
                if !due.is_empty() {
                    notifier.send(&due, update, &self.pipeline);
                }
            }
        }
    }

    /// Returns a handle on the notifiers' counters, for `/metrics`.
    pub fn metrics(&self) -> NotifierMetrics {
        NotifierMetrics {
            notifiers: self
                .notifiers
                .iter()
                .map(|notifier| (notifier.settings.name.clone(), notifier.stats.clone()))
                .collect(),
        }
    }

    /// Stops taking alerts and sends what the queues hold within `deadline`;
    /// what is left after it is dropped and counted.
    pub async fn shutdown(self, deadline: Duration) {
        let Dispatcher {
            notifiers,
            mut tasks,
            abort,
            ..
        } = self;
        // Dropping the senders lets each task end once its queue is empty.
        drop(notifiers);
        let all_done = async {
            for task in &mut tasks {
                let _ = task.await;
            }
        };
        if tokio::time::timeout(deadline, all_done).await.is_err() {
            abort.cancel();
            for task in tasks {
                let _ = task.await;
            }
        }
    }
}

/// The counters of every notifier, by name, shared with their tasks.
#[derive(Clone, Debug, Default)]
pub struct NotifierMetrics {
    notifiers: Vec<(String, Arc<NotifierStats>)>,
}

impl NotifierMetrics {
    /// Writes `burnrate_alerts_notifications_total` and
    /// `burnrate_alerts_notification_retries_total`.
    pub fn write_metrics(&self, writer: &mut dyn MetricSink) {
        let name = "burnrate_alerts_notifications_total";
        writer.family(
            name,
            "counter",
            "Alert notifications (HTTP requests, log lines or OTLP log records) by result: sent, failed (permanent error response) or dropped (retries exhausted, queue full or shutdown).",
        );
        for (notifier, stats) in &self.notifiers {
            let results = [
                ("sent", &stats.sent),
                ("failed", &stats.failed),
                ("dropped", &stats.dropped),
            ];
            for (result, counter) in results {
                let labels = [("notifier", notifier.as_str()), ("result", result)];
                writer.sample(name, &labels, counter.load(Ordering::Relaxed) as f64);
            }
        }

        let name = "burnrate_alerts_notification_retries_total";
        writer.family(
            name,
            "counter",
            "Alert notification attempts that failed and were retried.",
        );
        for (notifier, stats) in &self.notifiers {
            let retries = stats.retries.load(Ordering::Relaxed);
            let labels = [("notifier", notifier.as_str())];
            writer.sample(name, &labels, retries as f64);
        }
    }
}

impl NotifierState {
    /// Returns the alerts of `update` that this notifier sends now, and
    /// records them as sent at the evaluation time.
    fn take_due<'a>(&self, update: &'a GroupUpdate) -> Vec<&'a Alert> {
        let mut groups = self
            .last_sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let key = (update.file.clone(), update.group.clone());
        let last_sent = groups.entry(key).or_default();
        let repeat = self.settings.repeat_interval().as_millis() as i64;
        let send_resolved = self.settings.send_resolved;
        let mut due = Vec::new();
        for alert in &update.alerts {
            if !matches_alert(&self.matchers, &alert.alert.labels) {
                continue;
            }
            let last = last_sent.get(&alert.alert.labels).copied();
            let is_due = match self.settings.kind {
                NotifierKind::Alertmanager => {
                    resend_due(&alert.alert, last, update.at, repeat, send_resolved)
                }
                _ => notify_due(alert, last, update.at, repeat, send_resolved),
            };
            if is_due {
                last_sent.insert(alert.alert.labels.clone(), update.at);
                due.push(&alert.alert);
            }
        }

        // The engine drops resolved alerts after a retention time, and their
        // sent times go with them.
        let present: BTreeSet<&Labels> = update
            .alerts
            .iter()
            .map(|alert| &alert.alert.labels)
            .collect();
        last_sent.retain(|labels, _| present.contains(labels));
        due
    }

    fn send(&self, alerts: &[&Alert], update: &GroupUpdate, pipeline: &Pipeline) {
        let name = self.settings.name.as_str();
        match self.settings.kind {
            NotifierKind::Log => {
                for alert in alerts {
                    log_alert(name, alert);
                    self.stats.sent.fetch_add(1, Ordering::Relaxed);
                }
            }
            NotifierKind::Otlp => {
                let records = alerts
                    .iter()
                    .map(|alert| payload::log_record(alert, update.at))
                    .collect();
                let request = payload::logs_request(records);
                let count = alerts.len() as u64;
                let takes_logs = pipeline
                    .exporters
                    .iter()
                    .any(|exporter| exporter.takes(Signal::Logs));
                if !takes_logs {
                    if let Some(suppressed) = OTLP_LOG.check() {
                        tracing::error!(
                            notifier = name,
                            similar_errors_suppressed = suppressed,
                            "alert log records dropped because no exporter takes logs; add `logs` to an exporter's `signals`"
                        );
                    }
                    self.stats.dropped.fetch_add(count, Ordering::Relaxed);
                    return;
                }
                match pipeline.forward_own(&Message::Logs(request)) {
                    Ok(()) => self.stats.sent.fetch_add(count, Ordering::Relaxed),
                    Err(error) => {
                        if let Some(suppressed) = OTLP_LOG.check() {
                            tracing::error!(notifier = name, %error, similar_errors_suppressed = suppressed, "alert log records were not queued for export");
                        }
                        self.stats.dropped.fetch_add(count, Ordering::Relaxed)
                    }
                };
            }
            NotifierKind::Webhook | NotifierKind::Slack => {
                for group in by_alert_name(alerts) {
                    let document = if self.settings.kind == NotifierKind::Slack {
                        payload::slack(&group)
                    } else {
                        payload::webhook(name, &group)
                    };
                    self.enqueue(&document);
                }
            }
            NotifierKind::Alertmanager => {
                // As Prometheus does: firing alerts stay valid for four times
                // the larger of the resend delay and the group's interval, so
                // one lost request does not resolve them in Alertmanager.
                let repeat = self.settings.repeat_interval();
                let validity = repeat.max(update.interval) * 4;
                let valid_until = update.at + validity.as_millis() as i64;
                self.enqueue(&payload::postable_alerts(alerts, valid_until));
            }
        }
    }

    fn enqueue(&self, document: &serde_json::Value) {
        if let Some(sender) = &self.sender {
            sender.enqueue(Bytes::from(document.to_string()));
        }
    }
}

/// Returns whether a `log`, `webhook`, `slack` or `otlp` notifier sends
/// `alert` at `at`: when it fired, when it resolved (with `send_resolved`),
/// and while it fires, `repeat` milliseconds after it was last sent. A firing
/// alert never sent before, such as one that fired before a reload added the
/// notifier, is sent at once.
fn notify_due(
    alert: &AlertUpdate,
    last_sent: Option<i64>,
    at: i64,
    repeat: i64,
    send_resolved: bool,
) -> bool {
    match (&alert.transition, alert.alert.state) {
        (Some(Transition::Fired), _) => true,
        (Some(Transition::Resolved), _) => send_resolved,
        (None, AlertState::Firing) => last_sent.is_none_or(|sent| at - sent >= repeat),
        (None, _) => false,
    }
}

/// Returns whether an `alertmanager` notifier sends `alert` at `at`, as
/// Prometheus decides: a firing alert when it was not sent within the resend
/// delay `repeat`, a resolved one also when it resolved after it was last
/// sent. Resolved alerts are sent again each resend delay while the engine
/// keeps them, so one lost request does not leave them firing.
fn resend_due(
    alert: &Alert,
    last_sent: Option<i64>,
    at: i64,
    repeat: i64,
    send_resolved: bool,
) -> bool {
    let resent = last_sent.is_none_or(|sent| at - sent >= repeat);
    match alert.state {
        AlertState::Pending => false,
        AlertState::Firing => resent,
        AlertState::Resolved => {
            let resolved_since_sent = match (alert.resolved_at, last_sent) {
                (Some(resolved), Some(sent)) => resolved > sent,
                _ => true,
            };
            send_resolved && (resent || resolved_since_sent)
        }
    }
}

/// Splits alerts into groups of one `alertname`, in name order.
fn by_alert_name<'a>(alerts: &[&'a Alert]) -> Vec<Vec<&'a Alert>> {
    let mut groups: BTreeMap<&str, Vec<&'a Alert>> = BTreeMap::new();
    for alert in alerts {
        let name = alert.labels.get("alertname").map_or("", String::as_str);
        groups.entry(name).or_default().push(alert);
    }
    groups.into_values().collect()
}

fn log_alert(notifier: &str, alert: &Alert) {
    let labels = format!("{:?}", alert.labels);
    let annotations = format!("{:?}", alert.annotations);
    let alertname = alert.labels.get("alertname").map_or("", String::as_str);
    match alert.state {
        AlertState::Resolved => tracing::info!(
            notifier,
            alertname,
            %labels,
            %annotations,
            "alert resolved",
        ),
        _ => tracing::warn!(
            notifier,
            alertname,
            value = alert.value,
            %labels,
            %annotations,
            "alert firing",
        ),
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
    crate::selector::all_match(matchers, |name| labels.get(name).map(String::as_str))
}
