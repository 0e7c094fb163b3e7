//! The price table in use, shared by the ledger and the reloader.

use std::sync::{Arc, RwLock};

use super::PriceTable;

/// A handle to the current price table. Clones share one table, and
/// [`Prices::replace`] swaps it for all of them at once; a reader keeps the
/// table it took until it drops it.
#[derive(Clone, Debug)]
pub struct Prices {
    current: Arc<RwLock<Arc<PriceTable>>>,
}

impl Prices {
    pub fn new(table: PriceTable) -> Prices {
        Prices {
            current: Arc::new(RwLock::new(Arc::new(table))),
        }
    }

    /// A handle on the table embedded from `pricing/prices.yaml`.
    pub fn embedded() -> Prices {
        Prices::new(PriceTable::embedded().clone())
    }

    /// Returns the table in use now.
    pub fn current(&self) -> Arc<PriceTable> {
        // A writer only swaps an `Arc`, so a poisoned lock still holds a
        // complete table.
        match self.current.read() {
            Ok(table) => table.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Puts `table` in use for every later lookup.
    pub fn replace(&self, table: PriceTable) {
        let table = Arc::new(table);
        match self.current.write() {
            Ok(mut current) => *current = table,
            Err(poisoned) => *poisoned.into_inner() = table,
        }
    }
}
