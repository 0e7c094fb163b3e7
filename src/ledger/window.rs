//! A one-minute rolling window of requests and tokens, by span end time.

use crate::call::TokenCounts;

/// Length of the window in seconds; the window's values are per minute.
pub const WINDOW_SECONDS: u64 = 60;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Bucket {
    /// Unix second that the bucket counts; a bucket of an older second is stale.
    second: u64,
    requests: u64,
    tokens: TokenCounts,
}

/// Requests and tokens of the calls that ended in the last
/// [`WINDOW_SECONDS`] seconds, in one-second buckets. A call lands in the
/// bucket of the second its span ended, so spans that arrive out of order
/// still count in the right second.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MinuteWindow {
    /// Allocated on the first call, so a series without calls costs nothing.
    buckets: Option<Box<[Bucket; WINDOW_SECONDS as usize]>>,
}

/// The requests and tokens of a window at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WindowTotals {
    pub requests: u64,
    pub tokens: TokenCounts,
}

impl MinuteWindow {
    /// Adds a call that ended in Unix second `second`, seen at `now`.
    ///
    /// An end time later than `now` (a span from a clock that runs ahead)
    /// counts at `now`. Returns `false`, and adds nothing, when the call ended
    /// before the window that ends at `now`: it is late for the window but
    /// still counts in every total.
    pub fn add(&mut self, second: u64, now: u64, tokens: Option<&TokenCounts>) -> bool {
        let second = second.min(now);
        if second + WINDOW_SECONDS <= now {
            return false;
        }
        let buckets = self
            .buckets
            .get_or_insert_with(|| Box::new([Bucket::default(); WINDOW_SECONDS as usize]));
        let bucket = &mut buckets[(second % WINDOW_SECONDS) as usize];
        if bucket.second != second {
            *bucket = Bucket {
                second,
                ..Bucket::default()
            };
        }
        bucket.requests += 1;
        if let Some(tokens) = tokens {
            bucket.tokens += *tokens;
        }
        true
    }

    /// Returns the calls that ended in the window that ends at `now`: the
    /// seconds after `now - 60` up to and including `now`.
    pub fn totals(&self, now: u64) -> WindowTotals {
        let mut totals = WindowTotals::default();
        let Some(buckets) = &self.buckets else {
            return totals;
        };
        for bucket in buckets.iter() {
            let in_window = bucket.second <= now && bucket.second + WINDOW_SECONDS > now;
            if in_window && bucket.requests > 0 {
                totals.requests += bucket.requests;
                totals.tokens += bucket.tokens;
            }
        }
        totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(input: u64) -> TokenCounts {
        TokenCounts {
            input,
            ..TokenCounts::default()
        }
    }

    #[test]
    fn window_edges() {
        let mut window = MinuteWindow::default();
        assert!(window.add(1_000, 1_000, Some(&tokens(10))));
        // (now, expected requests, expected input tokens)
        let cases = [
            (999, 0, 0),
            (1_000, 1, 10),
            (1_030, 1, 10),
            (1_059, 1, 10),
            (1_060, 0, 0),
            (5_000, 0, 0),
        ];
        for (now, requests, input) in cases {
            let totals = window.totals(now);
            assert_eq!(totals.requests, requests, "now {now}");
            assert_eq!(totals.tokens.input, input, "now {now}");
        }
    }

    #[test]
    fn late_and_out_of_order_calls() {
        let mut window = MinuteWindow::default();
        assert!(window.add(1_050, 1_050, Some(&tokens(1))));
        // Out of order, inside the window.
        assert!(window.add(1_020, 1_050, Some(&tokens(2))));
        assert!(window.add(991, 1_050, Some(&tokens(4))));
        // Late: ended 60 s or more before now.
        assert!(!window.add(990, 1_050, Some(&tokens(8))));
        assert!(!window.add(0, 1_050, Some(&tokens(8))));
        assert_eq!(window.totals(1_050).requests, 3);
        assert_eq!(window.totals(1_050).tokens.input, 7);
        // The call at 991 leaves the window first.
        assert_eq!(window.totals(1_051).tokens.input, 3);
        assert_eq!(window.totals(1_080).tokens.input, 1);
        assert_eq!(window.totals(1_110).tokens.input, 0);
    }

    #[test]
    fn future_end_time_counts_now() {
        let mut window = MinuteWindow::default();
        assert!(window.add(2_000, 1_000, Some(&tokens(5))));
        assert_eq!(window.totals(1_000).tokens.input, 5);
        assert_eq!(window.totals(1_059).tokens.input, 5);
        assert_eq!(window.totals(1_060).tokens.input, 0);
    }

    #[test]
    fn reused_bucket_forgets_its_old_second() {
        let mut window = MinuteWindow::default();
        assert!(window.add(1_000, 1_000, Some(&tokens(1))));
        // Same bucket index, one window later.
        assert!(window.add(1_060, 1_060, Some(&tokens(2))));
        assert_eq!(window.totals(1_060).tokens.input, 2);
        assert_eq!(window.totals(1_060).requests, 1);
    }

    #[test]
    fn call_without_usage_counts_only_the_request() {
        let mut window = MinuteWindow::default();
        assert!(window.add(10, 10, None));
        let totals = window.totals(10);
        assert_eq!(totals.requests, 1);
        assert_eq!(totals.tokens, TokenCounts::default());
    }
}
