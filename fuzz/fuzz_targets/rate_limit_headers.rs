//! Fuzzes the parsers of rate-limit response headers and Go durations.
//!
//! Input: text with one header per line, the name before the first `:` and
//! the value after it. A line without `:` is a name with an empty value.
//! Invalid UTF-8 is replaced with U+FFFD.

#![no_main]

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use burnrate::call::{LimitKind, LimitReading, RateLimitObservation};
use burnrate::extract::headers::{parse_go_duration, parse_rate_limit_headers};
use libfuzzer_sys::fuzz_target;

/// 2025-10-09T08:53:20Z, a fixed response time so that every run of an input
/// computes the same reset times.
fn response_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_760_000_000)
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let headers: Vec<(&str, &str)> = text
        .lines()
        .map(|line| line.split_once(':').unwrap_or((line, "")))
        .collect();

    let observation = parse_rate_limit_headers(headers.iter().copied(), response_time());
    for pair in observation.limits.windows(2) {
        assert!(pair[0].0 < pair[1].0, "limits not sorted by kind: {pair:?}");
    }
    for (kind, reading) in &observation.limits {
        assert_ne!(
            *reading,
            LimitReading::default(),
            "empty reading for {kind:?}"
        );
    }

    // Headers are parsed independently of each other, so parsing them one at
    // a time and letting the last valid value of each field win must give
    // the same observation.
    let merged = parse_one_by_one(&headers);
    assert_eq!(observation.limits, merged.limits);
    assert_eq!(observation.retry_after_until, merged.retry_after_until);
    assert_eq!(observation.invalid, merged.invalid);

    for (name, value) in &headers {
        check_go_duration(name);
        check_go_duration(value);
    }
});

/// Parses each header alone and merges the results as
/// `parse_rate_limit_headers` documents: the last valid value of a field wins,
/// and `retry-after-ms` wins over `retry-after`.
fn parse_one_by_one(headers: &[(&str, &str)]) -> RateLimitObservation {
    let mut limits: BTreeMap<LimitKind, LimitReading> = BTreeMap::new();
    let mut retry_after_seconds = None;
    let mut retry_after_ms = None;
    let mut invalid = Vec::new();

    for &(name, value) in headers {
        let single = parse_rate_limit_headers([(name, value)], response_time());
        check_single_header(name, value, &single);

        for (kind, reading) in single.limits {
            let merged = limits.entry(kind).or_default();
            merged.limit = reading.limit.or(merged.limit);
            merged.remaining = reading.remaining.or(merged.remaining);
            merged.reset_at = reading.reset_at.or(merged.reset_at);
        }
        if let Some(until) = single.retry_after_until {
            if name == "retry-after-ms" {
                retry_after_ms = Some(until);
            } else {
                retry_after_seconds = Some(until);
            }
        }
        invalid.extend(single.invalid);
    }

    RateLimitObservation {
        limits: limits.into_iter().collect(),
        retry_after_until: retry_after_ms.or(retry_after_seconds),
        invalid,
    }
}

/// Checks the observation of one header: an invalid header is reported as
/// given, and an OpenAI reset in Go duration syntax counts from the response.
fn check_single_header(name: &str, value: &str, single: &RateLimitObservation) {
    assert!(
        single.limits.len() <= 1,
        "one header filled {:?}",
        single.limits
    );
    match single.invalid.as_slice() {
        [] => {}
        [(invalid_name, invalid_value)] => {
            assert_eq!(invalid_name, name);
            assert_eq!(invalid_value, value);
            assert!(single.is_empty(), "an invalid header was also used");
        }
        more => panic!("one header reported as {} invalid headers", more.len()),
    }

    let reset_at = single
        .limits
        .first()
        .and_then(|(_, reading)| reading.reset_at);
    if name.starts_with("x-ratelimit-reset-")
        && reset_at.is_some()
        && let Some(delay) = parse_go_duration(value.trim())
    {
        assert_eq!(reset_at, response_time().checked_add(delay));
    }
}

/// Checks properties of `parse_go_duration` that follow from Go's syntax:
/// a `0s` segment adds nothing, and a duration split between two segments
/// is the sum of its halves. Splits are tried only in texts of at most
/// `MAX_SPLIT_BYTES`, because each split parses the text again.
fn check_go_duration(text: &str) {
    const MAX_SPLIT_BYTES: usize = 64;

    let whole = parse_go_duration(text);
    let Some(duration) = whole else {
        return;
    };
    assert_eq!(parse_go_duration(&format!("{text}0s")), Some(duration));
    if text.len() > MAX_SPLIT_BYTES {
        return;
    }

    for (split, _) in text.char_indices().skip(1) {
        let (head, tail) = text.split_at(split);
        // A bare "0" is a whole duration only, never a segment.
        if head == "0" || tail == "0" {
            continue;
        }
        if let (Some(first), Some(second)) = (parse_go_duration(head), parse_go_duration(tail)) {
            assert_eq!(
                whole,
                first.checked_add(second),
                "{text:?} split into {head:?} and {tail:?}"
            );
        }
    }
}
