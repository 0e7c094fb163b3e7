//! Forwarding to upstream OTLP backends: one bounded queue per exporter, in
//! memory or on disk, drained by a fixed number of concurrent consumers that
//! combine queued requests into batches and retry transient failures with
//! backoff.

pub(crate) mod client;
mod grpc;
pub(crate) mod http;
mod queue;
pub(crate) mod retry;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::config::{self, QueueStorage};
use crate::log_throttle::LogThrottle;
use crate::signal::Signal;
use retry::Backoff;

pub use client::Client;
pub use client::ExportError;
pub use queue::{Batch, Queue, QueueError, QueueLimits, Reservation, Taken};

const MIB: usize = 1024 * 1024;

/// Reason items were given up, as the `reason` label of
/// `burnrate_exporter_send_failed_<items>_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The upstream rejected the request with a non-retryable status.
    Permanent,
    /// Retries did not succeed within `max_elapsed_time`.
    RetriesExhausted,
    /// burnrate stopped before the request could be sent.
    Shutdown,
}

impl DropReason {
    pub const ALL: [DropReason; 3] = [
        DropReason::Permanent,
        DropReason::RetriesExhausted,
        DropReason::Shutdown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Permanent => "permanent",
            DropReason::RetriesExhausted => "retries_exhausted",
            DropReason::Shutdown => "shutdown",
        }
    }
}

/// Counters of one exporter per signal, read by the Prometheus exposition.
#[derive(Debug, Default)]
pub struct ExporterStats {
    sent_items: [AtomicU64; 3],
    /// Items the upstream reported as rejected in a partial success.
    rejected_items: [AtomicU64; 3],
    failed_items: [[AtomicU64; 3]; 3],
    pub retries: AtomicU64,
    /// Requests taken from the queue whose delivery has not ended.
    pub in_flight_requests: AtomicU64,
    /// Time of the last accepted export, in milliseconds since the Unix epoch; 0 before the first.
    last_success_unix_ms: AtomicU64,
    last_error: std::sync::Mutex<Option<LastError>>,
}

/// The most recent failed export attempt, for the status page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastError {
    pub at: std::time::SystemTime,
    pub message: String,
}

impl ExporterStats {
    /// Time of the last accepted export, if any.
    pub fn last_success(&self) -> Option<std::time::SystemTime> {
        let millis = self.last_success_unix_ms.load(Ordering::Relaxed);
        (millis > 0).then(|| std::time::UNIX_EPOCH + Duration::from_millis(millis))
    }

    pub fn last_error(&self) -> Option<LastError> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn record_error(&self, error: &ExportError) {
        let last = LastError {
            at: std::time::SystemTime::now(),
            message: error.to_string(),
        };
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(last);
    }

    /// Items the upstream accepted, including those it reported as rejected
    /// in a partial success.
    pub fn sent_items(&self, signal: Signal) -> u64 {
        self.sent_items[signal as usize].load(Ordering::Relaxed)
    }

    pub fn rejected_items(&self, signal: Signal) -> u64 {
        self.rejected_items[signal as usize].load(Ordering::Relaxed)
    }

    pub fn failed_items(&self, signal: Signal, reason: DropReason) -> u64 {
        self.failed_items[signal as usize][reason as usize].load(Ordering::Relaxed)
    }

    fn add_failed(&self, signal: Signal, reason: DropReason, count: u64) {
        self.failed_items[signal as usize][reason as usize].fetch_add(count, Ordering::Relaxed);
    }
}

/// The receiving side's handle on one exporter: its queue and counters.
#[derive(Clone, Debug)]
pub struct ExportQueue {
    pub name: Arc<str>,
    queue: Arc<Queue>,
    pub stats: Arc<ExporterStats>,
    /// Signals this exporter takes.
    signals: Vec<Signal>,
    /// The exporter's settings, for the status page.
    pub settings: Arc<config::Exporter>,
}

impl ExportQueue {
    /// Reserves room for a request of `bytes`, or returns `None` when the
    /// queue is full or closed.
    pub fn try_reserve(&self, bytes: usize) -> Option<Reservation<'_>> {
        self.queue.try_reserve(bytes)
    }

    /// Returns whether requests of `signal` go to this exporter.
    pub fn takes(&self, signal: Signal) -> bool {
        self.signals.contains(&signal)
    }

    /// Returns whether the queue writes requests to disk before they are
    /// acknowledged.
    pub fn is_durable(&self) -> bool {
        self.queue.is_durable()
    }

    /// Number of requests waiting.
    pub fn depth(&self) -> usize {
        self.queue.depth()
    }

    /// Bytes of the requests waiting.
    pub fn queued_bytes(&self) -> usize {
        self.queue.queued_bytes()
    }

    /// Requests a disk queue keeps for the next start.
    pub fn requests_on_disk(&self) -> usize {
        self.queue.requests_on_disk()
    }

    pub fn limits(&self) -> QueueLimits {
        self.queue.limits()
    }

    /// Items of every signal given up so far for `reason`.
    pub fn failed_items(&self, reason: DropReason) -> u64 {
        let stats = &self.stats;
        Signal::ALL
            .iter()
            .map(|signal| stats.failed_items(*signal, reason))
            .sum()
    }
}

/// Tokens that end an exporter's sender task in two steps.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    /// Closes the queue to new requests and sends what it holds.
    pub drain: CancellationToken,
    /// Gives up what is still queued or being retried, counted as dropped.
    pub abort: CancellationToken,
}

/// Opens an exporter's queue and starts its consumers. The task ends once
/// the queue is closed and empty and every attempt has finished, or soon
/// after `shutdown.abort`.
pub fn spawn(
    settings: &config::Exporter,
    shutdown: Shutdown,
) -> Result<(ExportQueue, JoinHandle<()>), ExportError> {
    let client = Client::new(settings)?;
    let queue = open_queue(settings).map_err(|error| ExportError::Setup {
        name: settings.name.clone(),
        message: error.to_string(),
    })?;
    let queue = Arc::new(queue);
    let stats = Arc::new(ExporterStats::default());
    let handle = ExportQueue {
        name: Arc::from(settings.name.as_str()),
        queue: queue.clone(),
        stats: stats.clone(),
        signals: settings.signals.clone(),
        settings: Arc::new(settings.clone()),
    };
    let worker = Worker {
        name: handle.name.clone(),
        client: Arc::new(client),
        queue,
        retry: settings.retry_on_failure.clone(),
        batch_max_bytes: settings.batch.send_batch_max_size_mib as usize * MIB,
        batch_timeout: settings.batch.timeout,
        stats,
        shutdown,
    };
    let task = tokio::spawn(worker.run(settings.sending_queue.num_consumers));
    Ok((handle, task))
}

fn open_queue(settings: &config::Exporter) -> Result<Queue, QueueError> {
    let queue = &settings.sending_queue;
    let limits = QueueLimits {
        max_requests: queue.queue_size,
        max_bytes: queue.max_size_mib as usize * MIB,
    };
    match (queue.storage, &queue.directory) {
        (QueueStorage::Disk, Some(directory)) => {
            let path = disk_queue_path(directory, &settings.name);
            let opened = Queue::on_disk(limits, &path)?;
            tracing::info!(
                exporter = %settings.name,
                path = %path.display(),
                queued_requests = opened.depth(),
                "disk queue opened",
            );
            Ok(opened)
        }
        _ => Ok(Queue::in_memory(limits)),
    }
}

/// Returns the database file of an exporter's disk queue. Characters other than
/// letters, digits and '-' in the name become '_'.
pub fn disk_queue_path(directory: &std::path::Path, exporter: &str) -> PathBuf {
    let file: String = exporter
        .chars()
        .map(|character| {
            if character.is_ascii_alphanumeric() || character == '-' {
                character
            } else {
                '_'
            }
        })
        .collect();
    directory.join(format!("{file}.redb"))
}

struct Worker {
    name: Arc<str>,
    client: Arc<Client>,
    queue: Arc<Queue>,
    retry: config::RetryOnFailure,
    batch_max_bytes: usize,
    batch_timeout: Duration,
    stats: Arc<ExporterStats>,
    shutdown: Shutdown,
}

/// End state of the delivery of one batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Delivery {
    /// Sent, or given up and counted.
    Ended,
    /// Stopped by the shutdown deadline before it ended.
    Aborted,
}

static SEND_FAILURE_LOG: LogThrottle = LogThrottle::new(Duration::from_secs(10));
static RETRY_LOG: LogThrottle = LogThrottle::new(Duration::from_secs(10));
static PARTIAL_SUCCESS_LOG: LogThrottle = LogThrottle::new(Duration::from_secs(10));

impl Worker {
    async fn run(self, num_consumers: usize) {
        let worker = Arc::new(self);
        let consumers = Arc::new(Semaphore::new(num_consumers));
        let mut in_flight = JoinSet::new();

        let drain = worker.shutdown.drain.clone();
        let queue = worker.queue.clone();
        tokio::spawn(async move {
            drain.cancelled().await;
            queue.close();
        });

        loop {
            // Take a batch only when a consumer is free, so a waiting request
            // stays in the queue, where `burnrate_queue_size` counts it.
            let slot = tokio::select! {
                slot = consumers.clone().acquire_owned() => slot,
                () = worker.shutdown.abort.cancelled() => break,
            };
            let Ok(slot) = slot else { break };
            let taken = tokio::select! {
                taken = worker.queue.take(worker.batch_max_bytes, worker.batch_timeout) => taken,
                () = worker.shutdown.abort.cancelled() => break,
            };
            let Some(taken) = taken else { break };

            let worker = worker.clone();
            worker
                .stats
                .in_flight_requests
                .fetch_add(1, Ordering::Relaxed);
            in_flight.spawn(async move {
                if worker.deliver(&taken.batch).await == Delivery::Ended
                    || !worker.queue.is_durable()
                {
                    worker.queue.complete(&taken);
                }
                worker
                    .stats
                    .in_flight_requests
                    .fetch_sub(1, Ordering::Relaxed);
                drop(slot);
            });
            while in_flight.try_join_next().is_some() {}
        }
        while in_flight.join_next().await.is_some() {}

        // After an abort, a memory queue gives up what it still holds; a disk
        // queue keeps it for the next start.
        worker.queue.close();
        if worker.queue.is_durable() {
            return;
        }
        while let Some(taken) = worker.queue.take(usize::MAX, Duration::ZERO).await {
            let batch = &taken.batch;
            worker
                .stats
                .add_failed(batch.signal, DropReason::Shutdown, batch.item_count);
        }
    }

    /// Sends one batch, retrying transient failures until `max_elapsed_time`.
    async fn deliver(&self, batch: &Batch) -> Delivery {
        let started = Instant::now();
        let mut backoff = Backoff::new(&self.retry);
        loop {
            let attempt = self.client.export(batch.signal, batch.body.clone());
            let result = tokio::select! {
                result = attempt => result,
                () = self.shutdown.abort.cancelled() => {
                    return self.record_abort(batch, &ExportError::Aborted);
                }
            };
            let error = match result {
                Ok(rejected_items) => {
                    self.record_success(batch, rejected_items);
                    return Delivery::Ended;
                }
                Err(error) => error,
            };
            self.stats.record_error(&error);

            let delay = backoff.delay_before_retry(error.retry_after());
            let retry = self.retry.enabled
                && error.is_retryable()
                && started
                    .elapsed()
                    .checked_add(delay)
                    .is_some_and(|next_attempt| next_attempt <= self.retry.max_elapsed_time);
            if !retry {
                let reason = if error.is_retryable() {
                    DropReason::RetriesExhausted
                } else {
                    DropReason::Permanent
                };
                self.record_drop(batch, reason, &error);
                return Delivery::Ended;
            }

            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            if let Some(suppressed) = RETRY_LOG.check() {
                tracing::warn!(
                    exporter = %self.name,
                    %error,
                    retry_in_ms = delay.as_millis() as u64,
                    similar_warnings_suppressed = suppressed,
                    "export attempt failed; retrying",
                );
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = self.shutdown.abort.cancelled() => {
                    return self.record_abort(batch, &error);
                }
            }
        }
    }

    /// Counts a batch stopped by the shutdown deadline as dropped, unless a
    /// disk queue keeps it for the next start.
    fn record_abort(&self, batch: &Batch, error: &ExportError) -> Delivery {
        if !self.queue.is_durable() {
            self.record_drop(batch, DropReason::Shutdown, error);
        }
        Delivery::Aborted
    }

    fn record_success(&self, batch: &Batch, rejected_items: u64) {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as u64);
        self.stats
            .last_success_unix_ms
            .store(now_ms, Ordering::Relaxed);
        let signal = batch.signal as usize;
        self.stats.sent_items[signal].fetch_add(batch.item_count, Ordering::Relaxed);
        if rejected_items > 0 {
            self.stats.rejected_items[signal].fetch_add(rejected_items, Ordering::Relaxed);
            if let Some(suppressed) = PARTIAL_SUCCESS_LOG.check() {
                tracing::warn!(
                    exporter = %self.name,
                    signal = batch.signal.as_str(),
                    rejected_items,
                    similar_warnings_suppressed = suppressed,
                    "upstream accepted the request partially",
                );
            }
        }
    }

    fn record_drop(&self, batch: &Batch, reason: DropReason, error: &ExportError) {
        self.stats
            .add_failed(batch.signal, reason, batch.item_count);
        if let Some(suppressed) = SEND_FAILURE_LOG.check() {
            tracing::error!(
                exporter = %self.name,
                signal = batch.signal.as_str(),
                items = batch.item_count,
                reason = reason.as_str(),
                %error,
                similar_errors_suppressed = suppressed,
                "dropped data that could not be exported",
            );
        }
    }
}
