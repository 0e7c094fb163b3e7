//! Per-token prices of one model, the exact decimal parser for them, and the
//! cost of a call's tokens.

use std::fmt;

use crate::call::TokenCounts;

/// Decimal places allowed in a price of USD per million tokens. Six places are
/// one micro-USD per million tokens, the unit that prices are stored in.
pub(crate) const MAX_PRICE_DECIMALS: usize = 6;

/// The maximum price, in USD per million tokens. It keeps every cost of
/// `u64::MAX` tokens of each type within `u128`.
pub(crate) const MAX_PRICE_USD_PER_MILLION: u64 = 1_000_000;

const PICOS_PER_NANO: u128 = 1_000;
const MICROS_PER_USD: u64 = 1_000_000;

/// Prices of one model for each token type of [`TokenCounts`], in pico-USD per
/// token (equal to micro-USD per million tokens).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelPrice {
    pub input_pico_usd: u64,
    pub output_pico_usd: u64,
    pub cache_read_pico_usd: u64,
    /// Cache writes. For Anthropic this is the 5-minute cache write price, and
    /// for a provider without a separate price it is the input price.
    pub cache_creation_pico_usd: u64,
    pub reasoning_pico_usd: u64,
}

impl ModelPrice {
    /// Computes the exact cost of `tokens` in pico-USD.
    ///
    /// A price table rejects prices above 1,000,000 USD per million tokens, so
    /// the sum of its prices times `u64` counts cannot overflow. A hand-built
    /// price above that limit saturates at `u128::MAX` instead of panicking.
    pub fn cost_picos(&self, tokens: &TokenCounts) -> u128 {
        let term = |count: u64, price: u64| u128::from(count).saturating_mul(u128::from(price));
        term(tokens.input, self.input_pico_usd)
            .saturating_add(term(tokens.output, self.output_pico_usd))
            .saturating_add(term(tokens.cache_read, self.cache_read_pico_usd))
            .saturating_add(term(tokens.cache_creation, self.cache_creation_pico_usd))
            .saturating_add(term(tokens.reasoning, self.reasoning_pico_usd))
    }

    /// Computes the cost of `tokens` in nano-USD, rounded half up.
    ///
    /// The result is exact when every price is a whole number of nano-USD per
    /// token, which means at most 3 decimal places of USD per million tokens.
    /// Every entry of the embedded table meets that, and a test checks it.
    /// For a table with finer prices, sum [`ModelPrice::cost_picos`] instead.
    pub fn cost_nanos(&self, tokens: &TokenCounts) -> u128 {
        self.cost_picos(tokens).saturating_add(PICOS_PER_NANO / 2) / PICOS_PER_NANO
    }
}

/// The reason a price text was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PriceProblem {
    NotDecimal,
    Negative,
    TooManyDecimals,
    TooLarge,
}

impl fmt::Display for PriceProblem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PriceProblem::NotDecimal => write!(formatter, "is not a decimal number"),
            PriceProblem::Negative => write!(formatter, "is negative"),
            PriceProblem::TooManyDecimals => {
                write!(
                    formatter,
                    "has more than {MAX_PRICE_DECIMALS} decimal places"
                )
            }
            PriceProblem::TooLarge => {
                write!(
                    formatter,
                    "is above the maximum of {MAX_PRICE_USD_PER_MILLION}"
                )
            }
        }
    }
}

/// Parses a price in USD per million tokens (`3`, `3.75`, `0.275`) into
/// micro-USD per million tokens, which is also pico-USD per token.
///
/// Only plain decimals are accepted: no sign, exponent or digit grouping, and
/// digits are required on both sides of a decimal point.
pub(crate) fn parse_price_micro_usd(text: &str) -> Result<u64, PriceProblem> {
    if text.starts_with('-') {
        return Err(PriceProblem::Negative);
    }

    let (integer, fraction) = text.split_once('.').unwrap_or((text, ""));
    let all_digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    let has_empty_side = integer.is_empty() || text.ends_with('.');
    if has_empty_side || !all_digits(integer) || !all_digits(fraction) {
        return Err(PriceProblem::NotDecimal);
    }
    if fraction.len() > MAX_PRICE_DECIMALS {
        return Err(PriceProblem::TooManyDecimals);
    }

    // A long digit string overflows u64 and is above the maximum anyway.
    let whole_usd: u64 = integer.parse().map_err(|_| PriceProblem::TooLarge)?;
    let padded_fraction = format!("{fraction:0<width$}", width = MAX_PRICE_DECIMALS);
    let fraction_micro_usd: u64 = padded_fraction
        .parse()
        .map_err(|_| PriceProblem::NotDecimal)?;

    let micro_usd = whole_usd
        .checked_mul(MICROS_PER_USD)
        .and_then(|whole| whole.checked_add(fraction_micro_usd))
        .ok_or(PriceProblem::TooLarge)?;
    if micro_usd > MAX_PRICE_USD_PER_MILLION * MICROS_PER_USD {
        return Err(PriceProblem::TooLarge);
    }
    Ok(micro_usd)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// claude-sonnet-4-5: 3 / 15 / 0.30 / 3.75 USD per million tokens, with
    /// reasoning at the output price.
    const SONNET_4_5: ModelPrice = ModelPrice {
        input_pico_usd: 3_000_000,
        output_pico_usd: 15_000_000,
        cache_read_pico_usd: 300_000,
        cache_creation_pico_usd: 3_750_000,
        reasoning_pico_usd: 15_000_000,
    };

    #[test]
    fn price_parses_exact_decimals() {
        let cases: &[(&str, u64)] = &[
            ("0", 0),
            ("3", 3_000_000),
            ("3.00", 3_000_000),
            ("3.75", 3_750_000),
            ("0.30", 300_000),
            ("0.275", 275_000),
            ("0.075", 75_000),
            ("0.005", 5_000),
            ("1.10", 1_100_000),
            ("0.000001", 1),
            ("15.000000", 15_000_000),
            ("007.5", 7_500_000),
            ("1000000", 1_000_000_000_000),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_price_micro_usd(text), Ok(*expected), "{text:?}");
        }
    }

    #[test]
    fn price_rejects_invalid_text() {
        let cases: &[(&str, PriceProblem)] = &[
            ("-1", PriceProblem::Negative),
            ("-0.5", PriceProblem::Negative),
            ("0.0000001", PriceProblem::TooManyDecimals),
            ("0.2750000", PriceProblem::TooManyDecimals),
            ("1000000.000001", PriceProblem::TooLarge),
            ("99999999999999999999999", PriceProblem::TooLarge),
            ("18446744073709", PriceProblem::TooLarge),
            ("18446744073710", PriceProblem::TooLarge),
            ("", PriceProblem::NotDecimal),
            ("abc", PriceProblem::NotDecimal),
            ("true", PriceProblem::NotDecimal),
            ("1e3", PriceProblem::NotDecimal),
            ("+1", PriceProblem::NotDecimal),
            (".5", PriceProblem::NotDecimal),
            ("5.", PriceProblem::NotDecimal),
            ("1.2.3", PriceProblem::NotDecimal),
            ("1,5", PriceProblem::NotDecimal),
            ("1_000", PriceProblem::NotDecimal),
            (" 1", PriceProblem::NotDecimal),
            ("$3", PriceProblem::NotDecimal),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_price_micro_usd(text), Err(*expected), "{text:?}");
        }
    }

    #[test]
    fn cost_of_each_token_type_alone() {
        let cases: &[(&str, TokenCounts, u128)] = &[
            (
                "input",
                TokenCounts {
                    input: 1_200,
                    ..TokenCounts::default()
                },
                3_600_000,
            ),
            (
                "output",
                TokenCounts {
                    output: 350,
                    ..TokenCounts::default()
                },
                5_250_000,
            ),
            (
                "cache_read",
                TokenCounts {
                    cache_read: 30_000,
                    ..TokenCounts::default()
                },
                9_000_000,
            ),
            (
                "cache_creation",
                TokenCounts {
                    cache_creation: 2_000,
                    ..TokenCounts::default()
                },
                7_500_000,
            ),
            (
                "reasoning",
                TokenCounts {
                    reasoning: 100,
                    ..TokenCounts::default()
                },
                1_500_000,
            ),
            ("none", TokenCounts::default(), 0),
        ];
        for (name, tokens, expected_nanos) in cases {
            assert_eq!(SONNET_4_5.cost_nanos(tokens), *expected_nanos, "{name}");
            assert_eq!(
                SONNET_4_5.cost_picos(tokens),
                *expected_nanos * 1_000,
                "{name}"
            );
        }
    }

    #[test]
    fn cost_of_all_token_types_combined() {
        let without_reasoning = TokenCounts {
            input: 1_200,
            output: 350,
            cache_read: 30_000,
            cache_creation: 2_000,
            reasoning: 0,
        };
        assert_eq!(SONNET_4_5.cost_nanos(&without_reasoning), 25_350_000);

        let with_reasoning = TokenCounts {
            reasoning: 100,
            ..without_reasoning
        };
        assert_eq!(SONNET_4_5.cost_nanos(&with_reasoning), 26_850_000);
    }

    #[test]
    fn cost_nanos_rounds_half_up() {
        let one_pico = ModelPrice {
            input_pico_usd: 1,
            output_pico_usd: 0,
            cache_read_pico_usd: 0,
            cache_creation_pico_usd: 0,
            reasoning_pico_usd: 0,
        };
        let cases: &[(u64, u128, u128)] = &[
            (1, 1, 0),
            (499, 499, 0),
            (500, 500, 1),
            (1_499, 1_499, 1),
            (1_500, 1_500, 2),
        ];
        for (input, expected_picos, expected_nanos) in cases {
            let tokens = TokenCounts {
                input: *input,
                ..TokenCounts::default()
            };
            assert_eq!(one_pico.cost_picos(&tokens), *expected_picos, "{input}");
            assert_eq!(one_pico.cost_nanos(&tokens), *expected_nanos, "{input}");
        }
    }

    #[test]
    fn cost_at_max_price_is_exact() {
        let max_price = MAX_PRICE_USD_PER_MILLION * MICROS_PER_USD;
        let price = ModelPrice {
            input_pico_usd: max_price,
            output_pico_usd: max_price,
            cache_read_pico_usd: max_price,
            cache_creation_pico_usd: max_price,
            reasoning_pico_usd: max_price,
        };
        let tokens = TokenCounts {
            input: u64::MAX,
            output: u64::MAX,
            cache_read: u64::MAX,
            cache_creation: u64::MAX,
            reasoning: u64::MAX,
        };
        let expected = 5 * u128::from(u64::MAX) * u128::from(max_price);
        assert_eq!(price.cost_picos(&tokens), expected);
    }

    #[test]
    fn cost_saturates_instead_of_overflowing() {
        let price = ModelPrice {
            input_pico_usd: u64::MAX,
            output_pico_usd: u64::MAX,
            cache_read_pico_usd: u64::MAX,
            cache_creation_pico_usd: u64::MAX,
            reasoning_pico_usd: u64::MAX,
        };
        let tokens = TokenCounts {
            input: u64::MAX,
            output: u64::MAX,
            cache_read: u64::MAX,
            cache_creation: u64::MAX,
            reasoning: u64::MAX,
        };
        assert_eq!(price.cost_picos(&tokens), u128::MAX);
        assert_eq!(price.cost_nanos(&tokens), u128::MAX / 1_000);
    }
}
