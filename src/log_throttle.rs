//! Rate limiting for repeated warnings, so a failing upstream or a flood of
//! bad input writes one line per interval with a count instead of one per event.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct LogThrottle {
    interval: Duration,
    state: Mutex<ThrottleState>,
}

#[derive(Debug, Default)]
struct ThrottleState {
    last_logged: Option<Instant>,
    suppressed: u64,
}

impl LogThrottle {
    pub const fn new(interval: Duration) -> LogThrottle {
        LogThrottle {
            interval,
            state: Mutex::new(ThrottleState {
                last_logged: None,
                suppressed: 0,
            }),
        }
    }

    /// Returns `Some(suppressed)` when this event should be logged, with the
    /// number of events skipped since the last logged one, and `None` otherwise.
    pub fn check(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let due = state
            .last_logged
            .is_none_or(|last| now.duration_since(last) >= self.interval);
        if due {
            state.last_logged = Some(now);
            Some(std::mem::take(&mut state.suppressed))
        } else {
            state.suppressed += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_event_logs_then_counts() {
        let throttle = LogThrottle::new(Duration::from_secs(3600));
        assert_eq!(throttle.check(), Some(0));
        assert_eq!(throttle.check(), None);
        assert_eq!(throttle.check(), None);
    }

    #[test]
    fn zero_interval_logs_every_event() {
        let throttle = LogThrottle::new(Duration::ZERO);
        assert_eq!(throttle.check(), Some(0));
        assert_eq!(throttle.check(), Some(0));
    }
}
