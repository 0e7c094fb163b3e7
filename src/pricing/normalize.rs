//! Model-id normalization: the many spellings of one model (dated snapshots,
//! router prefixes, Bedrock and Vertex ids, documented aliases) mapped to the
//! id that the price table uses.

use std::borrow::Cow;

/// Anthropic's alias ids, each pointing to a dated snapshot of a model in the
/// table (`claude-opus-4-0` to `claude-opus-4-20250514`), mapped to that model.
const ALIASES: &[(&str, &str)] = &[
    ("claude-opus-4-0", "claude-opus-4"),
    ("claude-sonnet-4-0", "claude-sonnet-4"),
    ("claude-3-7-sonnet-latest", "claude-3-7-sonnet"),
    ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
    ("claude-3-opus-latest", "claude-3-opus"),
];

/// Providers that resell OpenAI's models under OpenAI's model ids, as
/// `gen_ai.provider.name`, the older `gen_ai.system` and LiteLLM (`azure`)
/// name them.
const OPENAI_HOSTS: &[&str] = &["openai", "azure.ai.openai", "az.ai.openai", "azure"];

/// Cloud platforms that host Claude models under their own provider name, in
/// the same naming schemes.
const CLAUDE_HOSTS: &[&str] = &["aws.bedrock", "bedrock", "gcp.vertex_ai", "vertex_ai"];

/// Normalizes a model id to the form that the price table uses.
///
/// The steps, in order:
/// 1. Trim and lowercase.
/// 2. Keep the part after the last '/' (`openai/gpt-4o`,
///    `publishers/anthropic/models/...`, a Bedrock ARN).
/// 3. Unwrap a Bedrock id (`us.anthropic.claude-sonnet-4-5-20250929-v1:0`).
/// 4. Turn a Vertex `@YYYYMMDD` suffix into `-YYYYMMDD`.
/// 5. Strip a trailing date, `-YYYYMMDD` or `-YYYY-MM-DD`.
/// 6. Map an Anthropic alias (`claude-sonnet-4-0`) to its model.
pub fn normalize_model(model: &str) -> String {
    let snapshot = snapshot_id(model);
    base_id(&snapshot).to_owned()
}

/// Returns the model id with only the wrapping removed (lowercased, prefix,
/// Bedrock and Vertex forms), so that a table entry for a dated snapshot can
/// still match it.
pub(super) fn snapshot_id(model: &str) -> String {
    let lowercase = model.trim().to_lowercase();
    let after_path = match lowercase.rsplit_once('/') {
        Some((_, last)) => last,
        None => &lowercase,
    };
    let unwrapped = unwrap_bedrock_id(after_path);
    vertex_date_to_dash(unwrapped).into_owned()
}

/// Strips the date suffix of a snapshot id and maps an Anthropic alias.
pub(super) fn base_id(snapshot: &str) -> &str {
    let undated = strip_date_suffix(snapshot);
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == undated)
        .map_or(undated, |(_, model)| model)
}

/// Returns the provider whose entries price `model` when it is called through
/// `provider`: OpenAI for Azure OpenAI, Anthropic for a Claude model on
/// Bedrock or Vertex AI, and `provider` itself otherwise.
///
/// NOTE: this assumes that the host charges the provider's list price. A host
/// or regional endpoint that adds a premium is priced too low.
pub(super) fn price_list_provider<'a>(provider: &'a str, base_model: &str) -> &'a str {
    let is_one_of = |names: &[&str]| names.iter().any(|name| provider.eq_ignore_ascii_case(name));
    if is_one_of(OPENAI_HOSTS) {
        "openai"
    } else if is_one_of(CLAUDE_HOSTS) && base_model.starts_with("claude-") {
        "anthropic"
    } else {
        provider
    }
}

/// Unwraps a Bedrock model id or inference profile id: drops the region
/// prefix (`us.`, `eu.`, `global.`) and `anthropic.`, then the version suffix
/// (`-v1:0`, `-v1:0:200k`). Other ids are returned unchanged.
fn unwrap_bedrock_id(id: &str) -> &str {
    const VENDOR_PREFIX: &str = "anthropic.";
    let Some(start) = id.find(VENDOR_PREFIX) else {
        return id;
    };
    if start != 0 && !id[..start].ends_with('.') {
        return id;
    }

    let model = &id[start + VENDOR_PREFIX.len()..];
    let before_colon = model.split_once(':').map_or(model, |(head, _)| head);
    match before_colon.rsplit_once("-v") {
        Some((head, version))
            if !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit()) =>
        {
            head
        }
        _ => before_colon,
    }
}

/// Turns Vertex AI's `claude-3-5-haiku@20241022` into Anthropic's
/// `claude-3-5-haiku-20241022`. Other ids are returned unchanged.
fn vertex_date_to_dash(id: &str) -> Cow<'_, str> {
    match id.split_once('@') {
        Some((model, date)) if is_compact_date(date) => Cow::Owned(format!("{model}-{date}")),
        _ => Cow::Borrowed(id),
    }
}

fn strip_date_suffix(id: &str) -> &str {
    if let Some((model, date)) = id.rsplit_once('-')
        && is_compact_date(date)
    {
        return model;
    }

    // `-YYYY-MM-DD` is 11 bytes. The boundary check keeps `split_at` from
    // panicking inside a multi-byte character.
    let len = id.len();
    if len > 11 && id.is_char_boundary(len - 11) {
        let (model, suffix) = id.split_at(len - 11);
        if let Some(date) = suffix.strip_prefix('-')
            && is_dashed_date(date)
        {
            return model;
        }
    }
    id
}

fn is_compact_date(text: &str) -> bool {
    text.len() == 8
        && text.bytes().all(|b| b.is_ascii_digit())
        && chrono::NaiveDate::parse_from_str(text, "%Y%m%d").is_ok()
}

fn is_dashed_date(text: &str) -> bool {
    text.len() == 10 && chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_model_handles_every_form() {
        let cases = [
            // Already normalized.
            ("claude-sonnet-4-5", "claude-sonnet-4-5"),
            ("gpt-4o", "gpt-4o"),
            ("o1", "o1"),
            ("gpt-5.1", "gpt-5.1"),
            // Case and whitespace.
            ("Claude-Sonnet-4-5", "claude-sonnet-4-5"),
            ("  GPT-4o-Mini ", "gpt-4o-mini"),
            // Date suffixes.
            ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
            ("claude-opus-4-1-20250805", "claude-opus-4-1"),
            ("claude-opus-4-20250514", "claude-opus-4"),
            ("claude-3-haiku-20240307", "claude-3-haiku"),
            ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
            ("o4-mini-2025-04-16", "o4-mini"),
            ("gpt-4.1-2025-04-14", "gpt-4.1"),
            ("gpt-5.1-2025-11-13", "gpt-5.1"),
            ("o1-2024-12-17", "o1"),
            // Provider and path prefixes.
            ("openai/gpt-4o", "gpt-4o"),
            ("anthropic/claude-3-7-sonnet-20250219", "claude-3-7-sonnet"),
            ("azure/gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"),
            // Vertex AI.
            ("claude-3-5-haiku@20241022", "claude-3-5-haiku"),
            ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),
            (
                "publishers/anthropic/models/claude-sonnet-4-5@20250929",
                "claude-sonnet-4-5",
            ),
            ("claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet-v2"),
            // Bedrock model ids and inference profiles.
            (
                "anthropic.claude-3-5-haiku-20241022-v1:0",
                "claude-3-5-haiku",
            ),
            (
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                "claude-sonnet-4-5",
            ),
            (
                "eu.anthropic.claude-3-7-sonnet-20250219-v1:0",
                "claude-3-7-sonnet",
            ),
            (
                "global.anthropic.claude-haiku-4-5-20251001-v1:0",
                "claude-haiku-4-5",
            ),
            (
                "anthropic.claude-3-haiku-20240307-v1:0:200k",
                "claude-3-haiku",
            ),
            (
                "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-opus-4-1-20250805-v1:0",
                "claude-opus-4-1",
            ),
            (
                "bedrock/us.anthropic.claude-sonnet-4-20250514-v1:0",
                "claude-sonnet-4",
            ),
            // Documented aliases.
            ("claude-sonnet-4-0", "claude-sonnet-4"),
            ("claude-opus-4-0", "claude-opus-4"),
            ("claude-3-7-sonnet-latest", "claude-3-7-sonnet"),
            ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
            ("claude-3-opus-latest", "claude-3-opus"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize_model(input), expected, "{input:?}");
        }
    }

    #[test]
    fn normalize_model_keeps_non_date_suffixes() {
        let cases = [
            // Eight digits that are not a date.
            ("gpt-4o-12345678", "gpt-4o-12345678"),
            ("gpt-4o-2024-13-45", "gpt-4o-2024-13-45"),
            // Ids that are not aliases stay as they are.
            ("claude-opus-4-1", "claude-opus-4-1"),
            ("claude-haiku-4-5", "claude-haiku-4-5"),
            // A fine-tuned model has its own price, so it stays unmatched.
            (
                "ft:gpt-4o-mini-2024-07-18:acme::abc123",
                "ft:gpt-4o-mini-2024-07-18:acme::abc123",
            ),
            // A Vertex suffix other than a date is left alone.
            ("claude-3-5-haiku@latest", "claude-3-5-haiku@latest"),
            // `anthropic.` inside a name is no Bedrock prefix.
            ("notanthropic.claude-3-haiku", "notanthropic.claude-3-haiku"),
            ("", ""),
            ("µ-20250929", "µ"),
            ("µµµµµµ", "µµµµµµ"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize_model(input), expected, "{input:?}");
        }
    }

    #[test]
    fn snapshot_id_keeps_the_date() {
        let cases = [
            ("openai/gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),
            ("claude-3-5-haiku@20241022", "claude-3-5-haiku-20241022"),
            (
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                "claude-sonnet-4-5-20250929",
            ),
            ("GPT-4o", "gpt-4o"),
        ];
        for (input, expected) in cases {
            assert_eq!(snapshot_id(input), expected, "{input:?}");
        }
    }

    #[test]
    fn price_list_provider_maps_hosts() {
        let cases = [
            ("openai", "gpt-4o", "openai"),
            ("azure.ai.openai", "gpt-4o", "openai"),
            ("az.ai.openai", "gpt-4o", "openai"),
            ("anthropic", "claude-sonnet-4-5", "anthropic"),
            ("aws.bedrock", "claude-sonnet-4-5", "anthropic"),
            ("gcp.vertex_ai", "claude-3-5-haiku", "anthropic"),
            ("AWS.Bedrock", "claude-sonnet-4-5", "anthropic"),
            ("aws.bedrock", "llama3-70b-instruct", "aws.bedrock"),
            ("groq", "gpt-oss-120b", "groq"),
        ];
        for (provider, model, expected) in cases {
            assert_eq!(
                price_list_provider(provider, model),
                expected,
                "{provider} {model}"
            );
        }
    }
}
