//! `GET /status` on the admin listener: what burnrate receives and how each
//! exporter is doing, as JSON for people and scripts. Header values are never
//! shown, because they hold credentials.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::AdminState;
use crate::export::{DropReason, ExportQueue};
use crate::pipeline::{ItemFate, Pipeline};
use crate::signal::{Signal, Transport};

pub async fn status(State(state): State<AdminState>) -> impl IntoResponse {
    let pipeline: &Arc<Pipeline> = &state.pipeline;
    let body = json!({
        "ready": state.readiness.is_ready(),
        "receivers": receivers(pipeline),
        "exporters": pipeline.exporters.iter().map(exporter).collect::<Vec<_>>(),
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        format!("{body:#}\n"),
    )
}

fn receivers(pipeline: &Pipeline) -> Value {
    let stats = &pipeline.receiver_stats;
    let mut by_transport = Map::new();
    for transport in Transport::ALL {
        let mut by_signal = Map::new();
        for signal in Signal::ALL {
            let mut counts = Map::new();
            for fate in ItemFate::ALL {
                counts.insert(
                    fate.as_str().to_owned(),
                    json!(stats.items(signal, transport, fate)),
                );
            }
            counts.insert(
                "invalid_requests".to_owned(),
                json!(stats.invalid_requests(signal, transport)),
            );
            by_signal.insert(signal.item_name().to_owned(), Value::Object(counts));
        }
        by_transport.insert(transport.as_str().to_owned(), Value::Object(by_signal));
    }
    Value::Object(by_transport)
}

fn exporter(queue: &ExportQueue) -> Value {
    let settings = &queue.settings;
    let stats = &queue.stats;
    let limits = queue.limits();
    let mut items = Map::new();
    for signal in Signal::ALL {
        let mut failed = Map::new();
        for reason in DropReason::ALL {
            failed.insert(
                reason.as_str().to_owned(),
                json!(stats.failed_items(signal, reason)),
            );
        }
        items.insert(
            signal.item_name().to_owned(),
            json!({
                "sent": stats.sent_items(signal),
                "rejected_by_upstream": stats.rejected_items(signal),
                "failed": failed,
            }),
        );
    }
    let last_error = stats
        .last_error()
        .map(|error| json!({ "at": rfc3339(error.at), "message": error.message }));
    json!({
        "name": &*queue.name,
        "endpoint": settings.endpoint,
        "protocol": match settings.protocol {
            crate::config::Protocol::Grpc => "grpc",
            crate::config::Protocol::HttpProtobuf => "http/protobuf",
        },
        "signals": settings.signals.iter().map(|signal| signal.as_str()).collect::<Vec<_>>(),
        "queue": {
            "storage": if queue.is_durable() { "disk" } else { "memory" },
            "requests": queue.depth(),
            "bytes": queue.queued_bytes(),
            "max_requests": limits.max_requests,
            "max_bytes": limits.max_bytes,
        },
        "in_flight_requests": stats.in_flight_requests.load(std::sync::atomic::Ordering::Relaxed),
        "retries": stats.retries.load(std::sync::atomic::Ordering::Relaxed),
        "items": items,
        "last_success": stats.last_success().map(rfc3339),
        "last_error": last_error,
    })
}

fn rfc3339(time: SystemTime) -> String {
    DateTime::<Utc>::from(time).to_rfc3339_opts(SecondsFormat::Millis, true)
}
