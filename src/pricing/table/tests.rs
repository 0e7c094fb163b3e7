use std::collections::BTreeMap;

use super::*;

use crate::call::{ServiceTier, TokenCounts};
use crate::pricing::price::PriceProblem;

/// The models that the embedded table must cover.
const REQUIRED_MODELS: &[(&str, &str)] = &[
    ("anthropic", "claude-fable-5-1"),
    ("anthropic", "claude-opus-5"),
    ("anthropic", "claude-opus-4-6"),
    ("anthropic", "claude-opus-4-5"),
    ("anthropic", "claude-opus-4-1"),
    ("anthropic", "claude-opus-4"),
    ("anthropic", "claude-sonnet-5"),
    ("anthropic", "claude-sonnet-4-6"),
    ("anthropic", "claude-sonnet-4-5"),
    ("anthropic", "claude-sonnet-4"),
    ("anthropic", "claude-3-7-sonnet"),
    ("anthropic", "claude-haiku-5-5"),
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
    ("gcp.gemini", "gemini-2.5-pro"),
    ("gcp.gemini", "gemini-2.5-flash-lite"),
    ("mistral_ai", "mistral-large-2411"),
    ("mistral_ai", "mistral-medium-2505"),
    ("mistral_ai", "codestral"),
    ("groq", "llama-3.3-70b-versatile"),
    ("groq", "llama-3.1-8b-instant"),
    ("groq", "gpt-oss-120b"),
];

fn embedded() -> &'static PriceTable {
    PriceTable::embedded()
}

fn matched_model(provider: &str, model: &str) -> Option<&'static str> {
    embedded()
        .lookup_entry(provider, model)
        .map(|entry| entry.model.as_str())
}

fn usage(tokens: TokenCounts, cache_creation_1h: u64, tier: ServiceTier) -> Usage {
    Usage {
        tokens,
        cache_creation_1h,
        tier,
    }
}

fn cost_nanos(table: &PriceTable, provider: &str, model: &str, usage: &Usage) -> Option<u128> {
    table
        .cost_picos(provider, model, usage)
        .map(|picos| picos / 1_000)
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

/// An entry with batch and priority prices, but no flex prices.
const TIERED_YAML: &str = "models:
  - provider: openai
    model: tiered-1
    input: 2.00
    output: 8.00
    cache_read: 0.50
    tiers:
      batch: { input: 1.00, output: 4.00 }
      priority: { input: 3.50, output: 14.00, cache_read: 0.875 }
    source: https://example.com/pricing
    effective: 2025-04-14
";

/// An entry whose prompts above 200,000 tokens take higher prices, with a
/// batch tier below the threshold and a priority tier above it.
const LONG_CONTEXT_YAML: &str = "models:
  - provider: anthropic
    model: long-1
    input: 3.00
    output: 15.00
    cache_read: 0.30
    cache_write: 3.75
    cache_write_1h: 6.00
    tiers:
      batch: { input: 1.50, output: 7.50 }
    long_context:
      threshold_tokens: 200000
      input: 6.00
      output: 22.50
      cache_read: 0.60
      cache_write: 7.50
      cache_write_1h: 12.00
      tiers:
        priority: { input: 12.00, output: 45.00 }
    source: https://example.com/pricing
    effective: 2025-09-29
";

fn test_entry(provider: &str, model: &str, input: &str) -> String {
    format!(
        "  - provider: {provider}\n    model: {model}\n    input: {input}\n    output: 1\n    \
         source: https://example.com/pricing\n    effective: 2025-01-01\n"
    )
}

fn table_of(entries: &[String]) -> PriceTable {
    let text = format!("models:\n{}", entries.concat());
    PriceTable::from_yaml(&text).unwrap()
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
        let mut sets: Vec<&ModelPrice> = vec![&entry.price];
        sets.extend(entry.tiers.values());
        if let Some(long) = &entry.long_context {
            sets.push(&long.price);
            sets.extend(long.tiers.values());
        }
        for set in sets {
            for pico_usd in set.all_pico_usd() {
                assert_eq!(pico_usd % 1_000, 0, "{}", entry.model);
            }
        }
    }
}

#[test]
fn embedded_entries_have_sources_and_dates() {
    let pages = [
        (
            "anthropic",
            "https://platform.claude.com/docs/en/about-claude/pricing",
        ),
        ("openai", "https://developers.openai.com/api/docs/pricing"),
        (
            "gcp.gemini",
            "https://ai.google.dev/gemini-api/docs/pricing",
        ),
        ("mistral_ai", "https://mistral.ai/pricing"),
        ("groq", "https://groq.com/pricing"),
    ];
    for entry in embedded().entries() {
        let expected_source = pages
            .iter()
            .find(|(provider, _)| *provider == entry.provider)
            .map(|(_, page)| *page);
        assert_eq!(
            Some(entry.source.as_str()),
            expected_source,
            "{}",
            entry.model
        );
        assert!(
            entry.effective >= chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
            "{}",
            entry.model
        );
    }
}

#[test]
fn embedded_discounted_tiers_cost_less() {
    for entry in embedded().entries() {
        for (tier, price) in &entry.tiers {
            let cheaper = price.input_pico_usd < entry.price.input_pico_usd;
            let expected = matches!(tier, ServiceTier::Batch | ServiceTier::Flex);
            assert_eq!(cheaper, expected, "{} {tier:?}", entry.model);
        }
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
                cache_creation_1h_pico_usd: 6_000_000,
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
                cache_creation_1h_pico_usd: 1_100_000,
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
                cache_creation_1h_pico_usd: 150_000,
                reasoning_pico_usd: 600_000,
            },
        ),
        (
            "groq",
            "llama-3.3-70b-versatile",
            ModelPrice {
                input_pico_usd: 590_000,
                output_pico_usd: 790_000,
                cache_read_pico_usd: 590_000,
                cache_creation_pico_usd: 590_000,
                cache_creation_1h_pico_usd: 590_000,
                reasoning_pico_usd: 790_000,
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
    let standard = ServiceTier::Standard;
    // (provider, model, tokens, 1-hour cache writes, tier, expected nano-USD)
    let cases: &[(&str, &str, TokenCounts, u64, ServiceTier, u128)] = &[
        // 1200 * 3000 + 350 * 15000 + 30000 * 300 + 2000 * 3750
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
            0,
            standard,
            25_350_000,
        ),
        // The same call with 1500 of the cache writes in the 1-hour cache:
        // 25350000 - 1500 * 3750 + 1500 * 6000
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
            1_500,
            standard,
            28_725_000,
        ),
        // Batch: 1200 * 1500 + 350 * 7500 + 30000 * 300 + 2000 * 3750
        (
            "anthropic",
            "claude-sonnet-4-5",
            TokenCounts {
                input: 1_200,
                output: 350,
                cache_read: 30_000,
                cache_creation: 2_000,
                reasoning: 0,
            },
            0,
            ServiceTier::Batch,
            20_925_000,
        ),
        // Priority is not listed for Anthropic, so the standard prices apply.
        (
            "anthropic",
            "claude-sonnet-4-5",
            TokenCounts {
                input: 1_200,
                output: 350,
                cache_read: 30_000,
                cache_creation: 2_000,
                reasoning: 0,
            },
            0,
            ServiceTier::Priority,
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
            0,
            standard,
            13_310_000,
        ),
        // Priority: 1000 * 2500 + 500 * 20000 + 4000 * 250 + 2000 * 20000
        (
            "openai",
            "gpt-5-2025-08-07",
            TokenCounts {
                input: 1_000,
                output: 500,
                cache_read: 4_000,
                cache_creation: 0,
                reasoning: 2_000,
            },
            0,
            ServiceTier::Priority,
            53_500_000,
        ),
        // Flex is not listed for gpt-5: 1000 * 1250 + 500 * 10000 + 4000 * 125 + 2000 * 10000
        (
            "openai",
            "gpt-5",
            TokenCounts {
                input: 1_000,
                output: 500,
                cache_read: 4_000,
                cache_creation: 0,
                reasoning: 2_000,
            },
            0,
            ServiceTier::Flex,
            26_750_000,
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
            0,
            standard,
            4_800_000,
        ),
        // Flex: 10000 * 625 + 1000 * 5000
        (
            "gcp.gemini",
            "models/gemini-2.5-pro",
            TokenCounts {
                input: 10_000,
                output: 1_000,
                ..TokenCounts::default()
            },
            0,
            ServiceTier::Flex,
            11_250_000,
        ),
        // Groq bills cache reads at the input price: 10000 * 150 + 5000 * 150 + 1000 * 600
        (
            "groq",
            "openai/gpt-oss-120b",
            TokenCounts {
                input: 10_000,
                output: 1_000,
                cache_read: 5_000,
                ..TokenCounts::default()
            },
            0,
            standard,
            2_850_000,
        ),
        // 10000 * 2000 + 1000 * 6000
        (
            "mistral_ai",
            "mistral-large-2411",
            TokenCounts {
                input: 10_000,
                output: 1_000,
                ..TokenCounts::default()
            },
            0,
            standard,
            26_000_000,
        ),
    ];
    for (provider, model, tokens, cache_creation_1h, tier, expected_nanos) in cases {
        let usage = usage(*tokens, *cache_creation_1h, *tier);
        let cost = cost_nanos(embedded(), provider, model, &usage);
        assert_eq!(cost, Some(*expected_nanos), "{provider} {model} {tier:?}");
    }
}

#[test]
fn tier_prices_apply_per_token_type() {
    let table = PriceTable::from_yaml(TIERED_YAML).unwrap();
    let tokens = TokenCounts {
        input: 1_000,
        output: 500,
        cache_read: 4_000,
        cache_creation: 100,
        reasoning: 2_000,
    };
    let cases = [
        // 1000 * 2000 + 500 * 8000 + 4000 * 500 + 100 * 2000 + 2000 * 8000
        (ServiceTier::Standard, 24_200_000),
        // Cache prices stay standard and reasoning takes the tier's output
        // price: 1000 * 1000 + 500 * 4000 + 4000 * 500 + 100 * 2000 + 2000 * 4000
        (ServiceTier::Batch, 13_200_000),
        // 1000 * 3500 + 500 * 14000 + 4000 * 875 + 100 * 2000 + 2000 * 14000
        (ServiceTier::Priority, 42_200_000),
        // Not listed, so billed at the standard prices.
        (ServiceTier::Flex, 24_200_000),
    ];
    for (tier, expected_nanos) in cases {
        let usage = usage(tokens, 0, tier);
        let cost = cost_nanos(&table, "openai", "tiered-1", &usage);
        assert_eq!(cost, Some(expected_nanos), "{tier:?}");
    }
}

#[test]
fn tier_defaults_come_from_its_band() {
    let table = PriceTable::from_yaml(TIERED_YAML).unwrap();
    let entry = table.lookup_entry("openai", "tiered-1").unwrap();
    let batch = entry.tiers[&ServiceTier::Batch];
    assert_eq!(batch.cache_read_pico_usd, 500_000);
    assert_eq!(batch.cache_creation_pico_usd, 2_000_000);
    assert_eq!(batch.cache_creation_1h_pico_usd, 2_000_000);
    assert_eq!(batch.reasoning_pico_usd, 4_000_000);
    assert!(!entry.tiers.contains_key(&ServiceTier::Flex));
}

#[test]
fn long_context_edges() {
    let table = PriceTable::from_yaml(LONG_CONTEXT_YAML).unwrap();
    let none = TokenCounts::default();
    // (case, tokens, 1-hour cache writes, tier, expected nano-USD)
    let cases: &[(&str, TokenCounts, u64, ServiceTier, u128)] = &[
        // 200000 * 3000 + 1000 * 15000
        (
            "input at threshold",
            TokenCounts {
                input: 200_000,
                output: 1_000,
                ..none
            },
            0,
            ServiceTier::Standard,
            615_000_000,
        ),
        // Every token at the long prices: 200001 * 6000 + 1000 * 22500
        (
            "input one above",
            TokenCounts {
                input: 200_001,
                output: 1_000,
                ..none
            },
            0,
            ServiceTier::Standard,
            1_222_506_000,
        ),
        // 100000 * 3000 + 60000 * 300 + 30000 * 3750 + 10000 * 6000 + 1000 * 15000
        (
            "cache tokens at threshold",
            TokenCounts {
                input: 100_000,
                output: 1_000,
                cache_read: 60_000,
                cache_creation: 40_000,
                reasoning: 0,
            },
            10_000,
            ServiceTier::Standard,
            505_500_000,
        ),
        // 100000 * 6000 + 60001 * 600 + 30000 * 7500 + 10000 * 12000 + 1000 * 22500
        (
            "cache tokens one above",
            TokenCounts {
                input: 100_000,
                output: 1_000,
                cache_read: 60_001,
                cache_creation: 40_000,
                reasoning: 0,
            },
            10_000,
            ServiceTier::Standard,
            1_003_500_600,
        ),
        // Output does not count toward the threshold: 199999 * 3000 + 500000 * 15000
        (
            "output not counted",
            TokenCounts {
                input: 199_999,
                output: 500_000,
                ..none
            },
            0,
            ServiceTier::Standard,
            8_099_997_000,
        ),
        // 200000 * 1500 + 1000 * 7500
        (
            "batch at threshold",
            TokenCounts {
                input: 200_000,
                output: 1_000,
                ..none
            },
            0,
            ServiceTier::Batch,
            307_500_000,
        ),
        // The long band lists no batch prices, so its standard prices apply.
        (
            "batch one above",
            TokenCounts {
                input: 200_001,
                output: 1_000,
                ..none
            },
            0,
            ServiceTier::Batch,
            1_222_506_000,
        ),
        // The standard band lists no priority prices.
        (
            "priority at threshold",
            TokenCounts {
                input: 200_000,
                output: 1_000,
                ..none
            },
            0,
            ServiceTier::Priority,
            615_000_000,
        ),
        // 200001 * 12000 + 1000 * 45000
        (
            "priority one above",
            TokenCounts {
                input: 200_001,
                output: 1_000,
                ..none
            },
            0,
            ServiceTier::Priority,
            2_445_012_000,
        ),
    ];
    for (name, tokens, cache_creation_1h, tier, expected_nanos) in cases {
        let usage = usage(*tokens, *cache_creation_1h, *tier);
        let cost = cost_nanos(&table, "anthropic", "long-1", &usage);
        assert_eq!(cost, Some(*expected_nanos), "{name}");
    }
}

#[test]
fn embedded_long_context_edges() {
    let cases = [
        // 100000 * 100 + 1000 * 500
        ("anthropic", "claude-haiku-5-5", 100_000, 10_500_000),
        // 100001 * 500 + 1000 * 2500
        ("anthropic", "claude-haiku-5-5", 100_001, 52_500_500),
        // 200000 * 1250 + 1000 * 10000
        ("gcp.gemini", "gemini-2.5-pro", 200_000, 260_000_000),
        // 200001 * 2500 + 1000 * 15000
        ("gcp.gemini", "gemini-2.5-pro", 200_001, 515_002_500),
    ];
    for (provider, model, input, expected_nanos) in cases {
        let tokens = TokenCounts {
            input,
            output: 1_000,
            ..TokenCounts::default()
        };
        let usage = usage(tokens, 0, ServiceTier::Standard);
        let cost = cost_nanos(embedded(), provider, model, &usage);
        assert_eq!(cost, Some(expected_nanos), "{model} {input}");
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
            "global.anthropic.claude-haiku-4-5-20251001-v1:0",
            "claude-haiku-4-5",
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
        ("gcp.gemini", "gemini-2.5-pro", "gemini-2.5-pro"),
        ("gcp.gemini", "models/gemini-2.5-pro", "gemini-2.5-pro"),
        ("gcp.vertex_ai", "gemini-2.5-pro", "gemini-2.5-pro"),
        (
            "gcp.vertex_ai",
            "publishers/google/models/gemini-2.5-flash-lite",
            "gemini-2.5-flash-lite",
        ),
        ("gcp.gen_ai", "gemini-2.5-pro-001", "gemini-2.5-pro"),
        ("mistral_ai", "mistral-large-2411", "mistral-large-2411"),
        ("mistral_ai", "codestral-2508", "codestral"),
        ("mistral_ai", "codestral-latest", "codestral"),
        ("groq", "llama-3.3-70b-versatile", "llama-3.3-70b-versatile"),
        ("groq", "openai/gpt-oss-120b", "gpt-oss-120b"),
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
fn groq_openai_prefix_prices_under_groq() {
    let entry = embedded().lookup_entry("groq", "openai/gpt-oss-120b");
    assert_eq!(entry.map(|entry| entry.provider.as_str()), Some("groq"));
    assert_eq!(embedded().lookup("openai", "openai/gpt-oss-120b"), None);
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
        ("groq", "gpt-4o"),
        ("groq", "openai/gpt-5"),
        ("mistral_ai", "mistral-large-latest"),
        ("gcp.gemini", "claude-sonnet-4-5"),
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
fn override_replaces_same_provider_and_model() {
    let mut table = table_of(&[
        test_entry("openai", "model-a", "1"),
        test_entry("openai", "model-b", "2"),
        test_entry("groq", "model-a", "3"),
    ]);
    table.override_with(table_of(&[
        test_entry("openai", "model-a", "10"),
        test_entry("openai", "model-c", "30"),
    ]));
    table.override_with(table_of(&[test_entry("OpenAI", "Model-A", "100")]));

    let input = |provider: &str, model: &str| {
        table
            .lookup(provider, model)
            .map(|price| price.input_pico_usd / 1_000_000)
    };
    assert_eq!(input("openai", "model-a"), Some(100));
    assert_eq!(input("openai", "model-b"), Some(2));
    assert_eq!(input("openai", "model-c"), Some(30));
    assert_eq!(input("groq", "model-a"), Some(3));
    assert_eq!(table.entries().len(), 4);
}

#[test]
fn override_of_embedded_entry_wins_over_normalization() {
    let mut table = embedded().clone();
    table.override_with(table_of(&[test_entry("openai", "gpt-4o", "7")]));
    let price = table.lookup("openai", "gpt-4o-2024-08-06");
    assert_eq!(price.map(|price| price.input_pico_usd), Some(7_000_000));
    let azure = table.lookup("azure.ai.openai", "gpt-4o");
    assert_eq!(azure.map(|price| price.input_pico_usd), Some(7_000_000));
}

#[test]
fn azure_deployment_maps_to_model() {
    let mut table = embedded().clone();
    table.override_with(table_of(&[test_entry("azure.ai.openai", "eu-chat", "9")]));
    let deployments = BTreeMap::from([
        ("eu-chat".to_owned(), "gpt-4o-mini".to_owned()),
        ("Prod-Chat".to_owned(), "gpt-4o-mini".to_owned()),
        ("reasoner".to_owned(), "o4-mini-2025-04-16".to_owned()),
        ("gpt-4o".to_owned(), "gpt-4o-mini".to_owned()),
    ]);
    table.set_azure_deployments(&deployments);

    let cases = [
        ("azure.ai.openai", "prod-chat", Some("gpt-4o-mini")),
        ("az.ai.openai", "PROD-CHAT", Some("gpt-4o-mini")),
        ("azure", "reasoner", Some("o4-mini")),
        // A deployment named like a model prices as the model it is mapped to.
        ("azure.ai.openai", "gpt-4o", Some("gpt-4o-mini")),
        // An entry under the Azure provider itself wins over the mapping.
        ("azure.ai.openai", "eu-chat", Some("eu-chat")),
        // Deployment names apply to Azure OpenAI only.
        ("groq", "prod-chat", None),
        ("azure.ai.openai", "unknown-deployment", None),
    ];
    for (provider, model, expected) in cases {
        let matched = table
            .lookup_entry(provider, model)
            .map(|entry| entry.model.as_str());
        assert_eq!(matched, expected, "{provider} {model}");
    }
}

#[test]
fn omitted_prices_take_defaults() {
    let yaml = entry_yaml("cache_write", "").replace("    cache_read: 0.30\n", "");
    let table = PriceTable::from_yaml(&yaml).unwrap();
    let price = table.lookup("anthropic", "claude-test-1").unwrap();
    assert_eq!(price.cache_read_pico_usd, 3_000_000);
    assert_eq!(price.cache_creation_pico_usd, 3_000_000);
    assert_eq!(price.cache_creation_1h_pico_usd, 3_000_000);
    assert_eq!(price.reasoning_pico_usd, 15_000_000);
}

#[test]
fn omitted_1h_cache_write_is_5m_price() {
    let table = PriceTable::from_yaml(&entry_yaml("cache_write", "3.75")).unwrap();
    let price = table.lookup("anthropic", "claude-test-1").unwrap();
    assert_eq!(price.cache_creation_1h_pico_usd, 3_750_000);
}

#[test]
fn explicit_optional_prices_are_used() {
    let cases = [
        ("reasoning", "20", 20_000_000),
        ("cache_write_1h", "6", 6_000_000),
    ];
    for (field, value, expected) in cases {
        let table = PriceTable::from_yaml(&entry_yaml(field, value)).unwrap();
        let price = table.lookup("anthropic", "claude-test-1").unwrap();
        let actual = match field {
            "reasoning" => price.reasoning_pico_usd,
            _ => price.cache_creation_1h_pico_usd,
        };
        assert_eq!(actual, expected, "{field}");
    }
}

#[test]
fn bad_tier_and_long_context_name_path() {
    let cases = [
        (
            "tiers",
            "{ turbo: { input: 1, output: 2 } }",
            "models[0].tiers.turbo",
        ),
        (
            "tiers",
            "{ standard: { input: 1, output: 2 } }",
            "models[0].tiers.standard",
        ),
        (
            "tiers",
            "{ batch: { output: 2 } }",
            "models[0].tiers.batch.input",
        ),
        (
            "tiers",
            "{ batch: { input: 1, output: cheap } }",
            "models[0].tiers.batch.output",
        ),
        (
            "long_context",
            "{ input: 6, output: 22.5 }",
            "models[0].long_context.threshold_tokens",
        ),
        (
            "long_context",
            "{ threshold_tokens: 0, input: 6, output: 22.5 }",
            "models[0].long_context.threshold_tokens",
        ),
        (
            "long_context",
            "{ threshold_tokens: 200000, output: 22.5 }",
            "models[0].long_context.input",
        ),
        (
            "long_context",
            "{ threshold_tokens: 200000, input: 6, output: 22.5, tiers: { flex: { input: x, output: 1 } } }",
            "models[0].long_context.tiers.flex.input",
        ),
    ];
    for (field, value, expected_path) in cases {
        let error = load_error(field, value);
        assert_eq!(error.field_path(), expected_path, "{value}");
        let message = error.to_string();
        assert!(message.contains(&format!("`{expected_path}`")), "{message}");
        assert!(message.contains("`claude-test-1`"), "{message}");
    }
}

#[test]
fn values_are_validated_like_a_file() {
    let models: Vec<serde_yaml::Value> = serde_yaml::from_str(
        "- { provider: openai, model: inline-1, input: 1, output: 2, source: 'https://example.com', effective: 2025-01-01 }
- { provider: openai, model: inline-2, input: 1, output: 2, inptu: 3, source: 'https://example.com', effective: 2025-01-01 }
",
    )
    .unwrap();
    let error = PriceTable::from_values(&models).unwrap_err();
    assert_eq!(error.field_path(), "models[1].inptu");
    let message = error.to_string();
    assert!(message.contains("unknown field `inptu`"), "{message}");

    let table = PriceTable::from_values(&models[..1]).unwrap();
    assert_eq!(table.entries().len(), 1);
}

#[test]
fn duplicate_values_are_rejected() {
    let entry = "{ provider: openai, model: inline-1, input: 1, output: 2, source: 'https://example.com', effective: 2025-01-01 }";
    let models: Vec<serde_yaml::Value> =
        serde_yaml::from_str(&format!("- {entry}\n- {entry}\n")).unwrap();
    let error = PriceTable::from_values(&models).unwrap_err();
    assert_eq!(error.field_path(), "models[1]");
    assert!(matches!(error, PricingError::DuplicateModel { .. }));
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
    for field in ["provider", "input", "output", "source", "effective"] {
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
