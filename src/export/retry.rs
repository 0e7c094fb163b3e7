//! Classification of export errors and the delay between attempts.

use std::time::Duration;

use http::StatusCode;
use rand::Rng;
use tonic::Code;

use crate::config::RetryOnFailure;

/// Returns whether a gRPC status is worth retrying, following the OTLP
/// specification: transient codes are retried, and `RESOURCE_EXHAUSTED` only
/// when the server sent a `google.rpc.RetryInfo`, because without one the
/// server does not expect to recover (an exhausted quota, a message too large).
/// Every other code is permanent.
pub fn is_retryable_grpc(code: Code, has_retry_info: bool) -> bool {
    match code {
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss => true,
        Code::ResourceExhausted => has_retry_info,
        _ => false,
    }
}

/// Returns whether an OTLP/HTTP response status is worth retrying: 429, 502,
/// 503 and 504, as the OTLP specification lists. Every other error status is
/// permanent.
pub fn is_retryable_http(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS
            | StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT
    )
}

/// Exponential backoff with full jitter in the upper half of each interval.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(settings: &RetryOnFailure) -> Backoff {
        Backoff {
            next: settings.initial_interval,
            max: settings.max_interval,
        }
    }

    /// Returns the delay before the next attempt: `retry_after` when the
    /// upstream sent one (HTTP `Retry-After` or gRPC `RetryInfo`), otherwise
    /// the backoff delay. The backoff interval doubles in both cases.
    ///
    /// `retry_after` is not capped by `max_interval`, because retrying before
    /// the time the upstream asked for would be throttled again. The caller's
    /// check against `max_elapsed_time` bounds it: when the requested time
    /// falls after that budget, the request is given up at once.
    pub fn delay_before_retry(&mut self, retry_after: Option<Duration>) -> Duration {
        let interval = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        if let Some(retry_after) = retry_after {
            return retry_after;
        }
        let half = interval / 2;
        half + half.mul_f64(rand::rng().random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(initial_ms: u64, max_ms: u64) -> RetryOnFailure {
        RetryOnFailure {
            initial_interval: Duration::from_millis(initial_ms),
            max_interval: Duration::from_millis(max_ms),
            ..RetryOnFailure::default()
        }
    }

    #[test]
    fn backoff_doubles_up_to_max() {
        let mut backoff = Backoff::new(&settings(100, 300));
        let bounds = [(50, 100), (100, 200), (150, 300), (150, 300)];
        for (low, high) in bounds {
            let delay = backoff.delay_before_retry(None);
            assert!(delay >= Duration::from_millis(low), "{delay:?} < {low}ms");
            assert!(delay <= Duration::from_millis(high), "{delay:?} > {high}ms");
        }
    }

    #[test]
    fn retry_after_replaces_backoff_delay() {
        let mut backoff = Backoff::new(&settings(100, 300));
        let requested = Duration::from_secs(7);
        assert_eq!(backoff.delay_before_retry(Some(requested)), requested);
    }

    #[test]
    fn retry_after_still_advances_backoff() {
        let mut backoff = Backoff::new(&settings(100, 1000));
        backoff.delay_before_retry(Some(Duration::from_secs(1)));
        let delay = backoff.delay_before_retry(None);
        assert!(delay >= Duration::from_millis(100), "{delay:?}");
        assert!(delay <= Duration::from_millis(200), "{delay:?}");
    }

    #[test]
    fn permanent_grpc_codes_are_not_retried() {
        assert!(!is_retryable_grpc(Code::InvalidArgument, false));
        assert!(!is_retryable_grpc(Code::Unauthenticated, false));
        assert!(!is_retryable_grpc(Code::PermissionDenied, false));
        assert!(is_retryable_grpc(Code::Unavailable, false));
    }

    #[test]
    fn resource_exhausted_needs_retry_info() {
        assert!(!is_retryable_grpc(Code::ResourceExhausted, false));
        assert!(is_retryable_grpc(Code::ResourceExhausted, true));
    }

    #[test]
    fn http_statuses_classified() {
        let retryable = [429, 502, 503, 504];
        let permanent = [400, 401, 403, 404, 413, 500, 501];
        for code in retryable {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(is_retryable_http(status), "{code} should be retryable");
        }
        for code in permanent {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(!is_retryable_http(status), "{code} should be permanent");
        }
    }
}
