//! Fuzzes the OTLP/JSON decoders of the OTLP/HTTP receiver and the pipeline
//! behind them.
//!
//! Input: the first byte selects the signal (see `burnrate_fuzz::split_signal`)
//! and the rest is the JSON body of that signal's `Export*ServiceRequest`.

#![no_main]

use std::time::SystemTime;

use burnrate::metrics::render;
use burnrate::pipeline::Message;
use burnrate::receiver::json::{JsonError, decode_logs, decode_metrics, decode_traces};
use burnrate::signal::{Signal, Transport};
use burnrate_fuzz::{exposition, new_pipeline, split_signal};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((signal, body)) = split_signal(data) else {
        return;
    };
    let Ok(message) = decode_json(signal, body) else {
        return;
    };
    assert_eq!(message.signal(), signal);

    // Whatever the JSON decoder accepts must survive the protobuf encoding
    // that the exporters send. The encodings are compared, not the messages,
    // because a "NaN" double never equals itself.
    let encoded = message.encode();
    let decoded = Message::decode(signal, encoded.clone()).unwrap_or_else(|error| {
        panic!("protobuf encoding of decoded JSON does not decode: {error}")
    });
    assert_eq!(
        decoded.encode(),
        encoded,
        "protobuf round trip changed the message"
    );
    assert_eq!(decoded.item_count(), message.item_count());

    let mut valid = message.clone();
    let rejections = valid.remove_invalid_items();
    let pipeline = new_pipeline();
    let accepted = pipeline
        .consume(Transport::Http, message, None)
        .unwrap_or_else(|error| panic!("a pipeline without exporters failed: {error}"));
    assert_eq!(accepted.rejected, rejections.count);

    exposition::assert_valid(&render(&pipeline, SystemTime::now()));
});

/// Decodes `body` as the OTLP/HTTP receiver does for `application/json`.
fn decode_json(signal: Signal, body: &[u8]) -> Result<Message, JsonError> {
    match signal {
        Signal::Traces => decode_traces(body).map(Message::Traces),
        Signal::Metrics => decode_metrics(body).map(Message::Metrics),
        Signal::Logs => decode_logs(body).map(Message::Logs),
    }
}
