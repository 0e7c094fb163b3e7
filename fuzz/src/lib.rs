//! Helpers shared by burnrate's fuzz targets in `fuzz_targets/`.

pub mod exposition;

use std::sync::Arc;

use burnrate::extract::DEFAULT_MAX_ATTRIBUTES;
use burnrate::ledger::Ledger;
use burnrate::pipeline::Pipeline;
use burnrate::pricing::Prices;
use burnrate::signal::Signal;

/// Splits a fuzz input into the signal that its first byte selects and the
/// rest. The byte modulo 3 indexes `Signal::ALL`, so 0 is traces, 1 metrics
/// and 2 logs. Returns `None` for an empty input.
pub fn split_signal(data: &[u8]) -> Option<(Signal, &[u8])> {
    let (&selector, body) = data.split_first()?;
    let signal = Signal::ALL[usize::from(selector) % Signal::ALL.len()];
    Some((signal, body))
}

/// Creates a pipeline with an empty ledger, the embedded price table and no
/// exporters, so that consuming a request only validates, extracts and
/// records it.
pub fn new_pipeline() -> Pipeline {
    let ledger = Arc::new(Ledger::new(Prices::embedded()));
    Pipeline::new(ledger, Vec::new(), DEFAULT_MAX_ATTRIBUTES)
}
