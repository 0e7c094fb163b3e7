//! The path of one export request between the receivers and the exporters:
//! check, reserve queue slots, extract into the ledger, forward.

mod message;
mod transform;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use crate::export::{Batch, ExportQueue};
use crate::extract::{ExtractSettings, InputTokenRule};
use crate::ledger::Ledger;
use crate::signal::{Signal, Transport};
pub use message::{Message, Rejections};
pub use transform::{SpanTransform, TransformCounts};

/// Fate of the items of received requests, as counted by
/// `burnrate_receiver_{accepted,refused,rejected}_<items>_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemFate {
    /// Recorded and queued for every exporter.
    Accepted,
    /// Rejected with a retryable error because a queue was full.
    Refused,
    /// Removed from the request because they are invalid; not retryable.
    Rejected,
}

impl ItemFate {
    pub const ALL: [ItemFate; 3] = [ItemFate::Accepted, ItemFate::Refused, ItemFate::Rejected];

    pub fn as_str(self) -> &'static str {
        match self {
            ItemFate::Accepted => "accepted",
            ItemFate::Refused => "refused",
            ItemFate::Rejected => "rejected",
        }
    }
}

/// burnrate's own counters for received data, per signal and transport.
#[derive(Debug, Default)]
pub struct ReceiverStats {
    items: [[[AtomicU64; 3]; 2]; 3],
    invalid_requests: [[AtomicU64; 2]; 3],
}

impl ReceiverStats {
    pub fn items(&self, signal: Signal, transport: Transport, fate: ItemFate) -> u64 {
        self.items[signal as usize][transport as usize][fate as usize].load(Ordering::Relaxed)
    }

    /// Requests rejected whole because they could not be read or decoded.
    pub fn invalid_requests(&self, signal: Signal, transport: Transport) -> u64 {
        self.invalid_requests[signal as usize][transport as usize].load(Ordering::Relaxed)
    }

    pub fn add_items(&self, signal: Signal, transport: Transport, fate: ItemFate, count: u64) {
        self.items[signal as usize][transport as usize][fate as usize]
            .fetch_add(count, Ordering::Relaxed);
    }

    pub fn add_invalid_request(&self, signal: Signal, transport: Transport) {
        self.invalid_requests[signal as usize][transport as usize].fetch_add(1, Ordering::Relaxed);
    }
}

/// Result of an accepted request: how many items were rejected as
/// invalid, for the OTLP partial-success response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Accepted {
    pub rejected: u64,
    pub error_message: String,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConsumeError {
    /// The request is not valid OTLP; the client must not retry it.
    #[error("invalid {signal} request: {message}")]
    Invalid {
        signal: &'static str,
        message: String,
    },
    /// An export queue is full; the client should retry later.
    #[error("export queue of exporter `{exporter}` is full; retry later")]
    QueueFull { exporter: Arc<str> },
    /// The request is larger than an export queue can ever hold; a retry
    /// cannot succeed.
    #[error(
        "request of {bytes} bytes is larger than the export queue of exporter `{exporter}` ({max_bytes} bytes); send smaller batches"
    )]
    TooLarge {
        exporter: Arc<str>,
        bytes: usize,
        max_bytes: usize,
    },
}

pub struct Pipeline {
    pub ledger: Arc<Ledger>,
    pub exporters: Vec<ExportQueue>,
    pub receiver_stats: ReceiverStats,
    extract_settings: ExtractSettings,
    transform: SpanTransform,
    pub processing_stats: ProcessingStats,
    /// The rule engine's figures for `/metrics`.
    pub alerts: crate::alerts::AlertsStatus,
}

/// burnrate's own counters for changes made to spans.
#[derive(Debug, Default)]
pub struct ProcessingStats {
    pub removed_headers: AtomicU64,
    pub changed_content: AtomicU64,
    pub costed_spans: AtomicU64,
}

impl Pipeline {
    pub fn new(
        ledger: Arc<Ledger>,
        exporters: Vec<ExportQueue>,
        max_attributes: usize,
    ) -> Pipeline {
        let label_attributes = ledger
            .config()
            .labels
            .iter()
            .map(|label| label.attribute.clone())
            .collect();
        Pipeline {
            ledger,
            exporters,
            receiver_stats: ReceiverStats::default(),
            extract_settings: ExtractSettings {
                max_attributes,
                input_token_rules: Vec::new(),
                label_attributes,
            },
            transform: SpanTransform::new(&crate::config::Processing::default()),
            processing_stats: ProcessingStats::default(),
            alerts: crate::alerts::AlertsStatus::default(),
        }
    }

    /// Sets the configured rules on whether a scope's input tokens include
    /// cache tokens.
    pub fn with_input_token_rules(mut self, rules: Vec<InputTokenRule>) -> Pipeline {
        self.extract_settings.input_token_rules = rules;
        self
    }

    /// Replaces the default span changes, which remove credential headers.
    pub fn with_transform(mut self, transform: SpanTransform) -> Pipeline {
        self.transform = transform;
        self
    }

    /// Decodes a protobuf export request and consumes it; the bytes are
    /// forwarded as received unless invalid items had to be removed.
    pub fn consume_protobuf(
        &self,
        signal: Signal,
        transport: Transport,
        body: Bytes,
    ) -> Result<Accepted, ConsumeError> {
        match Message::decode(signal, body.clone()) {
            Ok(message) => self.consume(transport, message, Some(body)),
            Err(error) => Err(self.invalid(
                signal,
                transport,
                format!("protobuf decoding failed: {error}"),
            )),
        }
    }

    /// Records a request that could not be read or decoded and returns the
    /// error for the client.
    pub fn invalid(&self, signal: Signal, transport: Transport, message: String) -> ConsumeError {
        self.receiver_stats.add_invalid_request(signal, transport);
        ConsumeError::Invalid {
            signal: signal.as_str(),
            message,
        }
    }

    /// Handles one decoded export request. `raw` is the protobuf encoding as
    /// received, if there is one. The request is acknowledged once it is
    /// recorded and queued for every exporter; forwarding happens later.
    pub fn consume(
        &self,
        transport: Transport,
        mut message: Message,
        mut raw: Option<Bytes>,
    ) -> Result<Accepted, ConsumeError> {
        let signal = message.signal();
        let rejections = message.remove_invalid_items();
        let item_count = message.item_count();

        let extracted = match &mut message {
            Message::Traces(request) => {
                let (extracted, changed) = self.extract_and_transform(request);
                if changed {
                    raw = None;
                }
                Some(extracted)
            }
            _ => None,
        };

        // An empty request has nothing to forward.
        let body = match raw {
            _ if item_count == 0 || self.exporters.is_empty() => Bytes::new(),
            Some(raw) if rejections.count == 0 => raw,
            _ => message.encode(),
        };
        if !body.is_empty() {
            if let Err(error) = self.enqueue(signal, &body, item_count) {
                let fate = match error {
                    ConsumeError::TooLarge { .. } => ItemFate::Rejected,
                    _ => ItemFate::Refused,
                };
                let count = item_count + rejections.count;
                self.receiver_stats
                    .add_items(signal, transport, fate, count);
                return Err(error);
            }
        }

        if let Some(extracted) = extracted {
            self.ledger.record(extracted, crate::ledger::Now::current());
        }

        let stats = &self.receiver_stats;
        stats.add_items(signal, transport, ItemFate::Accepted, item_count);
        stats.add_items(signal, transport, ItemFate::Rejected, rejections.count);
        let error_message = rejections
            .first_problem
            .map_or_else(String::new, |problem| {
                let (count, items) = (rejections.count, signal.item_name());
                format!("{count} {items} rejected because of invalid ids; first: {problem}")
            });
        Ok(Accepted {
            rejected: rejections.count,
            error_message,
        })
    }
}

impl Pipeline {
    /// Queues a request for every exporter that takes its signal, or for
    /// none: room is reserved in every queue before any commits, so a refused
    /// request, which the client retries, is not queued twice.
    fn enqueue(&self, signal: Signal, body: &Bytes, item_count: u64) -> Result<(), ConsumeError> {
        let mut reservations = Vec::with_capacity(self.exporters.len());
        for exporter in self
            .exporters
            .iter()
            .filter(|exporter| exporter.takes(signal))
        {
            let max_bytes = exporter.limits().max_bytes;
            if body.len() > max_bytes {
                return Err(ConsumeError::TooLarge {
                    exporter: exporter.name.clone(),
                    bytes: body.len(),
                    max_bytes,
                });
            }
            let Some(reservation) = exporter.try_reserve(body.len()) else {
                return Err(ConsumeError::QueueFull {
                    exporter: exporter.name.clone(),
                });
            };
            reservations.push((exporter, reservation));
        }

        // Disk queues first: if a write fails, the memory queues have not
        // taken the request yet, and the client's retry is not doubled there.
        reservations.sort_by_key(|(exporter, _)| !exporter.is_durable());
        for (exporter, reservation) in reservations {
            let batch = Batch {
                signal,
                body: body.clone(),
                item_count,
            };
            if let Err(error) = reservation.commit(batch) {
                tracing::error!(exporter = %exporter.name, %error, "queueing a request failed; the client is asked to retry");
                return Err(ConsumeError::QueueFull {
                    exporter: exporter.name.clone(),
                });
            }
        }
        Ok(())
    }

    /// Queues a request that burnrate made itself, such as its metrics over
    /// OTLP, for the exporters that take its signal. Receiver counters and
    /// the ledger do not see it.
    pub fn forward_own(&self, message: &Message) -> Result<(), ConsumeError> {
        let item_count = message.item_count();
        if item_count == 0 {
            return Ok(());
        }
        self.enqueue(message.signal(), &message.encode(), item_count)
    }

    /// Extracts the LLM calls of a request, then applies the span changes.
    /// Returns what was extracted and whether the request changed.
    /// Extraction reads the credential headers to derive key ids, so it runs
    /// before the transform removes them.
    fn extract_and_transform(
        &self,
        request: &mut opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest,
    ) -> (crate::extract::Extracted, bool) {
        let extracted = crate::extract::extract_with(request, &self.extract_settings);
        let changed = self.apply_transform(request, &extracted);
        (extracted, changed)
    }

    /// Applies the span changes; returns whether the request changed.
    fn apply_transform(
        &self,
        request: &mut opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest,
        extracted: &crate::extract::Extracted,
    ) -> bool {
        let costs = if self.transform.adds_cost() {
            extracted
                .llm_spans
                .iter()
                .filter_map(|call| {
                    Some(((call.trace_id, call.span_id), self.ledger.cost_usd(call)?))
                })
                .collect()
        } else {
            std::collections::HashMap::new()
        };
        let counts = self.transform.apply(request, &costs);
        let stats = &self.processing_stats;
        stats
            .removed_headers
            .fetch_add(counts.removed_headers, Ordering::Relaxed);
        stats
            .changed_content
            .fetch_add(counts.changed_content, Ordering::Relaxed);
        stats
            .costed_spans
            .fetch_add(counts.costed_spans, Ordering::Relaxed);
        counts.changed_anything()
    }
}

#[cfg(test)]
mod tests;
