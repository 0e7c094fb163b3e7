//! Classification of export errors and the backoff between attempts.

use std::time::Duration;

use rand::Rng;
use tonic::Code;

use crate::config::RetryOnFailure;

/// Returns whether a gRPC status is worth retrying, following the OTLP specification:
/// transient codes are retried, everything else is permanent.
pub fn is_retryable(code: Code) -> bool {
    matches!(
        code,
        Code::Cancelled
            | Code::DeadlineExceeded
            | Code::Aborted
            | Code::OutOfRange
            | Code::Unavailable
            | Code::DataLoss
            | Code::ResourceExhausted
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

    /// Returns the delay before the next attempt and doubles the interval.
    pub fn next_delay(&mut self) -> Duration {
        let interval = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        let half = interval / 2;
        half + half.mul_f64(rand::rng().random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_max() {
        let settings = RetryOnFailure {
            initial_interval: Duration::from_millis(100),
            max_interval: Duration::from_millis(300),
            ..RetryOnFailure::default()
        };
        let mut backoff = Backoff::new(&settings);
        let bounds = [(50, 100), (100, 200), (150, 300), (150, 300)];
        for (low, high) in bounds {
            let delay = backoff.next_delay();
            assert!(delay >= Duration::from_millis(low), "{delay:?} < {low}ms");
            assert!(delay <= Duration::from_millis(high), "{delay:?} > {high}ms");
        }
    }

    #[test]
    fn permanent_codes_are_not_retried() {
        assert!(!is_retryable(Code::InvalidArgument));
        assert!(!is_retryable(Code::Unauthenticated));
        assert!(!is_retryable(Code::PermissionDenied));
        assert!(is_retryable(Code::Unavailable));
    }
}
