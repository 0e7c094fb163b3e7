#![allow(clippy::unwrap_used)]

//! Exporter configuration: `signals`, `${file:PATH}` references, the
//! `http/protobuf` protocol from the file and from
//! `OTEL_EXPORTER_OTLP_PROTOCOL`, endpoint rules, and the checks of `tls`.

mod support_export;

use std::collections::HashMap;
use std::path::Path;

use burnrate::config::{self, Config, ConfigError, Protocol};
use burnrate::signal::Signal;

use support_export::pki::TestPki;

fn parse(text: &str) -> Result<Config, ConfigError> {
    config::parse_with_env(text, &|_| None)
}

fn problem_paths(error: &ConfigError) -> Vec<&str> {
    error
        .problems
        .iter()
        .map(|problem| problem.path.as_str())
        .collect()
}

/// Writes a config with one exporter, adding `extra` to its flow mapping.
fn exporter_yaml(endpoint: &str, extra: &str) -> String {
    format!("exporters: [{{ name: up, endpoint: '{endpoint}', {extra} }}]")
}

fn quoted(path: &Path) -> String {
    format!("{:?}", path.display().to_string())
}

#[test]
fn signals_default_to_all() {
    let config = parse(&exporter_yaml("http://127.0.0.1:14317", "")).unwrap();
    let exporter = &config.exporters[0];
    assert_eq!(exporter.signals, Signal::ALL);
    assert!(exporter.takes(Signal::Logs));
}

#[test]
fn signals_list_filters() {
    let text = exporter_yaml("http://127.0.0.1:14317", "signals: [traces, logs]");
    let config = parse(&text).unwrap();
    let exporter = &config.exporters[0];
    assert_eq!(exporter.signals, [Signal::Traces, Signal::Logs]);
    assert!(exporter.takes(Signal::Traces));
    assert!(!exporter.takes(Signal::Metrics));
    assert!(exporter.takes(Signal::Logs));
}

#[test]
fn unknown_signal_is_rejected() {
    let text = exporter_yaml("http://127.0.0.1:14317", "signals: [traces, spans]");
    let error = parse(&text).unwrap_err();
    assert_eq!(problem_paths(&error), ["exporters[0].signals"]);
    let message = &error.problems[0].message;
    assert!(message.contains("unknown signal \"spans\""), "{message}");
    assert!(message.contains("use traces, metrics or logs"), "{message}");
}

#[test]
fn empty_signals_are_rejected() {
    let text = exporter_yaml("http://127.0.0.1:14317", "signals: []");
    let error = parse(&text).unwrap_err();
    assert_eq!(problem_paths(&error), ["exporters[0].signals"]);
}

#[test]
fn file_reference_drops_trailing_newline() {
    let directory = tempfile::tempdir().unwrap();
    let key_file = directory.path().join("key");
    std::fs::write(&key_file, "abc123\r\n").unwrap();
    let extra = format!(
        "headers: {{ x-api-key: \"${{file:{}}}\" }}",
        key_file.display()
    );
    let config = parse(&exporter_yaml("http://127.0.0.1:14317", &extra)).unwrap();
    assert_eq!(config.exporters[0].headers["x-api-key"], "abc123");
}

#[test]
fn file_reference_inside_text() {
    let directory = tempfile::tempdir().unwrap();
    let token_file = directory.path().join("token");
    std::fs::write(&token_file, "dG9rZW4=\n").unwrap();
    let extra = format!(
        "headers: {{ authorization: \"Basic ${{file:{}}}\" }}",
        token_file.display()
    );
    let config = parse(&exporter_yaml("http://127.0.0.1:14317", &extra)).unwrap();
    assert_eq!(
        config.exporters[0].headers["authorization"],
        "Basic dG9rZW4="
    );
}

#[test]
fn unreadable_file_reference_names_path() {
    let directory = tempfile::tempdir().unwrap();
    let missing = directory.path().join("missing-key");
    let extra = format!(
        "headers: {{ x-api-key: \"${{file:{}}}\" }}",
        missing.display()
    );
    let error = parse(&exporter_yaml("http://127.0.0.1:14317", &extra)).unwrap_err();
    assert_eq!(problem_paths(&error), ["exporters[0].headers.x-api-key"]);
    let message = &error.problems[0].message;
    assert!(
        message.contains(&format!("failed to read {}", quoted(&missing))),
        "{message}"
    );
    assert!(message.contains("No such file or directory"), "{message}");
}

#[test]
fn http_protobuf_protocol_is_valid() {
    let text = exporter_yaml("https://api.honeycomb.io:443", "protocol: http/protobuf");
    let config = parse(&text).unwrap();
    assert_eq!(config.exporters[0].protocol, Protocol::HttpProtobuf);
}

#[test]
fn http_endpoint_with_signal_path_is_rejected() {
    let text = exporter_yaml(
        "https://otlp.example.net/otlp/v1/traces",
        "protocol: http/protobuf",
    );
    let error = parse(&text).unwrap_err();
    assert_eq!(problem_paths(&error), ["exporters[0].endpoint"]);
    let message = &error.problems[0].message;
    assert!(
        message.contains("write the base URL \"https://otlp.example.net/otlp\""),
        "{message}"
    );
}

#[test]
fn http_endpoint_with_query_is_rejected() {
    let text = exporter_yaml("https://otlp.example.net/?key=1", "protocol: http/protobuf");
    let error = parse(&text).unwrap_err();
    assert_eq!(problem_paths(&error), ["exporters[0].endpoint"]);
}

#[test]
fn endpoint_credentials_are_rejected_unshown() {
    let text = exporter_yaml(
        "https://123:s3cret@otlp.example.net",
        "protocol: http/protobuf",
    );
    let error = parse(&text).unwrap_err();
    assert_eq!(problem_paths(&error), ["exporters[0].endpoint"]);
    let message = &error.problems[0].message;
    assert!(!message.contains("s3cret"), "{message}");
}

#[test]
fn header_set_by_burnrate_is_rejected() {
    let text = exporter_yaml(
        "http://127.0.0.1:14318",
        "protocol: http/protobuf, headers: { Content-Type: application/json }",
    );
    let error = parse(&text).unwrap_err();
    assert_eq!(problem_paths(&error), ["exporters[0].headers.Content-Type"]);
}

#[test]
fn env_protocol_http_protobuf() {
    let env: HashMap<&str, &str> = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:14318"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
    ]
    .into();
    let lookup = |name: &str| env.get(name).map(|value| value.to_string());
    let exporters = config::effective_exporters(&Config::default(), &lookup).unwrap();
    assert_eq!(exporters[0].protocol, Protocol::HttpProtobuf);
}

#[test]
fn env_protocol_http_json_is_rejected() {
    let env: HashMap<&str, &str> = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:14318"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
    ]
    .into();
    let lookup = |name: &str| env.get(name).map(|value| value.to_string());
    let error = config::effective_exporters(&Config::default(), &lookup).unwrap_err();
    assert_eq!(problem_paths(&error), ["OTEL_EXPORTER_OTLP_PROTOCOL"]);
    let message = &error.problems[0].message;
    assert!(message.contains("grpc or http/protobuf"), "{message}");
}

#[test]
fn insecure_with_https_is_rejected() {
    let text = exporter_yaml("https://127.0.0.1:14317", "tls: { insecure: true }");
    let error = parse(&text).unwrap_err();
    assert_eq!(problem_paths(&error), ["exporters[0].tls.insecure"]);
    let message = &error.problems[0].message;
    assert!(message.contains("write an http:// endpoint"), "{message}");
}

#[test]
fn insecure_with_http_is_valid() {
    let text = exporter_yaml("http://127.0.0.1:14317", "tls: { insecure: true }");
    assert!(parse(&text).unwrap().exporters[0].tls.insecure);
}

#[test]
fn valid_tls_files_are_accepted() {
    let pki = TestPki::generate();
    let extra = format!(
        "tls: {{ ca_file: {}, cert_file: {}, key_file: {} }}",
        quoted(&pki.ca_file),
        quoted(&pki.client_cert_file),
        quoted(&pki.client_key_file)
    );
    let config = parse(&exporter_yaml("https://127.0.0.1:14317", &extra)).unwrap();
    let tls = &config.exporters[0].tls;
    assert_eq!(tls.ca_file.as_deref(), Some(pki.ca_file.as_path()));
    assert_eq!(tls.key_file.as_deref(), Some(pki.client_key_file.as_path()));
}

#[test]
fn missing_ca_file_names_path() {
    let pki = TestPki::generate();
    let missing = pki.directory.path().join("no-such-ca.pem");
    let extra = format!("tls: {{ ca_file: {} }}", quoted(&missing));
    let error = parse(&exporter_yaml("https://127.0.0.1:14317", &extra)).unwrap_err();
    assert_eq!(problem_paths(&error), ["exporters[0].tls.ca_file"]);
    let message = &error.problems[0].message;
    assert!(
        message.contains(&format!("failed to read {}", quoted(&missing))),
        "{message}"
    );
}

#[test]
fn ca_file_without_certificate_is_rejected() {
    let pki = TestPki::generate();
    let not_pem = pki.write_file("notes.txt", "this is not a certificate\n");
    let extra = format!("tls: {{ ca_file: {} }}", quoted(&not_pem));
    let error = parse(&exporter_yaml("https://127.0.0.1:14317", &extra)).unwrap_err();
    assert_eq!(problem_paths(&error), ["exporters[0].tls.ca_file"]);
    let message = &error.problems[0].message;
    assert!(message.contains("contains no PEM certificate"), "{message}");
}

#[test]
fn key_file_given_as_ca_file_is_rejected() {
    let pki = TestPki::generate();
    let extra = format!("tls: {{ ca_file: {} }}", quoted(&pki.client_key_file));
    let error = parse(&exporter_yaml("https://127.0.0.1:14317", &extra)).unwrap_err();
    assert_eq!(problem_paths(&error), ["exporters[0].tls.ca_file"]);
}

#[test]
fn cert_file_without_key_file_is_rejected() {
    let pki = TestPki::generate();
    let extra = format!("tls: {{ cert_file: {} }}", quoted(&pki.client_cert_file));
    let error = parse(&exporter_yaml("https://127.0.0.1:14317", &extra)).unwrap_err();
    assert_eq!(problem_paths(&error), ["exporters[0].tls.key_file"]);
    let message = &error.problems[0].message;
    assert!(message.contains("set both"), "{message}");
}

#[test]
fn key_file_without_cert_file_is_rejected() {
    let pki = TestPki::generate();
    let extra = format!("tls: {{ key_file: {} }}", quoted(&pki.client_key_file));
    let error = parse(&exporter_yaml("https://127.0.0.1:14317", &extra)).unwrap_err();
    assert_eq!(problem_paths(&error), ["exporters[0].tls.cert_file"]);
}

#[test]
fn key_file_without_key_is_rejected() {
    let pki = TestPki::generate();
    let extra = format!(
        "tls: {{ cert_file: {}, key_file: {} }}",
        quoted(&pki.client_cert_file),
        quoted(&pki.ca_file)
    );
    let error = parse(&exporter_yaml("https://127.0.0.1:14317", &extra)).unwrap_err();
    assert_eq!(problem_paths(&error), ["exporters[0].tls.key_file"]);
    let message = &error.problems[0].message;
    assert!(message.contains("contains no PEM private key"), "{message}");
}

#[test]
fn mismatched_key_is_rejected() {
    let pki = TestPki::generate();
    let extra = format!(
        "tls: {{ cert_file: {}, key_file: {} }}",
        quoted(&pki.client_cert_file),
        quoted(&pki.unrelated_key_file)
    );
    let error = parse(&exporter_yaml("https://127.0.0.1:14317", &extra)).unwrap_err();
    assert_eq!(problem_paths(&error), ["exporters[0].tls.key_file"]);
    let message = &error.problems[0].message;
    assert!(
        message.contains("does not match the certificate"),
        "{message}"
    );
}

#[test]
fn tls_files_with_http_endpoint_are_rejected() {
    let pki = TestPki::generate();
    let extra = format!("tls: {{ ca_file: {} }}", quoted(&pki.ca_file));
    let error = parse(&exporter_yaml("http://127.0.0.1:14317", &extra)).unwrap_err();
    assert_eq!(problem_paths(&error), ["exporters[0].tls"]);
    let message = &error.problems[0].message;
    assert!(message.contains("write an https:// endpoint"), "{message}");
}
