//! Start-up and shutdown of the daemon: each component is built by one small
//! function, and `run` ties them together.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::alerts;
use crate::alerts::engine::Engine;
use crate::alerts::notify::Dispatcher;
use crate::alerts::rules::RuleError;
use crate::api::{self, Readiness};
use crate::config::{self, Config};
use crate::export::{self, DropReason, ExportQueue, Shutdown};
use crate::extract::InputTokenRule;
use crate::ledger::{Ledger, LedgerConfig};
use crate::log_throttle::LogThrottle;
use crate::metrics::otlp::OtlpMetricsBuilder;
use crate::pipeline::{Message, Pipeline, SpanTransform};
use crate::pricing::{self, PriceReloader, PriceSourceError};
use crate::receiver;
use crate::receiver::grpc::{GrpcServer, LogsService, MetricsService, TraceService};
use crate::receiver::http::HttpLimits;
use crate::receiver::listener::LimitedListener;

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
    #[error("invalid `{path}`: {source}", path = .source.config_path())]
    Pricing {
        #[from]
        source: PriceSourceError,
    },
    #[error("{} problem(s) in the alert rules:\n{}", .0.len(), join_lines(.0))]
    Rules(Vec<RuleError>),
    #[error("invalid `alerts.notifiers`: {0}")]
    Notifier(String),
}

fn join_lines(errors: &[RuleError]) -> String {
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    lines.join("\n")
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
    let (reloader, prices) = PriceReloader::load(config.pricing.clone())?;
    // Loading the configuration runs the same checks, so this fails only
    // for a `Config` built in code.
    let ledger_config =
        LedgerConfig::from_settings(&config.ledger).map_err(config::ConfigError::new)?;
    let ledger = Ledger::with_config(prices, ledger_config, SystemTime::now());
    let ledger = Arc::new(ledger);
    let max_attributes = config.extract.max_attributes_per_span;
    let transform = SpanTransform::new(&config.processing);
    let input_token_rules = config
        .extract
        .input_tokens_include_cache
        .iter()
        .filter_map(|rule| {
            // Validation rejects an entry without `included`.
            Some(InputTokenRule {
                scope_prefix: rule.scope.clone(),
                includes_cache: rule.included?,
            })
        })
        .collect();
    let pipeline = Pipeline::new(ledger, queues.clone(), max_attributes)
        .with_input_token_rules(input_token_rules)
        .with_transform(transform);
    let pipeline = Arc::new(pipeline);
    let readiness = Arc::new(Readiness::default());

    let grpc_settings = &config.receivers.otlp.grpc;
    let http_settings = &config.receivers.otlp.http;
    let grpc_listener = bind("receivers.otlp.grpc.endpoint", &grpc_settings.endpoint).await?;
    let http_listener = bind("receivers.otlp.http.endpoint", &http_settings.endpoint).await?;
    let metrics_endpoint = &config.metrics.prometheus.endpoint;
    let metrics_listener = bind("metrics.prometheus.endpoint", metrics_endpoint).await?;
    let admin_listener = bind("admin.endpoint", &config.admin.endpoint).await?;

    // Receivers stop first; the metrics and health endpoints stay up until
    // the export queues are drained.
    let stop_receiving = CancellationToken::new();
    let stop_serving = CancellationToken::new();
    let grpc_listener = LimitedListener::new(grpc_listener, grpc_settings.max_connections);
    let grpc_task = serve_grpc(
        grpc_listener,
        grpc_settings,
        pipeline.clone(),
        stop_receiving.clone(),
    );
    let http_listener = LimitedListener::new(http_listener, http_settings.max_connections);
    let http_router = receiver::http::router(pipeline.clone(), http_limits(http_settings));
    let http_task = serve_http(http_listener, http_router, stop_receiving.clone());
    let metrics_router = api::metrics_router(pipeline.clone());
    let metrics_task = serve_http(metrics_listener, metrics_router, stop_serving.clone());
    let admin_router = api::admin_router(readiness.clone(), pipeline.clone());
    let admin_task = serve_http(admin_listener, admin_router, stop_serving.clone());

    let metrics_export = config.metrics.otlp.enabled.then(|| {
        export_own_metrics(
            &config.metrics.otlp,
            pipeline.clone(),
            stop_receiving.clone(),
        )
    });

    let reload_task = pricing::spawn_reloader(reloader, stop_serving.clone());
    let rules = alerts::load_rules(&config.alerts).map_err(StartError::Rules)?;
    let engine = Engine::new(
        rules,
        config.alerts.evaluation_interval,
        config.alerts.max_history_series,
    );
    let dispatcher = Dispatcher::new(&config.alerts.notifiers, pipeline.clone())
        .map_err(StartError::Notifier)?;
    pipeline.alerts.update(&engine);
    pipeline.alerts.set_notifiers(dispatcher.metrics());
    tracing::info!(
        rules = engine.rule_count(),
        notifiers = config.alerts.notifiers.len(),
        "alert rules loaded"
    );
    // Stopped with the receivers, so that alerts sent as OTLP log records
    // are drained with the export queues.
    let rules_task = alerts::spawn_rule_runner(
        engine,
        dispatcher,
        config.alerts.clone(),
        pipeline.clone(),
        stop_receiving.clone(),
        config.service.shutdown_timeout,
    );

    readiness.set(true);
    tracing::info!(
        grpc = %grpc_settings.endpoint,
        http = %http_settings.endpoint,
        prometheus = %metrics_endpoint,
        admin = %config.admin.endpoint,
        exporters = exporters.len(),
        "burnrate started",
    );
    if exporters.is_empty() {
        tracing::warn!(
            "no exporter configured and OTEL_EXPORTER_OTLP_ENDPOINT is not set; data is not forwarded"
        );
    }

    stop.await;
    tracing::info!("shutdown started; no longer accepting data");
    readiness.set(false);
    stop_receiving.cancel();
    let _ = grpc_task.await;
    let _ = http_task.await;
    if let Some(task) = metrics_export {
        let _ = task.await;
    }
    let _ = rules_task.await;

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
    let _ = reload_task.await;
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

const MIB: usize = 1024 * 1024;

static OWN_METRICS_LOG: LogThrottle = LogThrottle::new(Duration::from_secs(60));

/// Sends the ledger's metrics over OTLP every `interval`, and once more when
/// `stop` is cancelled, so the last interval is not lost at shutdown.
fn export_own_metrics(
    settings: &config::OtlpMetrics,
    pipeline: Arc<Pipeline>,
    stop: CancellationToken,
) -> JoinHandle<()> {
    let interval = settings.interval;
    let mut builder = OtlpMetricsBuilder::new(settings.temporality, &pipeline.ledger);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        loop {
            let stopping = tokio::select! {
                _ = ticks.tick() => false,
                () = stop.cancelled() => true,
            };
            let (series, _) = pipeline.ledger.snapshot();
            let request = builder.build(&series, std::time::SystemTime::now());
            if let Err(error) = pipeline.forward_own(&Message::Metrics(request)) {
                if let Some(suppressed) = OWN_METRICS_LOG.check() {
                    tracing::warn!(%error, similar_warnings_suppressed = suppressed, "burnrate's own metrics were not queued for export");
                }
            }
            if stopping {
                break;
            }
        }
    })
}

/// Loads `alerts.rule_files` and evaluates them every tick, handing the
/// results to the notifiers, until `stop`; then sends what the notifiers
/// still hold within `service.shutdown_timeout`. Without rule files nothing
/// starts.
///
/// NOTE: relative rule file paths are read from the working directory, and
/// the embedded default rules are not loaded yet.
fn http_limits(settings: &config::HttpReceiver) -> HttpLimits {
    HttpLimits {
        max_body_bytes: settings.max_request_body_size_mib as usize * MIB,
        max_decompressed_bytes: settings.max_decompressed_body_size_mib as usize * MIB,
        request_timeout: settings.request_timeout,
    }
}

fn serve_grpc(
    listener: LimitedListener,
    settings: &config::GrpcReceiver,
    pipeline: Arc<Pipeline>,
    stop: CancellationToken,
) -> JoinHandle<()> {
    let max_message_bytes = settings.max_recv_msg_size_mib as usize * MIB;
    let server = tonic::transport::Server::builder()
        .max_concurrent_streams(settings.max_concurrent_streams)
        .timeout(settings.request_timeout)
        .add_service(GrpcServer::<TraceService>::new(
            pipeline.clone(),
            max_message_bytes,
        ))
        .add_service(GrpcServer::<MetricsService>::new(
            pipeline.clone(),
            max_message_bytes,
        ))
        .add_service(GrpcServer::<LogsService>::new(pipeline, max_message_bytes))
        .serve_with_incoming_shutdown(
            listener.into_stream(),
            async move { stop.cancelled().await },
        );
    tokio::spawn(async move {
        if let Err(error) = server.await {
            tracing::error!(%error, "OTLP/gRPC receiver failed");
        }
    })
}

fn serve_http<L>(listener: L, router: axum::Router, stop: CancellationToken) -> JoinHandle<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
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
        let dropped = queue.failed_items(DropReason::Shutdown);
        let on_disk = queue.requests_on_disk();
        if dropped > 0 {
            tracing::error!(exporter = %queue.name, dropped_items = dropped, "data was not delivered before the shutdown deadline");
        } else if on_disk > 0 {
            tracing::warn!(exporter = %queue.name, requests = on_disk, "requests left in the disk queue are sent after the next start");
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
