//! Model-id normalization: the many spellings of one model (dated snapshots,
//! router prefixes, Bedrock and Vertex ids, documented aliases) mapped to the
//! id that the price table uses, and the host-to-list-provider mapping.
//!
//! Hosts that charge the model maker's list price are priced from the maker's
//! entries: Azure OpenAI (global deployments) from OpenAI's, and Claude on
//! Bedrock and Vertex AI from Anthropic's. Gemini on Vertex AI is priced
//! from the Gemini Developer API's entries.
//!
//! NOTE: Vertex AI's own Gemini prices were not compared with the Developer
//! API's, so a difference between them is not priced.

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

/// Provider names of Google's Gemini APIs in the GenAI semantic conventions:
/// `gcp.gemini` is the Gemini Developer API, `gcp.vertex_ai` Vertex AI and
/// `gcp.gen_ai` a client that does not say which of the two it called.
const GEMINI_PROVIDER: &str = "gcp.gemini";
const GEMINI_HOSTS: &[&str] = &["gcp.vertex_ai", "vertex_ai", "gcp.gen_ai"];

/// Prefixes of Mistral model families whose ids end in a `-YYMM` version,
/// such as `mistral-large-2411`.
const MISTRAL_FAMILIES: &[&str] = &[
    "mistral-",
    "codestral-",
    "ministral-",
    "magistral-",
    "pixtral-",
    "devstral-",
    "open-mistral-",
];

/// Normalizes a model id to the form that the price table uses.
///
/// The steps, in order:
/// 1. Trim and lowercase.
/// 2. Keep the part after the last '/' (`openai/gpt-4o`,
///    `publishers/anthropic/models/...`, a Bedrock ARN).
/// 3. Unwrap a Bedrock id (`us.anthropic.claude-sonnet-4-5-20250929-v1:0`).
/// 4. Turn a Vertex `@YYYYMMDD` suffix into `-YYYYMMDD`.
/// 5. Strip a trailing date (`-YYYYMMDD`, `-YYYY-MM-DD`), a Mistral version
///    (`mistral-large-2411`), a Gemini stable version (`gemini-2.5-pro-001`)
///    or `-latest`.
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

/// Strips the date or version suffix of a snapshot id and maps an Anthropic
/// alias.
pub(super) fn base_id(snapshot: &str) -> &str {
    let undated = strip_version_suffix(strip_date_suffix(snapshot));
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == undated)
        .map_or(undated, |(_, model)| model)
}

/// Returns the provider whose entries price `model` when it is called through
/// `provider`: OpenAI for Azure OpenAI, Anthropic for a Claude model on
/// Bedrock or Vertex AI, `gcp.gemini` for a Gemini model on Vertex AI, and
/// `provider` itself otherwise. Groq keeps its own entries even for ids
/// that start with `openai/`.
///
/// NOTE: this assumes that the host charges the list price, which holds for
/// Azure OpenAI global deployments and Bedrock global inference profiles.
/// Bedrock's geographic (`us.`, `eu.`) profiles and in-Region endpoints cost
/// more for some Claude models. AWS documents the global profile of Claude
/// Sonnet 4.5 as about 10% cheaper, with no exact figure per model. Azure
/// regional and data-zone deployments can also cost more. Such calls are
/// priced too low unless a price file adds entries under `aws.bedrock` or
/// `azure.ai.openai`.
pub(super) fn price_list_provider<'a>(provider: &'a str, base_model: &str) -> &'a str {
    let is_one_of = |names: &[&str]| names.iter().any(|name| provider.eq_ignore_ascii_case(name));
    if is_azure_openai_host(provider) {
        "openai"
    } else if is_one_of(CLAUDE_HOSTS) && base_model.starts_with("claude-") {
        "anthropic"
    } else if is_one_of(GEMINI_HOSTS) && base_model.starts_with("gemini-") {
        GEMINI_PROVIDER
    } else {
        provider
    }
}

/// Returns whether `provider` names Azure OpenAI (or OpenAI itself), whose
/// model field may be a deployment name.
pub(super) fn is_azure_openai_host(provider: &str) -> bool {
    OPENAI_HOSTS
        .iter()
        .any(|name| provider.eq_ignore_ascii_case(name))
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

/// Strips `-latest`, the `-YYMM` version of a Mistral model and the `-NNN`
/// stable version of a Gemini model. Other ids are returned unchanged.
fn strip_version_suffix(id: &str) -> &str {
    if let Some(model) = id.strip_suffix("-latest") {
        return model;
    }
    let Some((model, version)) = id.rsplit_once('-') else {
        return id;
    };
    let all_digits = version.bytes().all(|b| b.is_ascii_digit());
    let is_mistral = MISTRAL_FAMILIES.iter().any(|family| id.starts_with(family));
    let is_gemini = id.starts_with("gemini-");
    if all_digits && ((is_mistral && version.len() == 4) || (is_gemini && version.len() == 3)) {
        model
    } else {
        id
    }
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
            // Gemini: API resource names, Vertex publisher paths, stable
            // versions.
            ("gemini-2.5-pro", "gemini-2.5-pro"),
            ("models/gemini-2.5-pro", "gemini-2.5-pro"),
            (
                "projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash-lite",
                "gemini-2.5-flash-lite",
            ),
            ("gemini-2.5-pro-001", "gemini-2.5-pro"),
            ("gemini-2.5-flash-lite-latest", "gemini-2.5-flash-lite"),
            // Mistral: `-latest` aliases and `-YYMM` versions.
            ("mistral-large-latest", "mistral-large"),
            ("mistral-large-2411", "mistral-large"),
            ("mistral-medium-2505", "mistral-medium"),
            ("codestral-2508", "codestral"),
            ("open-mistral-nemo-2407", "open-mistral-nemo"),
            ("mistral/mistral-small-latest", "mistral-small"),
            // Groq: model ids with an organization prefix.
            ("llama-3.3-70b-versatile", "llama-3.3-70b-versatile"),
            ("openai/gpt-oss-120b", "gpt-oss-120b"),
            (
                "meta-llama/llama-4-scout-17b-16e-instruct",
                "llama-4-scout-17b-16e-instruct",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize_model(input), expected, "{input:?}");
        }
    }

    #[test]
    fn version_suffix_is_stripped_per_family() {
        let cases = [
            // Four digits are a version only for a Mistral family.
            ("llama-3.1-8b-2024", "llama-3.1-8b-2024"),
            ("gpt-4-0613", "gpt-4-0613"),
            // Three digits are a version only for Gemini.
            ("mistral-large-241", "mistral-large-241"),
            ("gpt-oss-120", "gpt-oss-120"),
            ("gemini-2.5-pro-01", "gemini-2.5-pro-01"),
            ("gemini-2.5-pro-preview", "gemini-2.5-pro-preview"),
            ("mistral-large-24x1", "mistral-large-24x1"),
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
            ("mistral-large-2411", "mistral-large-2411"),
            ("openai/gpt-oss-120b", "gpt-oss-120b"),
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
            ("groq", "gpt-4o", "groq"),
            ("azure", "gpt-4o", "openai"),
            ("gcp.gemini", "gemini-2.5-pro", "gcp.gemini"),
            ("gcp.vertex_ai", "gemini-2.5-pro", "gcp.gemini"),
            ("gcp.gen_ai", "gemini-2.5-pro", "gcp.gemini"),
            ("gcp.gen_ai", "claude-sonnet-4-5", "gcp.gen_ai"),
            ("gcp.vertex_ai", "mistral-large-2411", "gcp.vertex_ai"),
            ("mistral_ai", "mistral-large", "mistral_ai"),
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
