//! The price table in use, shared by the ledger and the reloader.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use super::PriceTable;

/// A handle to the current price table. Clones share one table, and
/// [`Prices::replace`] swaps it for all of them at once; a reader keeps the
/// table it took until it drops it.
#[derive(Clone, Debug)]
pub struct Prices {
    current: Arc<RwLock<Arc<PriceTable>>>,
    reloads: Arc<ReloadCounts>,
}

/// Reloads of the price table by result, for
/// `burnrate_pricing_reloads_total`.
#[derive(Debug, Default)]
struct ReloadCounts {
    succeeded: AtomicU64,
    failed: AtomicU64,
}

impl Prices {
    pub fn new(table: PriceTable) -> Prices {
        Prices {
            current: Arc::new(RwLock::new(Arc::new(table))),
            reloads: Arc::default(),
        }
    }

    /// Creates a handle on the table embedded from `pricing/prices.yaml`.
    pub fn embedded() -> Prices {
        Prices::new(PriceTable::embedded().clone())
    }

    /// Returns the table in use now.
    pub fn current(&self) -> Arc<PriceTable> {
        // A writer only swaps an `Arc`, so a poisoned lock still holds a
        // complete table.
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts `table` in use for every later lookup.
    pub fn replace(&self, table: PriceTable) {
        let table = Arc::new(table);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = table;
    }

    /// Counts one reload attempt.
    pub fn count_reload(&self, succeeded: bool) {
        let counter = if succeeded {
            &self.reloads.succeeded
        } else {
            &self.reloads.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Returns the reloads so far as (succeeded, failed).
    pub fn reload_counts(&self) -> (u64, u64) {
        (
            self.reloads.succeeded.load(Ordering::Relaxed),
            self.reloads.failed.load(Ordering::Relaxed),
        )
    }
}
