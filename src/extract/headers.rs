//! Rate-limit headers of an LLM provider's HTTP response, parsed into a
//! [`RateLimitObservation`].
//!
//! Header families read:
//! - Anthropic: `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}`.
//!   The reset is an absolute RFC 3339 time.
//! - OpenAI and the providers that copy its headers (Azure OpenAI, Groq):
//!   `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`. The reset is a Go
//!   `time.Duration` string (`6m0s`) or a plain number of seconds (`7.66`),
//!   relative to the response time. Azure OpenAI sends `-1` as the limit or
//!   remaining count when it does not know it; that value leaves the field
//!   `None` and is not invalid. Groq's request headers count per day, which
//!   [`interpret_for_provider`] applies once the provider is known.
//! - Mistral: `x-ratelimit-{limit,remaining}-{req,tokens}-minute` and
//!   `x-ratelimit-{limit,remaining}-tokens-month`. A reset header of the same
//!   shape is read like OpenAI's.
//! - `retry-after` (seconds, or an HTTP date) and `retry-after-ms`
//!   (milliseconds). `retry-after-ms` wins when both are present because it is
//!   more precise.
//!
//! Both families accept the same four per-minute window names, so an
//! `x-ratelimit-limit-input-tokens` header is read as well.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::call::{LimitKind, LimitReading, RateLimitObservation};

const NANOS_PER_SECOND: u128 = 1_000_000_000;
const NANOS_PER_MILLISECOND: u128 = 1_000_000;

/// Fraction digits beyond this count are ignored. They change the result by
/// less than a nanosecond for every unit up to an hour, and dropping them keeps
/// the arithmetic inside `u128`.
const MAX_FRACTION_DIGITS: usize = 18;

/// Parses the rate-limit headers of one response and ignores all other headers.
///
/// `name` is the header name lowercased, with '_' already turned into '-' by
/// the caller. Values are trimmed before parsing. A value that does not parse
/// is recorded in `invalid` as (name, value as given) and leaves its field
/// `None`. When a header repeats, the last valid value wins.
pub fn parse_rate_limit_headers<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    response_time: SystemTime,
) -> RateLimitObservation {
    let mut readings: BTreeMap<LimitKind, LimitReading> = BTreeMap::new();
    let mut retry_after_seconds: Option<SystemTime> = None;
    let mut retry_after_ms: Option<SystemTime> = None;
    let mut invalid = Vec::new();

    for (name, value) in headers {
        let Some(header) = classify_header(name) else {
            continue;
        };
        let text = value.trim();

        let parsed = match header {
            RateLimitHeader::Window {
                kind,
                field,
                reset_format,
            } => {
                let reading = readings.entry(kind).or_default();
                apply_window_value(reading, field, reset_format, text, response_time)
            }
            RateLimitHeader::RetryAfter => parse_retry_after(text, response_time)
                .map(|until| retry_after_seconds = Some(until))
                .is_some(),
            RateLimitHeader::RetryAfterMs => parse_decimal(text, NANOS_PER_MILLISECOND)
                .and_then(|delay| response_time.checked_add(delay))
                .map(|until| retry_after_ms = Some(until))
                .is_some(),
        };

        if !parsed {
            invalid.push((name.to_owned(), value.to_owned()));
        }
    }

    // A window whose headers were all invalid has nothing to report.
    let limits = readings
        .into_iter()
        .filter(|(_, reading)| *reading != LimitReading::default())
        .collect();

    RateLimitObservation {
        limits,
        retry_after_until: retry_after_ms.or(retry_after_seconds),
        invalid,
    }
}

/// Parses a Go `time.Duration` string such as `6m0s`, `1.5s`, `2h3m4.5s` or
/// `500µs`, as Go's `Duration.String` writes it and `time.ParseDuration` reads it.
///
/// Units are `h`, `m`, `s`, `ms`, `us`, `µs` (U+00B5), `μs` (U+03BC) and `ns`.
/// A bare `0` is accepted, as in Go. Unlike Go, a sign is rejected because a
/// negative duration has no meaning here. Whitespace is not trimmed. Returns
/// `None` on any other input or when the total overflows [`Duration`].
pub fn parse_go_duration(text: &str) -> Option<Duration> {
    if text == "0" {
        return Some(Duration::ZERO);
    }
    if text.is_empty() {
        return None;
    }

    let mut rest = text;
    let mut total_nanos: u128 = 0;
    while !rest.is_empty() {
        let (integer, after_integer) = split_leading_digits(rest);
        let (fraction, after_number) = match after_integer.strip_prefix('.') {
            Some(tail) => split_leading_digits(tail),
            None => ("", after_integer),
        };
        if integer.is_empty() && fraction.is_empty() {
            return None;
        }

        let unit_len = after_number
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after_number.len());
        let (unit, after_unit) = after_number.split_at(unit_len);
        let nanos = scale_decimal(integer, fraction, go_unit_nanos(unit)?)?;

        total_nanos = total_nanos.checked_add(nanos)?;
        rest = after_unit;
    }
    nanos_to_duration(total_nanos)
}

/// Re-reads an observation for the provider that sent it, where a provider
/// uses a header with a window other than its usual one. Groq's
/// `x-ratelimit-*-requests` headers count requests per day, so their
/// [`LimitKind::Requests`] reading becomes [`LimitKind::RequestsPerDay`].
/// `provider` is a `gen_ai.provider.name` value. Applying it twice changes
/// nothing more.
pub fn interpret_for_provider(observation: &mut RateLimitObservation, provider: &str) {
    if provider != GROQ {
        return;
    }
    let has_daily = observation
        .limits
        .iter()
        .any(|(kind, _)| *kind == LimitKind::RequestsPerDay);
    if has_daily {
        return;
    }
    for (kind, _) in &mut observation.limits {
        if *kind == LimitKind::Requests {
            *kind = LimitKind::RequestsPerDay;
        }
    }
    observation.limits.sort_by_key(|(kind, _)| *kind);
}

/// `gen_ai.provider.name` values of the providers that [`provider_from_url`]
/// recognizes.
const GROQ: &str = "groq";
const MISTRAL: &str = "mistral_ai";
const AZURE_OPENAI: &str = "azure.ai.openai";
const OPENAI: &str = "openai";
const ANTHROPIC: &str = "anthropic";

/// Returns the `gen_ai.provider.name` of a provider's API host, given as a
/// host name (`server.address`) or a URL (`url.full`, `http.url`), or `None`
/// for any other host.
pub fn provider_from_url(text: &str) -> Option<&'static str> {
    let after_scheme = text.split_once("://").map_or(text, |(_, rest)| rest);
    let authority = after_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    let host_and_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = host_and_port
        .split_once(':')
        .map_or(host_and_port, |(host, _)| host)
        .trim_end_matches('.')
        .to_ascii_lowercase();
    match host.as_str() {
        "api.groq.com" => Some(GROQ),
        "api.mistral.ai" => Some(MISTRAL),
        "api.openai.com" => Some(OPENAI),
        "api.anthropic.com" => Some(ANTHROPIC),
        _ if host.ends_with(".openai.azure.com") => Some(AZURE_OPENAI),
        _ => None,
    }
}

/// A header that carries rate-limit state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RateLimitHeader {
    Window {
        kind: LimitKind,
        field: WindowField,
        reset_format: ResetFormat,
    },
    RetryAfter,
    RetryAfterMs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WindowField {
    Limit,
    Remaining,
    Reset,
}

/// The format of a header family's window reset time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ResetFormat {
    /// An RFC 3339 time (Anthropic).
    Rfc3339,
    /// A Go duration or a number of seconds after the response (OpenAI).
    RelativeDuration,
}

fn classify_header(name: &str) -> Option<RateLimitHeader> {
    // `anthropic-ratelimit-input-tokens-reset`: the window name may contain
    // dashes, so the field is the part after the last one.
    if let Some(rest) = name.strip_prefix("anthropic-ratelimit-") {
        let (kind, field) = rest.rsplit_once('-')?;
        return Some(RateLimitHeader::Window {
            kind: parse_window_kind(kind)?,
            field: parse_window_field(field)?,
            reset_format: ResetFormat::Rfc3339,
        });
    }

    // `x-ratelimit-reset-input-tokens`: the field comes first.
    if let Some(rest) = name.strip_prefix("x-ratelimit-") {
        let (field, kind) = rest.split_once('-')?;
        let kind = parse_window_kind(kind).or_else(|| parse_mistral_window_kind(kind))?;
        return Some(RateLimitHeader::Window {
            kind,
            field: parse_window_field(field)?,
            reset_format: ResetFormat::RelativeDuration,
        });
    }

    match name {
        "retry-after" => Some(RateLimitHeader::RetryAfter),
        "retry-after-ms" => Some(RateLimitHeader::RetryAfterMs),
        _ => None,
    }
}

fn parse_window_kind(text: &str) -> Option<LimitKind> {
    match text {
        "requests" => Some(LimitKind::Requests),
        "tokens" => Some(LimitKind::Tokens),
        "input-tokens" => Some(LimitKind::InputTokens),
        "output-tokens" => Some(LimitKind::OutputTokens),
        _ => None,
    }
}

/// Parses the window names that Mistral appends its period to.
fn parse_mistral_window_kind(text: &str) -> Option<LimitKind> {
    match text {
        "req-minute" => Some(LimitKind::Requests),
        "tokens-minute" => Some(LimitKind::Tokens),
        "tokens-month" => Some(LimitKind::TokensPerMonth),
        _ => None,
    }
}

fn parse_window_field(text: &str) -> Option<WindowField> {
    match text {
        "limit" => Some(WindowField::Limit),
        "remaining" => Some(WindowField::Remaining),
        "reset" => Some(WindowField::Reset),
        _ => None,
    }
}

/// Stores one window header's value in `reading` and returns whether it parsed.
fn apply_window_value(
    reading: &mut LimitReading,
    field: WindowField,
    reset_format: ResetFormat,
    text: &str,
    response_time: SystemTime,
) -> bool {
    // Azure OpenAI's marker for an unknown count: the field stays `None`.
    let unknown_count = reset_format == ResetFormat::RelativeDuration && text == "-1";
    match field {
        WindowField::Limit | WindowField::Remaining if unknown_count => Some(()),
        WindowField::Limit => parse_count(text).map(|count| reading.limit = Some(count)),
        WindowField::Remaining => parse_count(text).map(|count| reading.remaining = Some(count)),
        WindowField::Reset => {
            let reset_at = match reset_format {
                ResetFormat::Rfc3339 => parse_rfc3339(text),
                ResetFormat::RelativeDuration => parse_go_duration(text)
                    .or_else(|| parse_decimal(text, NANOS_PER_SECOND))
                    .and_then(|delay| response_time.checked_add(delay)),
            };
            reset_at.map(|time| reading.reset_at = Some(time))
        }
    }
    .is_some()
}

/// Parses a non-negative integer written with ASCII digits only, so that a
/// sign, a fraction or an exponent is rejected.
fn parse_count(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(SystemTime::from)
}

/// Parses `retry-after`: a delay in seconds (a decimal is accepted) after the
/// response, or an HTTP date.
fn parse_retry_after(text: &str, response_time: SystemTime) -> Option<SystemTime> {
    match parse_decimal(text, NANOS_PER_SECOND) {
        Some(delay) => response_time.checked_add(delay),
        None => httpdate::parse_http_date(text).ok(),
    }
}

/// Parses a non-negative decimal number (`12`, `7.66`) of `unit_nanos`
/// nanoseconds without going through floating point. Digits are required on
/// both sides of a decimal point.
fn parse_decimal(text: &str, unit_nanos: u128) -> Option<Duration> {
    let (integer, fraction) = match text.split_once('.') {
        Some((integer, fraction)) => (integer, fraction),
        None => (text, ""),
    };
    if integer.is_empty() || text.ends_with('.') {
        return None;
    }
    let all_digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    if !all_digits(integer) || !all_digits(fraction) {
        return None;
    }
    nanos_to_duration(scale_decimal(integer, fraction, unit_nanos)?)
}

/// Returns `integer.fraction` times `unit_nanos`, truncated to whole
/// nanoseconds. Both parts must contain ASCII digits only.
fn scale_decimal(integer: &str, fraction: &str, unit_nanos: u128) -> Option<u128> {
    let mut whole: u128 = 0;
    for digit in integer.bytes() {
        whole = whole
            .checked_mul(10)?
            .checked_add(u128::from(digit - b'0'))?;
    }

    let kept_fraction = &fraction[..fraction.len().min(MAX_FRACTION_DIGITS)];
    let mut numerator: u128 = 0;
    let mut denominator: u128 = 1;
    for digit in kept_fraction.bytes() {
        numerator = numerator * 10 + u128::from(digit - b'0');
        denominator *= 10;
    }

    whole
        .checked_mul(unit_nanos)?
        .checked_add(numerator * unit_nanos / denominator)
}

fn split_leading_digits(text: &str) -> (&str, &str) {
    let len = text.bytes().take_while(u8::is_ascii_digit).count();
    text.split_at(len)
}

fn go_unit_nanos(unit: &str) -> Option<u128> {
    match unit {
        "ns" => Some(1),
        "us" | "\u{b5}s" | "\u{3bc}s" => Some(1_000),
        "ms" => Some(NANOS_PER_MILLISECOND),
        "s" => Some(NANOS_PER_SECOND),
        "m" => Some(60 * NANOS_PER_SECOND),
        "h" => Some(3_600 * NANOS_PER_SECOND),
        _ => None,
    }
}

fn nanos_to_duration(nanos: u128) -> Option<Duration> {
    let seconds = u64::try_from(nanos / NANOS_PER_SECOND).ok()?;
    let subsec_nanos = u32::try_from(nanos % NANOS_PER_SECOND).ok()?;
    Some(Duration::new(seconds, subsec_nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::time::UNIX_EPOCH;

    /// 2025-10-09T08:53:20Z.
    const RESPONSE_SECONDS: u64 = 1_760_000_000;

    fn response_time() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(RESPONSE_SECONDS)
    }

    fn at(seconds: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(seconds, nanos)
    }

    fn parse(headers: &[(&str, &str)]) -> RateLimitObservation {
        parse_rate_limit_headers(headers.iter().copied(), response_time())
    }

    fn reading(observation: &RateLimitObservation, kind: LimitKind) -> Option<LimitReading> {
        observation
            .limits
            .iter()
            .find(|(found, _)| *found == kind)
            .map(|(_, reading)| *reading)
    }

    fn reset_of(name: &str, value: &str) -> Option<SystemTime> {
        let observation = parse(&[(name, value)]);
        observation.limits.first().and_then(|(_, r)| r.reset_at)
    }

    #[test]
    fn go_duration_accepts_go_formats() {
        let cases: &[(&str, Duration)] = &[
            ("6m0s", Duration::from_secs(360)),
            ("20ms", Duration::from_millis(20)),
            ("1ms", Duration::from_millis(1)),
            ("1.5s", Duration::from_millis(1_500)),
            ("2h3m4.5s", Duration::from_millis(7_384_500)),
            ("500us", Duration::from_micros(500)),
            ("500\u{b5}s", Duration::from_micros(500)),
            ("500\u{3bc}s", Duration::from_micros(500)),
            ("10ns", Duration::from_nanos(10)),
            ("0s", Duration::ZERO),
            ("0", Duration::ZERO),
            ("1h", Duration::from_secs(3_600)),
            (".5s", Duration::from_millis(500)),
            ("1.s", Duration::from_secs(1)),
            ("1.25ms", Duration::from_micros(1_250)),
            ("0.000000001s", Duration::from_nanos(1)),
            ("1.0000000009s", Duration::from_nanos(1_000_000_000)),
            ("59.999s", Duration::from_millis(59_999)),
            ("1m30s", Duration::from_secs(90)),
            ("1s1s", Duration::from_secs(2)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_go_duration(text), Some(*expected), "{text:?}");
        }
    }

    #[test]
    fn go_duration_rejects_malformed_text() {
        let cases = [
            "", "1", "7.66", "-1s", "+1s", "s", ".s", "1x", "1.5.5s", "1s ", " 1s", "1e3s", "1 s",
            "1S", "1sec", "m1s", "1h-1m",
        ];
        for text in cases {
            assert_eq!(parse_go_duration(text), None, "{text:?}");
        }
    }

    #[test]
    fn go_duration_rejects_overflow() {
        assert_eq!(parse_go_duration("99999999999999999999999999h"), None);
        assert_eq!(
            parse_go_duration("999999999999999999999999999999999999999ns"),
            None
        );
    }

    #[test]
    fn anthropic_headers_fill_all_four_windows() {
        let observation = parse(&[
            ("anthropic-ratelimit-requests-limit", "50"),
            ("anthropic-ratelimit-requests-remaining", "49"),
            ("anthropic-ratelimit-requests-reset", "2025-10-09T08:53:21Z"),
            ("anthropic-ratelimit-tokens-limit", "90000"),
            ("anthropic-ratelimit-tokens-remaining", "88000"),
            ("anthropic-ratelimit-tokens-reset", "2025-10-09T08:53:26Z"),
            ("anthropic-ratelimit-input-tokens-limit", "80000"),
            ("anthropic-ratelimit-input-tokens-remaining", "79000"),
            (
                "anthropic-ratelimit-input-tokens-reset",
                "2025-10-09T08:53:22Z",
            ),
            ("anthropic-ratelimit-output-tokens-limit", "16000"),
            ("anthropic-ratelimit-output-tokens-remaining", "15500"),
            (
                "anthropic-ratelimit-output-tokens-reset",
                "2025-10-09T08:53:23Z",
            ),
        ]);

        let expected = vec![
            (
                LimitKind::Requests,
                LimitReading {
                    limit: Some(50),
                    remaining: Some(49),
                    reset_at: Some(at(RESPONSE_SECONDS + 1, 0)),
                },
            ),
            (
                LimitKind::Tokens,
                LimitReading {
                    limit: Some(90_000),
                    remaining: Some(88_000),
                    reset_at: Some(at(RESPONSE_SECONDS + 6, 0)),
                },
            ),
            (
                LimitKind::InputTokens,
                LimitReading {
                    limit: Some(80_000),
                    remaining: Some(79_000),
                    reset_at: Some(at(RESPONSE_SECONDS + 2, 0)),
                },
            ),
            (
                LimitKind::OutputTokens,
                LimitReading {
                    limit: Some(16_000),
                    remaining: Some(15_500),
                    reset_at: Some(at(RESPONSE_SECONDS + 3, 0)),
                },
            ),
        ];
        assert_eq!(observation.limits, expected);
        assert_eq!(observation.retry_after_until, None);
        assert!(observation.invalid.is_empty());
    }

    #[test]
    fn anthropic_reset_parses_rfc3339_forms() {
        let name = "anthropic-ratelimit-tokens-reset";
        let cases: &[(&str, SystemTime)] = &[
            ("2025-10-09T08:53:20Z", at(RESPONSE_SECONDS, 0)),
            ("2025-10-09T10:53:20+02:00", at(RESPONSE_SECONDS, 0)),
            ("2025-10-09T03:53:20-05:00", at(RESPONSE_SECONDS, 0)),
            ("2025-10-09T08:53:20.5Z", at(RESPONSE_SECONDS, 500_000_000)),
            (
                "2025-10-09T08:53:20.123456789Z",
                at(RESPONSE_SECONDS, 123_456_789),
            ),
            (
                "2025-10-09T09:54:30.25+01:00",
                at(RESPONSE_SECONDS + 70, 250_000_000),
            ),
            (" 2025-10-09T08:53:20Z ", at(RESPONSE_SECONDS, 0)),
            ("2025-10-09T03:23:20-05:30", at(RESPONSE_SECONDS, 0)),
            ("2025-10-09T14:23:20+05:30", at(RESPONSE_SECONDS, 0)),
            ("2025-10-09T08:53:20+00:00", at(RESPONSE_SECONDS, 0)),
            ("2025-10-09t08:53:20z", at(RESPONSE_SECONDS, 0)),
        ];
        for (value, expected) in cases {
            assert_eq!(reset_of(name, value), Some(*expected), "{value:?}");
        }
    }

    #[test]
    fn openai_headers_fill_requests_and_tokens() {
        let observation = parse(&[
            ("x-ratelimit-limit-requests", "10000"),
            ("x-ratelimit-limit-tokens", "2000000"),
            ("x-ratelimit-remaining-requests", "9999"),
            ("x-ratelimit-remaining-tokens", "1999000"),
            ("x-ratelimit-reset-requests", "6ms"),
            ("x-ratelimit-reset-tokens", "6m0s"),
        ]);

        let expected = vec![
            (
                LimitKind::Requests,
                LimitReading {
                    limit: Some(10_000),
                    remaining: Some(9_999),
                    reset_at: Some(at(RESPONSE_SECONDS, 6_000_000)),
                },
            ),
            (
                LimitKind::Tokens,
                LimitReading {
                    limit: Some(2_000_000),
                    remaining: Some(1_999_000),
                    reset_at: Some(at(RESPONSE_SECONDS + 360, 0)),
                },
            ),
        ];
        assert_eq!(observation.limits, expected);
        assert!(observation.invalid.is_empty());
    }

    #[test]
    fn openai_reset_is_relative_to_response_time() {
        let name = "x-ratelimit-reset-tokens";
        let cases: &[(&str, SystemTime)] = &[
            ("6m0s", at(RESPONSE_SECONDS + 360, 0)),
            ("20ms", at(RESPONSE_SECONDS, 20_000_000)),
            ("1ms", at(RESPONSE_SECONDS, 1_000_000)),
            ("1.5s", at(RESPONSE_SECONDS + 1, 500_000_000)),
            ("2h3m4.5s", at(RESPONSE_SECONDS + 7_384, 500_000_000)),
            ("500us", at(RESPONSE_SECONDS, 500_000)),
            ("500\u{b5}s", at(RESPONSE_SECONDS, 500_000)),
            ("10ns", at(RESPONSE_SECONDS, 10)),
            ("0s", at(RESPONSE_SECONDS, 0)),
            ("7.66", at(RESPONSE_SECONDS + 7, 660_000_000)),
            ("12", at(RESPONSE_SECONDS + 12, 0)),
            ("0", at(RESPONSE_SECONDS, 0)),
            (" 20ms\t", at(RESPONSE_SECONDS, 20_000_000)),
            ("1m30.5s", at(RESPONSE_SECONDS + 90, 500_000_000)),
            ("250ms", at(RESPONSE_SECONDS, 250_000_000)),
            ("7.66s", at(RESPONSE_SECONDS + 7, 660_000_000)),
            ("2m59.56s", at(RESPONSE_SECONDS + 179, 560_000_000)),
            ("1.5ms", at(RESPONSE_SECONDS, 1_500_000)),
            ("750us", at(RESPONSE_SECONDS, 750_000)),
            ("999ns", at(RESPONSE_SECONDS, 999)),
            ("0.5", at(RESPONSE_SECONDS, 500_000_000)),
            ("0.000000001", at(RESPONSE_SECONDS, 1)),
        ];
        for (value, expected) in cases {
            assert_eq!(reset_of(name, value), Some(*expected), "{value:?}");
        }
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_date() {
        let cases: &[(&str, SystemTime)] = &[
            ("30", at(RESPONSE_SECONDS + 30, 0)),
            ("0", at(RESPONSE_SECONDS, 0)),
            ("1.5", at(RESPONSE_SECONDS + 1, 500_000_000)),
            (
                "Thu, 09 Oct 2025 08:54:00 GMT",
                at(RESPONSE_SECONDS + 40, 0),
            ),
            (" 30 ", at(RESPONSE_SECONDS + 30, 0)),
            // The obsolete RFC 850 and asctime forms, which RFC 9110
            // requires recipients to accept.
            (
                "Thursday, 09-Oct-25 08:54:00 GMT",
                at(RESPONSE_SECONDS + 40, 0),
            ),
            ("Thu Oct  9 08:54:00 2025", at(RESPONSE_SECONDS + 40, 0)),
        ];
        for (value, expected) in cases {
            let observation = parse(&[("retry-after", value)]);
            assert_eq!(observation.retry_after_until, Some(*expected), "{value:?}");
            assert!(observation.invalid.is_empty(), "{value:?}");
        }
    }

    #[test]
    fn retry_after_ms_accepts_decimal_milliseconds() {
        let cases: &[(&str, SystemTime)] = &[
            ("1500", at(RESPONSE_SECONDS + 1, 500_000_000)),
            ("250.5", at(RESPONSE_SECONDS, 250_500_000)),
            ("0.000001", at(RESPONSE_SECONDS, 1)),
            ("0", at(RESPONSE_SECONDS, 0)),
        ];
        for (value, expected) in cases {
            let observation = parse(&[("retry-after-ms", value)]);
            assert_eq!(observation.retry_after_until, Some(*expected), "{value:?}");
        }
    }

    #[test]
    fn retry_after_ms_wins_over_retry_after() {
        let expected = Some(at(RESPONSE_SECONDS + 1, 250_000_000));

        let ms_last = parse(&[("retry-after", "2"), ("retry-after-ms", "1250")]);
        assert_eq!(ms_last.retry_after_until, expected);

        let ms_first = parse(&[("retry-after-ms", "1250"), ("retry-after", "2")]);
        assert_eq!(ms_first.retry_after_until, expected);
    }

    #[test]
    fn retry_after_used_when_ms_invalid() {
        let observation = parse(&[("retry-after-ms", "soon"), ("retry-after", "2")]);
        assert_eq!(
            observation.retry_after_until,
            Some(at(RESPONSE_SECONDS + 2, 0))
        );
        assert_eq!(
            observation.invalid,
            vec![("retry-after-ms".to_owned(), "soon".to_owned())]
        );
    }

    #[test]
    fn invalid_values_are_recorded_and_left_none() {
        let cases = [
            ("anthropic-ratelimit-requests-limit", "-5"),
            ("anthropic-ratelimit-requests-limit", "+5"),
            ("anthropic-ratelimit-requests-limit", "1.5"),
            ("anthropic-ratelimit-requests-limit", "1e3"),
            ("anthropic-ratelimit-requests-limit", "abc"),
            ("anthropic-ratelimit-requests-limit", ""),
            ("anthropic-ratelimit-requests-limit", "   "),
            ("anthropic-ratelimit-requests-limit", "18446744073709551616"),
            ("anthropic-ratelimit-tokens-remaining", "-1"),
            ("anthropic-ratelimit-tokens-reset", "2025-10-09"),
            ("anthropic-ratelimit-tokens-reset", "2025-10-09T08:53:20"),
            ("anthropic-ratelimit-tokens-reset", "6m0s"),
            ("x-ratelimit-remaining-tokens", "-100"),
            ("x-ratelimit-reset-tokens", "-1s"),
            ("x-ratelimit-reset-tokens", "-7.66"),
            ("x-ratelimit-reset-tokens", "soon"),
            ("x-ratelimit-reset-tokens", "1.5.5s"),
            ("x-ratelimit-reset-tokens", "7."),
            ("x-ratelimit-reset-tokens", ".5"),
            ("x-ratelimit-reset-tokens", "2025-10-09T08:53:20Z"),
            ("retry-after", "-1"),
            ("retry-after", "tomorrow"),
            ("retry-after", "2025-10-09T08:53:20Z"),
            ("retry-after", "1s"),
            ("retry-after-ms", "-250"),
            ("retry-after-ms", "20ms"),
            ("retry-after-ms", ""),
            ("retry-after", ""),
            ("retry-after", "99999999999999999999"),
            ("retry-after", "Thu, 09 Oct 2025 08:54:00 +0200"),
            ("x-ratelimit-reset-tokens", ""),
            ("x-ratelimit-reset-tokens", "99999999999999999999h"),
            ("x-ratelimit-limit-tokens", ""),
            ("x-ratelimit-limit-tokens", "-2"),
            ("x-ratelimit-limit-tokens", "18446744073709551616"),
            ("x-ratelimit-reset-tokens", "-1"),
            ("anthropic-ratelimit-tokens-limit", "-1"),
            ("anthropic-ratelimit-tokens-reset", ""),
            (
                "anthropic-ratelimit-tokens-reset",
                "Thu, 09 Oct 2025 08:54:00 GMT",
            ),
            ("x-ratelimit-remaining-req-minute", "lots"),
        ];
        for (name, value) in cases {
            let observation = parse(&[(name, value)]);
            assert_eq!(observation.limits, vec![], "{name}: {value:?}");
            assert_eq!(observation.retry_after_until, None, "{name}: {value:?}");
            assert_eq!(
                observation.invalid,
                vec![(name.to_owned(), value.to_owned())],
                "{name}: {value:?}"
            );
        }
    }

    #[test]
    fn invalid_value_keeps_other_fields_of_window() {
        let observation = parse(&[
            ("x-ratelimit-limit-tokens", "1000"),
            ("x-ratelimit-remaining-tokens", "lots"),
            ("x-ratelimit-reset-tokens", "1s"),
        ]);
        let tokens = reading(&observation, LimitKind::Tokens);
        assert_eq!(
            tokens,
            Some(LimitReading {
                limit: Some(1_000),
                remaining: None,
                reset_at: Some(at(RESPONSE_SECONDS + 1, 0)),
            })
        );
        assert_eq!(
            observation.invalid,
            vec![("x-ratelimit-remaining-tokens".to_owned(), "lots".to_owned())]
        );
    }

    #[test]
    fn counts_are_trimmed() {
        let observation = parse(&[
            ("x-ratelimit-limit-requests", " 100 "),
            ("x-ratelimit-remaining-requests", "\t99"),
        ]);
        let requests = reading(&observation, LimitKind::Requests);
        assert_eq!(requests.and_then(|r| r.limit), Some(100));
        assert_eq!(requests.and_then(|r| r.remaining), Some(99));
        assert!(observation.invalid.is_empty());
    }

    #[test]
    fn repeated_header_keeps_last_valid_value() {
        let observation = parse(&[
            ("x-ratelimit-remaining-tokens", "500"),
            ("x-ratelimit-remaining-tokens", "400"),
            ("x-ratelimit-remaining-tokens", "none"),
        ]);
        let tokens = reading(&observation, LimitKind::Tokens);
        assert_eq!(tokens.and_then(|r| r.remaining), Some(400));
        assert_eq!(observation.invalid.len(), 1);
    }

    #[test]
    fn limits_are_sorted_by_kind() {
        let observation = parse(&[
            ("anthropic-ratelimit-output-tokens-limit", "4"),
            ("x-ratelimit-limit-tokens", "2"),
            ("anthropic-ratelimit-input-tokens-limit", "3"),
            ("x-ratelimit-limit-requests", "1"),
        ]);
        let kinds: Vec<LimitKind> = observation.limits.iter().map(|(kind, _)| *kind).collect();
        assert_eq!(kinds, LimitKind::ALL[..4].to_vec());
        let limits: Vec<Option<u64>> = observation.limits.iter().map(|(_, r)| r.limit).collect();
        assert_eq!(limits, vec![Some(1), Some(2), Some(3), Some(4)]);
    }

    #[test]
    fn window_with_only_invalid_values_is_omitted() {
        let observation = parse(&[
            ("x-ratelimit-limit-requests", "100"),
            ("x-ratelimit-limit-tokens", "many"),
        ]);
        let kinds: Vec<LimitKind> = observation.limits.iter().map(|(kind, _)| *kind).collect();
        assert_eq!(kinds, vec![LimitKind::Requests]);
        assert_eq!(observation.invalid.len(), 1);
    }

    #[test]
    fn unrelated_headers_are_ignored() {
        let observation = parse(&[
            ("content-type", "application/json"),
            ("x-request-id", "req_123"),
            ("x-ratelimit-limit-bananas", "5"),
            ("x-ratelimit-used-tokens", "5"),
            ("anthropic-ratelimit-requests-used", "5"),
            ("anthropic-ratelimit-requests", "5"),
            ("anthropic-priority-input-tokens-limit", "5"),
            ("retry-after-seconds", "5"),
        ]);
        assert!(observation.is_empty());
        assert!(observation.invalid.is_empty());
    }

    #[test]
    fn no_headers_give_empty_observation() {
        let observation = parse(&[]);
        assert_eq!(observation, RateLimitObservation::default());
    }

    #[test]
    fn azure_unknown_count_is_none_not_invalid() {
        let observation = parse(&[
            ("x-ratelimit-limit-tokens", "-1"),
            ("x-ratelimit-remaining-tokens", " -1 "),
            ("x-ratelimit-reset-tokens", "0"),
            ("x-ratelimit-remaining-requests", "-1"),
        ]);
        let expected = vec![(
            LimitKind::Tokens,
            LimitReading {
                limit: None,
                remaining: None,
                reset_at: Some(at(RESPONSE_SECONDS, 0)),
            },
        )];
        assert_eq!(observation.limits, expected);
        assert!(observation.invalid.is_empty());
    }

    #[test]
    fn mistral_headers_fill_minute_and_month_windows() {
        let observation = parse(&[
            ("x-ratelimit-limit-req-minute", "720"),
            ("x-ratelimit-remaining-req-minute", "717"),
            ("x-ratelimit-limit-tokens-minute", "5000000"),
            ("x-ratelimit-remaining-tokens-minute", "4999911"),
            ("x-ratelimit-reset-tokens-minute", "26.5"),
            ("x-ratelimit-limit-tokens-month", "1000000000000"),
            ("x-ratelimit-remaining-tokens-month", "999998798434"),
            ("x-ratelimit-tokens-query-cost", "52"),
        ]);
        let expected = vec![
            (
                LimitKind::Requests,
                LimitReading {
                    limit: Some(720),
                    remaining: Some(717),
                    reset_at: None,
                },
            ),
            (
                LimitKind::Tokens,
                LimitReading {
                    limit: Some(5_000_000),
                    remaining: Some(4_999_911),
                    reset_at: Some(at(RESPONSE_SECONDS + 26, 500_000_000)),
                },
            ),
            (
                LimitKind::TokensPerMonth,
                LimitReading {
                    limit: Some(1_000_000_000_000),
                    remaining: Some(999_998_798_434),
                    reset_at: None,
                },
            ),
        ];
        assert_eq!(observation.limits, expected);
        assert!(observation.invalid.is_empty());
    }

    fn groq_headers() -> RateLimitObservation {
        parse(&[
            ("x-ratelimit-limit-requests", "14400"),
            ("x-ratelimit-limit-tokens", "18000"),
            ("x-ratelimit-remaining-requests", "14370"),
            ("x-ratelimit-remaining-tokens", "17997"),
            ("x-ratelimit-reset-requests", "2m59.56s"),
            ("x-ratelimit-reset-tokens", "7.66s"),
        ])
    }

    #[test]
    fn groq_requests_are_per_day() {
        let mut observation = groq_headers();
        interpret_for_provider(&mut observation, "groq");
        let expected = vec![
            (
                LimitKind::Tokens,
                LimitReading {
                    limit: Some(18_000),
                    remaining: Some(17_997),
                    reset_at: Some(at(RESPONSE_SECONDS + 7, 660_000_000)),
                },
            ),
            (
                LimitKind::RequestsPerDay,
                LimitReading {
                    limit: Some(14_400),
                    remaining: Some(14_370),
                    reset_at: Some(at(RESPONSE_SECONDS + 179, 560_000_000)),
                },
            ),
        ];
        assert_eq!(observation.limits, expected);
    }

    #[test]
    fn provider_interpretation_is_idempotent() {
        let mut once = groq_headers();
        interpret_for_provider(&mut once, "groq");
        let mut twice = once.clone();
        interpret_for_provider(&mut twice, "groq");
        assert_eq!(twice, once);
    }

    #[test]
    fn other_providers_keep_minute_requests() {
        for provider in ["openai", "azure.ai.openai", "mistral_ai", "anthropic", ""] {
            let mut observation = groq_headers();
            interpret_for_provider(&mut observation, provider);
            assert_eq!(observation, groq_headers(), "{provider:?}");
        }
    }

    #[test]
    fn provider_from_url_recognizes_api_hosts() {
        let cases: &[(&str, Option<&str>)] = &[
            ("api.groq.com", Some("groq")),
            (
                "https://api.groq.com/openai/v1/chat/completions",
                Some("groq"),
            ),
            ("API.GROQ.COM", Some("groq")),
            ("api.groq.com.", Some("groq")),
            (
                "https://api.mistral.ai:443/v1/chat/completions",
                Some("mistral_ai"),
            ),
            ("myres.openai.azure.com", Some("azure.ai.openai")),
            (
                "https://myres.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21",
                Some("azure.ai.openai"),
            ),
            ("https://api.openai.com/v1/responses", Some("openai")),
            ("https://api.anthropic.com/v1/messages", Some("anthropic")),
            ("https://user@api.groq.com/x", Some("groq")),
            ("openai.azure.com", None),
            ("https://api.groq.com.evil.example/", None),
            ("http://127.0.0.1:33813/v1/messages", None),
            ("", None),
        ];
        for (text, expected) in cases {
            assert_eq!(provider_from_url(text), *expected, "{text:?}");
        }
    }

    #[test]
    fn relative_reset_overflowing_system_time_is_invalid() {
        let observation = parse_rate_limit_headers(
            [("x-ratelimit-reset-tokens", "18446744073709551615")],
            response_time(),
        );
        assert_eq!(observation.limits, vec![]);
        assert_eq!(observation.invalid.len(), 1);
    }
}
