//! HTTP endpoints for operators: health and status on the admin listener,
//! and the Prometheus scrape endpoint.

mod status;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::pipeline::Pipeline;

/// Whether burnrate accepts data: set once every listener is bound, cleared
/// when shutdown starts so that Kubernetes stops routing to the pod.
#[derive(Debug, Default)]
pub struct Readiness(AtomicBool);

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// State of the admin listener's handlers.
#[derive(Clone)]
pub struct AdminState {
    pub readiness: Arc<Readiness>,
    pub pipeline: Arc<Pipeline>,
}

/// Routes of the admin listener: `/healthz` returns 200 while the process runs,
/// `/readyz` only while it accepts data, and `/status` describes receivers and
/// exporters as JSON. Neither health check depends on the upstream, so a
/// backend outage never marks the pod unready.
pub fn admin_router(readiness: Arc<Readiness>, pipeline: Arc<Pipeline>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/status", get(status::status))
        .with_state(AdminState {
            readiness,
            pipeline,
        })
}

async fn ready(State(state): State<AdminState>) -> impl IntoResponse {
    if state.readiness.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

/// Routes of the Prometheus listener: `/metrics`.
pub fn metrics_router(pipeline: Arc<Pipeline>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(pipeline)
}

async fn scrape(State(pipeline): State<Arc<Pipeline>>) -> impl IntoResponse {
    let body = crate::metrics::render(&pipeline, SystemTime::now());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}
