//! Fuzzes the path of an OTLP/gRPC or OTLP/HTTP protobuf export request:
//! decoding, removal of spans and log records with invalid ids, extraction
//! into the ledger, and rendering of `/metrics`.
//!
//! Input: the first byte selects the signal (see `burnrate_fuzz::split_signal`)
//! and the rest is the protobuf body of that signal's `Export*ServiceRequest`.

#![no_main]

use std::time::SystemTime;

use burnrate::metrics::render;
use burnrate::pipeline::{ConsumeError, ItemFate, Message, Rejections};
use burnrate::signal::{Signal, Transport};
use burnrate_fuzz::{exposition, new_pipeline, split_signal};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((signal, body)) = split_signal(data) else {
        return;
    };
    let body = Bytes::copy_from_slice(body);
    let expected = check_message(signal, body.clone());

    let pipeline = new_pipeline();
    let result = pipeline.consume_protobuf(signal, Transport::Grpc, body);
    let stats = &pipeline.receiver_stats;
    match (result, expected) {
        (Ok(accepted), Some((item_count, rejections))) => {
            assert_eq!(accepted.rejected, rejections.count);
            assert_eq!(accepted.error_message.is_empty(), rejections.count == 0);
            let accepted_items = stats.items(signal, Transport::Grpc, ItemFate::Accepted);
            let rejected_items = stats.items(signal, Transport::Grpc, ItemFate::Rejected);
            assert_eq!(accepted_items, item_count);
            assert_eq!(rejected_items, rejections.count);
            assert_eq!(stats.invalid_requests(signal, Transport::Grpc), 0);
        }
        (Err(ConsumeError::Invalid { .. }), None) => {
            assert_eq!(stats.invalid_requests(signal, Transport::Grpc), 1);
        }
        (result, expected) => {
            let decoding = if expected.is_some() {
                "succeeded"
            } else {
                "failed"
            };
            panic!("consume_protobuf returned {result:?}, but Message::decode {decoding}");
        }
    }

    exposition::assert_valid(&render(&pipeline, SystemTime::now()));
});

/// Decodes `body` as `consume_protobuf` does and checks the invariants of the
/// message. Returns the item count left after removing invalid items and the
/// rejections, or `None` when the body does not decode.
fn check_message(signal: Signal, body: Bytes) -> Option<(u64, Rejections)> {
    let mut message = Message::decode(signal, body).ok()?;
    assert_eq!(message.signal(), signal);

    let count_before = message.item_count();
    let rejections = message.remove_invalid_items();
    let count_after = message.item_count();
    assert_eq!(count_after + rejections.count, count_before);
    assert_eq!(rejections.first_problem.is_some(), rejections.count > 0);
    let second_pass = message.clone().remove_invalid_items();
    assert_eq!(
        second_pass,
        Rejections::default(),
        "second pass removed items"
    );

    // The pipeline forwards this encoding when it removed items, so it must
    // decode to the same items and encode to the same bytes again.
    let encoded = message.encode();
    let decoded = Message::decode(signal, encoded.clone())
        .unwrap_or_else(|error| panic!("re-encoded message does not decode: {error}"));
    assert_eq!(decoded.item_count(), count_after);
    assert_eq!(decoded.encode(), encoded, "encoding changed after a decode");
    Some((count_after, rejections))
}
