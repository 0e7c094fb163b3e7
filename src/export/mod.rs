//! Forwarding to upstream OTLP backends: one bounded in-memory queue per
//! exporter, drained by a fixed number of concurrent senders that retry
//! transient failures with backoff.

mod grpc;
mod retry;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::config;
use crate::log_throttle::LogThrottle;
use crate::signal::Signal;
use grpc::GrpcClient;
use retry::Backoff;

pub use grpc::ExportError;

/// One export request, as received from a service.
#[derive(Clone, Debug)]
pub struct Batch {
    pub signal: Signal,
    /// The request's protobuf encoding.
    pub body: Bytes,
    /// Number of spans, metric data points or log records.
    pub item_count: u64,
}

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
}

impl ExporterStats {
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

/// The sending side of one exporter's queue.
#[derive(Clone, Debug)]
pub struct ExportQueue {
    pub name: Arc<str>,
    sender: mpsc::Sender<Batch>,
    pub stats: Arc<ExporterStats>,
}

impl ExportQueue {
    /// Reserves a slot, or returns `None` when the queue is full.
    pub fn try_reserve(&self) -> Option<mpsc::Permit<'_, Batch>> {
        self.sender.try_reserve().ok()
    }

    /// Number of requests waiting, including reserved slots.
    pub fn depth(&self) -> usize {
        self.sender.max_capacity() - self.sender.capacity()
    }

    pub fn capacity(&self) -> usize {
        self.sender.max_capacity()
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

/// Starts an exporter's sender task. The task ends once the queue is closed
/// and empty and every attempt has finished.
pub fn spawn(
    settings: &config::Exporter,
    shutdown: Shutdown,
) -> Result<(ExportQueue, JoinHandle<()>), ExportError> {
    let client = GrpcClient::new(settings)?;
    let (sender, receiver) = mpsc::channel(settings.sending_queue.queue_size);
    let stats = Arc::new(ExporterStats::default());
    let queue = ExportQueue {
        name: Arc::from(settings.name.as_str()),
        sender,
        stats: stats.clone(),
    };
    let worker = Worker {
        name: queue.name.clone(),
        client: Arc::new(client),
        retry: settings.retry_on_failure.clone(),
        stats,
        shutdown,
    };
    let handle = tokio::spawn(worker.run(receiver, settings.sending_queue.num_consumers));
    Ok((queue, handle))
}

struct Worker {
    name: Arc<str>,
    client: Arc<GrpcClient>,
    retry: config::RetryOnFailure,
    stats: Arc<ExporterStats>,
    shutdown: Shutdown,
}

static SEND_FAILURE_LOG: LogThrottle = LogThrottle::new(Duration::from_secs(10));
static RETRY_LOG: LogThrottle = LogThrottle::new(Duration::from_secs(10));
static PARTIAL_SUCCESS_LOG: LogThrottle = LogThrottle::new(Duration::from_secs(10));

impl Worker {
    async fn run(self, mut receiver: mpsc::Receiver<Batch>, num_consumers: usize) {
        let worker = Arc::new(self);
        let consumers = Arc::new(Semaphore::new(num_consumers));
        let mut in_flight = JoinSet::new();

        let mut closed = false;
        loop {
            // Take a batch only when a consumer is free, so a waiting batch
            // stays in the queue, where `burnrate_queue_size` counts it.
            let slot = tokio::select! {
                slot = consumers.clone().acquire_owned() => slot,
                () = worker.shutdown.abort.cancelled() => break,
            };
            let Ok(slot) = slot else { break };
            let batch = tokio::select! {
                batch = receiver.recv() => match batch {
                    Some(batch) => batch,
                    None => break,
                },
                () = worker.shutdown.drain.cancelled(), if !closed => {
                    // Already queued requests stay receivable after `close`.
                    receiver.close();
                    closed = true;
                    continue;
                }
                () = worker.shutdown.abort.cancelled() => break,
            };

            let worker = worker.clone();
            worker
                .stats
                .in_flight_requests
                .fetch_add(1, Ordering::Relaxed);
            in_flight.spawn(async move {
                worker.deliver(&batch).await;
                worker
                    .stats
                    .in_flight_requests
                    .fetch_sub(1, Ordering::Relaxed);
                drop(slot);
            });
            while in_flight.try_join_next().is_some() {}
        }

        // After an abort, whatever is still queued is given up and counted.
        receiver.close();
        while let Some(batch) = receiver.recv().await {
            worker
                .stats
                .add_failed(batch.signal, DropReason::Shutdown, batch.item_count);
        }
        while in_flight.join_next().await.is_some() {}
    }

    /// Sends one batch, retrying transient failures until `max_elapsed_time`.
    async fn deliver(&self, batch: &Batch) {
        let started = Instant::now();
        let mut backoff = Backoff::new(&self.retry);
        loop {
            let attempt = self.client.export(batch.signal, batch.body.clone());
            let result = tokio::select! {
                result = attempt => result,
                () = self.shutdown.abort.cancelled() => {
                    self.record_drop(batch, DropReason::Shutdown, &ExportError::Aborted);
                    return;
                }
            };
            let error = match result {
                Ok(rejected_items) => {
                    self.record_success(batch, rejected_items);
                    return;
                }
                Err(error) => error,
            };

            let delay = backoff.next_delay();
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
                return;
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
                    self.record_drop(batch, DropReason::Shutdown, &error);
                    return;
                }
            }
        }
    }

    fn record_success(&self, batch: &Batch, rejected_items: u64) {
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
