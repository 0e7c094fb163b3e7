//! Per-token prices of one model, the exact decimal parser for them, and the
//! cost of a call's tokens.

use std::fmt;

use crate::call::{TokenCounts, Usage};

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
    /// Anthropic's 1-hour cache writes, the part of `cache_creation` in
    /// [`Usage::cache_creation_1h`].
    pub cache_creation_1h_pico_usd: u64,
    pub reasoning_pico_usd: u64,
}

impl ModelPrice {
    /// Computes the exact cost of `usage` in pico-USD at these prices. The
    /// service tier of `usage` is not read: the caller chose this price set
    /// for it.
    ///
    /// `usage.cache_creation_1h` tokens of `cache_creation` are billed at the
    /// 1-hour price and the rest at the 5-minute price. A 1-hour count above
    /// `cache_creation` is capped at it, so no token is billed twice.
    ///
    /// A price table rejects prices above 1,000,000 USD per million tokens, so
    /// the sum of its prices times `u64` counts cannot overflow. A hand-built
    /// price above that limit saturates at `u128::MAX` instead of panicking.
    pub fn cost_picos(&self, usage: &Usage) -> u128 {
        let tokens: &TokenCounts = &usage.tokens;
        let cache_creation_1h = usage.cache_creation_1h.min(tokens.cache_creation);
        let cache_creation_5m = tokens.cache_creation - cache_creation_1h;
        let term = |count: u64, price: u64| u128::from(count).saturating_mul(u128::from(price));
        term(tokens.input, self.input_pico_usd)
            .saturating_add(term(tokens.output, self.output_pico_usd))
            .saturating_add(term(tokens.cache_read, self.cache_read_pico_usd))
            .saturating_add(term(cache_creation_5m, self.cache_creation_pico_usd))
            .saturating_add(term(cache_creation_1h, self.cache_creation_1h_pico_usd))
            .saturating_add(term(tokens.reasoning, self.reasoning_pico_usd))
    }

    /// Returns the prices of every token type, for checks that apply to all.
    pub fn all_pico_usd(&self) -> [u64; 6] {
        [
            self.input_pico_usd,
            self.output_pico_usd,
            self.cache_read_pico_usd,
            self.cache_creation_pico_usd,
            self.cache_creation_1h_pico_usd,
            self.reasoning_pico_usd,
        ]
    }

    /// Computes the cost of `usage` in nano-USD, rounded half up.
    ///
    /// The result is exact when every price is a whole number of nano-USD per
    /// token, which means at most 3 decimal places of USD per million tokens.
    /// Every entry of the embedded table meets that, and a test checks it.
    /// For a table with finer prices, sum [`ModelPrice::cost_picos`] instead.
    pub fn cost_nanos(&self, usage: &Usage) -> u128 {
        self.cost_picos(usage).saturating_add(PICOS_PER_NANO / 2) / PICOS_PER_NANO
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

    /// claude-sonnet-4-5: 3 / 15 / 0.30 / 3.75 / 6 USD per million tokens
    /// (input, output, cache read, 5-minute and 1-hour cache write), with
    /// reasoning at the output price.
    const SONNET_4_5: ModelPrice = ModelPrice {
        input_pico_usd: 3_000_000,
        output_pico_usd: 15_000_000,
        cache_read_pico_usd: 300_000,
        cache_creation_pico_usd: 3_750_000,
        cache_creation_1h_pico_usd: 6_000_000,
        reasoning_pico_usd: 15_000_000,
    };

    fn usage(tokens: TokenCounts, cache_creation_1h: u64) -> Usage {
        Usage {
            tokens,
            cache_creation_1h,
            ..Usage::default()
        }
    }

    fn uniform_price(pico_usd: u64) -> ModelPrice {
        ModelPrice {
            input_pico_usd: pico_usd,
            output_pico_usd: pico_usd,
            cache_read_pico_usd: pico_usd,
            cache_creation_pico_usd: pico_usd,
            cache_creation_1h_pico_usd: pico_usd,
            reasoning_pico_usd: pico_usd,
        }
    }

    const MAX_TOKENS: TokenCounts = TokenCounts {
        input: u64::MAX,
        output: u64::MAX,
        cache_read: u64::MAX,
        cache_creation: u64::MAX,
        reasoning: u64::MAX,
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
    fn cost_of_each_token_type_combination() {
        let none = TokenCounts::default();
        // (case, tokens, 1-hour cache writes, expected nano-USD)
        let cases: &[(&str, TokenCounts, u64, u128)] = &[
            ("none", none, 0, 0),
            // 1200 * 3000
            (
                "input",
                TokenCounts {
                    input: 1_200,
                    ..none
                },
                0,
                3_600_000,
            ),
            // 350 * 15000
            (
                "output",
                TokenCounts {
                    output: 350,
                    ..none
                },
                0,
                5_250_000,
            ),
            // 30000 * 300
            (
                "cache_read",
                TokenCounts {
                    cache_read: 30_000,
                    ..none
                },
                0,
                9_000_000,
            ),
            // 2000 * 3750
            (
                "cache_write_5m",
                TokenCounts {
                    cache_creation: 2_000,
                    ..none
                },
                0,
                7_500_000,
            ),
            // 2000 * 6000
            (
                "cache_write_1h",
                TokenCounts {
                    cache_creation: 2_000,
                    ..none
                },
                2_000,
                12_000_000,
            ),
            // 1500 * 3750 + 500 * 6000
            (
                "cache_write_split",
                TokenCounts {
                    cache_creation: 2_000,
                    ..none
                },
                500,
                8_625_000,
            ),
            // A 1-hour count above the cache writes is capped at them.
            (
                "cache_write_1h_capped",
                TokenCounts {
                    cache_creation: 2_000,
                    ..none
                },
                9_000,
                12_000_000,
            ),
            ("cache_write_1h_without_writes", none, 500, 0),
            // 100 * 15000
            (
                "reasoning",
                TokenCounts {
                    reasoning: 100,
                    ..none
                },
                0,
                1_500_000,
            ),
            // 3600000 + 5250000
            (
                "input_output",
                TokenCounts {
                    input: 1_200,
                    output: 350,
                    ..none
                },
                0,
                8_850_000,
            ),
            // 3600000 + 9000000 + 7500000
            (
                "input_cache",
                TokenCounts {
                    input: 1_200,
                    cache_read: 30_000,
                    cache_creation: 2_000,
                    ..none
                },
                0,
                20_100_000,
            ),
            // 5250000 + 1500000
            (
                "output_reasoning",
                TokenCounts {
                    output: 350,
                    reasoning: 100,
                    ..none
                },
                0,
                6_750_000,
            ),
            // 3600000 + 5250000 + 9000000 + 7500000
            (
                "all_but_reasoning",
                TokenCounts {
                    input: 1_200,
                    output: 350,
                    cache_read: 30_000,
                    cache_creation: 2_000,
                    reasoning: 0,
                },
                0,
                25_350_000,
            ),
            // 25350000 + 1500000
            (
                "all",
                TokenCounts {
                    input: 1_200,
                    output: 350,
                    cache_read: 30_000,
                    cache_creation: 2_000,
                    reasoning: 100,
                },
                0,
                26_850_000,
            ),
            // 26850000 - 1000 * 3750 + 1000 * 6000
            (
                "all_with_1h",
                TokenCounts {
                    input: 1_200,
                    output: 350,
                    cache_read: 30_000,
                    cache_creation: 2_000,
                    reasoning: 100,
                },
                1_000,
                29_100_000,
            ),
        ];
        for (name, tokens, cache_creation_1h, expected_nanos) in cases {
            let usage = usage(*tokens, *cache_creation_1h);
            assert_eq!(SONNET_4_5.cost_nanos(&usage), *expected_nanos, "{name}");
            assert_eq!(
                SONNET_4_5.cost_picos(&usage),
                *expected_nanos * 1_000,
                "{name}"
            );
        }
    }

    #[test]
    fn cost_ignores_the_tier_of_usage() {
        let tokens = TokenCounts {
            input: 1_000,
            ..TokenCounts::default()
        };
        for tier in crate::call::ServiceTier::ALL {
            let usage = Usage {
                tokens,
                cache_creation_1h: 0,
                tier,
            };
            assert_eq!(SONNET_4_5.cost_picos(&usage), 3_000_000_000, "{tier:?}");
        }
    }

    #[test]
    fn cost_nanos_rounds_half_up() {
        let one_pico = ModelPrice {
            input_pico_usd: 1,
            ..uniform_price(0)
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
            let usage = usage(tokens, 0);
            assert_eq!(one_pico.cost_picos(&usage), *expected_picos, "{input}");
            assert_eq!(one_pico.cost_nanos(&usage), *expected_nanos, "{input}");
        }
    }

    #[test]
    fn cost_at_max_price_is_exact() {
        let max_price = MAX_PRICE_USD_PER_MILLION * MICROS_PER_USD;
        let price = uniform_price(max_price);
        let expected = 5 * u128::from(u64::MAX) * u128::from(max_price);
        assert_eq!(price.cost_picos(&usage(MAX_TOKENS, 0)), expected);
        assert_eq!(price.cost_picos(&usage(MAX_TOKENS, u64::MAX)), expected);
    }

    #[test]
    fn cost_saturates_instead_of_overflowing() {
        let price = uniform_price(u64::MAX);
        let usage = usage(MAX_TOKENS, 0);
        assert_eq!(price.cost_picos(&usage), u128::MAX);
        assert_eq!(price.cost_nanos(&usage), u128::MAX / 1_000);
    }
}
