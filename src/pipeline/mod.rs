//! The path of one export request between the receiver and the exporters:
//! decode, reserve queue slots, extract into the ledger, forward.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use tonic::Status;

use crate::export::{Batch, ExportQueue};
use crate::ledger::Ledger;

/// burnrate's own counters for received spans.
#[derive(Debug, Default)]
pub struct ReceiverStats {
    /// Spans decoded, queued and recorded.
    pub accepted_spans: AtomicU64,
    /// Spans rejected with a retryable error because a queue was full.
    pub refused_spans: AtomicU64,
    /// Requests that could not be decoded.
    pub invalid_requests: AtomicU64,
}

pub struct Pipeline {
    pub ledger: Arc<Ledger>,
    pub exporters: Vec<ExportQueue>,
    pub receiver_stats: ReceiverStats,
}

impl Pipeline {
    pub fn new(ledger: Arc<Ledger>, exporters: Vec<ExportQueue>) -> Pipeline {
        Pipeline {
            ledger,
            exporters,
            receiver_stats: ReceiverStats::default(),
        }
    }

    /// Handles one OTLP trace export request and returns the encoded response.
    /// The request is acknowledged once it is decoded, recorded and queued for
    /// every exporter; forwarding happens later.
    pub fn consume_traces(&self, body: Bytes) -> Result<Bytes, Status> {
        let request = ExportTraceServiceRequest::decode(body.clone()).map_err(|error| {
            self.receiver_stats
                .invalid_requests
                .fetch_add(1, Ordering::Relaxed);
            Status::invalid_argument(format!("invalid ExportTraceServiceRequest: {error}"))
        })?;
        let extracted = crate::extract::extract(&request);
        let span_count = extracted.span_count;

        // Reserve a slot in every queue before recording anything, so a
        // refused request, which the service's SDK retries, is not counted twice.
        let mut permits = Vec::with_capacity(self.exporters.len());
        for exporter in &self.exporters {
            let Some(permit) = exporter.try_reserve() else {
                self.receiver_stats
                    .refused_spans
                    .fetch_add(span_count, Ordering::Relaxed);
                return Err(Status::unavailable(format!(
                    "export queue of exporter `{}` is full; retry later",
                    exporter.name
                )));
            };
            permits.push(permit);
        }

        self.ledger.record(extracted, Instant::now());
        for permit in permits {
            permit.send(Batch {
                body: body.clone(),
                span_count,
            });
        }
        self.receiver_stats
            .accepted_spans
            .fetch_add(span_count, Ordering::Relaxed);

        // An empty ExportTraceServiceResponse encodes to zero bytes.
        Ok(Bytes::new())
    }
}
