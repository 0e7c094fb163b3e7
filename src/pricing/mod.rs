//! Model prices and the cost of one call.
//!
//! The price table is `pricing/prices.yaml`, embedded at build time, with the
//! price files and entries of the `pricing` config section layered on top.
//! Money is integer arithmetic throughout. A price is pico-USD per token,
//! which equals micro-USD per million tokens, so a list price with up to 6
//! decimal places of USD per million tokens is stored exactly. A cost is
//! pico-USD or nano-USD.

mod entry;
mod normalize;
mod price;
pub(crate) mod reload;
mod shared;
mod sources;
mod table;

pub use entry::{LongContext, PriceEntry, PricingError, prompt_tokens};
pub use normalize::normalize_model;
pub use price::{ModelPrice, PriceProblem};
pub use reload::{PriceReloader, spawn_reloader};
pub use shared::Prices;
pub use sources::{PriceSourceError, load_table};
pub use table::PriceTable;
