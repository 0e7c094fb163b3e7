//! Whether an instrumentation's `gen_ai.usage.input_tokens` includes the
//! cache read and cache write tokens, by instrumentation scope name.

/// One rule: scopes whose name starts with `scope_prefix` report input
/// tokens including cache tokens when `includes_cache` is true.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputTokenRule {
    pub scope_prefix: String,
    pub includes_cache: bool,
}

/// Instrumentations whose counting is known, as (scope name prefix,
/// includes cache tokens):
/// - The Anthropic Python SDK's own spans (`com.anthropic.sdk.python`) and
///   OpenLLMetry's Anthropic instrumentation both add the API's
///   `cache_read_input_tokens` and `cache_creation_input_tokens` to its
///   `input_tokens`. The spans in `tests/fixtures/spans` show it for
///   anthropic 2.17.0 and opentelemetry-instrumentation-anthropic 0.62.4.
/// - OpenAI instrumentations (OpenLLMetry's `opentelemetry.instrumentation.openai.v1`,
///   and any other scope under that prefix) report OpenAI's `prompt_tokens`,
///   which include the cached tokens.
pub const BUILT_IN_INPUT_TOKEN_RULES: &[(&str, bool)] = &[
    ("com.anthropic.", true),
    ("opentelemetry.instrumentation.anthropic", true),
    ("opentelemetry.instrumentation.openai", true),
];

/// Returns whether the scope's input tokens include cache tokens: by the
/// first configured rule whose prefix matches, else by the built-in rules,
/// else `None`, which leaves the decision to the counts themselves.
pub fn input_tokens_include_cache(scope_name: &str, configured: &[InputTokenRule]) -> Option<bool> {
    let configured = configured
        .iter()
        .map(|rule| (rule.scope_prefix.as_str(), rule.includes_cache));
    configured
        .chain(BUILT_IN_INPUT_TOKEN_RULES.iter().copied())
        .find(|(prefix, _)| scope_name.starts_with(prefix))
        .map(|(_, includes_cache)| includes_cache)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(scope_prefix: &str, includes_cache: bool) -> InputTokenRule {
        InputTokenRule {
            scope_prefix: scope_prefix.to_owned(),
            includes_cache,
        }
    }

    #[test]
    fn built_in_scopes_include_cache() {
        let cases: &[(&str, Option<bool>)] = &[
            ("com.anthropic.sdk.python", Some(true)),
            ("opentelemetry.instrumentation.anthropic", Some(true)),
            ("opentelemetry.instrumentation.openai.v1", Some(true)),
            ("opentelemetry.instrumentation.openai_v2", Some(true)),
            ("opentelemetry.instrumentation.httpx", None),
            ("my.company.llm", None),
            ("", None),
        ];
        for (scope, expected) in cases {
            assert_eq!(
                input_tokens_include_cache(scope, &[]),
                *expected,
                "{scope:?}"
            );
        }
    }

    #[test]
    fn configured_rule_wins_over_built_in() {
        let configured = [rule("com.anthropic.", false)];
        let includes = input_tokens_include_cache("com.anthropic.sdk.python", &configured);
        assert_eq!(includes, Some(false));
    }

    #[test]
    fn first_matching_configured_rule_wins() {
        let configured = [rule("my.company.llm.raw", false), rule("my.company", true)];
        let cases: &[(&str, Option<bool>)] = &[
            ("my.company.llm.raw", Some(false)),
            ("my.company.llm", Some(true)),
            ("other", None),
        ];
        for (scope, expected) in cases {
            let includes = input_tokens_include_cache(scope, &configured);
            assert_eq!(includes, *expected, "{scope:?}");
        }
    }
}
