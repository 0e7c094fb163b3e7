//! One model's entry in a price table: the file format, its validation and
//! the choice of price set for a call.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Deserialize;

use crate::call::{ServiceTier, Usage};

use super::price::{ModelPrice, PriceProblem, parse_price_micro_usd};

/// An error in a price table file or in inline price entries.
#[derive(Debug, thiserror::Error)]
pub enum PricingError {
    #[error("invalid price table: {0}")]
    Yaml(#[from] serde_yaml::Error),

    #[error("invalid `models{path}`: {message}")]
    Entry { path: String, message: String },

    #[error("missing `models[{index}].model`: every price table entry needs a model id")]
    MissingModel { index: usize },

    #[error("missing `models[{index}].{field}` for model `{model}`")]
    MissingField {
        index: usize,
        model: String,
        field: String,
    },

    #[error(
        "invalid `models[{index}].{field}` for model `{model}`: {value:?} {problem}; \
         write USD per million tokens as a non-negative decimal with at most 6 decimal places"
    )]
    InvalidPrice {
        index: usize,
        model: String,
        field: String,
        value: String,
        problem: PriceProblem,
    },

    #[error(
        "invalid `models[{index}].tiers.{value}` for model `{model}`: unknown service tier; \
         use batch, flex or priority (the entry's own prices are the standard tier)"
    )]
    InvalidTier {
        index: usize,
        model: String,
        value: String,
    },

    #[error(
        "invalid `models[{index}].long_context.threshold_tokens` for model `{model}`: \
         must be at least 1; write the prompt size above which the long-context prices apply"
    )]
    InvalidThreshold { index: usize, model: String },

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

impl PricingError {
    /// Returns the path of the value at fault inside the `models` list, such
    /// as `models[2].tiers.batch.input`, or `models` when the error has no
    /// finer position.
    pub fn field_path(&self) -> String {
        match self {
            PricingError::Yaml(_) => "models".to_owned(),
            PricingError::Entry { path, .. } => format!("models{path}"),
            PricingError::MissingModel { index } => format!("models[{index}].model"),
            PricingError::MissingField { index, field, .. }
            | PricingError::InvalidPrice { index, field, .. } => {
                format!("models[{index}].{field}")
            }
            PricingError::InvalidTier { index, value, .. } => {
                format!("models[{index}].tiers.{value}")
            }
            PricingError::InvalidThreshold { index, .. } => {
                format!("models[{index}].long_context.threshold_tokens")
            }
            PricingError::InvalidEffective { index, .. } => format!("models[{index}].effective"),
            PricingError::InvalidSource { index, .. } => format!("models[{index}].source"),
            PricingError::DuplicateModel { index, .. } => format!("models[{index}]"),
        }
    }
}

/// One model's entry in the price table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceEntry {
    /// Lowercased, as `anthropic` or `openai`.
    pub provider: String,
    /// Lowercased model id as written in the table.
    pub model: String,
    /// Standard-tier prices for prompts up to the long-context threshold.
    pub price: ModelPrice,
    /// Prices of the other service tiers that the provider lists for this model.
    pub tiers: BTreeMap<ServiceTier, ModelPrice>,
    pub long_context: Option<LongContext>,
    /// The provider's pricing page.
    pub source: String,
    /// A day from which the prices apply.
    pub effective: NaiveDate,
}

/// Prices for prompts above a size, which apply to every token of such a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LongContext {
    /// A call whose prompt tokens exceed this count gets these prices.
    pub threshold_tokens: u64,
    pub price: ModelPrice,
    pub tiers: BTreeMap<ServiceTier, ModelPrice>,
}

impl PriceEntry {
    /// Returns the price set that bills `usage`.
    ///
    /// A call whose prompt tokens (input + cache read + cache write, the
    /// whole prompt for every provider because the token types partition a
    /// call) exceed `long_context.threshold_tokens` is billed entirely at the
    /// long-context prices. Within the chosen band, the call's service tier
    /// takes its own prices when the entry lists them, and the standard
    /// prices otherwise.
    pub fn price_for(&self, usage: &Usage) -> &ModelPrice {
        let (standard, tiers) = match &self.long_context {
            Some(long) if prompt_tokens(usage) > long.threshold_tokens => {
                (&long.price, &long.tiers)
            }
            _ => (&self.price, &self.tiers),
        };
        tiers.get(&usage.tier).unwrap_or(standard)
    }
}

/// Returns the tokens of a call's prompt: every input-side token type.
pub fn prompt_tokens(usage: &Usage) -> u64 {
    let tokens = &usage.tokens;
    tokens
        .input
        .saturating_add(tokens.cache_read)
        .saturating_add(tokens.cache_creation)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PriceFile {
    pub models: Vec<RawEntry>,
}

/// One entry as written. Prices are read as text so that they keep their
/// exact decimal digits, and a missing field can name its model.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEntry {
    provider: Option<String>,
    model: Option<String>,
    input: Option<String>,
    output: Option<String>,
    cache_read: Option<String>,
    cache_write: Option<String>,
    cache_write_1h: Option<String>,
    reasoning: Option<String>,
    tiers: Option<BTreeMap<String, RawPriceSet>>,
    long_context: Option<RawLongContext>,
    source: Option<String>,
    effective: Option<String>,
}

/// The prices of one service tier.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPriceSet {
    input: Option<String>,
    output: Option<String>,
    cache_read: Option<String>,
    cache_write: Option<String>,
    cache_write_1h: Option<String>,
    reasoning: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLongContext {
    threshold_tokens: Option<u64>,
    input: Option<String>,
    output: Option<String>,
    cache_read: Option<String>,
    cache_write: Option<String>,
    cache_write_1h: Option<String>,
    reasoning: Option<String>,
    tiers: Option<BTreeMap<String, RawPriceSet>>,
}

/// The six price texts of one price set.
struct PriceTexts<'a> {
    input: Option<&'a str>,
    output: Option<&'a str>,
    cache_read: Option<&'a str>,
    cache_write: Option<&'a str>,
    cache_write_1h: Option<&'a str>,
    reasoning: Option<&'a str>,
}

/// Borrows the six price fields of a raw entry, long-context block or tier,
/// which have the same names in all three.
macro_rules! price_texts {
    ($raw:expr) => {
        PriceTexts {
            input: $raw.input.as_deref(),
            output: $raw.output.as_deref(),
            cache_read: $raw.cache_read.as_deref(),
            cache_write: $raw.cache_write.as_deref(),
            cache_write_1h: $raw.cache_write_1h.as_deref(),
            reasoning: $raw.reasoning.as_deref(),
        }
    };
}

/// Validation of one entry, with the index and model that every error names.
struct EntryCheck {
    index: usize,
    model: String,
}

impl EntryCheck {
    fn missing(&self, field: String) -> PricingError {
        PricingError::MissingField {
            index: self.index,
            model: self.model.clone(),
            field,
        }
    }

    fn price(&self, field: String, text: &str) -> Result<u64, PricingError> {
        let text = text.trim();
        parse_price_micro_usd(text).map_err(|problem| PricingError::InvalidPrice {
            index: self.index,
            model: self.model.clone(),
            field,
            value: text.to_owned(),
            problem,
        })
    }

    fn required_price(&self, field: String, text: Option<&str>) -> Result<u64, PricingError> {
        match text {
            Some(text) if !text.trim().is_empty() => self.price(field, text),
            _ => Err(self.missing(field)),
        }
    }

    fn optional_price(
        &self,
        field: String,
        text: Option<&str>,
    ) -> Result<Option<u64>, PricingError> {
        text.map(|text| self.price(field, text)).transpose()
    }

    /// Validates a base price set: the entry's own prices or its
    /// long-context prices. An omitted cache read or cache write costs the
    /// input price, an omitted 1-hour cache write the 5-minute one, and
    /// omitted reasoning the output price.
    fn base_prices(
        &self,
        prefix: &str,
        texts: &PriceTexts<'_>,
    ) -> Result<ModelPrice, PricingError> {
        let field = |name: &str| format!("{prefix}{name}");
        let input = self.required_price(field("input"), texts.input)?;
        let output = self.required_price(field("output"), texts.output)?;
        let cache_read = self.optional_price(field("cache_read"), texts.cache_read)?;
        let cache_write = self.optional_price(field("cache_write"), texts.cache_write)?;
        let cache_write_1h = self.optional_price(field("cache_write_1h"), texts.cache_write_1h)?;
        let reasoning = self.optional_price(field("reasoning"), texts.reasoning)?;
        let cache_write = cache_write.unwrap_or(input);
        Ok(ModelPrice {
            input_pico_usd: input,
            output_pico_usd: output,
            cache_read_pico_usd: cache_read.unwrap_or(input),
            cache_creation_pico_usd: cache_write,
            cache_creation_1h_pico_usd: cache_write_1h.unwrap_or(cache_write),
            reasoning_pico_usd: reasoning.unwrap_or(output),
        })
    }

    /// Validates the tier price sets of one band. Input and output are
    /// required. An omitted cache price is the band's standard price, because
    /// most tier discounts are stated for input and output only. Omitted
    /// reasoning is the tier's output price.
    fn tiers(
        &self,
        prefix: &str,
        raw: Option<&BTreeMap<String, RawPriceSet>>,
        standard: &ModelPrice,
    ) -> Result<BTreeMap<ServiceTier, ModelPrice>, PricingError> {
        let mut tiers = BTreeMap::new();
        for (name, set) in raw.into_iter().flatten() {
            let tier = ServiceTier::ALL
                .into_iter()
                .filter(|tier| *tier != ServiceTier::Standard)
                .find(|tier| tier.as_str() == name.trim().to_lowercase())
                .ok_or_else(|| PricingError::InvalidTier {
                    index: self.index,
                    model: self.model.clone(),
                    value: name.clone(),
                })?;
            let texts = price_texts!(set);
            let field = |field: &str| format!("{prefix}tiers.{name}.{field}");
            let input = self.required_price(field("input"), texts.input)?;
            let output = self.required_price(field("output"), texts.output)?;
            let or_standard = |field_name: &str, text: Option<&str>, standard_price: u64| {
                self.optional_price(field(field_name), text)
                    .map(|price| price.unwrap_or(standard_price))
            };
            let price = ModelPrice {
                input_pico_usd: input,
                output_pico_usd: output,
                cache_read_pico_usd: or_standard(
                    "cache_read",
                    texts.cache_read,
                    standard.cache_read_pico_usd,
                )?,
                cache_creation_pico_usd: or_standard(
                    "cache_write",
                    texts.cache_write,
                    standard.cache_creation_pico_usd,
                )?,
                cache_creation_1h_pico_usd: or_standard(
                    "cache_write_1h",
                    texts.cache_write_1h,
                    standard.cache_creation_1h_pico_usd,
                )?,
                reasoning_pico_usd: or_standard("reasoning", texts.reasoning, output)?,
            };
            tiers.insert(tier, price);
        }
        Ok(tiers)
    }

    fn long_context(
        &self,
        raw: Option<&RawLongContext>,
    ) -> Result<Option<LongContext>, PricingError> {
        let Some(raw) = raw else {
            return Ok(None);
        };
        let threshold_tokens = match raw.threshold_tokens {
            None => return Err(self.missing("long_context.threshold_tokens".to_owned())),
            Some(0) => {
                return Err(PricingError::InvalidThreshold {
                    index: self.index,
                    model: self.model.clone(),
                });
            }
            Some(threshold) => threshold,
        };
        let texts = price_texts!(raw);
        let price = self.base_prices("long_context.", &texts)?;
        let tiers = self.tiers("long_context.", raw.tiers.as_ref(), &price)?;
        Ok(Some(LongContext {
            threshold_tokens,
            price,
            tiers,
        }))
    }

    fn required_text(&self, field: &str, value: Option<String>) -> Result<String, PricingError> {
        match value {
            Some(text) if !text.trim().is_empty() => Ok(text.trim().to_owned()),
            _ => Err(self.missing(field.to_owned())),
        }
    }
}

pub(super) fn validate_entry(index: usize, raw: RawEntry) -> Result<PriceEntry, PricingError> {
    let model = match raw.model.as_deref().map(str::trim) {
        Some(model) if !model.is_empty() => model.to_lowercase(),
        _ => return Err(PricingError::MissingModel { index }),
    };
    let check = EntryCheck { index, model };

    let provider = check
        .required_text("provider", raw.provider)?
        .to_lowercase();
    let texts = price_texts!(raw);
    let price = check.base_prices("", &texts)?;
    let tiers = check.tiers("", raw.tiers.as_ref(), &price)?;
    let long_context = check.long_context(raw.long_context.as_ref())?;

    let source = check.required_text("source", raw.source)?;
    if !(source.starts_with("https://") || source.starts_with("http://")) {
        return Err(PricingError::InvalidSource {
            index,
            model: check.model,
            value: source,
        });
    }

    let effective_text = check.required_text("effective", raw.effective)?;
    let Ok(effective) = NaiveDate::parse_from_str(&effective_text, "%Y-%m-%d") else {
        return Err(PricingError::InvalidEffective {
            index,
            model: check.model,
            value: effective_text,
        });
    };

    Ok(PriceEntry {
        provider,
        model: check.model,
        price,
        tiers,
        long_context,
        source,
        effective,
    })
}
