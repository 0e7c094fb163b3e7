//! HTTP delivery of one notifier: a bounded queue drained by its own task,
//! so rule evaluation never waits for a receiver. Each request is retried
//! with exponential backoff until the notifier's `max_retry_time`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::Uri;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Notifier, NotifierKind, RetryOnFailure, Tls};
use crate::export::client::{ExportError, USER_AGENT};
use crate::export::http::{PooledHttpClient, pooled_client, post, response_error};
use crate::export::retry::Backoff;
use crate::log_throttle::LogThrottle;

/// Requests that wait for delivery per notifier; more are dropped and counted.
pub const QUEUE_CAPACITY: usize = 256;

/// First delay between attempts; it doubles up to [`MAX_BACKOFF`].
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

static FAILURE_LOG: LogThrottle = LogThrottle::new(Duration::from_secs(10));
static RETRY_LOG: LogThrottle = LogThrottle::new(Duration::from_secs(10));

/// Counters of one notifier, by request (one HTTP request, log line or OTLP
/// log record).
#[derive(Debug, Default)]
pub struct NotifierStats {
    pub sent: AtomicU64,
    /// Given up after a response with a permanent error status.
    pub failed: AtomicU64,
    /// Given up after `max_retry_time`, because the queue was full, at
    /// shutdown, or (`otlp`) because no exporter takes logs.
    pub dropped: AtomicU64,
    /// Attempts that failed and were retried.
    pub retries: AtomicU64,
}

/// The evaluating side's handle on a notifier's queue.
pub struct Sender {
    name: Arc<str>,
    queue: mpsc::Sender<Bytes>,
    stats: Arc<NotifierStats>,
}

impl Sender {
    /// Queues a JSON body for delivery, or drops and counts it when the
    /// queue is full.
    pub fn enqueue(&self, body: Bytes) {
        if self.queue.try_send(body).is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            if let Some(suppressed) = FAILURE_LOG.check() {
                tracing::error!(
                    notifier = %self.name,
                    capacity = QUEUE_CAPACITY,
                    similar_errors_suppressed = suppressed,
                    "alert notification dropped because the notifier's queue is full",
                );
            }
        }
    }
}

/// Returns the request URL of a notifier: `<url>/api/v2/alerts` for
/// Alertmanager, else `url` itself.
pub fn request_url(settings: &Notifier) -> Result<Uri, String> {
    let base = crate::config::parse_endpoint_url(&settings.url)?;
    if settings.kind != NotifierKind::Alertmanager {
        return Ok(base);
    }
    let path = format!("{}/api/v2/alerts", base.path().trim_end_matches('/'));
    let mut parts = base.into_parts();
    parts.path_and_query = Some(
        path.parse()
            .map_err(|error| format!("invalid path {path:?}: {error}"))?,
    );
    Uri::from_parts(parts).map_err(|error| format!("invalid URL {path:?}: {error}"))
}

/// Starts the delivery task of an HTTP notifier. The task ends when the
/// returned [`Sender`] is dropped and the queue is empty, or soon after
/// `abort`, counting what it gives up as dropped.
pub fn spawn(
    settings: &Notifier,
    stats: Arc<NotifierStats>,
    initial_backoff: Duration,
    abort: CancellationToken,
) -> Result<(Sender, JoinHandle<()>), String> {
    let url = request_url(settings)?;
    let https = url.scheme_str() == Some("https");
    // NOTE: notifiers have no `tls` setting yet, so an https:// receiver
    // must have a certificate that the system roots trust.
    let client = pooled_client(https, &Tls::default())?;
    let mut headers = HeaderMap::new();
    for (name, value) in &settings.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid header name {name:?}"))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| format!("invalid value for header {name:?} (the value is not shown)"))?;
        headers.insert(name, value);
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers
        .entry(header::USER_AGENT)
        .or_insert(HeaderValue::from_static(USER_AGENT));

    let name: Arc<str> = Arc::from(settings.name.as_str());
    let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
    let worker = Worker {
        name: name.clone(),
        client,
        url,
        headers,
        timeout: settings.timeout,
        retry: RetryOnFailure {
            enabled: true,
            initial_interval: initial_backoff,
            max_interval: MAX_BACKOFF.max(initial_backoff),
            max_elapsed_time: settings.max_retry_time,
        },
        stats: stats.clone(),
        abort,
    };
    let task = tokio::spawn(worker.run(receiver));
    Ok((Sender { name, queue, stats }, task))
}

struct Worker {
    name: Arc<str>,
    client: PooledHttpClient,
    url: Uri,
    headers: HeaderMap,
    timeout: Duration,
    retry: RetryOnFailure,
    stats: Arc<NotifierStats>,
    abort: CancellationToken,
}

/// The result of one request's delivery.
enum Outcome {
    Sent,
    Failed,
    Dropped,
}

impl Worker {
    /// Sends the queued requests one at a time, in order, so that a
    /// resolved notification never overtakes the firing one.
    async fn run(self, mut receiver: mpsc::Receiver<Bytes>) {
        loop {
            let body = tokio::select! {
                body = receiver.recv() => body,
                () = self.abort.cancelled() => None,
            };
            let Some(body) = body else { break };
            let counter = match self.deliver(body).await {
                Outcome::Sent => &self.stats.sent,
                Outcome::Failed => &self.stats.failed,
                Outcome::Dropped => &self.stats.dropped,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }

        // After an abort, what is still queued is given up.
        receiver.close();
        let mut left = 0;
        while receiver.try_recv().is_ok() {
            left += 1;
        }
        if left > 0 {
            self.stats.dropped.fetch_add(left, Ordering::Relaxed);
            tracing::error!(
                notifier = %self.name,
                dropped = left,
                "alert notifications were not sent before the shutdown deadline",
            );
        }
    }

    async fn deliver(&self, body: Bytes) -> Outcome {
        let started = Instant::now();
        let mut backoff = Backoff::new(&self.retry);
        loop {
            let result = tokio::select! {
                result = self.attempt(body.clone()) => result,
                () = self.abort.cancelled() => return Outcome::Dropped,
            };
            let error = match result {
                Ok(()) => return Outcome::Sent,
                Err(error) => error,
            };

            let delay = backoff.delay_before_retry(error.retry_after());
            let retryable = is_retryable(&error);
            let retry = retryable
                && started
                    .elapsed()
                    .checked_add(delay)
                    .is_some_and(|next_attempt| next_attempt <= self.retry.max_elapsed_time);
            if !retry {
                let outcome = if retryable {
                    Outcome::Dropped
                } else {
                    Outcome::Failed
                };
                if let Some(suppressed) = FAILURE_LOG.check() {
                    tracing::error!(
                        notifier = %self.name,
                        url = %self.url,
                        error = %describe(&error),
                        retryable,
                        similar_errors_suppressed = suppressed,
                        "alert notification given up",
                    );
                }
                return outcome;
            }

            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            if let Some(suppressed) = RETRY_LOG.check() {
                tracing::warn!(
                    notifier = %self.name,
                    url = %self.url,
                    error = %describe(&error),
                    retry_in_ms = delay.as_millis() as u64,
                    similar_warnings_suppressed = suppressed,
                    "alert notification attempt failed; retrying",
                );
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.abort.cancelled() => return Outcome::Dropped,
            }
        }
    }

    async fn attempt(&self, body: Bytes) -> Result<(), ExportError> {
        let headers = self.headers.clone();
        let (status, headers, body) = post(
            &self.client,
            &self.url,
            headers,
            body,
            self.timeout,
            "notifier",
        )
        .await?;
        if status.is_success() {
            return Ok(());
        }
        Err(response_error(status, &headers, &body, SystemTime::now()))
    }
}

/// Returns whether a later attempt may succeed: after a failed connection,
/// a timeout, 429 or any 5xx status. Unlike OTLP export, a 500 is retried
/// too, because a webhook receiver's 500 is often a passing failure.
fn is_retryable(error: &ExportError) -> bool {
    match error {
        ExportError::Http { status, .. } => {
            status.is_server_error() || *status == http::StatusCode::TOO_MANY_REQUESTS
        }
        other => other.is_retryable(),
    }
}

/// Describes a failed attempt without the exporters' "export failed" wording.
fn describe(error: &ExportError) -> String {
    match error {
        ExportError::Http {
            status, message, ..
        } => format!("HTTP status {status}: {message}"),
        ExportError::Transport { message } => message.clone(),
        other => other.to_string(),
    }
}
