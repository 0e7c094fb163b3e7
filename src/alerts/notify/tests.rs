use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::ledger::Ledger;
use crate::pricing::Prices;

/// 2025-12-04T16:00:00Z in milliseconds.
const T0: i64 = 1_764_864_000_000;
const MINUTE: i64 = 60_000;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

fn firing_alert(service: &str) -> Alert {
    Alert {
        labels: labels(&[
            ("alertname", "HighSpend"),
            ("service_name", service),
            ("severity", "page"),
        ]),
        annotations: [
            ("summary".to_owned(), format!("{service} spends too much")),
            ("runbook".to_owned(), "see the budget page".to_owned()),
        ]
        .into_iter()
        .collect(),
        state: AlertState::Firing,
        value: 12.5,
        active_at: T0 - MINUTE,
        fired_at: Some(T0),
        resolved_at: None,
        keep_firing_since: None,
    }
}

fn resolved_alert(service: &str, at: i64) -> Alert {
    Alert {
        state: AlertState::Resolved,
        resolved_at: Some(at),
        ..firing_alert(service)
    }
}

fn update(at: i64, alerts: Vec<(Alert, Option<Transition>)>) -> GroupUpdate {
    GroupUpdate {
        file: PathBuf::from("rules.yaml"),
        group: "spend".to_owned(),
        at,
        interval: Duration::from_secs(15),
        alerts: alerts
            .into_iter()
            .map(|(alert, transition)| AlertUpdate { alert, transition })
            .collect(),
    }
}

fn notifier_state(settings: Notifier) -> NotifierState {
    NotifierState {
        matchers: parse_alert_selector(&settings.selector).unwrap(),
        settings,
        last_sent: Mutex::new(BTreeMap::new()),
        stats: Arc::new(NotifierStats::default()),
        sender: None,
    }
}

fn settings(kind: NotifierKind) -> Notifier {
    Notifier {
        name: "oncall".to_owned(),
        kind,
        url: "http://127.0.0.1:1/".to_owned(),
        repeat_interval: Some(Duration::from_secs(600)),
        ..Notifier::default()
    }
}

/// Returns the `service_name` of each alert that `state` sends for `update`.
fn due_services(state: &NotifierState, update: &GroupUpdate) -> Vec<String> {
    state
        .take_due(update)
        .iter()
        .map(|alert| alert.labels["service_name"].clone())
        .collect()
}

#[test]
fn webhook_payload_document() {
    let first = firing_alert("checkout");
    let second = resolved_alert("search", T0 + MINUTE);
    let document = payload::webhook("oncall", &[&first, &second]);
    let expected = json!({
        "version": "4",
        "groupKey": "{}:{alertname=\"HighSpend\"}",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "oncall",
        "groupLabels": { "alertname": "HighSpend" },
        "commonLabels": { "alertname": "HighSpend", "severity": "page" },
        "commonAnnotations": { "runbook": "see the budget page" },
        "externalURL": "",
        "alerts": [
            {
                "status": "firing",
                "labels": { "alertname": "HighSpend", "service_name": "checkout", "severity": "page" },
                "annotations": { "runbook": "see the budget page", "summary": "checkout spends too much" },
                "startsAt": "2025-12-04T16:00:00.000Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "",
                "fingerprint": "b7383a525f39b92b",
            },
            {
                "status": "resolved",
                "labels": { "alertname": "HighSpend", "service_name": "search", "severity": "page" },
                "annotations": { "runbook": "see the budget page", "summary": "search spends too much" },
                "startsAt": "2025-12-04T16:00:00.000Z",
                "endsAt": "2025-12-04T16:01:00.000Z",
                "generatorURL": "",
                "fingerprint": payload::fingerprint(&second.labels),
            },
        ],
    });
    assert_eq!(document, expected);
}

#[test]
fn webhook_payload_all_resolved() {
    let alert = resolved_alert("checkout", T0 + MINUTE);
    let document = payload::webhook("oncall", &[&alert]);
    assert_eq!(document["status"], "resolved");
}

#[test]
fn fingerprint_of_empty_labels_is_fnv_offset() {
    assert_eq!(payload::fingerprint(&Labels::new()), "cbf29ce484222325");
}

#[test]
fn slack_payload_document() {
    let first = firing_alert("checkout");
    let second = resolved_alert("search", T0 + MINUTE);
    let document = payload::slack(&[&first, &second]);
    let text = "[FIRING:1] HighSpend\n\
                *checkout spends too much* (firing)\n\
                runbook: see the budget page\n\
                Labels: `alertname=HighSpend, service_name=checkout, severity=page`\n\
                *search spends too much* (resolved)\n\
                runbook: see the budget page\n\
                Labels: `alertname=HighSpend, service_name=search, severity=page`";
    assert_eq!(document, json!({ "text": text }));
}

#[test]
fn slack_payload_resolved_headline() {
    let alert = resolved_alert("checkout", T0 + MINUTE);
    let document = payload::slack(&[&alert]);
    let text = document["text"].as_str().unwrap();
    assert!(text.starts_with("[RESOLVED:1] HighSpend\n"), "{text}");
}

#[test]
fn postable_alerts_document() {
    let first = firing_alert("checkout");
    let second = resolved_alert("search", T0 + MINUTE);
    let document = payload::postable_alerts(&[&first, &second], T0 + 4 * MINUTE);
    let expected = json!([
        {
            "labels": { "alertname": "HighSpend", "service_name": "checkout", "severity": "page" },
            "annotations": { "runbook": "see the budget page", "summary": "checkout spends too much" },
            "startsAt": "2025-12-04T16:00:00.000Z",
            "endsAt": "2025-12-04T16:04:00.000Z",
            "generatorURL": "",
        },
        {
            "labels": { "alertname": "HighSpend", "service_name": "search", "severity": "page" },
            "annotations": { "runbook": "see the budget page", "summary": "search spends too much" },
            "startsAt": "2025-12-04T16:00:00.000Z",
            "endsAt": "2025-12-04T16:01:00.000Z",
            "generatorURL": "",
        },
    ]);
    assert_eq!(document, expected);
}

fn attribute<'a>(
    record: &'a opentelemetry_proto::tonic::logs::v1::LogRecord,
    key: &str,
) -> Option<&'a str> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    record
        .attributes
        .iter()
        .find(|attribute| attribute.key == key)
        .and_then(
            |attribute| match attribute.value.as_ref()?.value.as_ref()? {
                Value::StringValue(text) => Some(text.as_str()),
                _ => None,
            },
        )
}

#[test]
fn log_record_of_firing_alert() {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    let record = payload::log_record(&firing_alert("checkout"), T0);
    assert_eq!(record.severity_number, 13);
    assert_eq!(record.severity_text, "WARN");
    assert_eq!(record.event_name, "burnrate.alert");
    assert_eq!(record.time_unix_nano, 1_764_864_000_000_000_000);
    let body = record.body.as_ref().and_then(|body| body.value.as_ref());
    assert_eq!(
        body,
        Some(&Value::StringValue("checkout spends too much".to_owned()))
    );
    assert_eq!(attribute(&record, "alert.state"), Some("firing"));
    assert_eq!(
        attribute(&record, "alert.label.alertname"),
        Some("HighSpend")
    );
    assert_eq!(
        attribute(&record, "alert.annotation.runbook"),
        Some("see the budget page")
    );
    assert_eq!(record.attributes.len(), 2 + 3 + 2);
}

#[test]
fn log_record_of_resolved_alert() {
    let record = payload::log_record(&resolved_alert("checkout", T0), T0);
    assert_eq!(record.severity_number, 9);
    assert_eq!(record.severity_text, "INFO");
    assert_eq!(attribute(&record, "alert.state"), Some("resolved"));
}

#[test]
fn webhook_timing_fire_repeat_resolve() {
    let state = notifier_state(settings(NotifierKind::Webhook));
    let fired = update(
        T0,
        vec![(firing_alert("checkout"), Some(Transition::Fired))],
    );
    assert_eq!(due_services(&state, &fired), ["checkout"]);

    // Still firing: nothing until repeat_interval (10m) has passed.
    let still = |at| update(at, vec![(firing_alert("checkout"), None)]);
    assert!(due_services(&state, &still(T0 + MINUTE)).is_empty());
    assert!(due_services(&state, &still(T0 + 9 * MINUTE)).is_empty());
    assert_eq!(due_services(&state, &still(T0 + 10 * MINUTE)), ["checkout"]);
    assert!(due_services(&state, &still(T0 + 11 * MINUTE)).is_empty());

    let resolved = resolved_alert("checkout", T0 + 12 * MINUTE);
    let update_resolved = update(
        T0 + 12 * MINUTE,
        vec![(resolved.clone(), Some(Transition::Resolved))],
    );
    assert_eq!(due_services(&state, &update_resolved), ["checkout"]);
    // Kept by the engine as resolved: not sent again.
    let kept = update(T0 + 13 * MINUTE, vec![(resolved, None)]);
    assert!(due_services(&state, &kept).is_empty());
}

#[test]
fn send_resolved_false_skips_resolution() {
    let state = notifier_state(Notifier {
        send_resolved: false,
        ..settings(NotifierKind::Slack)
    });
    let fired = update(
        T0,
        vec![(firing_alert("checkout"), Some(Transition::Fired))],
    );
    assert_eq!(due_services(&state, &fired), ["checkout"]);
    let resolved = update(
        T0 + MINUTE,
        vec![(
            resolved_alert("checkout", T0 + MINUTE),
            Some(Transition::Resolved),
        )],
    );
    assert!(due_services(&state, &resolved).is_empty());
}

#[test]
fn pending_alerts_are_not_sent() {
    let state = notifier_state(settings(NotifierKind::Webhook));
    let pending = Alert {
        state: AlertState::Pending,
        fired_at: None,
        ..firing_alert("checkout")
    };
    assert!(due_services(&state, &update(T0, vec![(pending, None)])).is_empty());
}

#[test]
fn selector_routes_alerts() {
    let state = notifier_state(Notifier {
        selector: "{service_name=~\"check.*\"}".to_owned(),
        ..settings(NotifierKind::Webhook)
    });
    let fired = update(
        T0,
        vec![
            (firing_alert("checkout"), Some(Transition::Fired)),
            (firing_alert("search"), Some(Transition::Fired)),
        ],
    );
    assert_eq!(due_services(&state, &fired), ["checkout"]);
}

#[test]
fn alertmanager_resends_after_resend_delay() {
    let state = notifier_state(Notifier {
        repeat_interval: Some(Duration::from_secs(60)),
        ..settings(NotifierKind::Alertmanager)
    });
    let firing = |at| update(at, vec![(firing_alert("checkout"), None)]);
    // A firing alert is sent on first sight even without a transition.
    assert_eq!(due_services(&state, &firing(T0)), ["checkout"]);
    assert!(due_services(&state, &firing(T0 + 30_000)).is_empty());
    assert_eq!(due_services(&state, &firing(T0 + MINUTE)), ["checkout"]);

    // Resolved: sent at once, then again every resend delay.
    let resolved_at = T0 + MINUTE + 15_000;
    let resolved = |at| update(at, vec![(resolved_alert("checkout", resolved_at), None)]);
    assert_eq!(due_services(&state, &resolved(resolved_at)), ["checkout"]);
    assert!(due_services(&state, &resolved(resolved_at + 30_000)).is_empty());
    assert_eq!(
        due_services(&state, &resolved(resolved_at + MINUTE)),
        ["checkout"]
    );
}

#[test]
fn resolved_alerts_leave_the_sent_times() {
    let state = notifier_state(settings(NotifierKind::Webhook));
    let fired = update(
        T0,
        vec![(firing_alert("checkout"), Some(Transition::Fired))],
    );
    due_services(&state, &fired);
    // The engine forgot the alert: so does the notifier.
    due_services(&state, &update(T0 + MINUTE, Vec::new()));
    let groups = state.last_sent.lock().unwrap();
    assert!(groups.values().all(BTreeMap::is_empty));
}

/// A sink that keeps every sample as `name{labels} value`.
#[derive(Default)]
struct Lines(Vec<String>);

impl MetricSink for Lines {
    fn family(&mut self, _name: &str, _kind: &str, _help: &str) {}

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let labels: Vec<String> = labels
            .iter()
            .map(|(label, value)| format!("{label}={value:?}"))
            .collect();
        self.0
            .push(format!("{name}{{{}}} {value}", labels.join(",")));
    }
}

fn empty_pipeline() -> Arc<Pipeline> {
    let ledger = Arc::new(Ledger::new(Prices::embedded()));
    Arc::new(Pipeline::new(ledger, Vec::new(), 256))
}

/// A status in a [`ScriptedServer`] script: read the request, then hold the
/// connection for [`HOLD_TIME`] without a response.
const NO_RESPONSE: u16 = 0;
const HOLD_TIME: Duration = Duration::from_secs(3);

/// A local HTTP server that responds to the n-th request with the n-th status of
/// its script, and the last status after the script ends. It stores each
/// request body and stops after `max_requests`.
struct ScriptedServer {
    url: String,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl ScriptedServer {
    async fn start(statuses: Vec<u16>, max_requests: usize) -> ScriptedServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let stored = bodies.clone();
        tokio::spawn(async move {
            for index in 0..max_requests {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let status = statuses
                    .get(index)
                    .or(statuses.last())
                    .copied()
                    .unwrap_or(200);
                let stored = stored.clone();
                // Each connection is served by its own task, so one that is
                // held open does not delay the next.
                tokio::spawn(async move {
                    let body = read_request_body(&mut stream).await;
                    stored.lock().unwrap().push(body);
                    if status == NO_RESPONSE {
                        tokio::time::sleep(HOLD_TIME).await;
                        return;
                    }
                    let response = format!(
                        "HTTP/1.1 {status} Scripted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        ScriptedServer { url, bodies }
    }
}

/// Reads one HTTP/1.1 request with a `content-length` and returns its body.
async fn read_request_body(stream: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut data = Vec::new();
    let mut buffer = [0_u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&data).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                return data[end + 4..end + 4 + length].to_vec();
            }
        }
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return Vec::new(),
            Ok(read) => data.extend_from_slice(&buffer[..read]),
        }
    }
}

/// Polls `condition` every 10 ms for at most 5 s.
async fn wait_for(condition: impl Fn() -> bool) -> bool {
    for _ in 0..500 {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

fn http_notifier(url: &str, max_retry_time: Duration) -> Notifier {
    Notifier {
        name: "hook".to_owned(),
        kind: NotifierKind::Webhook,
        url: url.to_owned(),
        timeout: Duration::from_millis(500),
        max_retry_time,
        ..Notifier::default()
    }
}

/// Starts a webhook notifier for `server` with a short backoff and hands it
/// one fired alert.
fn dispatch_fired(server: &ScriptedServer, max_retry_time: Duration) -> Dispatcher {
    let settings = [http_notifier(&server.url, max_retry_time)];
    let backoff = Duration::from_millis(20);
    let dispatcher = Dispatcher::with_backoff(&settings, empty_pipeline(), backoff).unwrap();
    let fired = update(
        T0,
        vec![(firing_alert("checkout"), Some(Transition::Fired))],
    );
    dispatcher.dispatch(&[fired]);
    dispatcher
}

#[tokio::test]
async fn webhook_retries_then_succeeds() {
    let server = ScriptedServer::start(vec![503, 500, 200], 3).await;
    let dispatcher = dispatch_fired(&server, Duration::from_secs(5));

    let stats = dispatcher.notifiers[0].stats.clone();
    assert!(wait_for(|| stats.sent.load(Ordering::Relaxed) == 1).await);
    assert_eq!(stats.retries.load(Ordering::Relaxed), 2);
    assert_eq!(stats.dropped.load(Ordering::Relaxed), 0);
    let bodies = server.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 3);
    let document: serde_json::Value = serde_json::from_slice(&bodies[2]).unwrap();
    assert_eq!(document["receiver"], "hook");
    assert_eq!(document["alerts"][0]["labels"]["service_name"], "checkout");

    let mut lines = Lines::default();
    dispatcher.metrics().write_metrics(&mut lines);
    assert_eq!(
        lines.0,
        [
            "burnrate_alerts_notifications_total{notifier=\"hook\",result=\"sent\"} 1",
            "burnrate_alerts_notifications_total{notifier=\"hook\",result=\"failed\"} 0",
            "burnrate_alerts_notifications_total{notifier=\"hook\",result=\"dropped\"} 0",
            "burnrate_alerts_notification_retries_total{notifier=\"hook\"} 2",
        ]
    );
    dispatcher.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn webhook_dropped_after_max_retry_time() {
    let server = ScriptedServer::start(vec![503], 50).await;
    let dispatcher = dispatch_fired(&server, Duration::from_millis(500));

    let stats = dispatcher.notifiers[0].stats.clone();
    assert!(wait_for(|| stats.dropped.load(Ordering::Relaxed) == 1).await);
    assert_eq!(stats.sent.load(Ordering::Relaxed), 0);
    let retries = stats.retries.load(Ordering::Relaxed);
    assert!(retries >= 1, "{retries} retries");
    let requests = server.bodies.lock().unwrap().len() as u64;
    assert_eq!(requests, retries + 1);
    dispatcher.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn permanent_error_is_failed_without_retry() {
    let server = ScriptedServer::start(vec![400], 5).await;
    let dispatcher = dispatch_fired(&server, Duration::from_secs(5));

    let stats = dispatcher.notifiers[0].stats.clone();
    assert!(wait_for(|| stats.failed.load(Ordering::Relaxed) == 1).await);
    assert_eq!(stats.retries.load(Ordering::Relaxed), 0);
    dispatcher.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn alertmanager_posts_to_api_path() {
    let server = ScriptedServer::start(vec![200], 1).await;
    let base = server.url.trim_end_matches("/hook").to_owned();
    let settings = [Notifier {
        name: "am".to_owned(),
        kind: NotifierKind::Alertmanager,
        url: base.clone(),
        ..Notifier::default()
    }];
    assert_eq!(
        delivery::request_url(&settings[0]).unwrap().to_string(),
        format!("{base}/api/v2/alerts")
    );
    let dispatcher = Dispatcher::new(&settings, empty_pipeline()).unwrap();
    dispatcher.dispatch(&[update(T0, vec![(firing_alert("checkout"), None)])]);

    let stats = dispatcher.notifiers[0].stats.clone();
    assert!(wait_for(|| stats.sent.load(Ordering::Relaxed) == 1).await);
    let bodies = server.bodies.lock().unwrap().clone();
    let document: serde_json::Value = serde_json::from_slice(&bodies[0]).unwrap();
    // Valid for 4 × max(1m resend delay, 15s interval) after the evaluation.
    assert_eq!(document[0]["endsAt"], "2025-12-04T16:04:00.000Z");
    dispatcher.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn log_notifier_counts_sent_lines() {
    let dispatcher = Dispatcher::new(&[], empty_pipeline()).unwrap();
    let fired = update(
        T0,
        vec![(firing_alert("checkout"), Some(Transition::Fired))],
    );
    dispatcher.dispatch(&[fired]);
    let stats = &dispatcher.notifiers[0].stats;
    assert_eq!(stats.sent.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn otlp_notifier_without_log_exporter_drops() {
    let settings = [Notifier {
        name: "otlp".to_owned(),
        kind: NotifierKind::Otlp,
        ..Notifier::default()
    }];
    let dispatcher = Dispatcher::new(&settings, empty_pipeline()).unwrap();
    let fired = update(
        T0,
        vec![
            (firing_alert("checkout"), Some(Transition::Fired)),
            (firing_alert("search"), Some(Transition::Fired)),
        ],
    );
    dispatcher.dispatch(&[fired]);
    let stats = &dispatcher.notifiers[0].stats;
    assert_eq!(stats.dropped.load(Ordering::Relaxed), 2);
    assert_eq!(stats.sent.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn otlp_notifier_sends_log_records() {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use prost::Message as _;

    let server = ScriptedServer::start(vec![200], 1).await;
    let exporter = crate::config::Exporter {
        name: "backend".to_owned(),
        endpoint: server.url.trim_end_matches("/hook").to_owned(),
        protocol: crate::config::Protocol::HttpProtobuf,
        signals: vec![Signal::Logs],
        ..crate::config::Exporter::default()
    };
    let shutdown = crate::export::Shutdown::default();
    let (queue, task) = crate::export::spawn(&exporter, shutdown.clone()).unwrap();
    let ledger = Arc::new(Ledger::new(Prices::embedded()));
    let pipeline = Arc::new(Pipeline::new(ledger, vec![queue], 256));
    let settings = [Notifier {
        name: "backend-logs".to_owned(),
        kind: NotifierKind::Otlp,
        ..Notifier::default()
    }];
    let dispatcher = Dispatcher::new(&settings, pipeline).unwrap();
    let fired = update(
        T0,
        vec![(firing_alert("checkout"), Some(Transition::Fired))],
    );
    dispatcher.dispatch(&[fired]);

    let bodies = server.bodies.clone();
    assert!(wait_for(|| !bodies.lock().unwrap().is_empty()).await);
    let body = bodies.lock().unwrap()[0].clone();
    let request = ExportLogsServiceRequest::decode(&body[..]).unwrap();
    let records = &request.resource_logs[0].scope_logs[0].log_records;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].event_name, "burnrate.alert");
    assert_eq!(attribute(&records[0], "alert.state"), Some("firing"));
    let stats = &dispatcher.notifiers[0].stats;
    assert_eq!(stats.sent.load(Ordering::Relaxed), 1);

    shutdown.drain.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
}

#[tokio::test]
async fn attempt_timeout_is_retried() {
    let server = ScriptedServer::start(vec![NO_RESPONSE, 200], 2).await;
    // `http_notifier` sets a 500 ms timeout, far below HOLD_TIME.
    let dispatcher = dispatch_fired(&server, Duration::from_secs(5));

    let stats = dispatcher.notifiers[0].stats.clone();
    assert!(wait_for(|| stats.sent.load(Ordering::Relaxed) == 1).await);
    assert_eq!(stats.retries.load(Ordering::Relaxed), 1);
    dispatcher.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn shutdown_deadline_drops_queued_requests() {
    let server = ScriptedServer::start(vec![503], 100).await;
    let dispatcher = dispatch_fired(&server, Duration::from_secs(30));
    let more = update(T0, vec![(firing_alert("search"), Some(Transition::Fired))]);
    dispatcher.dispatch(std::slice::from_ref(&more));
    dispatcher.dispatch(&[more]);
    let stats = dispatcher.notifiers[0].stats.clone();

    dispatcher.shutdown(Duration::from_millis(200)).await;
    // One request in retry and two queued, all given up at the deadline.
    assert_eq!(stats.dropped.load(Ordering::Relaxed), 3);
    assert_eq!(stats.sent.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn full_queue_drops_requests() {
    let server = ScriptedServer::start(vec![NO_RESPONSE], 5).await;
    let dispatcher = dispatch_fired(&server, Duration::from_secs(30));
    let more = update(T0, vec![(firing_alert("search"), Some(Transition::Fired))]);
    let extra = delivery::QUEUE_CAPACITY + 10;
    for _ in 0..extra {
        dispatcher.dispatch(std::slice::from_ref(&more));
    }
    let stats = dispatcher.notifiers[0].stats.clone();

    // Of the QUEUE_CAPACITY + 11 requests, at most one is in flight and
    // QUEUE_CAPACITY wait, so at least 10 are dropped at once.
    let dropped = stats.dropped.load(Ordering::Relaxed);
    assert!(dropped >= 10, "{dropped} dropped");
    dispatcher.shutdown(Duration::from_millis(100)).await;
}
