#![allow(clippy::unwrap_used)]

//! Command-line behaviour of the built binary: `validate` and start-up on the
//! embedded default configuration.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_burnrate");

fn write_config(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut file, text.as_bytes()).unwrap();
    file
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn validate_accepts_valid_file() {
    let file = write_config("admin: { endpoint: 127.0.0.1:13133 }\n");
    let output = Command::new(BINARY)
        .args(["validate", "--config"])
        .arg(file.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "configuration is valid; 8 alert rule(s) loaded\n"
    );
}

#[test]
fn validate_reports_rule_file_problems() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(
        folder.path().join("rules.yaml"),
        "groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: x offset 5m > 1\n",
    )
    .unwrap();
    let config = folder.path().join("burnrate.yaml");
    std::fs::write(
        &config,
        "alerts: { rule_files: [rules.yaml, missing/*.yaml] }\n",
    )
    .unwrap();
    let output = Command::new(BINARY)
        .args(["validate", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("2 problem(s) in the alert rules"),
        "{stderr}"
    );
    assert!(
        stderr.contains("rules.yaml:4: group \"a\", rule \"X\""),
        "{stderr}"
    );
    assert!(stderr.contains("`offset` is not supported"), "{stderr}");
    assert!(stderr.contains("no rule file matches"), "{stderr}");
}

#[test]
fn validate_lists_every_problem_and_fails() {
    let text = "\
admin: { endpoint: localhost, port: 1 }
exporters:
  - { name: up, endpoint: '127.0.0.1:4317', headers: { x-key: '${env:BURNRATE_TEST_UNSET_VARIABLE}' } }
";
    let file = write_config(text);
    let output = Command::new(BINARY)
        .args(["validate", "--config"])
        .arg(file.path())
        .env_remove("BURNRATE_TEST_UNSET_VARIABLE")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("4 problem(s)"), "{stderr}");
    assert!(
        stderr.contains("invalid `admin.port`: unknown key"),
        "{stderr}"
    );
    assert!(stderr.contains("invalid `admin.endpoint`"), "{stderr}");
    assert!(
        stderr.contains("invalid `exporters[0].endpoint`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("invalid `exporters[0].headers.x-key`: environment variable BURNRATE_TEST_UNSET_VARIABLE is not set"),
        "{stderr}"
    );
}

#[test]
fn validate_reports_missing_file() {
    let output = Command::new(BINARY)
        .args(["validate", "--config", "/nonexistent/burnrate.yaml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot read config file /nonexistent/burnrate.yaml"),
        "{stderr}"
    );
}

#[test]
fn run_fails_clearly_when_port_is_taken() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let text = format!(
        "receivers: {{ otlp: {{ grpc: {{ endpoint: 127.0.0.1:{port} }} }} }}\n\
         metrics: {{ prometheus: {{ endpoint: 127.0.0.1:{} }} }}\n\
         admin: {{ endpoint: 127.0.0.1:{} }}\n",
        free_port(),
        free_port()
    );
    let file = write_config(&text);
    let output = Command::new(BINARY)
        .args(["run", "--config"])
        .arg(file.path())
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot listen on `receivers.otlp.grpc.endpoint`"),
        "{stderr}"
    );
}

/// Plain `burnrate` runs on the embedded default config, returns 200 on `/readyz`
/// on 127.0.0.1:13133, and stops cleanly on SIGTERM.
#[test]
fn default_config_starts_and_stops_on_sigterm() {
    let mut child = Command::new(BINARY)
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(20);
    let mut ready = false;
    while Instant::now() < deadline && !ready {
        ready = http_get_status("127.0.0.1:13133", "/readyz") == Some(200);
        if !ready {
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    let (status, stderr) = terminate(&mut child);

    assert!(ready, "burnrate did not become ready:\n{stderr}");
    assert_eq!(status.and_then(|status| status.code()), Some(0), "{stderr}");
    assert!(stderr.contains("burnrate stopped"), "{stderr}");
}

/// Sends SIGTERM to `child`, waits up to 20 s for it to exit, and returns
/// its exit status (`None` when it had to be killed) and its stderr.
fn terminate(child: &mut std::process::Child) -> (Option<std::process::ExitStatus>, String) {
    let pid = child.id().to_string();
    let kill = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(kill.success());
    let status = wait_with_timeout(child, Duration::from_secs(20));
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status, stderr)
}

fn wait_with_timeout(
    child: &mut std::process::Child,
    timeout: Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    None
}

/// Sends a bare HTTP/1.1 GET and returns the status code.
fn http_get_status(address: &str, path: &str) -> Option<u16> {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_whitespace().nth(1)?.parse().ok()
}

/// Sends a bare HTTP/1.1 request and returns the status code and body.
fn http_request(
    address: &str,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> Option<(u16, String)> {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, body)| body)
        .to_owned();
    Some((status, body))
}

#[test]
fn status_page_shows_exporter_health_without_secrets() {
    let (grpc, http, metrics, admin, upstream) = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );
    let text = format!(
        "receivers: {{ otlp: {{ grpc: {{ endpoint: 127.0.0.1:{grpc} }}, http: {{ endpoint: 127.0.0.1:{http} }} }} }}\n\
         metrics: {{ prometheus: {{ endpoint: 127.0.0.1:{metrics} }} }}\n\
         admin: {{ endpoint: 127.0.0.1:{admin} }}\n\
         exporters: [{{ name: backend, endpoint: 'http://127.0.0.1:{upstream}', headers: {{ x-honeycomb-team: s3cret-value }}, \
         retry_on_failure: {{ initial_interval: 20ms, max_interval: 50ms }} }}]\n"
    );
    let file = write_config(&text);
    let mut child = Command::new(BINARY)
        .args(["run", "--config"])
        .arg(file.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let admin_address = format!("127.0.0.1:{admin}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while http_get_status(&admin_address, "/readyz") != Some(200) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }

    let span = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"work"}]}]}]}"#;
    let accepted = http_request(
        &format!("127.0.0.1:{http}"),
        "POST",
        "/v1/traces",
        "application/json",
        span,
    );

    let mut status = String::new();
    while Instant::now() < deadline {
        status = http_request(&admin_address, "GET", "/status", "text/plain", "")
            .map(|(_, body)| body)
            .unwrap_or_default();
        if status.contains("\"last_error\": {") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    assert_eq!(accepted.map(|(code, _)| code), Some(200));
    let page: serde_json::Value = serde_json::from_str(&status).unwrap();
    let exporter = &page["exporters"][0];
    assert_eq!(exporter["name"], "backend");
    assert_eq!(exporter["protocol"], "grpc");
    assert_eq!(exporter["queue"]["storage"], "memory");
    assert!(
        exporter["last_error"]["message"]
            .as_str()
            .unwrap()
            .contains("failed"),
        "{status}"
    );
    assert!(exporter["retries"].as_u64().unwrap() >= 1, "{status}");
    assert_eq!(page["receivers"]["http"]["spans"]["accepted"], 1);
    assert!(!status.contains("s3cret-value"), "{status}");
}

fn write_price_file(path: &std::path::Path, input_usd_per_million: &str) {
    let text = format!(
        "models:\n  - {{ provider: openai, model: reload-test-1, input: {input_usd_per_million}, output: 0, \
         source: 'https://example.com/pricing', effective: 2025-01-01 }}\n"
    );
    std::fs::write(path, text).unwrap();
}

/// Builds an OTLP/JSON request with one LLM span of 1,000,000 input tokens,
/// so that its cost in USD equals the input price per million tokens.
fn llm_span_json(number: u8) -> String {
    format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"reload-test"}}}}]}},"scopeSpans":[{{"spans":[{{"traceId":"0102030405060708090a0b0c0d0e0f{number:02x}","spanId":"01020304050607{number:02x}","name":"chat reload-test-1","kind":3,"startTimeUnixNano":"1718000000000000000","endTimeUnixNano":"1718000001000000000","attributes":[{{"key":"gen_ai.operation.name","value":{{"stringValue":"chat"}}}},{{"key":"gen_ai.provider.name","value":{{"stringValue":"openai"}}}},{{"key":"gen_ai.request.model","value":{{"stringValue":"reload-test-1"}}}},{{"key":"gen_ai.response.id","value":{{"stringValue":"reload-{number}"}}}},{{"key":"gen_ai.usage.input_tokens","value":{{"intValue":"1000000"}}}},{{"key":"gen_ai.usage.output_tokens","value":{{"intValue":"0"}}}}]}}]}}]}}]}}"#
    )
}

/// Returns the value of the first sample of `metrics_text` whose line starts
/// with `series`.
fn sample_value(metrics_text: &str, series: &str) -> Option<f64> {
    metrics_text
        .lines()
        .find(|line| line.starts_with(series))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

/// Polls `/metrics` until the sample `series` has `expected`, and returns
/// the last value seen.
fn wait_for_sample(metrics_address: &str, series: &str, expected: f64) -> Option<f64> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = http_request(metrics_address, "GET", "/metrics", "text/plain", "")
            .map(|(_, body)| body)
            .unwrap_or_default();
        let value = sample_value(&text, series);
        if value == Some(expected) || Instant::now() >= deadline {
            return value;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn send_hangup(child: &std::process::Child) {
    let pid = child.id().to_string();
    let status = Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    assert!(status.success());
}

/// SIGHUP re-reads the price file: a bad file keeps the old prices and
/// counts a failure, a good one prices later calls, and the cost already
/// counted stays.
#[test]
fn sighup_reloads_price_file() {
    let folder = tempfile::tempdir().unwrap();
    let prices = folder.path().join("prices.yaml");
    write_price_file(&prices, "2");
    let (grpc, http, metrics, admin) = (free_port(), free_port(), free_port(), free_port());
    let text = format!(
        "receivers: {{ otlp: {{ grpc: {{ endpoint: 127.0.0.1:{grpc} }}, http: {{ endpoint: 127.0.0.1:{http} }} }} }}\n\
         metrics: {{ prometheus: {{ endpoint: 127.0.0.1:{metrics} }} }}\n\
         admin: {{ endpoint: 127.0.0.1:{admin} }}\n\
         pricing: {{ files: [{prices:?}], reload_interval: 1h }}\n"
    );
    let file = write_config(&text);
    let mut child = Command::new(BINARY)
        .args(["run", "--config"])
        .arg(file.path())
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let admin_address = format!("127.0.0.1:{admin}");
    let http_address = format!("127.0.0.1:{http}");
    let metrics_address = format!("127.0.0.1:{metrics}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while http_get_status(&admin_address, "/readyz") != Some(200) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let send = |number: u8| {
        let body = llm_span_json(number);
        http_request(
            &http_address,
            "POST",
            "/v1/traces",
            "application/json",
            &body,
        )
        .map(|(status, _)| status)
    };
    let cost_series = "burnrate_llm_cost_usd_total{gen_ai_provider_name=\"openai\",gen_ai_request_model=\"reload-test-1\"";
    let success_series = "burnrate_pricing_reloads_total{result=\"success\"}";
    let failure_series = "burnrate_pricing_reloads_total{result=\"failure\"}";

    // First call at the price of the file at start: 2 USD.
    let first = send(1);
    let cost_at_start = wait_for_sample(&metrics_address, cost_series, 2.0);

    // A bad file keeps the old price.
    std::fs::write(
        &prices,
        "models:\n  - { provider: openai, model: reload-test-1, input: two }\n",
    )
    .unwrap();
    send_hangup(&child);
    let failures = wait_for_sample(&metrics_address, failure_series, 1.0);
    let second = send(2);
    let cost_after_failure = wait_for_sample(&metrics_address, cost_series, 4.0);

    // A good file prices later calls at 5 USD.
    write_price_file(&prices, "5");
    send_hangup(&child);
    let successes = wait_for_sample(&metrics_address, success_series, 1.0);
    let third = send(3);
    let cost_after_reload = wait_for_sample(&metrics_address, cost_series, 9.0);

    let (status, stderr) = terminate(&mut child);

    assert_eq!(first, Some(200), "{stderr}");
    assert_eq!(second, Some(200), "{stderr}");
    assert_eq!(third, Some(200), "{stderr}");
    assert_eq!(cost_at_start, Some(2.0), "{stderr}");
    assert_eq!(failures, Some(1.0), "{stderr}");
    assert_eq!(cost_after_failure, Some(4.0), "{stderr}");
    assert_eq!(successes, Some(1.0), "{stderr}");
    assert_eq!(cost_after_reload, Some(9.0), "{stderr}");
    assert!(stderr.contains("price table reload failed"), "{stderr}");
    assert!(stderr.contains(&prices.display().to_string()), "{stderr}");
    assert!(stderr.contains("`models[0].input`"), "{stderr}");
    assert!(stderr.contains("price table reloaded"), "{stderr}");
    assert_eq!(status.and_then(|status| status.code()), Some(0), "{stderr}");
}

#[test]
fn rules_check_reports_file_and_line() {
    let folder = tempfile::tempdir().unwrap();
    let bad = folder.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: stddev(x) > 1\n",
    )
    .unwrap();
    let pack = concat!(env!("CARGO_MANIFEST_DIR"), "/rules/burnrate.yaml");

    let good = Command::new(BINARY)
        .args(["rules", "check", pack])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&good.stdout);
    assert_eq!(good.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("burnrate.yaml: 8 rule(s) found"),
        "{stdout}"
    );

    let failed = Command::new(BINARY)
        .args(["rules", "check"])
        .arg(&bad)
        .arg(pack)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(failed.status.code(), Some(1), "{stderr}");
    let expected = format!(
        "{}:4: group \"a\", rule \"X\": invalid `expr` \"stddev(x) > 1\": aggregation `stddev` is not supported",
        bad.display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
}

/// A rule fires on a live metric. On SIGHUP a bad rule file keeps the rules
/// in use, and a good one keeps the firing alert without firing it again.
#[test]
fn rule_fires_and_survives_reloads() {
    let folder = tempfile::tempdir().unwrap();
    let rules = folder.path().join("rules.yaml");
    let rule = "      - alert: CostAbove\n        expr: burnrate_llm_cost_usd_total > 1\n        labels: { severity: test }\n        annotations: { summary: \"cost is {{ $value }} USD\" }\n";
    std::fs::write(
        &rules,
        format!("groups:\n  - name: cost\n    rules:\n{rule}"),
    )
    .unwrap();
    let prices = folder.path().join("prices.yaml");
    write_price_file(&prices, "2");
    let (grpc, http, metrics, admin) = (free_port(), free_port(), free_port(), free_port());
    let config = folder.path().join("burnrate.yaml");
    std::fs::write(
        &config,
        format!(
            "receivers: {{ otlp: {{ grpc: {{ endpoint: 127.0.0.1:{grpc} }}, http: {{ endpoint: 127.0.0.1:{http} }} }} }}\n\
             metrics: {{ prometheus: {{ endpoint: 127.0.0.1:{metrics} }} }}\n\
             admin: {{ endpoint: 127.0.0.1:{admin} }}\n\
             pricing: {{ files: [{prices:?}], reload_interval: 1h }}\n\
             alerts: {{ evaluation_interval: 200ms, default_rules: false, rule_files: [rules.yaml] }}\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(BINARY)
        .args(["run", "--config"])
        .arg(&config)
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let admin_address = format!("127.0.0.1:{admin}");
    let metrics_address = format!("127.0.0.1:{metrics}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while http_get_status(&admin_address, "/readyz") != Some(200) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let firing = "burnrate_alerts_active{alertname=\"CostAbove\",state=\"firing\"}";
    let rule_count = "burnrate_alerts_rules ";
    let reload_failures = "burnrate_alerts_rule_reloads_total{result=\"failure\"}";
    let reload_successes = "burnrate_alerts_rule_reloads_total{result=\"success\"}";

    let sent = http_request(
        &format!("127.0.0.1:{http}"),
        "POST",
        "/v1/traces",
        "application/json",
        &llm_span_json(1),
    )
    .map(|(status, _)| status);
    let fired = wait_for_sample(&metrics_address, firing, 1.0);

    std::fs::write(
        &rules,
        "groups:\n  - name: cost\n    rules:\n      - alert: CostAbove\n        expr: rate(\n",
    )
    .unwrap();
    send_hangup(&child);
    let failures = wait_for_sample(&metrics_address, reload_failures, 1.0);
    let still_firing_after_failure = wait_for_sample(&metrics_address, firing, 1.0);

    let other = "      - alert: Other\n        expr: burnrate_llm_cost_usd_total > 100\n";
    std::fs::write(
        &rules,
        format!("groups:\n  - name: cost\n    rules:\n{rule}{other}"),
    )
    .unwrap();
    send_hangup(&child);
    let successes = wait_for_sample(&metrics_address, reload_successes, 1.0);
    let rules_after_reload = wait_for_sample(&metrics_address, rule_count, 2.0);
    let still_firing_after_reload = wait_for_sample(&metrics_address, firing, 1.0);

    let (status, stderr) = terminate(&mut child);
    assert_eq!(sent, Some(200), "{stderr}");
    assert_eq!(fired, Some(1.0), "{stderr}");
    assert_eq!(failures, Some(1.0), "{stderr}");
    assert_eq!(still_firing_after_failure, Some(1.0), "{stderr}");
    assert_eq!(successes, Some(1.0), "{stderr}");
    assert_eq!(rules_after_reload, Some(2.0), "{stderr}");
    assert_eq!(still_firing_after_reload, Some(1.0), "{stderr}");
    assert!(stderr.contains("rule files not reloaded"), "{stderr}");
    assert!(stderr.contains("rules.yaml:4"), "{stderr}");
    let fired_lines = stderr
        .lines()
        .filter(|line| line.contains("alert firing") && line.contains("CostAbove"))
        .count();
    assert_eq!(fired_lines, 1, "{stderr}");
    assert!(stderr.contains("cost is 2 USD"), "{stderr}");
    assert_eq!(status.and_then(|status| status.code()), Some(0), "{stderr}");
}

#[test]
fn rules_test_runs_promtool_format() {
    let pack_tests = concat!(env!("CARGO_MANIFEST_DIR"), "/rules/burnrate_test.yaml");
    let passed = Command::new(BINARY)
        .args(["rules", "test", pack_tests])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&passed.stdout);
    assert_eq!(passed.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("burnrate_test.yaml: SUCCESS"), "{stdout}");

    let folder = tempfile::tempdir().unwrap();
    std::fs::write(
        folder.path().join("rules.yaml"),
        "groups:\n  - name: g\n    rules:\n      - alert: Up\n        expr: up > 0\n        annotations: { summary: \"up is {{ $value }}\" }\n",
    )
    .unwrap();
    let tests = folder.path().join("tests.yaml");
    std::fs::write(
        &tests,
        "rule_files: [rules.yaml]\ntests:\n  - name: wrong summary\n    input_series:\n      - { series: 'up{job=\"a\"}', values: '1 1' }\n    alert_rule_test:\n      - eval_time: 1m\n        alertname: Up\n        exp_alerts:\n          - exp_labels: { job: a }\n            exp_annotations: { summary: \"up is 2\" }\n",
    )
    .unwrap();
    let failed = Command::new(BINARY)
        .args(["rules", "test"])
        .arg(&tests)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(failed.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("tests.yaml: FAILED"), "{stderr}");
    assert!(
        stderr.contains("wrong summary: alertname \"Up\" at 1m"),
        "{stderr}"
    );
    assert!(stderr.contains("\"summary\": \"up is 2\""), "{stderr}");
    assert!(stderr.contains("\"summary\": \"up is 1\""), "{stderr}");
}
