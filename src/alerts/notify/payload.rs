//! The documents that notifiers send: the Alertmanager webhook payload, a
//! Slack incoming-webhook message, Alertmanager API v2 postable alerts, and
//! OTLP log records.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde_json::{Value, json};

use crate::alerts::history::Labels;
use crate::alerts::state::{Alert, AlertState};
use crate::metrics::otlp::string_attribute;

/// The time that Alertmanager's webhook payload gives a firing alert's
/// `endsAt`: Go's zero `time.Time`.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// The `event_name` of the OTLP log records of alerts.
pub const LOG_EVENT_NAME: &str = "burnrate.alert";

/// Formats milliseconds since the Unix epoch as RFC 3339 in UTC.
pub fn rfc3339(millis: i64) -> String {
    DateTime::from_timestamp_millis(millis).map_or_else(
        || ZERO_TIME.to_owned(),
        |time| time.to_rfc3339_opts(SecondsFormat::Millis, true),
    )
}

/// Returns when an alert started: when it fired, as Prometheus sends it.
fn starts_at(alert: &Alert) -> i64 {
    alert.fired_at.unwrap_or(alert.active_at)
}

/// Returns Alertmanager's fingerprint of a label set: 64-bit FNV-1a over the
/// label names and values in name order, each followed by the byte 0xff, as
/// 16 hex digits. tests/e2e/test_alertmanager.py checks it against the
/// fingerprint that Alertmanager 0.25 returns for the same labels.
pub fn fingerprint(labels: &Labels) -> String {
    const OFFSET: u64 = 14_695_981_039_346_656_037;
    const PRIME: u64 = 1_099_511_628_211;
    const SEPARATOR: u8 = 0xff;

    let mut hash = OFFSET;
    let mut add = |bytes: &[u8]| {
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(PRIME);
        }
    };
    // `Labels` is a BTreeMap, so the names come in order.
    for (name, value) in labels {
        add(name.as_bytes());
        add(&[SEPARATOR]);
        add(value.as_bytes());
        add(&[SEPARATOR]);
    }
    format!("{hash:016x}")
}

/// Returns the alert's `summary` annotation, or its name and state.
pub fn summary(alert: &Alert) -> String {
    match alert.annotations.get("summary") {
        Some(summary) if !summary.is_empty() => summary.clone(),
        _ => format!("{} is {}", alert_name(alert), alert.state.as_str()),
    }
}

fn alert_name(alert: &Alert) -> &str {
    alert.labels.get("alertname").map_or("", String::as_str)
}

fn status(alert: &Alert) -> &'static str {
    if alert.state == AlertState::Resolved {
        "resolved"
    } else {
        "firing"
    }
}

/// Returns the label and annotation pairs that every alert of `alerts` has
/// with the same value.
fn common<'a>(
    alerts: &[&'a Alert],
    pairs: impl Fn(&'a Alert) -> &'a BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let Some((first, rest)) = alerts.split_first() else {
        return BTreeMap::new();
    };
    pairs(first)
        .iter()
        .filter(|(name, value)| {
            rest.iter()
                .all(|alert| pairs(alert).get(*name) == Some(*value))
        })
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

/// Builds the Alertmanager webhook payload (version 4) for `alerts`, which
/// share one `alertname`, the payload's only group label.
pub fn webhook(receiver: &str, alerts: &[&Alert]) -> Value {
    let name = alerts.first().map_or("", |alert| alert_name(alert));
    let any_firing = alerts
        .iter()
        .any(|alert| alert.state != AlertState::Resolved);
    let entries: Vec<Value> = alerts
        .iter()
        .map(|alert| {
            let ends_at = match alert.resolved_at {
                Some(resolved) if alert.state == AlertState::Resolved => rfc3339(resolved),
                _ => ZERO_TIME.to_owned(),
            };
            json!({
                "status": status(alert),
                "labels": alert.labels,
                "annotations": alert.annotations,
                "startsAt": rfc3339(starts_at(alert)),
                "endsAt": ends_at,
                "generatorURL": "",
                "fingerprint": fingerprint(&alert.labels),
            })
        })
        .collect();
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname={name:?}}}"),
        "truncatedAlerts": 0,
        "status": if any_firing { "firing" } else { "resolved" },
        "receiver": receiver,
        "groupLabels": { "alertname": name },
        "commonLabels": common(alerts, |alert| &alert.labels),
        "commonAnnotations": common(alerts, |alert| &alert.annotations),
        "externalURL": "",
        "alerts": entries,
    })
}

/// Builds a Slack incoming-webhook message for `alerts`, which share one
/// `alertname`: a headline with the status and count, then per alert its
/// summary, the other annotations and the labels.
pub fn slack(alerts: &[&Alert]) -> Value {
    let name = alerts.first().map_or("", |alert| alert_name(alert));
    let firing = alerts
        .iter()
        .filter(|alert| alert.state != AlertState::Resolved)
        .count();
    let headline = if firing > 0 {
        format!("[FIRING:{firing}] {name}")
    } else {
        format!("[RESOLVED:{}] {name}", alerts.len())
    };
    let mut text = headline;
    for alert in alerts {
        text.push_str(&format!("\n*{}* ({})", summary(alert), status(alert)));
        for (annotation, value) in &alert.annotations {
            if annotation != "summary" {
                text.push_str(&format!("\n{annotation}: {value}"));
            }
        }
        let labels: Vec<String> = alert
            .labels
            .iter()
            .map(|(label, value)| format!("{label}={value}"))
            .collect();
        text.push_str(&format!("\nLabels: `{}`", labels.join(", ")));
    }
    json!({ "text": text })
}

/// Builds the body of `POST /api/v2/alerts`: firing alerts with `endsAt` =
/// `valid_until` (milliseconds), resolved ones with the time they resolved.
pub fn postable_alerts(alerts: &[&Alert], valid_until: i64) -> Value {
    let entries: Vec<Value> = alerts
        .iter()
        .map(|alert| {
            let ends_at = match alert.resolved_at {
                Some(resolved) if alert.state == AlertState::Resolved => resolved,
                _ => valid_until,
            };
            json!({
                "labels": alert.labels,
                "annotations": alert.annotations,
                "startsAt": rfc3339(starts_at(alert)),
                "endsAt": rfc3339(ends_at),
                "generatorURL": "",
            })
        })
        .collect();
    Value::Array(entries)
}

/// Builds one OTLP log record for an alert notified at `at` (milliseconds):
/// WARN while it fires, INFO once resolved, with its summary as the body.
/// The attributes are `alert.state`, `alert.fingerprint`, each label as
/// `alert.label.<name>` and each annotation as `alert.annotation.<name>`.
pub fn log_record(alert: &Alert, at: i64) -> LogRecord {
    let (severity, severity_text) = if alert.state == AlertState::Resolved {
        (SeverityNumber::Info, "INFO")
    } else {
        (SeverityNumber::Warn, "WARN")
    };
    let mut attributes = vec![
        string_attribute("alert.state", status(alert)),
        string_attribute("alert.fingerprint", &fingerprint(&alert.labels)),
    ];
    for (name, value) in &alert.labels {
        attributes.push(string_attribute(&format!("alert.label.{name}"), value));
    }
    for (name, value) in &alert.annotations {
        attributes.push(string_attribute(&format!("alert.annotation.{name}"), value));
    }
    let nanos = u64::try_from(at).unwrap_or(0).saturating_mul(1_000_000);
    LogRecord {
        time_unix_nano: nanos,
        observed_time_unix_nano: nanos,
        severity_number: severity as i32,
        severity_text: severity_text.to_owned(),
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue(summary(alert))),
        }),
        attributes,
        event_name: LOG_EVENT_NAME.to_owned(),
        ..LogRecord::default()
    }
}

/// Wraps log records in an export request from resource `service.name` =
/// burnrate and scope `burnrate.alerts`.
pub fn logs_request(records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![string_attribute("service.name", "burnrate")],
                ..Resource::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "burnrate.alerts".to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    ..InstrumentationScope::default()
                }),
                log_records: records,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}
