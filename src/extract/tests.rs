use std::time::{Duration, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use super::*;
use crate::call::{LimitKind, Outcome, ServiceTier, TokenCounts};
use crate::ledger::{Ledger, Now, SeriesKey};
use crate::pricing::Prices;

pub(crate) fn extract_all(request: &ExportTraceServiceRequest) -> Extracted {
    extract(request, DEFAULT_MAX_ATTRIBUTES)
}

/// Loads a request that the real Python SDKs sent, saved as OTLP/JSON.
pub(crate) fn fixture(case: &str) -> ExportTraceServiceRequest {
    let path = format!(
        "{}/tests/fixtures/spans/{case}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let mut requests: Vec<ExportTraceServiceRequest> = serde_json::from_str(&text).unwrap();
    assert_eq!(requests.len(), 1, "{path} holds one request");
    requests.remove(0)
}

fn string(key: &str, value: &str) -> KeyValue {
    attribute(key, any_value::Value::StringValue(value.to_owned()))
}

fn int(key: &str, value: i64) -> KeyValue {
    attribute(key, any_value::Value::IntValue(value))
}

fn attribute(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

pub(crate) fn request_with(
    spans: Vec<Span>,
    service: &str,
    scope: &str,
) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string("service.name", service)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(
                    opentelemetry_proto::tonic::common::v1::InstrumentationScope {
                        name: scope.to_owned(),
                        ..Default::default()
                    },
                ),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

pub(crate) fn span(attributes: Vec<KeyValue>, end_seconds: u64) -> Span {
    Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        start_time_unix_nano: (end_seconds - 1) * 1_000_000_000,
        end_time_unix_nano: end_seconds * 1_000_000_000,
        attributes,
        ..Default::default()
    }
}

#[test]
fn anthropic_sdk_span_partitions_cache_tokens() {
    let extracted = extract_all(&fixture("anthropic_cache"));
    assert_eq!(extracted.span_count, 3);
    assert_eq!(extracted.llm_spans.len(), 2);
    assert_eq!(extracted.http_spans.len(), 1);

    let sdk = extracted
        .llm_spans
        .iter()
        .find(|call| call.source == Source::VendorSdk)
        .unwrap();
    assert_eq!(&*sdk.service, "checkout");
    assert_eq!(sdk.provider, "anthropic");
    assert_eq!(sdk.operation, "chat");
    assert_eq!(sdk.request_model.as_deref(), Some("claude-sonnet-4-5"));
    assert_eq!(
        sdk.response_model.as_deref(),
        Some("claude-sonnet-4-5-20250929")
    );
    assert_eq!(sdk.outcome, Outcome::Ok);
    let expected = TokenCounts {
        input: 1200,
        output: 350,
        cache_read: 30000,
        cache_creation: 2000,
        reasoning: 0,
    };
    assert_eq!(sdk.tokens, Some(expected));
}

#[test]
fn openllmetry_span_uses_cache_creation_name() {
    let extracted = extract_all(&fixture("anthropic_cache"));
    let openllmetry = extracted
        .llm_spans
        .iter()
        .find(|call| call.source == Source::OpenLlmetry)
        .unwrap();
    let tokens = openllmetry.tokens.unwrap();
    assert_eq!(tokens.input, 1200);
    assert_eq!(tokens.cache_creation, 2000);
    assert_eq!(tokens.cache_read, 30000);
}

#[test]
fn http_child_carries_anthropic_headers() {
    let extracted = extract_all(&fixture("anthropic_cache"));
    let child = &extracted.http_spans[0];
    let sdk = extracted
        .llm_spans
        .iter()
        .find(|call| call.source == Source::VendorSdk)
        .unwrap();
    assert_eq!(child.trace_id, sdk.trace_id);
    assert_eq!(child.parent_span_id, sdk.span_id);
    assert_eq!(child.status_code, Some(200));

    let limits = &child.rate_limits.limits;
    let kinds: Vec<LimitKind> = limits.iter().map(|(kind, _)| *kind).collect();
    assert_eq!(kinds, LimitKind::ALL[..4]);
    let requests = limits[0].1;
    assert_eq!(requests.limit, Some(4000));
    assert_eq!(requests.remaining, Some(3999));
    assert!(requests.reset_at.is_some());
    assert!(child.rate_limits.invalid.is_empty());
}

#[test]
fn openai_reasoning_and_duration_reset() {
    let extracted = extract_all(&fixture("openai_reasoning"));
    let call = &extracted.llm_spans[0];
    assert_eq!(call.source, Source::OpenLlmetry);
    let expected = TokenCounts {
        input: 476,
        output: 172,
        cache_read: 1024,
        cache_creation: 0,
        reasoning: 128,
    };
    assert_eq!(call.tokens, Some(expected));

    let child = &extracted.http_spans[0];
    let tokens = child
        .rate_limits
        .limits
        .iter()
        .find(|(kind, _)| *kind == LimitKind::Tokens)
        .unwrap()
        .1;
    assert_eq!(
        tokens.reset_at,
        Some(child.end_time + Duration::from_secs(360))
    );
    let requests = child
        .rate_limits
        .limits
        .iter()
        .find(|(kind, _)| *kind == LimitKind::Requests)
        .unwrap()
        .1;
    assert_eq!(
        requests.reset_at,
        Some(child.end_time + Duration::from_millis(1))
    );
}

#[test]
fn rate_limited_call_from_error_type() {
    let extracted = extract_all(&fixture("anthropic_429"));
    for call in &extracted.llm_spans {
        assert_eq!(call.outcome, Outcome::RateLimited, "{:?}", call.source);
        assert_eq!(call.tokens, None);
    }
    assert_eq!(extracted.http_spans[0].status_code, Some(429));
    assert!(
        extracted.http_spans[0]
            .rate_limits
            .retry_after_until
            .is_some()
    );
}

#[test]
fn deprecated_attribute_names() {
    let attributes = vec![
        string("gen_ai.system", "OpenAI"),
        string("gen_ai.request.model", "gpt-4o"),
        int("gen_ai.usage.prompt_tokens", 100),
        int("gen_ai.usage.completion_tokens", 40),
    ];
    let extracted = extract_all(&request_with(
        vec![span(attributes, 100)],
        "svc",
        "my.scope",
    ));
    let call = &extracted.llm_spans[0];
    assert_eq!(call.provider, "openai");
    assert_eq!(call.operation, "chat");
    assert_eq!(call.source, Source::Other);
    assert_eq!(call.tokens.unwrap().input, 100);
    assert_eq!(call.tokens.unwrap().output, 40);
}

#[test]
fn current_name_wins_over_deprecated() {
    let attributes = vec![
        string("gen_ai.provider.name", "anthropic"),
        string("gen_ai.system", "other"),
        int("gen_ai.usage.prompt_tokens", 1),
        int("gen_ai.usage.input_tokens", 7),
    ];
    let extracted = extract_all(&request_with(vec![span(attributes, 100)], "svc", "s"));
    assert_eq!(extracted.llm_spans[0].provider, "anthropic");
    assert_eq!(extracted.llm_spans[0].tokens.unwrap().input, 7);
}

#[test]
fn headers_on_llm_span_with_dashes_and_ints() {
    let array = any_value::Value::ArrayValue(ArrayValue {
        values: vec![AnyValue {
            value: Some(any_value::Value::StringValue("20ms".to_owned())),
        }],
    });
    let attributes = vec![
        string("gen_ai.provider.name", "openai"),
        int("http.response.header.x-ratelimit-limit-requests", 500),
        string("http.response.header.x-ratelimit-remaining-requests", "499"),
        attribute("http.response.header.x_ratelimit_reset_requests", array),
        string("http.response.header.retry-after-ms", "1500"),
    ];
    let extracted = extract_all(&request_with(vec![span(attributes, 100)], "svc", "s"));
    let observation = &extracted.llm_spans[0].rate_limits;
    let end = UNIX_EPOCH + Duration::from_secs(100);
    let (kind, reading) = observation.limits[0];
    assert_eq!(kind, LimitKind::Requests);
    assert_eq!(reading.limit, Some(500));
    assert_eq!(reading.remaining, Some(499));
    assert_eq!(reading.reset_at, Some(end + Duration::from_millis(20)));
    assert_eq!(
        observation.retry_after_until,
        Some(end + Duration::from_millis(1500))
    );
}

#[test]
fn agent_and_tool_spans_are_not_calls() {
    let spans = vec![
        span(
            vec![
                string("gen_ai.provider.name", "openai"),
                string("gen_ai.operation.name", "invoke_agent"),
            ],
            10,
        ),
        span(
            vec![
                string("gen_ai.provider.name", "openai"),
                string("gen_ai.operation.name", "execute_tool"),
            ],
            10,
        ),
    ];
    let extracted = extract_all(&request_with(spans, "svc", "s"));
    assert!(extracted.llm_spans.is_empty());
    assert_eq!(extracted.span_count, 2);
}

#[test]
fn invalid_token_values_are_ignored_and_counted() {
    let cases: Vec<(any_value::Value, AttributeProblem)> = vec![
        (any_value::Value::IntValue(-5), AttributeProblem::Negative),
        (
            any_value::Value::DoubleValue(1.5),
            AttributeProblem::Fractional,
        ),
        (
            any_value::Value::DoubleValue(f64::NAN),
            AttributeProblem::NotFinite,
        ),
        (
            any_value::Value::DoubleValue(-3.0),
            AttributeProblem::Negative,
        ),
        (
            any_value::Value::StringValue("many".to_owned()),
            AttributeProblem::NotNumeric,
        ),
        (
            any_value::Value::StringValue("-7".to_owned()),
            AttributeProblem::Negative,
        ),
        (
            any_value::Value::IntValue(100_000_001),
            AttributeProblem::TooLarge,
        ),
        (
            any_value::Value::DoubleValue(1e300),
            AttributeProblem::TooLarge,
        ),
        (
            any_value::Value::BoolValue(true),
            AttributeProblem::WrongType,
        ),
    ];
    for (value, problem) in cases {
        let attributes = vec![
            string("gen_ai.provider.name", "openai"),
            attribute("gen_ai.usage.input_tokens", value.clone()),
            int("gen_ai.usage.output_tokens", 9),
        ];
        let extracted = extract_all(&request_with(vec![span(attributes, 100)], "svc", "s"));
        let call = &extracted.llm_spans[0];
        assert_eq!(call.tokens.unwrap().input, 0, "{value:?}");
        assert_eq!(call.tokens.unwrap().output, 9, "{value:?}");
        assert_eq!(extracted.attribute_problems.get(problem), 1, "{value:?}");
    }
}

#[test]
fn numeric_strings_and_integral_doubles_are_counts() {
    let attributes = vec![
        string("gen_ai.provider.name", "openai"),
        string("gen_ai.usage.input_tokens", " 12 "),
        attribute(
            "gen_ai.usage.output_tokens",
            any_value::Value::DoubleValue(7.0),
        ),
    ];
    let extracted = extract_all(&request_with(vec![span(attributes, 100)], "svc", "s"));
    let tokens = extracted.llm_spans[0].tokens.unwrap();
    assert_eq!(tokens.input, 12);
    assert_eq!(tokens.output, 7);
    assert_eq!(extracted.attribute_problems, AttributeProblems::default());
}

#[test]
fn giant_model_name_is_rejected() {
    let attributes = vec![
        string("gen_ai.provider.name", "openai"),
        string("gen_ai.request.model", &"m".repeat(MAX_LABEL_BYTES + 1)),
        int("gen_ai.usage.input_tokens", 3),
    ];
    let extracted = extract_all(&request_with(vec![span(attributes, 100)], "svc", "s"));
    assert_eq!(extracted.llm_spans[0].request_model, None);
    assert_eq!(extracted.llm_spans[0].tokens.unwrap().input, 3);
    assert_eq!(
        extracted.attribute_problems.get(AttributeProblem::TooLong),
        1
    );
}

#[test]
fn attributes_past_limit_are_not_read() {
    let mut attributes: Vec<KeyValue> = (0..10)
        .map(|index| int(&format!("filler.{index}"), index))
        .collect();
    attributes.insert(0, string("gen_ai.provider.name", "openai"));
    attributes.push(int("gen_ai.usage.input_tokens", 5));
    let request = request_with(vec![span(attributes, 100)], "svc", "s");
    let extracted = extract(&request, 4);
    assert_eq!(extracted.truncated_spans, 1);
    assert_eq!(extracted.llm_spans[0].tokens, None);
}

#[test]
fn exclusive_input_is_detected() {
    // Anthropic's API reports input without cache tokens; 10 < 500 + 0 can
    // only mean that.
    let attributes = vec![
        string("gen_ai.provider.name", "anthropic"),
        int("gen_ai.usage.input_tokens", 10),
        int("gen_ai.usage.cache_read.input_tokens", 500),
    ];
    let extracted = extract_all(&request_with(vec![span(attributes, 100)], "svc", "s"));
    let tokens = extracted.llm_spans[0].tokens.unwrap();
    assert_eq!(tokens.input, 10);
    assert_eq!(tokens.cache_read, 500);
}

#[test]
fn missing_service_name_is_unknown_service() {
    let mut request = request_with(
        vec![span(vec![string("gen_ai.provider.name", "openai")], 5)],
        "x",
        "s",
    );
    request.resource_spans[0].resource = None;
    let extracted = extract_all(&request);
    assert_eq!(&*extracted.llm_spans[0].service, "unknown_service");
}

#[test]
fn giant_service_name_is_unknown_service() {
    let request = request_with(
        vec![span(vec![string("gen_ai.provider.name", "openai")], 5)],
        &"s".repeat(MAX_LABEL_BYTES + 1),
        "scope",
    );
    let extracted = extract_all(&request);
    assert_eq!(&*extracted.llm_spans[0].service, "unknown_service");
    assert_eq!(
        extracted.attribute_problems.get(AttributeProblem::TooLong),
        1
    );
}

/// A made-up API key that must never appear in extraction's output.
const RAW_KEY: &str = "sk-test-Zq8rT1vX9yW2";

fn string_array(key: &str, value: &str) -> KeyValue {
    let array = any_value::Value::ArrayValue(ArrayValue {
        values: vec![AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }],
    });
    attribute(key, array)
}

/// Returns an HTTP client span whose parent is the span that [`span`] makes.
fn http_child(attributes: Vec<KeyValue>, end_seconds: u64) -> Span {
    let mut child = span(attributes, end_seconds);
    child.span_id = vec![3; 8];
    child.parent_span_id = vec![2; 8];
    child
}

fn key_hash(key: &str) -> String {
    use sha2::{Digest, Sha256};
    let hex: String = Sha256::digest(key.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("key:{}", &hex[..16])
}

#[test]
fn key_id_from_each_credential_header() {
    let bearer = format!("Bearer {RAW_KEY}");
    let cases: Vec<KeyValue> = vec![
        string_array("http.request.header.x_api_key", RAW_KEY),
        string("http.request.header.x-api-key", RAW_KEY),
        string_array("http.request.header.api_key", RAW_KEY),
        string("http.request.header.api-key", RAW_KEY),
        string_array("http.request.header.authorization", &bearer),
        string("http.request.header.Authorization", &bearer),
    ];
    let expected = key_hash(RAW_KEY);
    for header in cases {
        let name = header.key.clone();
        let attributes = vec![header, int("http.status_code", 200)];
        let extracted = extract_all(&request_with(
            vec![http_child(attributes, 100)],
            "svc",
            "opentelemetry.instrumentation.httpx",
        ));
        let key_id = extracted.http_spans[0].key_id.as_deref();
        assert_eq!(key_id, Some(expected.as_str()), "{name}");
        assert!(!format!("{extracted:?}").contains(RAW_KEY), "{name}");
    }
}

#[test]
fn key_id_prefers_credential_over_account() {
    let attributes = vec![
        string_array("http.request.header.authorization", "Bearer other-key"),
        string_array("http.request.header.x_api_key", RAW_KEY),
        string_array("http.response.header.anthropic_organization_id", "org-1"),
        int("http.status_code", 200),
    ];
    let extracted = extract_all(&request_with(vec![http_child(attributes, 100)], "svc", "s"));
    let expected = key_hash(RAW_KEY);
    assert_eq!(
        extracted.http_spans[0].key_id.as_deref(),
        Some(expected.as_str())
    );
}

#[test]
fn key_id_from_account_headers() {
    let cases: Vec<(Vec<KeyValue>, &str)> = vec![
        (
            vec![string_array(
                "http.response.header.anthropic_organization_id",
                "5f0c2d1e",
            )],
            "org:5f0c2d1e",
        ),
        (
            vec![string_array(
                "http.response.header.openai_organization",
                "org-abc",
            )],
            "org:org-abc",
        ),
        (
            vec![
                string("http.response.header.openai-organization", "org-abc"),
                string("http.response.header.openai-project", "proj_42"),
            ],
            "org:org-abc/project:proj_42",
        ),
    ];
    for (mut attributes, expected) in cases {
        attributes.push(int("http.status_code", 200));
        let extracted = extract_all(&request_with(vec![http_child(attributes, 100)], "svc", "s"));
        assert_eq!(
            extracted.http_spans[0].key_id.as_deref(),
            Some(expected),
            "{expected}"
        );
    }
}

#[test]
fn anthropic_sdk_span_names_organization() {
    let extracted = extract_all(&fixture("anthropic_cache"));
    let sdk = extracted
        .llm_spans
        .iter()
        .find(|call| call.source == Source::VendorSdk)
        .unwrap();
    assert_eq!(
        sdk.key_id.as_deref(),
        Some("org:5f0c2d1e-8a4b-4c6d-9e7f-1a2b3c4d5e6f")
    );
}

#[test]
fn span_without_credentials_has_no_key_id() {
    let extracted = extract_all(&fixture("openai_reasoning"));
    assert_eq!(extracted.llm_spans[0].key_id, None);
    assert_eq!(extracted.http_spans[0].key_id, None);
}

#[test]
fn child_key_id_reaches_call_on_join() {
    let mut call = extract_all(&request_with(
        vec![span(vec![string("gen_ai.provider.name", "openai")], 100)],
        "svc",
        "s",
    ))
    .llm_spans
    .remove(0);
    let attributes = vec![
        string_array(
            "http.request.header.authorization",
            &format!("Bearer {RAW_KEY}"),
        ),
        int("http.status_code", 200),
    ];
    let mut child = extract_all(&request_with(vec![http_child(attributes, 100)], "svc", "s"))
        .http_spans
        .remove(0);
    call.join_child(&mut child);
    let expected = key_hash(RAW_KEY);
    assert_eq!(call.key_id.as_deref(), Some(expected.as_str()));

    // A call that names its account keeps it.
    call.key_id = Some("org:own".into());
    call.join_child(&mut child);
    assert_eq!(call.key_id.as_deref(), Some("org:own"));
}

fn groq_headers() -> Vec<KeyValue> {
    vec![
        string_array("http.response.header.x_ratelimit_limit_requests", "14400"),
        string_array(
            "http.response.header.x_ratelimit_remaining_requests",
            "14370",
        ),
        string_array(
            "http.response.header.x_ratelimit_reset_requests",
            "2m59.56s",
        ),
        string_array("http.response.header.x_ratelimit_limit_tokens", "18000"),
        int("http.status_code", 200),
    ]
}

fn kinds_of(observation: &crate::call::RateLimitObservation) -> Vec<LimitKind> {
    observation.limits.iter().map(|(kind, _)| *kind).collect()
}

#[test]
fn http_span_host_selects_provider() {
    let cases: &[(&str, &str, Vec<LimitKind>)] = &[
        (
            "server.address",
            "api.groq.com",
            vec![LimitKind::Tokens, LimitKind::RequestsPerDay],
        ),
        (
            "url.full",
            "https://api.groq.com/openai/v1/chat/completions",
            vec![LimitKind::Tokens, LimitKind::RequestsPerDay],
        ),
        (
            "http.url",
            "https://api.groq.com/openai/v1/chat/completions",
            vec![LimitKind::Tokens, LimitKind::RequestsPerDay],
        ),
        (
            "url.full",
            "https://api.openai.com/v1/chat/completions",
            vec![LimitKind::Requests, LimitKind::Tokens],
        ),
        (
            "http.url",
            "http://127.0.0.1:33813/v1/chat/completions",
            vec![LimitKind::Requests, LimitKind::Tokens],
        ),
    ];
    for (name, value, expected) in cases {
        let mut attributes = groq_headers();
        attributes.push(string(name, value));
        let extracted = extract_all(&request_with(vec![http_child(attributes, 100)], "svc", "s"));
        let kinds = kinds_of(&extracted.http_spans[0].rate_limits);
        assert_eq!(&kinds, expected, "{name} = {value}");
    }
}

#[test]
fn groq_headers_on_llm_span_are_per_day() {
    let mut attributes = groq_headers();
    attributes.push(string("gen_ai.provider.name", "groq"));
    let extracted = extract_all(&request_with(vec![span(attributes, 100)], "svc", "s"));
    let observation = &extracted.llm_spans[0].rate_limits;
    assert_eq!(
        kinds_of(observation),
        [LimitKind::Tokens, LimitKind::RequestsPerDay]
    );
    let daily = observation.limits[1].1;
    assert_eq!(daily.limit, Some(14_400));
    assert_eq!(daily.remaining, Some(14_370));
    assert_eq!(
        daily.reset_at,
        Some(UNIX_EPOCH + Duration::new(100 + 179, 560_000_000))
    );
}

#[test]
fn ledger_reads_groq_child_by_parent_provider() {
    // The child's host is a local proxy, so only the parent names Groq.
    let mut child_attributes = groq_headers();
    child_attributes.push(string(
        "http.url",
        "http://127.0.0.1:8080/v1/chat/completions",
    ));
    let parent = span(
        vec![
            string("gen_ai.provider.name", "groq"),
            string("gen_ai.request.model", "llama-3.3-70b-versatile"),
        ],
        101,
    );
    let service_key = SeriesKey {
        provider: "groq".into(),
        model: "llama-3.3-70b-versatile".into(),
        service: "svc".into(),
        extra: Arc::from([]),
    };

    // Child before parent in one request, and child after parent in a later one.
    let orders = [
        vec![vec![
            http_child(child_attributes.clone(), 100),
            parent.clone(),
        ]],
        vec![vec![parent], vec![http_child(child_attributes, 100)]],
    ];
    for (index, requests) in orders.into_iter().enumerate() {
        let ledger = Ledger::new(Prices::embedded());
        for spans in requests {
            let extracted = extract_all(&request_with(spans, "svc", "s"));
            ledger.record(extracted, Now::current());
        }
        let kinds: Vec<LimitKind> = ledger.read(|series, _| {
            series[&service_key]
                .limits
                .keys()
                .map(|(_, kind)| *kind)
                .collect()
        });
        assert_eq!(
            kinds,
            [LimitKind::Tokens, LimitKind::RequestsPerDay],
            "order {index}"
        );
    }
}

#[test]
fn service_tier_mapping() {
    let cases: &[(&str, &str, ServiceTier)] = &[
        (
            "openai.response.service_tier",
            "default",
            ServiceTier::Standard,
        ),
        ("openai.response.service_tier", "flex", ServiceTier::Flex),
        (
            "openai.response.service_tier",
            "priority",
            ServiceTier::Priority,
        ),
        ("openai.request.service_tier", "auto", ServiceTier::Standard),
        ("openai.request.service_tier", "flex", ServiceTier::Flex),
        (
            "openai.request.service_tier",
            "Priority",
            ServiceTier::Priority,
        ),
        (
            "gen_ai.openai.response.service_tier",
            "flex",
            ServiceTier::Flex,
        ),
        (
            "gen_ai.openai.request.service_tier",
            "priority",
            ServiceTier::Priority,
        ),
        (
            "anthropic.response.service_tier",
            "standard",
            ServiceTier::Standard,
        ),
        (
            "anthropic.response.service_tier",
            "priority",
            ServiceTier::Priority,
        ),
        (
            "anthropic.response.service_tier",
            "batch",
            ServiceTier::Batch,
        ),
    ];
    for (name, value, expected) in cases {
        let attributes = vec![
            string("gen_ai.provider.name", "openai"),
            string(name, value),
        ];
        let extracted = extract_all(&request_with(vec![span(attributes, 100)], "svc", "s"));
        assert_eq!(
            extracted.llm_spans[0].service_tier, *expected,
            "{name} = {value}"
        );
        assert_eq!(
            extracted.attribute_problems,
            AttributeProblems::default(),
            "{name} = {value}"
        );
    }
}

#[test]
fn service_tier_precedence() {
    // (attributes, expected): the response wins over the request, and the
    // current name over the deprecated one.
    let cases: Vec<(Vec<KeyValue>, ServiceTier)> = vec![
        (
            vec![
                string("openai.request.service_tier", "auto"),
                string("openai.response.service_tier", "flex"),
            ],
            ServiceTier::Flex,
        ),
        (
            vec![
                string("openai.response.service_tier", "default"),
                string("openai.request.service_tier", "priority"),
            ],
            ServiceTier::Standard,
        ),
        (
            vec![
                string("openai.response.service_tier", "priority"),
                string("gen_ai.openai.response.service_tier", "flex"),
            ],
            ServiceTier::Priority,
        ),
        (
            vec![
                string("gen_ai.openai.response.service_tier", "flex"),
                string("openai.response.service_tier", "priority"),
            ],
            ServiceTier::Priority,
        ),
        (
            vec![
                string("gen_ai.openai.request.service_tier", "flex"),
                string("openai.request.service_tier", "priority"),
            ],
            ServiceTier::Priority,
        ),
        (vec![], ServiceTier::Standard),
    ];
    for (index, (tier_attributes, expected)) in cases.into_iter().enumerate() {
        let mut attributes = vec![string("gen_ai.provider.name", "openai")];
        attributes.extend(tier_attributes);
        let extracted = extract_all(&request_with(vec![span(attributes, 100)], "svc", "s"));
        assert_eq!(
            extracted.llm_spans[0].service_tier, expected,
            "case {index}"
        );
    }
}

#[test]
fn unknown_service_tier_is_standard_and_counted() {
    let cases: Vec<(any_value::Value, AttributeProblem)> = vec![
        (
            any_value::Value::StringValue("scale".to_owned()),
            AttributeProblem::UnknownValue,
        ),
        (
            any_value::Value::StringValue(String::new()),
            AttributeProblem::UnknownValue,
        ),
        (any_value::Value::IntValue(1), AttributeProblem::WrongType),
    ];
    for (value, problem) in cases {
        let attributes = vec![
            string("gen_ai.provider.name", "openai"),
            attribute("openai.response.service_tier", value.clone()),
        ];
        let extracted = extract_all(&request_with(vec![span(attributes, 100)], "svc", "s"));
        assert_eq!(
            extracted.llm_spans[0].service_tier,
            ServiceTier::Standard,
            "{value:?}"
        );
        assert_eq!(extracted.attribute_problems.get(problem), 1, "{value:?}");
    }
}

#[test]
fn fixture_service_tiers_are_standard() {
    for case in ["openai_reasoning", "anthropic_cache"] {
        let extracted = extract_all(&fixture(case));
        for call in &extracted.llm_spans {
            assert_eq!(call.service_tier, ServiceTier::Standard, "{case}");
        }
        assert_eq!(
            extracted.attribute_problems,
            AttributeProblems::default(),
            "{case}"
        );
    }
}

#[test]
fn one_hour_cache_writes_capped_by_cache_creation() {
    // (1-hour attribute, cache write count, expected cache_creation_1h)
    let cases: &[(Option<i64>, Option<i64>, u64)] = &[
        (Some(1500), Some(2000), 1500),
        (Some(2000), Some(2000), 2000),
        (Some(5000), Some(2000), 2000),
        (Some(0), Some(2000), 0),
        (None, Some(2000), 0),
        (Some(700), None, 0),
    ];
    for (one_hour, cache_write, expected) in cases {
        let mut attributes = vec![
            string("gen_ai.provider.name", "anthropic"),
            int("gen_ai.usage.input_tokens", 10_000),
        ];
        if let Some(count) = one_hour {
            attributes.push(int(
                "anthropic.usage.cache_creation.ephemeral_1h_input_tokens",
                *count,
            ));
        }
        if let Some(count) = cache_write {
            attributes.push(int("gen_ai.usage.cache_write.input_tokens", *count));
        }
        let extracted = extract_all(&request_with(
            vec![span(attributes, 100)],
            "svc",
            "com.anthropic.sdk.python",
        ));
        let call = &extracted.llm_spans[0];
        assert_eq!(
            call.cache_creation_1h, *expected,
            "{one_hour:?} {cache_write:?}"
        );
        assert_eq!(call.usage().unwrap().cache_creation_1h, *expected);
    }
}

#[test]
fn one_hour_cache_without_usage_is_zero() {
    let attributes = vec![
        string("gen_ai.provider.name", "anthropic"),
        int(
            "anthropic.usage.cache_creation.ephemeral_1h_input_tokens",
            700,
        ),
    ];
    let extracted = extract_all(&request_with(vec![span(attributes, 100)], "svc", "s"));
    let call = &extracted.llm_spans[0];
    // The 1-hour count is only a part of the cache write count, so it is not
    // usage on its own.
    assert_eq!(call.tokens, None);
    assert_eq!(call.cache_creation_1h, 0);
}

/// Extracts one Anthropic span with `input` input tokens, cache read 600 and
/// cache write 300 under `scope`, and returns its base-rate input.
fn base_input(scope: &str, input: i64, rules: &[InputTokenRule]) -> u64 {
    let attributes = vec![
        string("gen_ai.provider.name", "anthropic"),
        int("gen_ai.usage.input_tokens", input),
        int("gen_ai.usage.cache_read.input_tokens", 600),
        int("gen_ai.usage.cache_creation.input_tokens", 300),
    ];
    let settings = ExtractSettings {
        input_token_rules: rules.to_vec(),
        ..ExtractSettings::default()
    };
    let request = request_with(vec![span(attributes, 100)], "svc", scope);
    let tokens = extract_with(&request, &settings).llm_spans[0]
        .tokens
        .unwrap();
    assert_eq!(tokens.cache_read, 600, "{scope}");
    assert_eq!(tokens.cache_creation, 300, "{scope}");
    tokens.input
}

#[test]
fn input_tokens_by_scope() {
    // (scope, reported input, expected base-rate input)
    let cases: &[(&str, i64, u64)] = &[
        ("com.anthropic.sdk.python", 1000, 100),
        ("opentelemetry.instrumentation.anthropic", 1000, 100),
        ("opentelemetry.instrumentation.openai.v1", 1000, 100),
        // Known inclusive scopes never read a small input as exclusive.
        ("com.anthropic.sdk.python", 500, 0),
        // Unknown scopes: an input below its cache parts is exclusive.
        ("my.scope", 1000, 100),
        ("my.scope", 900, 0),
        ("my.scope", 100, 100),
        ("", 100, 100),
    ];
    for (scope, input, expected) in cases {
        assert_eq!(base_input(scope, *input, &[]), *expected, "{scope} {input}");
    }
}

#[test]
fn input_tokens_rule_overrides() {
    let exclusive_raw = InputTokenRule {
        scope_prefix: "my.raw.anthropic".to_owned(),
        includes_cache: false,
    };
    let inclusive_mine = InputTokenRule {
        scope_prefix: "my.".to_owned(),
        includes_cache: true,
    };
    let exclusive_sdk = InputTokenRule {
        scope_prefix: "com.anthropic.".to_owned(),
        includes_cache: false,
    };
    let rules = [exclusive_raw, inclusive_mine, exclusive_sdk];
    // (scope, reported input, expected base-rate input)
    let cases: &[(&str, i64, u64)] = &[
        ("my.raw.anthropic", 1000, 1000),
        ("my.raw.anthropic", 100, 100),
        ("my.other", 1000, 100),
        ("my.other", 100, 0),
        ("com.anthropic.sdk.python", 1000, 1000),
        ("opentelemetry.instrumentation.anthropic", 1000, 100),
        ("unknown", 100, 100),
    ];
    for (scope, input, expected) in cases {
        assert_eq!(
            base_input(scope, *input, &rules),
            *expected,
            "{scope} {input}"
        );
    }
}

#[test]
fn streamed_call_without_usage_has_no_tokens() {
    let attributes = vec![
        string("gen_ai.provider.name", "openai"),
        string("gen_ai.request.model", "gpt-4o-mini"),
        attribute("gen_ai.is_streaming", any_value::Value::BoolValue(true)),
    ];
    let request = request_with(
        vec![span(attributes, 100)],
        "svc",
        "opentelemetry.instrumentation.openai.v1",
    );
    let extracted = extract_all(&request);
    assert_eq!(extracted.llm_spans[0].tokens, None);

    let ledger = Ledger::new(Prices::embedded());
    ledger.record(extracted, Now::current());
    let key = SeriesKey {
        provider: "openai".into(),
        model: "gpt-4o-mini".into(),
        service: "svc".into(),
        extra: Arc::from([]),
    };
    let (requests, missing_usage, tokens) = ledger.read(|series, _| {
        let state = &series[&key];
        (state.requests, state.missing_usage, state.tokens)
    });
    assert_eq!(requests[Outcome::Ok as usize], 1);
    assert_eq!(missing_usage, 1);
    assert_eq!(tokens, TokenCounts::default());
}

#[test]
fn exposition_shows_daily_window_without_key() {
    let mut child_attributes = groq_headers();
    child_attributes.push(string("server.address", "api.groq.com"));
    child_attributes.push(string_array(
        "http.request.header.authorization",
        &format!("Bearer {RAW_KEY}"),
    ));
    let parent = span(
        vec![
            string("gen_ai.provider.name", "groq"),
            string("gen_ai.request.model", "llama-3.3-70b-versatile"),
            int("gen_ai.usage.input_tokens", 10),
        ],
        101,
    );
    let request = request_with(vec![http_child(child_attributes, 100), parent], "svc", "s");
    let pipeline = crate::pipeline::Pipeline::new(
        std::sync::Arc::new(Ledger::new(Prices::embedded())),
        Vec::new(),
        DEFAULT_MAX_ATTRIBUTES,
    );
    pipeline
        .consume(
            crate::signal::Transport::Grpc,
            crate::pipeline::Message::Traces(request),
            None,
        )
        .unwrap();

    // Scraped before the window resets, so remaining is as reported.
    let now = UNIX_EPOCH + Duration::from_secs(101);
    let text = crate::metrics::render(&pipeline, now);
    let daily: Vec<&str> = text
        .lines()
        .filter(|line| line.contains(r#"limit="requests_per_day""#))
        .collect();
    assert!(
        daily
            .iter()
            .any(|line| line.starts_with("burnrate_ratelimit_limit{") && line.ends_with(" 14400")),
        "{daily:?}"
    );
    assert!(
        daily
            .iter()
            .any(|line| line.starts_with("burnrate_ratelimit_remaining{")
                && line.ends_with(" 14370")),
        "{daily:?}"
    );
    assert!(!text.contains(r#"limit="requests""#), "{text}");
    assert!(!text.contains(RAW_KEY));
}
