use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

use super::*;

fn limits(max_requests: usize, max_bytes: usize) -> QueueLimits {
    QueueLimits {
        max_requests,
        max_bytes,
    }
}

fn trace_request(span_ids: &[u8]) -> Bytes {
    let spans = span_ids
        .iter()
        .map(|id| Span {
            trace_id: vec![1; 16],
            span_id: vec![*id; 8],
            ..Default::default()
        })
        .collect();
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    Bytes::from(request.encode_to_vec())
}

fn push(queue: &Queue, signal: Signal, body: Bytes, item_count: u64) {
    let reservation = queue.try_reserve(body.len()).expect("queue has room");
    reservation
        .commit(Batch {
            signal,
            body,
            item_count,
        })
        .unwrap();
}

#[test]
fn request_bound_refuses_and_drop_releases() {
    let queue = Queue::in_memory(limits(2, 1000));
    let first = queue.try_reserve(10).unwrap();
    let second = queue.try_reserve(10).unwrap();
    assert!(queue.try_reserve(10).is_none());
    drop(second);
    assert!(queue.try_reserve(10).is_some());
    drop(first);
}

#[test]
fn byte_bound_counts_queued_and_reserved() {
    let queue = Queue::in_memory(limits(100, 100));
    push(&queue, Signal::Logs, Bytes::from(vec![0; 60]), 1);
    assert_eq!(queue.queued_bytes(), 60);
    let reserved = queue.try_reserve(30).unwrap();
    assert!(queue.try_reserve(11).is_none());
    drop(reserved);
    assert!(queue.try_reserve(40).is_some());
}

#[test]
fn closed_queue_refuses_reservations() {
    let queue = Queue::in_memory(limits(10, 1000));
    queue.close();
    assert!(queue.try_reserve(1).is_none());
}

#[tokio::test]
async fn take_combines_requests_of_one_signal() {
    let queue = Queue::in_memory(limits(10, 10_000));
    push(&queue, Signal::Traces, trace_request(&[1, 2]), 2);
    push(&queue, Signal::Traces, trace_request(&[3]), 1);
    push(&queue, Signal::Metrics, Bytes::from_static(b"m"), 4);
    push(&queue, Signal::Traces, trace_request(&[4]), 1);

    let taken = queue.take(10_000, Duration::ZERO).await.unwrap();
    assert_eq!(taken.batch.signal, Signal::Traces);
    assert_eq!(taken.batch.item_count, 3);
    let merged = ExportTraceServiceRequest::decode(taken.batch.body.clone()).unwrap();
    let span_ids: Vec<u8> = merged
        .resource_spans
        .iter()
        .flat_map(|resource| &resource.scope_spans)
        .flat_map(|scope| &scope.spans)
        .map(|span| span.span_id[0])
        .collect();
    assert_eq!(span_ids, [1, 2, 3]);
    queue.complete(&taken);

    let metrics = queue.take(10_000, Duration::ZERO).await.unwrap();
    assert_eq!(metrics.batch.signal, Signal::Metrics);
    assert_eq!(metrics.batch.item_count, 4);
    let last = queue.take(10_000, Duration::ZERO).await.unwrap();
    assert_eq!(last.batch.item_count, 1);
    assert_eq!(queue.depth(), 0);
}

#[tokio::test]
async fn take_stops_at_max_bytes() {
    let queue = Queue::in_memory(limits(10, 10_000));
    for _ in 0..3 {
        push(&queue, Signal::Logs, Bytes::from(vec![0; 40]), 1);
    }
    let taken = queue.take(100, Duration::ZERO).await.unwrap();
    assert_eq!(taken.batch.body.len(), 80);
    assert_eq!(queue.depth(), 1);
}

#[tokio::test]
async fn take_waits_for_linger_then_sends_what_is_there() {
    let queue = Queue::in_memory(limits(10, 10_000));
    push(&queue, Signal::Logs, Bytes::from(vec![0; 10]), 1);
    let started = tokio::time::Instant::now();
    let taken = queue.take(1000, Duration::from_millis(50)).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!(taken.batch.body.len(), 10);
}

#[tokio::test]
async fn closed_and_empty_queue_ends_take() {
    let queue = Queue::in_memory(limits(10, 1000));
    push(&queue, Signal::Logs, Bytes::from_static(b"x"), 1);
    queue.close();
    assert!(queue.take(1000, Duration::ZERO).await.is_some());
    assert!(queue.take(1000, Duration::ZERO).await.is_none());
}

#[tokio::test]
async fn disk_queue_survives_reopen_until_completed() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("queue.redb");
    {
        let queue = Queue::on_disk(limits(10, 10_000), &path).unwrap();
        assert!(queue.is_durable());
        push(&queue, Signal::Traces, trace_request(&[7]), 1);
        push(&queue, Signal::Traces, trace_request(&[8]), 1);
    }

    let reopened = Queue::on_disk(limits(10, 10_000), &path).unwrap();
    assert_eq!(reopened.depth(), 2);
    let taken = reopened.take(10_000, Duration::ZERO).await.unwrap();
    assert_eq!(taken.batch.item_count, 2);
    let merged = ExportTraceServiceRequest::decode(taken.batch.body.clone()).unwrap();
    assert_eq!(merged.resource_spans.len(), 2);

    // Taken but not completed: still on disk for the next start.
    drop(reopened);
    let again = Queue::on_disk(limits(10, 10_000), &path).unwrap();
    assert_eq!(again.depth(), 2);
    let taken = again.take(10_000, Duration::ZERO).await.unwrap();
    again.complete(&taken);
    drop(again);
    let emptied = Queue::on_disk(limits(10, 10_000), &path).unwrap();
    assert_eq!(emptied.depth(), 0);
}

#[test]
fn disk_queue_bytes_count_until_completed() {
    let directory = tempfile::tempdir().unwrap();
    let queue = Queue::on_disk(limits(10, 100), &directory.path().join("q.redb")).unwrap();
    push(&queue, Signal::Logs, Bytes::from(vec![0; 80]), 1);
    let taken = queue.take_now(100).unwrap();
    assert!(queue.try_reserve(30).is_none());
    queue.complete(&taken);
    assert!(queue.try_reserve(30).is_some());
}

#[test]
fn unwritable_disk_path_is_an_error() {
    let directory = tempfile::tempdir().unwrap();
    let blocker = directory.path().join("file");
    std::fs::write(&blocker, b"not a folder").unwrap();
    let error = Queue::on_disk(limits(1, 1), &blocker.join("q.redb")).unwrap_err();
    assert!(
        error.to_string().starts_with("cannot open the disk queue"),
        "{error}"
    );
}
