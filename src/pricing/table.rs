//! The price table: loading from YAML, validation and model lookup.

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::NaiveDate;
use serde::Deserialize;

use crate::call::Usage;

use super::normalize::{base_id, price_list_provider, snapshot_id};
use super::price::{ModelPrice, PriceProblem, parse_price_micro_usd};

const EMBEDDED_YAML: &str = include_str!("../../pricing/prices.yaml");

static EMBEDDED: LazyLock<PriceTable> = LazyLock::new(|| {
    // The unit test `embedded_table_parses` parses the same text, so it fails
    // on any error that would panic here.
    PriceTable::from_yaml(EMBEDDED_YAML)
        .unwrap_or_else(|error| panic!("the embedded pricing/prices.yaml is invalid: {error}"))
});

/// An error in a price table file.
#[derive(Debug, thiserror::Error)]
pub enum PricingError {
    #[error("invalid price table: {0}")]
    Yaml(#[from] serde_yaml::Error),

    #[error("missing `models[{index}].model`: every price table entry needs a model id")]
    MissingModel { index: usize },

    #[error("missing `models[{index}].{field}` for model `{model}`")]
    MissingField {
        index: usize,
        model: String,
        field: &'static str,
    },

    #[error(
        "invalid `models[{index}].{field}` for model `{model}`: {value:?} {problem}; \
         write USD per million tokens as a non-negative decimal with at most 6 decimal places"
    )]
    InvalidPrice {
        index: usize,
        model: String,
        field: &'static str,
        value: String,
        problem: PriceProblem,
    },

    #[error(
        "invalid `models[{index}].effective` for model `{model}`: {value:?} is not a date; \
         write it as YYYY-MM-DD"
    )]
    InvalidEffective {
        index: usize,
        model: String,
        value: String,
    },

    #[error(
        "invalid `models[{index}].source` for model `{model}`: {value:?} is not an http(s) URL; \
         link the provider's pricing page"
    )]
    InvalidSource {
        index: usize,
        model: String,
        value: String,
    },

    #[error(
        "duplicate price table entry for model `{model}` of provider `{provider}` at `models[{index}]`; \
         keep one entry per provider and model"
    )]
    DuplicateModel {
        index: usize,
        provider: String,
        model: String,
    },
}

/// One model's entry in the price table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceEntry {
    /// Lowercased, as `anthropic` or `openai`.
    pub provider: String,
    /// Lowercased model id as written in the table.
    pub model: String,
    pub price: ModelPrice,
    /// The provider's pricing page.
    pub source: String,
    /// A day from which the prices apply.
    pub effective: NaiveDate,
}

/// Model prices by provider and model id.
#[derive(Clone, Debug, Default)]
pub struct PriceTable {
    entries: Vec<PriceEntry>,
    /// Provider, then model id, to an index into `entries`.
    index: HashMap<String, HashMap<String, usize>>,
}

impl PriceTable {
    /// Returns the table embedded from `pricing/prices.yaml`, parsed on first use.
    pub fn embedded() -> &'static PriceTable {
        &EMBEDDED
    }

    /// Parses and validates a price table in the format of `pricing/prices.yaml`.
    ///
    /// Returns the first problem found, naming the entry's path and model.
    pub fn from_yaml(text: &str) -> Result<PriceTable, PricingError> {
        let file: PriceFile = serde_yaml::from_str(text)?;
        let mut table = PriceTable::default();
        for (index, raw) in file.models.into_iter().enumerate() {
            table.insert(index, validate_entry(index, raw)?)?;
        }
        Ok(table)
    }

    /// Returns all entries in file order.
    pub fn entries(&self) -> &[PriceEntry] {
        &self.entries
    }

    /// Returns the price of `model` called through `provider`, or `None` when
    /// the table has no entry for it.
    ///
    /// Exact id first, then the normalized id: see [`PriceTable::lookup_entry`].
    pub fn lookup(&self, provider: &str, model: &str) -> Option<&ModelPrice> {
        self.lookup_entry(provider, model).map(|entry| &entry.price)
    }

    /// Returns the entry that prices `model` called through `provider`.
    ///
    /// Tries, in order:
    /// 1. `model` exactly as given, under `provider`.
    /// 2. The id with its wrapping removed but its date kept, so that
    ///    `openai/gpt-4o-2024-05-13` finds an entry for `gpt-4o-2024-05-13`.
    /// 3. The id from [`super::normalize_model`].
    ///
    /// Steps 2 and 3 look under the provider that sets the price, so Azure
    /// OpenAI finds OpenAI's entries and a Claude model on Bedrock or Vertex AI
    /// finds Anthropic's. Providers compare case-insensitively.
    pub fn lookup_entry(&self, provider: &str, model: &str) -> Option<&PriceEntry> {
        if let Some(entry) = self.get(provider, model) {
            return Some(entry);
        }

        let snapshot = snapshot_id(model);
        let base = base_id(&snapshot);
        let price_provider = price_list_provider(provider, base);
        self.get(price_provider, &snapshot)
            .or_else(|| self.get(price_provider, base))
    }

    /// Returns the exact cost of a call in pico-USD, or `None` when the
    /// table has no price for `model` called through `provider`.
    pub fn cost_picos(&self, provider: &str, model: &str, usage: &Usage) -> Option<u128> {
        let price = self.lookup(provider, model)?;
        Some(price.cost_picos(&usage.tokens))
    }

    fn get(&self, provider: &str, model: &str) -> Option<&PriceEntry> {
        let models = self
            .index
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(provider))
            .map(|(_, models)| models)?;
        models.get(model).map(|&position| &self.entries[position])
    }

    fn insert(&mut self, index: usize, entry: PriceEntry) -> Result<(), PricingError> {
        let models = self.index.entry(entry.provider.clone()).or_default();
        if models.contains_key(&entry.model) {
            return Err(PricingError::DuplicateModel {
                index,
                provider: entry.provider,
                model: entry.model,
            });
        }
        models.insert(entry.model.clone(), self.entries.len());
        self.entries.push(entry);
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceFile {
    models: Vec<RawEntry>,
}

/// One entry as written. Every field is read as text so that prices keep
/// their exact decimal digits and a missing field can name its model.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    provider: Option<String>,
    model: Option<String>,
    input: Option<String>,
    output: Option<String>,
    cache_read: Option<String>,
    cache_write: Option<String>,
    reasoning: Option<String>,
    source: Option<String>,
    effective: Option<String>,
}

fn validate_entry(index: usize, raw: RawEntry) -> Result<PriceEntry, PricingError> {
    let model = match raw.model.as_deref().map(str::trim) {
        Some(model) if !model.is_empty() => model.to_lowercase(),
        _ => return Err(PricingError::MissingModel { index }),
    };

    let required = |field: &'static str, value: Option<String>| -> Result<String, PricingError> {
        match value {
            Some(text) if !text.trim().is_empty() => Ok(text.trim().to_owned()),
            _ => Err(PricingError::MissingField {
                index,
                model: model.clone(),
                field,
            }),
        }
    };
    let price = |field: &'static str, text: &str| -> Result<u64, PricingError> {
        parse_price_micro_usd(text).map_err(|problem| PricingError::InvalidPrice {
            index,
            model: model.clone(),
            field,
            value: text.to_owned(),
            problem,
        })
    };
    let optional_price = |field: &'static str, value: Option<String>| match value {
        Some(text) => price(field, text.trim()).map(Some),
        None => Ok(None),
    };

    let provider = required("provider", raw.provider)?.to_lowercase();
    let input = price("input", &required("input", raw.input)?)?;
    let output = price("output", &required("output", raw.output)?)?;
    let cache_read = price("cache_read", &required("cache_read", raw.cache_read)?)?;
    let cache_write = optional_price("cache_write", raw.cache_write)?;
    let reasoning = optional_price("reasoning", raw.reasoning)?;

    let source = required("source", raw.source)?;
    if !(source.starts_with("https://") || source.starts_with("http://")) {
        return Err(PricingError::InvalidSource {
            index,
            model,
            value: source,
        });
    }

    let effective_text = required("effective", raw.effective)?;
    let Ok(effective) = NaiveDate::parse_from_str(&effective_text, "%Y-%m-%d") else {
        return Err(PricingError::InvalidEffective {
            index,
            model,
            value: effective_text,
        });
    };

    Ok(PriceEntry {
        provider,
        model,
        price: ModelPrice {
            input_pico_usd: input,
            output_pico_usd: output,
            cache_read_pico_usd: cache_read,
            cache_creation_pico_usd: cache_write.unwrap_or(input),
            reasoning_pico_usd: reasoning.unwrap_or(output),
        },
        source,
        effective,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::call::TokenCounts;

    /// The models that the embedded table must cover.
    const REQUIRED_MODELS: &[(&str, &str)] = &[
        ("anthropic", "claude-opus-4-5"),
        ("anthropic", "claude-opus-4-1"),
        ("anthropic", "claude-opus-4"),
        ("anthropic", "claude-sonnet-4-5"),
        ("anthropic", "claude-sonnet-4"),
        ("anthropic", "claude-3-7-sonnet"),
        ("anthropic", "claude-haiku-4-5"),
        ("anthropic", "claude-3-5-haiku"),
        ("anthropic", "claude-3-haiku"),
        ("anthropic", "claude-3-opus"),
        ("openai", "gpt-5"),
        ("openai", "gpt-5-mini"),
        ("openai", "gpt-5-nano"),
        ("openai", "gpt-5.1"),
        ("openai", "gpt-4.1"),
        ("openai", "gpt-4.1-mini"),
        ("openai", "gpt-4.1-nano"),
        ("openai", "gpt-4o"),
        ("openai", "gpt-4o-mini"),
        ("openai", "o1"),
        ("openai", "o3"),
        ("openai", "o3-mini"),
        ("openai", "o4-mini"),
    ];

    fn embedded() -> &'static PriceTable {
        PriceTable::embedded()
    }

    fn matched_model(provider: &str, model: &str) -> Option<&'static str> {
        embedded()
            .lookup_entry(provider, model)
            .map(|entry| entry.model.as_str())
    }

    /// Builds a one-entry table in the file format, with `field: value`
    /// replacing or adding one line of the entry. An empty value removes the
    /// field.
    fn entry_yaml(field: &str, value: &str) -> String {
        let mut lines = vec![
            ("provider", "anthropic"),
            ("model", "claude-test-1"),
            ("input", "3.00"),
            ("output", "15.00"),
            ("cache_read", "0.30"),
            ("cache_write", "3.75"),
            ("source", "https://example.com/pricing"),
            ("effective", "2025-09-29"),
        ];
        match lines.iter_mut().find(|(name, _)| *name == field) {
            Some(line) => line.1 = value,
            None => lines.push((field, value)),
        }
        let mut text = String::from("models:\n");
        let mut marker = "  - ";
        for (name, value) in lines {
            if value.is_empty() {
                continue;
            }
            text.push_str(&format!("{marker}{name}: {value}\n"));
            marker = "    ";
        }
        text
    }

    fn load_error(field: &str, value: &str) -> PricingError {
        match PriceTable::from_yaml(&entry_yaml(field, value)) {
            Ok(_) => panic!("`{field}: {value}` was accepted"),
            Err(error) => error,
        }
    }

    #[test]
    fn embedded_table_parses() {
        let table = PriceTable::from_yaml(EMBEDDED_YAML);
        assert!(table.is_ok(), "{:?}", table.err());
    }

    #[test]
    fn embedded_table_covers_required_models() {
        for (provider, model) in REQUIRED_MODELS {
            assert_eq!(
                matched_model(provider, model),
                Some(*model),
                "{provider}/{model}"
            );
        }
    }

    #[test]
    fn embedded_prices_are_whole_nanos() {
        // `ModelPrice::cost_nanos` is exact only for such prices.
        for entry in embedded().entries() {
            let price = entry.price;
            let prices = [
                price.input_pico_usd,
                price.output_pico_usd,
                price.cache_read_pico_usd,
                price.cache_creation_pico_usd,
                price.reasoning_pico_usd,
            ];
            for pico_usd in prices {
                assert_eq!(pico_usd % 1_000, 0, "{}", entry.model);
            }
        }
    }

    #[test]
    fn embedded_entries_have_sources_and_dates() {
        let anthropic_page = "https://platform.claude.com/docs/en/about-claude/pricing";
        let openai_page = "https://developers.openai.com/api/docs/pricing";
        for entry in embedded().entries() {
            let expected_source = match entry.provider.as_str() {
                "anthropic" => anthropic_page,
                _ => openai_page,
            };
            assert_eq!(entry.source, expected_source, "{}", entry.model);
            assert!(
                entry.effective >= NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
                "{}",
                entry.model
            );
        }
    }

    #[test]
    fn required_prices_are_exact() {
        let cases: &[(&str, &str, ModelPrice)] = &[
            (
                "anthropic",
                "claude-sonnet-4-5",
                ModelPrice {
                    input_pico_usd: 3_000_000,
                    output_pico_usd: 15_000_000,
                    cache_read_pico_usd: 300_000,
                    cache_creation_pico_usd: 3_750_000,
                    reasoning_pico_usd: 15_000_000,
                },
            ),
            (
                "openai",
                "o4-mini",
                ModelPrice {
                    input_pico_usd: 1_100_000,
                    output_pico_usd: 4_400_000,
                    cache_read_pico_usd: 275_000,
                    cache_creation_pico_usd: 1_100_000,
                    reasoning_pico_usd: 4_400_000,
                },
            ),
            (
                "openai",
                "gpt-4o-mini",
                ModelPrice {
                    input_pico_usd: 150_000,
                    output_pico_usd: 600_000,
                    cache_read_pico_usd: 75_000,
                    cache_creation_pico_usd: 150_000,
                    reasoning_pico_usd: 600_000,
                },
            ),
        ];
        for (provider, model, expected) in cases {
            assert_eq!(
                embedded().lookup(provider, model),
                Some(expected),
                "{model}"
            );
        }
    }

    #[test]
    fn cost_of_calls_on_required_models() {
        let cases: &[(&str, &str, TokenCounts, u128)] = &[
            (
                "anthropic",
                "claude-sonnet-4-5-20250929",
                TokenCounts {
                    input: 1_200,
                    output: 350,
                    cache_read: 30_000,
                    cache_creation: 2_000,
                    reasoning: 0,
                },
                25_350_000,
            ),
            // 1000 * 1100 + 500 * 4400 + 4000 * 275 + 100 * 1100 + 2000 * 4400
            (
                "openai",
                "o4-mini-2025-04-16",
                TokenCounts {
                    input: 1_000,
                    output: 500,
                    cache_read: 4_000,
                    cache_creation: 100,
                    reasoning: 2_000,
                },
                13_310_000,
            ),
            // 10000 * 150 + 3000 * 600 + 20000 * 75
            (
                "openai",
                "gpt-4o-mini-2024-07-18",
                TokenCounts {
                    input: 10_000,
                    output: 3_000,
                    cache_read: 20_000,
                    cache_creation: 0,
                    reasoning: 0,
                },
                4_800_000,
            ),
            (
                "openai",
                "gpt-4o-mini",
                TokenCounts {
                    input: 1,
                    ..TokenCounts::default()
                },
                150,
            ),
        ];
        for (provider, model, tokens, expected_nanos) in cases {
            let price = embedded().lookup(provider, model);
            assert!(price.is_some(), "{model} not found");
            let cost = price.map(|price| price.cost_nanos(tokens));
            assert_eq!(cost, Some(*expected_nanos), "{model}");
        }
    }

    #[test]
    fn lookup_normalizes_model_and_provider() {
        let cases = [
            (
                "anthropic",
                "claude-sonnet-4-5-20250929",
                "claude-sonnet-4-5",
            ),
            ("anthropic", "Claude-3-Haiku-20240307", "claude-3-haiku"),
            ("Anthropic", "claude-3-haiku", "claude-3-haiku"),
            ("anthropic", "anthropic/claude-opus-4-5", "claude-opus-4-5"),
            ("anthropic", "claude-sonnet-4-0", "claude-sonnet-4"),
            ("anthropic", "claude-opus-4-0", "claude-opus-4"),
            ("anthropic", "claude-3-5-haiku-latest", "claude-3-5-haiku"),
            (
                "aws.bedrock",
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                "claude-sonnet-4-5",
            ),
            (
                "aws.bedrock",
                "anthropic.claude-3-5-haiku-20241022-v1:0",
                "claude-3-5-haiku",
            ),
            (
                "gcp.vertex_ai",
                "claude-3-5-haiku@20241022",
                "claude-3-5-haiku",
            ),
            ("openai", "openai/gpt-4o", "gpt-4o"),
            ("openai", "gpt-4o-2024-08-06", "gpt-4o"),
            ("openai", "gpt-4.1-nano-2025-04-14", "gpt-4.1-nano"),
            ("openai", "o3-mini-2025-01-31", "o3-mini"),
            ("azure.ai.openai", "gpt-4o-mini", "gpt-4o-mini"),
            ("az.ai.openai", "gpt-5-2025-08-07", "gpt-5"),
        ];
        for (provider, model, expected) in cases {
            assert_eq!(
                matched_model(provider, model),
                Some(expected),
                "{provider} {model}"
            );
        }
    }

    #[test]
    fn exact_entry_wins_over_normalized_match() {
        let cases = [
            ("openai", "gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),
            ("openai", "openai/gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),
            ("azure.ai.openai", "gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),
            ("openai", "gpt-4o-2024-11-20", "gpt-4o"),
        ];
        for (provider, model, expected) in cases {
            assert_eq!(
                matched_model(provider, model),
                Some(expected),
                "{provider} {model}"
            );
        }

        let launch = embedded().lookup("openai", "gpt-4o-2024-05-13");
        assert_eq!(launch.map(|price| price.input_pico_usd), Some(5_000_000));
    }

    #[test]
    fn exact_id_is_tried_before_normalization() {
        // Normalization would turn `claude-sonnet-4-0` into `claude-sonnet-4`.
        let yaml = "models:
  - provider: anthropic
    model: claude-sonnet-4
    input: 3
    output: 15
    cache_read: 0.3
    source: https://example.com/pricing
    effective: 2025-05-22
  - provider: anthropic
    model: claude-sonnet-4-0
    input: 1
    output: 2
    cache_read: 0.1
    source: https://example.com/pricing
    effective: 2025-05-22
";
        let table = PriceTable::from_yaml(yaml).unwrap();
        let matched = table.lookup_entry("anthropic", "claude-sonnet-4-0");
        assert_eq!(matched.map(|e| e.model.as_str()), Some("claude-sonnet-4-0"));
        let dated = table.lookup_entry("anthropic", "claude-sonnet-4-20250514");
        assert_eq!(dated.map(|e| e.model.as_str()), Some("claude-sonnet-4"));
    }

    #[test]
    fn unknown_model_is_not_found() {
        let cases = [
            ("openai", "gpt-3.5-turbo"),
            ("openai", "gpt-4o-mini-tts"),
            ("openai", "ft:gpt-4o-mini-2024-07-18:acme::abc123"),
            ("anthropic", "claude-2.1"),
            ("openai", "claude-sonnet-4-5"),
            ("anthropic", "gpt-4o"),
            ("groq", "openai/gpt-oss-120b"),
            ("groq", "gpt-4o"),
            ("aws.bedrock", "meta.llama3-70b-instruct-v1:0"),
            ("", "gpt-4o"),
            ("openai", ""),
        ];
        for (provider, model) in cases {
            assert_eq!(
                embedded().lookup(provider, model),
                None,
                "{provider} {model}"
            );
        }
    }

    #[test]
    fn omitted_cache_write_and_reasoning_take_defaults() {
        let yaml = entry_yaml("cache_write", "");
        let table = PriceTable::from_yaml(&yaml).unwrap();
        let price = table.lookup("anthropic", "claude-test-1").unwrap();
        assert_eq!(price.cache_creation_pico_usd, 3_000_000);
        assert_eq!(price.reasoning_pico_usd, 15_000_000);
    }

    #[test]
    fn explicit_reasoning_price_is_used() {
        let table = PriceTable::from_yaml(&entry_yaml("reasoning", "20")).unwrap();
        let price = table.lookup("anthropic", "claude-test-1").unwrap();
        assert_eq!(price.reasoning_pico_usd, 20_000_000);
    }

    #[test]
    fn bad_prices_name_model_and_field() {
        let cases = [
            ("input", "-3", PriceProblem::Negative),
            ("output", "15.0000001", PriceProblem::TooManyDecimals),
            ("cache_read", "cheap", PriceProblem::NotDecimal),
            ("cache_write", "1e3", PriceProblem::NotDecimal),
            ("reasoning", "2000000", PriceProblem::TooLarge),
        ];
        for (field, value, expected_problem) in cases {
            let error = load_error(field, value);
            assert!(
                matches!(
                    &error,
                    PricingError::InvalidPrice { problem, .. } if *problem == expected_problem
                ),
                "{field}: {error:?}"
            );
            let message = error.to_string();
            assert!(message.contains("`claude-test-1`"), "{message}");
            assert!(
                message.contains(&format!("`models[0].{field}`")),
                "{message}"
            );
            assert!(message.contains(value), "{message}");
        }
    }

    #[test]
    fn negative_price_message_is_complete() {
        let message = load_error("input", "-3").to_string();
        assert_eq!(
            message,
            "invalid `models[0].input` for model `claude-test-1`: \"-3\" is negative; \
             write USD per million tokens as a non-negative decimal with at most 6 decimal places"
        );
    }

    #[test]
    fn missing_fields_name_model() {
        for field in [
            "provider",
            "input",
            "output",
            "cache_read",
            "source",
            "effective",
        ] {
            let error = load_error(field, "");
            assert!(
                matches!(&error, PricingError::MissingField { field: found, .. } if *found == field),
                "{field}: {error:?}"
            );
            let message = error.to_string();
            assert!(message.contains("`claude-test-1`"), "{message}");
        }
    }

    #[test]
    fn missing_model_names_entry_index() {
        let error = load_error("model", "");
        assert!(matches!(error, PricingError::MissingModel { index: 0 }));
        assert!(error.to_string().contains("`models[0].model`"));
    }

    #[test]
    fn bad_effective_date_names_model() {
        for value in ["2025-13-01", "29.09.2025", "soon"] {
            let error = load_error("effective", value);
            assert!(
                matches!(error, PricingError::InvalidEffective { .. }),
                "{value}: {error:?}"
            );
            assert!(error.to_string().contains("`claude-test-1`"), "{value}");
        }
    }

    #[test]
    fn bad_source_names_model() {
        let error = load_error("source", "the pricing page");
        assert!(matches!(error, PricingError::InvalidSource { .. }));
        assert!(error.to_string().contains("`claude-test-1`"));
    }

    #[test]
    fn duplicate_entry_is_rejected() {
        let entry = entry_yaml("model", "Claude-Test-1");
        let second = entry_yaml("model", "claude-test-1").replace("models:\n", "");
        let error = PriceTable::from_yaml(&format!("{entry}{second}")).unwrap_err();
        assert!(
            matches!(&error, PricingError::DuplicateModel { index: 1, model, .. } if model == "claude-test-1"),
            "{error:?}"
        );
        assert!(error.to_string().contains("`claude-test-1`"));
    }

    #[test]
    fn malformed_yaml_is_rejected() {
        let cases = [
            "models: [",
            "models: 3",
            "- provider: openai",
            "prices: []",
            "models:\n  - provider: openai\n    model: gpt-4o\n    inptu: 2.50\n",
            "models:\n  - provider: openai\n    model: gpt-4o\n    input: [2.50]\n",
        ];
        for text in cases {
            let error = PriceTable::from_yaml(text).unwrap_err();
            assert!(
                matches!(error, PricingError::Yaml(_)),
                "{text:?}: {error:?}"
            );
        }
    }

    #[test]
    fn unknown_field_error_names_entry_path() {
        let text = "models:\n  - provider: openai\n    model: gpt-4o\n    inptu: 2.50\n";
        let message = PriceTable::from_yaml(text).unwrap_err().to_string();
        assert!(message.contains("models[0]"), "{message}");
        assert!(message.contains("inptu"), "{message}");
    }

    #[test]
    fn empty_model_list_gives_empty_table() {
        let table = PriceTable::from_yaml("models: []").unwrap();
        assert!(table.entries().is_empty());
        assert_eq!(table.lookup("openai", "gpt-4o"), None);
    }
}
