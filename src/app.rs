//! Start-up and shutdown of the daemon: each component is built by one small
//! function, and `run` ties them together.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::{self, Readiness};
use crate::config::{self, Config};
use crate::export::{self, ExportQueue, Shutdown};
use crate::ledger::Ledger;
use crate::pipeline::Pipeline;
use crate::pricing::PriceTable;
use crate::receiver::grpc::TraceServer;

/// Time allowed for in-flight attempts to end after the shutdown deadline.
const ABORT_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on `{key}` {address}: {source}; free the port or change `{key}`")]
    Bind {
        key: &'static str,
        address: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Export(#[from] export::ExportError),
    #[error(transparent)]
    Config(#[from] config::ConfigError),
}

/// Runs burnrate until `stop` completes (SIGTERM or SIGINT in the binary),
/// then drains the export queues within `service.shutdown_timeout`.
pub async fn run(
    config: Config,
    exporters: Vec<config::Exporter>,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), StartError> {
    let export_shutdown = Shutdown::default();
    let (queues, export_tasks) = start_exporters(&exporters, &export_shutdown)?;
    let ledger = Arc::new(Ledger::new(PriceTable::embedded()));
    let pipeline = Arc::new(Pipeline::new(ledger, queues.clone()));
    let readiness = Arc::new(Readiness::default());

    let grpc_listener = bind(
        "receivers.otlp.grpc.endpoint",
        &config.receivers.otlp.grpc.endpoint,
    )
    .await?;
    let metrics_listener = bind(
        "metrics.prometheus.endpoint",
        &config.metrics.prometheus.endpoint,
    )
    .await?;
    let admin_listener = bind("admin.endpoint", &config.admin.endpoint).await?;

    let stop_receiving = CancellationToken::new();
    let stop_serving = CancellationToken::new();
    let max_message_bytes = config.receivers.otlp.grpc.max_recv_msg_size_mib as usize * 1024 * 1024;
    let grpc_task = serve_grpc(
        grpc_listener,
        pipeline.clone(),
        max_message_bytes,
        stop_receiving.clone(),
    );
    let metrics_task = serve_http(
        metrics_listener,
        api::metrics_router(pipeline.clone()),
        stop_serving.clone(),
    );
    let admin_task = serve_http(
        admin_listener,
        api::admin_router(readiness.clone()),
        stop_serving.clone(),
    );

    readiness.set(true);
    tracing::info!(
        grpc = %config.receivers.otlp.grpc.endpoint,
        prometheus = %config.metrics.prometheus.endpoint,
        admin = %config.admin.endpoint,
        exporters = exporters.len(),
        "burnrate started",
    );
    if exporters.is_empty() {
        tracing::warn!(
            "no exporter configured and OTEL_EXPORTER_OTLP_ENDPOINT is not set; spans are not forwarded"
        );
    }

    stop.await;
    tracing::info!("shutdown started; no longer accepting spans");
    readiness.set(false);
    stop_receiving.cancel();
    let _ = grpc_task.await;

    drain_exporters(
        &queues,
        export_tasks,
        &export_shutdown,
        config.service.shutdown_timeout,
    )
    .await;
    stop_serving.cancel();
    let _ = metrics_task.await;
    let _ = admin_task.await;
    tracing::info!("burnrate stopped");
    Ok(())
}

fn start_exporters(
    exporters: &[config::Exporter],
    shutdown: &Shutdown,
) -> Result<(Vec<ExportQueue>, Vec<JoinHandle<()>>), StartError> {
    let mut queues = Vec::with_capacity(exporters.len());
    let mut tasks = Vec::with_capacity(exporters.len());
    for settings in exporters {
        let (queue, task) = export::spawn(settings, shutdown.clone())?;
        tracing::info!(exporter = %settings.name, endpoint = %settings.endpoint, "exporter started");
        queues.push(queue);
        tasks.push(task);
    }
    Ok((queues, tasks))
}

async fn bind(key: &'static str, address: &str) -> Result<TcpListener, StartError> {
    let bind_error = |source| StartError::Bind {
        key,
        address: address.to_owned(),
        source,
    };
    let socket: SocketAddr = address.parse().map_err(|_| {
        bind_error(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not an IP address and port",
        ))
    })?;
    TcpListener::bind(socket).await.map_err(bind_error)
}

fn serve_grpc(
    listener: TcpListener,
    pipeline: Arc<Pipeline>,
    max_message_bytes: usize,
    stop: CancellationToken,
) -> JoinHandle<()> {
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    let server = tonic::transport::Server::builder()
        .add_service(TraceServer::new(pipeline, max_message_bytes))
        .serve_with_incoming_shutdown(incoming, async move { stop.cancelled().await });
    tokio::spawn(async move {
        if let Err(error) = server.await {
            tracing::error!(%error, "OTLP/gRPC receiver failed");
        }
    })
}

fn serve_http(
    listener: TcpListener,
    router: axum::Router,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let server = axum::serve(listener, router)
            .with_graceful_shutdown(async move { stop.cancelled().await });
        if let Err(error) = server.await {
            tracing::error!(%error, "HTTP listener failed");
        }
    })
}

/// Sends what the queues hold within `deadline`, then gives up the rest and
/// logs how many spans were left.
async fn drain_exporters(
    queues: &[ExportQueue],
    tasks: Vec<JoinHandle<()>>,
    shutdown: &Shutdown,
    deadline: Duration,
) {
    shutdown.drain.cancel();
    let mut tasks = tasks;
    let all_done = async {
        for task in &mut tasks {
            let _ = task.await;
        }
    };
    if tokio::time::timeout(deadline, all_done).await.is_err() {
        shutdown.abort.cancel();
        let _ = tokio::time::timeout(ABORT_GRACE, futures_join(&mut tasks)).await;
    }
    for queue in queues {
        let dropped = queue.failed_spans();
        if dropped > 0 {
            tracing::error!(exporter = %queue.name, dropped_spans = dropped, "spans were not delivered before shutdown");
        } else {
            tracing::info!(exporter = %queue.name, "export queue drained");
        }
    }
}

async fn futures_join(tasks: &mut [JoinHandle<()>]) {
    for task in tasks {
        if !task.is_finished() {
            let _ = task.await;
        }
    }
}
