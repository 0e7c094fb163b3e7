//! The path of one export request between the receivers and the exporters:
//! check, reserve queue slots, extract into the ledger, forward.

mod message;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use crate::export::{Batch, ExportQueue};
use crate::ledger::Ledger;
use crate::signal::{Signal, Transport};
pub use message::{Message, Rejections};

/// What happened to the items of received requests, as counted by
/// `burnrate_receiver_{accepted,refused,rejected}_<items>_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemFate {
    /// Recorded and queued for every exporter.
    Accepted,
    /// Answered with a retryable error because a queue was full.
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

/// The answer to an accepted request: how many items were rejected as
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
}

pub struct Pipeline {
    pub ledger: Arc<Ledger>,
    pub exporters: Vec<ExportQueue>,
    pub receiver_stats: ReceiverStats,
    /// Attributes per span that extraction reads.
    max_attributes: usize,
}

impl Pipeline {
    pub fn new(
        ledger: Arc<Ledger>,
        exporters: Vec<ExportQueue>,
        max_attributes: usize,
    ) -> Pipeline {
        Pipeline {
            ledger,
            exporters,
            receiver_stats: ReceiverStats::default(),
            max_attributes,
        }
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
        raw: Option<Bytes>,
    ) -> Result<Accepted, ConsumeError> {
        let signal = message.signal();
        let rejections = message.remove_invalid_items();
        let item_count = message.item_count();

        // Reserve a slot in every queue before recording anything, so a
        // refused request, which the client retries, is not counted twice.
        let mut permits = Vec::with_capacity(self.exporters.len());
        for exporter in &self.exporters {
            let Some(permit) = exporter.try_reserve() else {
                let stats = &self.receiver_stats;
                stats.add_items(
                    signal,
                    transport,
                    ItemFate::Refused,
                    item_count + rejections.count,
                );
                return Err(ConsumeError::QueueFull {
                    exporter: exporter.name.clone(),
                });
            };
            permits.push(permit);
        }

        if let Message::Traces(request) = &message {
            self.ledger.record(
                crate::extract::extract(request, self.max_attributes),
                crate::ledger::Now::current(),
            );
        }

        // An empty request has nothing to forward.
        if item_count > 0 && !permits.is_empty() {
            let body = match raw {
                Some(raw) if rejections.count == 0 => raw,
                _ => message.encode(),
            };
            for permit in permits {
                permit.send(Batch {
                    signal,
                    body: body.clone(),
                    item_count,
                });
            }
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

#[cfg(test)]
mod tests;
