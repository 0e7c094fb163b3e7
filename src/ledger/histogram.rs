//! Explicit-bucket histograms with the boundaries that the OpenTelemetry
//! GenAI semantic conventions recommend.

/// Boundaries for `gen_ai.client.token.usage`, in tokens.
pub const TOKEN_BUCKETS: &[f64] = &[
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];

/// Boundaries for `gen_ai.client.operation.duration`, in seconds.
pub const DURATION_BUCKETS: &[f64] = &[
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    pub bounds: &'static [f64],
    /// Count per bucket (not cumulative); the last one is above every bound.
    pub counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }

    pub fn record(&mut self, value: f64) {
        let bucket = self.bounds.partition_point(|bound| *bound < value);
        self.counts[bucket] += 1;
        self.sum += value;
        self.count += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_on_bound_goes_in_that_bucket() {
        let mut histogram = Histogram::new(&[1.0, 4.0]);
        histogram.record(1.0);
        histogram.record(4.5);
        histogram.record(0.5);
        assert_eq!(histogram.counts, vec![2, 0, 1]);
        assert_eq!(histogram.count, 3);
        assert_eq!(histogram.sum, 6.0);
    }
}
