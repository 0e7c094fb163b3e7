use std::collections::HashMap;
use std::time::Duration;

use super::*;

fn parse_env(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
    parse_with_env(text, &|name| env.get(name).cloned())
}

fn problem_paths(error: &ConfigError) -> Vec<&str> {
    error
        .problems
        .iter()
        .map(|problem| problem.path.as_str())
        .collect()
}

#[test]
fn default_config_parses() {
    let config = parse_env(DEFAULT_CONFIG, &[]).unwrap();
    assert_eq!(config.receivers.otlp.grpc.endpoint, "127.0.0.1:4317");
    assert_eq!(config.metrics.prometheus.endpoint, "127.0.0.1:9464");
    assert_eq!(config.admin.endpoint, "127.0.0.1:13133");
    assert!(config.exporters.is_empty());
}

#[test]
fn empty_document_is_all_defaults() {
    assert_eq!(parse_env("", &[]).unwrap(), Config::default());
}

#[test]
fn exporter_fields_decode() {
    let text = r#"
exporters:
  - name: backend
    endpoint: http://127.0.0.1:14317
    protocol: grpc
    compression: gzip
    timeout: 2500ms
    headers: { x-honeycomb-team: abc }
    sending_queue: { queue_size: 7 }
"#;
    let config = parse_env(text, &[]).unwrap();
    let exporter = &config.exporters[0];
    assert_eq!(exporter.name, "backend");
    assert_eq!(exporter.compression, Compression::Gzip);
    assert_eq!(exporter.timeout, Duration::from_millis(2500));
    assert_eq!(exporter.headers["x-honeycomb-team"], "abc");
    assert_eq!(exporter.sending_queue.queue_size, 7);
    assert_eq!(exporter.sending_queue.num_consumers, 4);
}

#[test]
fn every_unknown_key_is_reported_with_its_path() {
    let text = r#"
receivers:
  otlp:
    grpc: { endpont: 127.0.0.1:4317 }
admin: { endpoint: 127.0.0.1:1, port: 3 }
exporters:
  - { name: a, endpoint: "http://127.0.0.1:1", tsl: {} }
colour: blue
"#;
    let error = parse_env(text, &[]).unwrap_err();
    assert_eq!(
        problem_paths(&error),
        [
            "receivers.otlp.grpc.endpont",
            "admin.port",
            "exporters[0].tsl",
            "colour"
        ]
    );
    assert!(
        error
            .to_string()
            .contains("invalid `admin.port`: unknown key")
    );
}

#[test]
fn type_errors_in_separate_sections_are_all_reported() {
    let text = r#"
receivers: { otlp: { grpc: { max_recv_msg_size_mib: lots } } }
exporters:
  - { name: a, endpoint: "http://127.0.0.1:1", timeout: soon }
  - { name: b, endpoint: "127.0.0.1:2" }
"#;
    let error = parse_env(text, &[]).unwrap_err();
    assert_eq!(
        problem_paths(&error),
        [
            "receivers.otlp.grpc.max_recv_msg_size_mib",
            "exporters[0].timeout",
            "exporters[1].endpoint"
        ]
    );
    assert!(
        error.problems[1]
            .message
            .contains("invalid duration \"soon\"")
    );
    assert!(
        error.problems[2]
            .message
            .contains("has no scheme; write http://127.0.0.1:2")
    );
}

#[test]
fn semantic_errors_name_value_and_fix() {
    let text = r#"
admin: { endpoint: "localhost" }
exporters:
  - { name: a, endpoint: "ftp://x:1", protocol: http/json }
  - { name: a, endpoint: "http://127.0.0.1:1", sending_queue: { queue_size: 0 } }
"#;
    let error = parse_env(text, &[]).unwrap_err();
    assert_eq!(
        problem_paths(&error),
        [
            "exporters[0].protocol",
            "admin.endpoint",
            "exporters[0].endpoint",
            "exporters[1].sending_queue.queue_size",
            "exporters[1].name",
        ]
    );
    let localhost = &error.problems[1].message;
    assert!(
        localhost.contains("\"localhost\" is not an IP address and port"),
        "{localhost}"
    );
    assert!(error.problems[2].message.contains("scheme \"ftp\""));
}

#[test]
fn env_references_expand() {
    let text = r#"
exporters:
  - name: backend
    endpoint: ${env:UPSTREAM}
    headers: { x-honeycomb-team: "key-${env:KEY}", price: "$$5" }
receivers: { otlp: { grpc: { max_recv_msg_size_mib: "${env:SIZE}" } } }
service: { log_level: "${env:LEVEL:-debug}" }
"#;
    let env = [
        ("UPSTREAM", "http://127.0.0.1:9"),
        ("KEY", "s3cret"),
        ("SIZE", "32"),
    ];
    let config = parse_env(text, &env).unwrap();
    assert_eq!(config.exporters[0].endpoint, "http://127.0.0.1:9");
    assert_eq!(
        config.exporters[0].headers["x-honeycomb-team"],
        "key-s3cret"
    );
    assert_eq!(config.exporters[0].headers["price"], "$5");
    assert_eq!(config.receivers.otlp.grpc.max_recv_msg_size_mib, 32);
    assert_eq!(config.service.log_level, "debug");
}

#[test]
fn missing_env_variable_names_variable_and_path() {
    let text = "exporters: [{ name: a, endpoint: '${env:NOPE}' }]";
    let error = parse_env(text, &[]).unwrap_err();
    assert_eq!(error.problems[0].path, "exporters[0].endpoint");
    assert!(
        error.problems[0]
            .message
            .contains("environment variable NOPE is not set")
    );
}

#[test]
fn yaml_syntax_error_has_line() {
    let error = parse_env("admin: [\n", &[]).unwrap_err();
    assert!(error.to_string().contains("line"), "{error}");
}

#[test]
fn exporter_from_standard_env() {
    let config = Config::default();
    let env: HashMap<&str, &str> = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:14317"),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-honeycomb-team=a%20b, x-other=c",
        ),
    ]
    .into();
    let lookup = |name: &str| env.get(name).map(|value| value.to_string());
    let exporters = effective_exporters(&config, &lookup).unwrap();
    assert_eq!(exporters.len(), 1);
    assert_eq!(exporters[0].endpoint, "http://127.0.0.1:14317");
    assert_eq!(exporters[0].headers["x-honeycomb-team"], "a b");
    assert_eq!(exporters[0].headers["x-other"], "c");
}

#[test]
fn configured_exporters_win_over_env() {
    let config = parse_env(
        "exporters: [{ name: a, endpoint: 'http://127.0.0.1:1' }]",
        &[],
    )
    .unwrap();
    let lookup = |_: &str| Some("http://127.0.0.1:2".to_owned());
    let exporters = effective_exporters(&config, &lookup).unwrap();
    assert_eq!(exporters[0].endpoint, "http://127.0.0.1:1");
}

#[test]
fn no_exporter_without_env() {
    let exporters = effective_exporters(&Config::default(), &|_| None).unwrap();
    assert!(exporters.is_empty());
}

#[test]
fn exporter_pointing_at_own_receiver_is_rejected() {
    let text = "exporters: [{ name: a, endpoint: 'http://localhost:4318' }]";
    let config = parse_env(text, &[]).unwrap();
    let error = effective_exporters(&config, &|_| None).unwrap_err();
    assert_eq!(error.problems[0].path, "exporters[0].endpoint");
    assert!(
        error.problems[0]
            .message
            .contains("burnrate's own receiver `receivers.otlp.http.endpoint`"),
        "{error}"
    );
}

#[test]
fn env_endpoint_at_own_receiver_is_rejected() {
    let lookup = |name: &str| {
        (name == "OTEL_EXPORTER_OTLP_ENDPOINT").then(|| "http://127.0.0.1:4317".to_owned())
    };
    let error = effective_exporters(&Config::default(), &lookup).unwrap_err();
    assert_eq!(error.problems[0].path, "OTEL_EXPORTER_OTLP_ENDPOINT");
    assert!(
        error.problems[0]
            .message
            .contains("`receivers.otlp.grpc.endpoint`"),
        "{error}"
    );
}

#[test]
fn all_addresses_receiver_catches_loopback_exporter() {
    let text = "receivers: { otlp: { grpc: { endpoint: '0.0.0.0:4317' } } }\nexporters: [{ name: a, endpoint: 'http://[::1]:4317' }]";
    let config = parse_env(text, &[]).unwrap();
    assert!(effective_exporters(&config, &|_| None).is_err());
}

#[test]
fn other_port_is_not_own_receiver() {
    let text = "exporters: [{ name: a, endpoint: 'http://127.0.0.1:14317' }]";
    let config = parse_env(text, &[]).unwrap();
    assert_eq!(effective_exporters(&config, &|_| None).unwrap().len(), 1);
}

#[test]
fn env_header_with_newline_is_rejected() {
    let lookup = |name: &str| match name {
        "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://127.0.0.1:14317".to_owned()),
        "OTEL_EXPORTER_OTLP_HEADERS" => Some("x-key=a%0Ab".to_owned()),
        _ => None,
    };
    let error = effective_exporters(&Config::default(), &lookup).unwrap_err();
    assert_eq!(error.problems[0].path, "OTEL_EXPORTER_OTLP_HEADERS");
    assert!(
        error.problems[0].message.contains("invalid header value"),
        "{error}"
    );
}

#[test]
fn port_out_of_range_is_rejected() {
    let error = parse_env(
        "exporters: [{ name: a, endpoint: 'http://127.0.0.1:99999' }]",
        &[],
    )
    .unwrap_err();
    assert_eq!(error.problems[0].path, "exporters[0].endpoint");
    assert!(
        error.problems[0].message.contains("invalid port"),
        "{error}"
    );
}

#[test]
fn zero_and_huge_retry_intervals_are_rejected() {
    let text = "exporters: [{ name: a, endpoint: 'http://127.0.0.1:1', retry_on_failure: { initial_interval: 0s, max_interval: 100000h } }]";
    let error = parse_env(text, &[]).unwrap_err();
    assert_eq!(
        problem_paths(&error),
        [
            "exporters[0].retry_on_failure.initial_interval",
            "exporters[0].retry_on_failure.max_interval"
        ]
    );
}

#[test]
fn type_error_does_not_hide_later_problems() {
    let text = "exporters: [{ name: a, timeout: 10, endpoint: '127.0.0.1:1', compression: zstd }]";
    let error = parse_env(text, &[]).unwrap_err();
    assert_eq!(
        problem_paths(&error),
        [
            "exporters[0].timeout",
            "exporters[0].compression",
            "exporters[0].endpoint"
        ]
    );
    assert!(error.problems[0].message.contains("write 10s"), "{error}");
}

#[test]
fn numeric_env_value_in_text_field_stays_text() {
    let text = "exporters: [{ name: a, endpoint: 'http://127.0.0.1:1', headers: { x-api-key: '${env:KEY}' } }]";
    let config = parse_env(text, &[("KEY", "123456789")]).unwrap();
    assert_eq!(config.exporters[0].headers["x-api-key"], "123456789");
}

#[test]
fn unset_variable_is_one_problem() {
    let text = "exporters: [{ name: a, endpoint: '${env:NOPE}' }]";
    let error = parse_env(text, &[]).unwrap_err();
    assert_eq!(problem_paths(&error), ["exporters[0].endpoint"]);
}

#[test]
fn list_item_of_wrong_type_keeps_indexes() {
    let text = "exporters: [oops, { name: b, endpoint: 'ftp://x' }]";
    let error = parse_env(text, &[]).unwrap_err();
    assert_eq!(
        problem_paths(&error),
        ["exporters[0]", "exporters[1].endpoint"]
    );
}

#[test]
fn whole_number_message_is_plain() {
    let error = parse_env("extract: { max_attributes_per_span: -1 }", &[]).unwrap_err();
    assert!(
        error.problems[0]
            .message
            .contains("expected a whole number"),
        "{error}"
    );
}

#[test]
fn input_token_rules_parse() {
    let text = "extract:\n  input_tokens_include_cache:\n    - { scope: my.raw.anthropic, included: false }\n    - { scope: com.anthropic., included: true }\n";
    let config = parse_env(text, &[]).unwrap();
    let expected = vec![
        InputTokensIncludeCache {
            scope: "my.raw.anthropic".to_owned(),
            included: Some(false),
        },
        InputTokensIncludeCache {
            scope: "com.anthropic.".to_owned(),
            included: Some(true),
        },
    ];
    assert_eq!(config.extract.input_tokens_include_cache, expected);
}

#[test]
fn input_token_rules_default_empty() {
    let config = parse_env("", &[]).unwrap();
    assert!(config.extract.input_tokens_include_cache.is_empty());
}

#[test]
fn input_token_rule_problems_name_field_path() {
    let cases: &[(&str, &str)] = &[
        (
            "extract: { input_tokens_include_cache: [{ scope: '', included: true }] }",
            "extract.input_tokens_include_cache[0].scope",
        ),
        (
            "extract: { input_tokens_include_cache: [{ scope: a, included: true }, { scope: a, included: false }] }",
            "extract.input_tokens_include_cache[1].scope",
        ),
        (
            "extract: { input_tokens_include_cache: [{ scope: a }] }",
            "extract.input_tokens_include_cache[0].included",
        ),
        (
            "extract: { input_tokens_include_cache: [{ scope: a, included: maybe }] }",
            "extract.input_tokens_include_cache[0].included",
        ),
        (
            "extract: { input_tokens_include_cache: [{ scope: a, included: true, prefix: b }] }",
            "extract.input_tokens_include_cache[0].prefix",
        ),
    ];
    for (text, path) in cases {
        let error = parse_env(text, &[]).unwrap_err();
        assert_eq!(problem_paths(&error), [*path], "{text}: {error}");
    }
}

fn price_file(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut file, text.as_bytes()).unwrap();
    file
}

const GPT_4O_AT_7: &str = "models:
  - { provider: openai, model: gpt-4o, input: 7, output: 14, source: 'https://example.com/pricing', effective: 2025-01-01 }
";

#[test]
fn pricing_section_decodes() {
    let file = price_file(GPT_4O_AT_7);
    let text = format!(
        "pricing:
  files: [{:?}]
  models:
    - {{ provider: groq, model: inline-1, input: 0.5, output: 1, source: 'https://example.com', effective: 2025-01-01 }}
  azure_deployments: {{ prod-chat: gpt-4o-mini }}
  reload_interval: 30s
",
        file.path()
    );
    let config = parse_env(&text, &[]).unwrap();
    let pricing = &config.pricing;
    assert_eq!(pricing.files, [file.path()]);
    assert_eq!(pricing.models.len(), 1);
    assert_eq!(pricing.azure_deployments["prod-chat"], "gpt-4o-mini");
    assert_eq!(pricing.reload_interval, Duration::from_secs(30));
}

#[test]
fn pricing_defaults() {
    let pricing = parse_env("", &[]).unwrap().pricing;
    assert!(pricing.files.is_empty());
    assert!(pricing.models.is_empty());
    assert!(pricing.azure_deployments.is_empty());
    assert_eq!(pricing.reload_interval, Duration::from_secs(5));
}

#[test]
fn config_entry_overrides_embedded_entry() {
    let file = price_file(GPT_4O_AT_7);
    let text = format!(
        "pricing:
  files: [{:?}]
  models:
    - {{ provider: openai, model: gpt-4o, input: 8, output: 16, source: 'https://example.com', effective: 2025-01-01 }}
",
        file.path()
    );
    let config = parse_env(&text, &[]).unwrap();
    let table = crate::pricing::load_table(&config.pricing).unwrap();
    let price = table.lookup("openai", "gpt-4o-2024-08-06").unwrap();
    assert_eq!(price.input_pico_usd, 8_000_000);
}

#[test]
fn pricing_problems_name_path_and_value() {
    let duplicate = price_file(&format!(
        "{GPT_4O_AT_7}{}",
        GPT_4O_AT_7.replace("models:\n", "")
    ));
    let bad_price = price_file(&GPT_4O_AT_7.replace("input: 7", "input: seven"));
    let cases = [
        (
            format!("pricing: {{ files: [{:?}] }}", bad_price.path()),
            "pricing.files[0]",
            vec![
                format!("{:?}", bad_price.path()),
                "`models[0].input`".to_owned(),
                "\"seven\" is not a decimal number".to_owned(),
            ],
        ),
        (
            format!("pricing: {{ files: [{:?}] }}", duplicate.path()),
            "pricing.files[0]",
            vec!["duplicate price table entry for model `gpt-4o`".to_owned()],
        ),
        (
            "pricing: { files: [/nonexistent/prices.yaml] }".to_owned(),
            "pricing.files[0]",
            vec!["failed to read price file \"/nonexistent/prices.yaml\"".to_owned()],
        ),
        (
            "pricing: { models: [{ provider: groq, model: m, input: 1, output: -2, source: 'https://example.com', effective: 2025-01-01 }] }".to_owned(),
            "pricing.models[0].output",
            vec!["\"-2\" is negative".to_owned(), "fix it, or remove it from `pricing`".to_owned()],
        ),
        (
            "pricing: { models: [{ provider: groq, model: m, input: 1, output: 2, effective: 2025-01-01 }] }".to_owned(),
            "pricing.models[0].source",
            vec!["missing `models[0].source` for model `m`".to_owned()],
        ),
        (
            "pricing: { reload_interval: 0s }".to_owned(),
            "pricing.reload_interval",
            vec!["must be greater than 0s".to_owned()],
        ),
        (
            "pricing: { azure_deployments: { prod-chat: '' } }".to_owned(),
            "pricing.azure_deployments.prod-chat",
            vec!["missing model id for deployment \"prod-chat\"".to_owned()],
        ),
        (
            "pricing: { file: [] }".to_owned(),
            "pricing.file",
            vec!["unknown key".to_owned()],
        ),
    ];
    for (text, expected_path, expected_messages) in cases {
        let error = parse_env(&text, &[]).unwrap_err();
        assert_eq!(problem_paths(&error), [expected_path], "{text}");
        let message = error.to_string();
        for expected in expected_messages {
            assert!(message.contains(&expected), "{expected:?} not in {message}");
        }
    }
}

fn problem_messages(error: &ConfigError) -> Vec<String> {
    error.problems.iter().map(Problem::to_string).collect()
}

#[test]
fn notifier_defaults_depend_on_kind() {
    let text = r#"
alerts:
  notifiers:
    - { name: am, kind: alertmanager, url: "http://127.0.0.1:9093" }
    - { name: hook, kind: webhook, url: "http://127.0.0.1:8080/alerts" }
    - { name: slow-am, kind: alertmanager, url: "http://127.0.0.1:9093", repeat_interval: 2m }
"#;
    let config = parse_env(text, &[]).unwrap();
    let notifiers = &config.alerts.notifiers;
    assert_eq!(notifiers[0].repeat_interval(), Duration::from_secs(60));
    assert_eq!(
        notifiers[1].repeat_interval(),
        Duration::from_secs(4 * 3600)
    );
    assert_eq!(notifiers[2].repeat_interval(), Duration::from_secs(120));
}

#[test]
fn notifier_headers_expand_env() {
    let text = r#"
alerts:
  notifiers:
    - name: hook
      kind: webhook
      url: "https://127.0.0.1:8443/alerts"
      headers: { authorization: "Bearer ${env:HOOK_TOKEN}" }
"#;
    let config = parse_env(text, &[("HOOK_TOKEN", "t0ken")]).unwrap();
    let headers = &config.alerts.notifiers[0].headers;
    assert_eq!(headers["authorization"], "Bearer t0ken");
}

#[test]
fn notifier_problems_name_the_field() {
    let text = r#"
alerts:
  notifiers:
    - { name: "", kind: log }
    - { name: hook, kind: webhook }
    - { name: hook, kind: slack, url: "ftp://127.0.0.1/x" }
    - { name: am, kind: alertmanager, url: "127.0.0.1:9093", selector: "up > 1" }
    - { name: am2, kind: alertmanager, url: "http://127.0.0.1:9093", repeat_interval: 4h }
    - { name: fast, kind: log, timeout: 0s, repeat_interval: 0s }
    - { name: short, kind: webhook, url: "http://127.0.0.1:1/", timeout: 10s, max_retry_time: 5s }
    - { name: bad-header, kind: webhook, url: "http://127.0.0.1:1/", headers: { "x y": "1", content-type: "text/plain" } }
"#;
    let error = parse_env(text, &[]).unwrap_err();
    assert_eq!(
        problem_paths(&error),
        [
            "alerts.notifiers[0].name",
            "alerts.notifiers[1].url",
            "alerts.notifiers[2].name",
            "alerts.notifiers[2].url",
            "alerts.notifiers[3].url",
            "alerts.notifiers[3].selector",
            "alerts.notifiers[4].repeat_interval",
            "alerts.notifiers[5].timeout",
            "alerts.notifiers[5].repeat_interval",
            "alerts.notifiers[6].max_retry_time",
            "alerts.notifiers[7].headers.content-type",
            "alerts.notifiers[7].headers.x y",
        ]
    );
    let messages = problem_messages(&error);
    assert!(messages[1].contains("needs a URL"), "{}", messages[1]);
    assert!(
        messages[2].contains("duplicate notifier name \"hook\""),
        "{}",
        messages[2]
    );
    assert!(
        messages[3].contains("use http:// or https://"),
        "{}",
        messages[3]
    );
    assert!(messages[4].contains("has no scheme"), "{}", messages[4]);
    assert!(
        messages[5].contains("not a label selector"),
        "{}",
        messages[5]
    );
    assert!(messages[6].contains("use about 1m"), "{}", messages[6]);
    assert!(
        messages[9].contains("at least the timeout"),
        "{}",
        messages[9]
    );
}
