//! The price table: loading from YAML, layering of overrides and model lookup.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use crate::call::Usage;

use super::entry::{PriceEntry, PriceFile, PricingError, RawEntry, validate_entry};
use super::normalize::{base_id, is_azure_openai_host, price_list_provider, snapshot_id};
use super::price::ModelPrice;

pub(super) const EMBEDDED_YAML: &str = include_str!("../../pricing/prices.yaml");

static EMBEDDED: LazyLock<PriceTable> = LazyLock::new(|| {
    // The unit test `embedded_table_parses` parses the same text, so it fails
    // on any error that would panic here.
    PriceTable::from_yaml(EMBEDDED_YAML)
        .unwrap_or_else(|error| panic!("the embedded pricing/prices.yaml is invalid: {error}"))
});

/// Model prices by provider and model id.
#[derive(Clone, Debug, Default)]
pub struct PriceTable {
    entries: Vec<PriceEntry>,
    /// Provider, then model id, to an index into `entries`.
    index: HashMap<String, HashMap<String, usize>>,
    /// Azure OpenAI deployment names, lowercased, to the model id each serves.
    azure_deployments: HashMap<String, String>,
}

impl PriceTable {
    /// Returns the table embedded from `pricing/prices.yaml`, parsed on first use.
    pub fn embedded() -> &'static PriceTable {
        &EMBEDDED
    }

    /// Parses and validates a price table in the format of `pricing/prices.yaml`.
    ///
    /// Returns the first problem found, naming the entry's path and model. Two
    /// entries for one provider and model are an error.
    pub fn from_yaml(text: &str) -> Result<PriceTable, PricingError> {
        let file: PriceFile = serde_yaml::from_str(text)?;
        PriceTable::from_raw_entries(file.models)
    }

    /// Parses and validates entries given as YAML values, such as the
    /// `pricing.models` list of the configuration, with the rules of
    /// [`PriceTable::from_yaml`].
    ///
    /// YAML has already read an unquoted price as a number here, so a price
    /// is checked in its shortest decimal form: `1e3` is read as `1000`.
    pub fn from_values(models: &[serde_yaml::Value]) -> Result<PriceTable, PricingError> {
        let mut entries = Vec::with_capacity(models.len());
        for (index, value) in models.iter().enumerate() {
            let mut value = value.clone();
            numbers_to_text(&mut value);
            let raw: RawEntry = serde_path_to_error::deserialize(value).map_err(|error| {
                let inner = error.path().to_string();
                let path = if inner == "." {
                    format!("[{index}]")
                } else {
                    format!("[{index}].{inner}")
                };
                PricingError::Entry {
                    path,
                    message: error.into_inner().to_string(),
                }
            })?;
            entries.push(raw);
        }
        PriceTable::from_raw_entries(entries)
    }

    fn from_raw_entries(raw_entries: Vec<RawEntry>) -> Result<PriceTable, PricingError> {
        let mut table = PriceTable::default();
        for (index, raw) in raw_entries.into_iter().enumerate() {
            let entry = validate_entry(index, raw)?;
            if table.get(&entry.provider, &entry.model).is_some() {
                return Err(PricingError::DuplicateModel {
                    index,
                    provider: entry.provider,
                    model: entry.model,
                });
            }
            table.upsert(entry);
        }
        Ok(table)
    }

    /// Adds every entry of `overrides`. An entry for a provider and model that
    /// this table already has replaces it in place.
    pub fn override_with(&mut self, overrides: PriceTable) {
        for entry in overrides.entries {
            self.upsert(entry);
        }
    }

    /// Sets the Azure OpenAI deployment names that lookups under an Azure
    /// OpenAI provider resolve to model ids. Names compare case-insensitively.
    pub fn set_azure_deployments(&mut self, deployments: &BTreeMap<String, String>) {
        self.azure_deployments = deployments
            .iter()
            .map(|(name, model)| (name.trim().to_lowercase(), model.trim().to_owned()))
            .collect();
    }

    /// Returns all entries: the first table's in file order, then each added
    /// one.
    pub fn entries(&self) -> &[PriceEntry] {
        &self.entries
    }

    /// Returns the standard-tier price of `model` called through `provider`,
    /// or `None` when the table has no entry for it.
    ///
    /// Exact id first, then the normalized id: see [`PriceTable::lookup_entry`].
    pub fn lookup(&self, provider: &str, model: &str) -> Option<&ModelPrice> {
        self.lookup_entry(provider, model).map(|entry| &entry.price)
    }

    /// Returns the entry that prices `model` called through `provider`.
    ///
    /// Tries, in order:
    /// 1. `model` exactly as given, under `provider`.
    /// 2. Under an Azure OpenAI provider, when `model` is a deployment name
    ///    of `pricing.azure_deployments`: the model id it is mapped to,
    ///    looked up by steps 1, 3 and 4.
    /// 3. The id with its wrapping removed but its date kept, so that
    ///    `openai/gpt-4o-2024-05-13` finds an entry for `gpt-4o-2024-05-13`.
    /// 4. The id from [`super::normalize_model`].
    ///
    /// Steps 3 and 4 look under the provider that sets the price, so Azure
    /// OpenAI finds OpenAI's entries and a Claude model on Bedrock or Vertex AI
    /// finds Anthropic's. Providers compare case-insensitively.
    pub fn lookup_entry(&self, provider: &str, model: &str) -> Option<&PriceEntry> {
        if let Some(entry) = self.get(provider, model) {
            return Some(entry);
        }

        if is_azure_openai_host(provider)
            && let Some(served) = self.azure_deployments.get(&model.trim().to_lowercase())
        {
            return self.lookup_normalized(provider, served);
        }
        self.lookup_normalized(provider, model)
    }

    /// Returns the exact cost of a call in pico-USD, or `None` when the
    /// table has no price for `model` called through `provider`. The price set
    /// follows the call's service tier and prompt size, as
    /// [`PriceEntry::price_for`] describes.
    pub fn cost_picos(&self, provider: &str, model: &str, usage: &Usage) -> Option<u128> {
        let entry = self.lookup_entry(provider, model)?;
        Some(entry.price_for(usage).cost_picos(usage))
    }

    fn lookup_normalized(&self, provider: &str, model: &str) -> Option<&PriceEntry> {
        if let Some(entry) = self.get(provider, model) {
            return Some(entry);
        }
        let snapshot = snapshot_id(model);
        let base = base_id(&snapshot);
        let price_provider = price_list_provider(provider, base);
        self.get(price_provider, &snapshot)
            .or_else(|| self.get(price_provider, base))
    }

    fn get(&self, provider: &str, model: &str) -> Option<&PriceEntry> {
        let models = self
            .index
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(provider))
            .map(|(_, models)| models)?;
        models
            .get(&model.trim().to_lowercase())
            .map(|&position| &self.entries[position])
    }

    fn upsert(&mut self, entry: PriceEntry) {
        let models = self.index.entry(entry.provider.clone()).or_default();
        match models.get(&entry.model) {
            Some(&position) => self.entries[position] = entry,
            None => {
                models.insert(entry.model.clone(), self.entries.len());
                self.entries.push(entry);
            }
        }
    }
}

/// Turns every number in `value` except `threshold_tokens` into its decimal
/// text, the form in which price fields are read.
fn numbers_to_text(value: &mut serde_yaml::Value) {
    use serde_yaml::Value;
    match value {
        Value::Number(number) => *value = Value::String(number.to_string()),
        Value::Mapping(entries) => {
            for (key, item) in entries.iter_mut() {
                if key.as_str() != Some("threshold_tokens") {
                    numbers_to_text(item);
                }
            }
        }
        Value::Sequence(items) => items.iter_mut().for_each(numbers_to_text),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
