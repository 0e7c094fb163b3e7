//! Checks that decoding cannot express: addresses, URLs, ranges, names and
//! the TLS files that an exporter reads.

use std::net::SocketAddr;

use super::error::Problem;
use super::model::{
    Config, Exporter, InputTokensIncludeCache, Notifier, NotifierKind, Protocol, QueueStorage,
};

/// The largest accepted request size limit.
const MAX_SIZE_MIB: u64 = 1024;

pub fn validate(config: &Config, problems: &mut Vec<Problem>) {
    let grpc = &config.receivers.otlp.grpc;
    check_listen_address("receivers.otlp.grpc.endpoint", &grpc.endpoint, problems);
    check_size_mib(
        "receivers.otlp.grpc.max_recv_msg_size_mib",
        grpc.max_recv_msg_size_mib,
        problems,
    );
    check_at_least_one(
        "receivers.otlp.grpc.max_connections",
        grpc.max_connections as u64,
        problems,
    );
    check_at_least_one(
        "receivers.otlp.grpc.max_concurrent_streams",
        u64::from(grpc.max_concurrent_streams),
        problems,
    );
    check_positive(
        "receivers.otlp.grpc.request_timeout",
        grpc.request_timeout,
        problems,
    );

    let http = &config.receivers.otlp.http;
    check_listen_address("receivers.otlp.http.endpoint", &http.endpoint, problems);
    check_size_mib(
        "receivers.otlp.http.max_request_body_size_mib",
        http.max_request_body_size_mib,
        problems,
    );
    check_size_mib(
        "receivers.otlp.http.max_decompressed_body_size_mib",
        http.max_decompressed_body_size_mib,
        problems,
    );
    check_at_least_one(
        "receivers.otlp.http.max_connections",
        http.max_connections as u64,
        problems,
    );
    check_positive(
        "receivers.otlp.http.request_timeout",
        http.request_timeout,
        problems,
    );
    check_at_least_one(
        "extract.max_attributes_per_span",
        config.extract.max_attributes_per_span as u64,
        problems,
    );

    check_input_token_rules(&config.extract.input_tokens_include_cache, problems);

    let prometheus = &config.metrics.prometheus.endpoint;
    check_listen_address("metrics.prometheus.endpoint", prometheus, problems);
    check_listen_address("admin.endpoint", &config.admin.endpoint, problems);

    let mut names = std::collections::HashSet::new();
    for (index, exporter) in config.exporters.iter().enumerate() {
        let path = format!("exporters[{index}]");
        check_exporter(&path, exporter, problems);
        if !exporter.name.is_empty() && !names.insert(exporter.name.as_str()) {
            let message = format!(
                "duplicate exporter name {:?}; give each a unique name",
                exporter.name
            );
            problems.push(Problem::new(&format!("{path}.name"), message));
        }
    }

    if config.metrics.otlp.enabled {
        check_positive(
            "metrics.otlp.interval",
            config.metrics.otlp.interval,
            problems,
        );
    }

    let processing = &config.processing;
    if processing.content.action == super::model::ContentAction::Truncate
        && processing.content.max_bytes == 0
    {
        problems.push(Problem::new(
            "processing.content.max_bytes",
            "must be at least 1 with `action: truncate`; use `action: drop` to remove content",
        ));
    }
    if processing.span_cost.enabled && processing.span_cost.attribute.trim().is_empty() {
        problems.push(Problem::new(
            "processing.span_cost.attribute",
            "missing; name the attribute, such as gen_ai.usage.cost.amount",
        ));
    }

    check_notifiers(&config.alerts.notifiers, problems);

    if let Err(ledger_problems) = crate::ledger::LedgerConfig::from_settings(&config.ledger) {
        problems.extend(ledger_problems);
    }
    check_pricing(&config.pricing, problems);

    if let Err(error) = tracing_subscriber::EnvFilter::try_new(&config.service.log_level) {
        let message = format!("invalid filter {:?}: {error}", config.service.log_level);
        problems.push(Problem::new("service.log_level", message));
    }
}

/// Checks that each entry is complete and names its scope prefix once,
/// because only the first entry for a prefix is ever used.
fn check_input_token_rules(rules: &[InputTokensIncludeCache], problems: &mut Vec<Problem>) {
    let mut seen = std::collections::HashSet::new();
    for (index, rule) in rules.iter().enumerate() {
        let item = format!("extract.input_tokens_include_cache[{index}]");
        if rule.included.is_none() {
            problems.push(Problem::new(
                &format!("{item}.included"),
                "missing; set true when the scope's input tokens include cache tokens, else false",
            ));
        }
        let path = format!("{item}.scope");
        if rule.scope.trim().is_empty() {
            problems.push(Problem::new(
                &path,
                "missing; name the instrumentation scope, such as com.anthropic.sdk.python",
            ));
        } else if !seen.insert(rule.scope.as_str()) {
            let message = format!(
                "duplicate scope {:?}; only the first entry for a scope is used, remove the others",
                rule.scope
            );
            problems.push(Problem::new(&path, message));
        }
    }
}

/// The longest accepted resend delay of an `alertmanager` notifier. Alerts
/// stay firing in Alertmanager for four resend delays after burnrate stops
/// sending them, so a long delay hides a stopped burnrate for that long.
const MAX_RESEND_DELAY: std::time::Duration = std::time::Duration::from_secs(600);

/// Checks `alerts.notifiers`: unique names, a usable URL for the kinds that
/// send over HTTP, the selector, the headers and the durations.
fn check_notifiers(notifiers: &[Notifier], problems: &mut Vec<Problem>) {
    let mut names = std::collections::HashSet::new();
    for (index, notifier) in notifiers.iter().enumerate() {
        let field = |name: &str| format!("alerts.notifiers[{index}].{name}");
        if notifier.name.trim().is_empty() {
            problems.push(Problem::new(
                &field("name"),
                "missing; name the notifier, such as `oncall`",
            ));
        } else if !names.insert(notifier.name.as_str()) {
            let message = format!(
                "duplicate notifier name {:?}; give each a unique name",
                notifier.name
            );
            problems.push(Problem::new(&field("name"), message));
        }

        if notifier.kind.uses_url() {
            let example = match notifier.kind {
                NotifierKind::Alertmanager => "http://127.0.0.1:9093",
                NotifierKind::Slack => "https://hooks.slack.com/services/T000/B000/XXXX",
                _ => "http://127.0.0.1:8080/alerts",
            };
            match parse_endpoint_url(&notifier.url) {
                Ok(uri) if has_credentials(&uri) => {
                    problems.push(Problem::new(&field("url"), CREDENTIALS_IN_URL));
                }
                Ok(_) => {}
                Err(_) if notifier.url.is_empty() => {
                    let message = format!(
                        "missing; a {} notifier needs a URL, such as {example}",
                        notifier.kind.as_str()
                    );
                    problems.push(Problem::new(&field("url"), message));
                }
                Err(message) => problems.push(Problem::new(&field("url"), message)),
            }
        }

        if let Err(message) = crate::alerts::notify::parse_alert_selector(&notifier.selector) {
            problems.push(Problem::new(&field("selector"), message));
        }
        for (name, value) in &notifier.headers {
            let path = field(&format!("headers.{name}"));
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                let message = "invalid HTTP header name; use letters, digits and '-'";
                problems.push(Problem::new(&path, message));
            } else if is_reserved_header(Protocol::HttpProtobuf, name) {
                let message = format!(
                    "burnrate sets {name:?} itself for each request; remove it from `headers`"
                );
                problems.push(Problem::new(&path, message));
            }
            if http::HeaderValue::from_str(value).is_err() {
                let message =
                    "invalid header value; it must be visible ASCII (the value is not shown)";
                problems.push(Problem::new(&path, message));
            }
        }

        check_positive(&field("timeout"), notifier.timeout, problems);
        if let Some(repeat_interval) = notifier.repeat_interval {
            check_positive(&field("repeat_interval"), repeat_interval, problems);
            if notifier.kind == NotifierKind::Alertmanager && repeat_interval > MAX_RESEND_DELAY {
                let message = format!(
                    "{} is too long for `alertmanager`, where it is the resend delay and alerts stay firing for four of them after burnrate stops; use about 1m (at most 10m), and set how often people are notified in Alertmanager's route",
                    humantime::format_duration(repeat_interval)
                );
                problems.push(Problem::new(&field("repeat_interval"), message));
            }
        }
        if notifier.max_retry_time < notifier.timeout {
            let message = format!(
                "{} is shorter than `timeout` ({}), so not even one attempt could finish; set it to at least the timeout",
                humantime::format_duration(notifier.max_retry_time),
                humantime::format_duration(notifier.timeout)
            );
            problems.push(Problem::new(&field("max_retry_time"), message));
        }
    }
}

/// Checks the `pricing` section and builds its price table, which reads every
/// price file, so a bad file fails validation instead of the start.
fn check_pricing(pricing: &super::model::Pricing, problems: &mut Vec<Problem>) {
    check_positive("pricing.reload_interval", pricing.reload_interval, problems);
    for (name, model) in &pricing.azure_deployments {
        let path = format!("pricing.azure_deployments.{name}");
        if name.trim().is_empty() {
            problems.push(Problem::new(
                "pricing.azure_deployments",
                "contains an empty deployment name; write the deployment name as the key",
            ));
        } else if model.trim().is_empty() {
            let message = format!(
                "missing model id for deployment {name:?}; write the model it serves, such as gpt-4o"
            );
            problems.push(Problem::new(&path, message));
        }
    }
    if let Err(error) = crate::pricing::load_table(pricing) {
        let message = format!("{error}; fix it, or remove it from `pricing`");
        problems.push(Problem::new(&error.config_path(), message));
    }
}

fn check_size_mib(path: &str, size_mib: u64, problems: &mut Vec<Problem>) {
    if size_mib == 0 || size_mib > MAX_SIZE_MIB {
        problems.push(Problem::new(
            path,
            format!("{size_mib} is out of range; use 1 to {MAX_SIZE_MIB}"),
        ));
    }
}

fn check_at_least_one(path: &str, value: u64, problems: &mut Vec<Problem>) {
    if value == 0 {
        problems.push(Problem::new(path, "must be at least 1"));
    }
}

fn check_positive(path: &str, duration: std::time::Duration, problems: &mut Vec<Problem>) {
    if duration.is_zero() {
        problems.push(Problem::new(path, "must be greater than 0s"));
    }
}

/// The longest accepted retry interval.
const MAX_RETRY_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

fn check_retry_interval(path: &str, interval: std::time::Duration, problems: &mut Vec<Problem>) {
    if interval.is_zero() || interval > MAX_RETRY_INTERVAL {
        let message = format!(
            "{} is out of range; use 1ms to 1h",
            humantime::format_duration(interval)
        );
        problems.push(Problem::new(path, message));
    }
}

/// Returns the config key of the receiver that `uri` points at, if any: the
/// same port on the same address, or on a loopback address when the receiver
/// listens on all addresses.
pub fn own_receiver(config: &Config, uri: &http::Uri) -> Option<&'static str> {
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<std::net::IpAddr> = if host.eq_ignore_ascii_case("localhost") {
        vec![
            std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::Ipv6Addr::LOCALHOST.into(),
        ]
    } else {
        host.parse().into_iter().collect()
    };
    let receivers = [
        (
            "receivers.otlp.grpc.endpoint",
            &config.receivers.otlp.grpc.endpoint,
        ),
        (
            "receivers.otlp.http.endpoint",
            &config.receivers.otlp.http.endpoint,
        ),
    ];
    receivers.into_iter().find_map(|(key, endpoint)| {
        let listen: SocketAddr = endpoint.parse().ok()?;
        let same_address = |address: &std::net::IpAddr| {
            *address == listen.ip() || (listen.ip().is_unspecified() && address.is_loopback())
        };
        (listen.port() == port && addresses.iter().any(same_address)).then_some(key)
    })
}

fn check_listen_address(path: &str, endpoint: &str, problems: &mut Vec<Problem>) {
    if endpoint.parse::<SocketAddr>().is_err() {
        let message = format!(
            "{endpoint:?} is not an IP address and port; write it as 127.0.0.1:4317 or [::1]:4317"
        );
        problems.push(Problem::new(path, message));
    }
}

pub(super) fn check_exporter(path: &str, exporter: &Exporter, problems: &mut Vec<Problem>) {
    let field = |name: &str| {
        if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    if exporter.name.is_empty() {
        problems.push(Problem::new(
            &field("name"),
            "missing; name the exporter, such as `backend`",
        ));
    }
    match parse_endpoint_url(&exporter.endpoint) {
        Ok(uri) if has_credentials(&uri) => {
            // The endpoint contains a secret, so this message does not repeat
            // it, and the checks whose messages would are skipped.
            problems.push(Problem::new(&field("endpoint"), CREDENTIALS_IN_URL));
        }
        Ok(uri) => {
            if exporter.protocol == Protocol::HttpProtobuf {
                check_http_base_url(&field("endpoint"), &exporter.endpoint, &uri, problems);
            }
            check_tls(&field, exporter, &uri, problems);
        }
        Err(message) => problems.push(Problem::new(&field("endpoint"), message)),
    }
    if exporter.signals.is_empty() {
        problems.push(Problem::new(
            &field("signals"),
            "must list at least one of traces, metrics, logs; remove the exporter to send nothing",
        ));
    }
    for (name, value) in &exporter.headers {
        let header_path = field(&format!("headers.{name}"));
        let valid_name = match exporter.protocol {
            Protocol::Grpc => {
                tonic::metadata::MetadataKey::<tonic::metadata::Ascii>::from_bytes(name.as_bytes())
                    .is_ok()
            }
            Protocol::HttpProtobuf => http::HeaderName::from_bytes(name.as_bytes()).is_ok(),
        };
        if !valid_name {
            let message = match exporter.protocol {
                Protocol::Grpc => {
                    "invalid gRPC metadata name; use letters, digits, '-' and '_', not ending in -bin"
                }
                Protocol::HttpProtobuf => "invalid HTTP header name; use letters, digits and '-'",
            };
            problems.push(Problem::new(&header_path, message));
        } else if is_reserved_header(exporter.protocol, name) {
            let message =
                format!("burnrate sets {name:?} itself for each request; remove it from `headers`");
            problems.push(Problem::new(&header_path, message));
        }
        if value
            .parse::<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>()
            .is_err()
        {
            let message = "invalid header value; it must be visible ASCII (the value is not shown)";
            problems.push(Problem::new(&header_path, message));
        }
    }
    if exporter.timeout.is_zero() {
        problems.push(Problem::new(&field("timeout"), "must be greater than 0s"));
    }
    if exporter.sending_queue.queue_size == 0 {
        problems.push(Problem::new(
            &field("sending_queue.queue_size"),
            "must be at least 1",
        ));
    }
    if exporter.sending_queue.num_consumers == 0 {
        problems.push(Problem::new(
            &field("sending_queue.num_consumers"),
            "must be at least 1",
        ));
    }
    check_size_mib(
        &field("sending_queue.max_size_mib"),
        exporter.sending_queue.max_size_mib,
        problems,
    );
    if exporter.sending_queue.storage == QueueStorage::Disk
        && exporter.sending_queue.directory.is_none()
    {
        let message = "missing; `storage: disk` needs a folder for the queue, such as /var/lib/burnrate/queue";
        problems.push(Problem::new(&field("sending_queue.directory"), message));
    }
    check_size_mib(
        &field("batch.send_batch_max_size_mib"),
        exporter.batch.send_batch_max_size_mib,
        problems,
    );
    let retry = &exporter.retry_on_failure;
    check_retry_interval(
        &field("retry_on_failure.initial_interval"),
        retry.initial_interval,
        problems,
    );
    check_retry_interval(
        &field("retry_on_failure.max_interval"),
        retry.max_interval,
        problems,
    );
    if retry.enabled && retry.initial_interval > retry.max_interval {
        problems.push(Problem::new(
            &field("retry_on_failure.initial_interval"),
            "must not be greater than `max_interval`",
        ));
    }
}

/// The problem of a URL with `user:password@` in it. It does not repeat the
/// URL, which contains a secret.
const CREDENTIALS_IN_URL: &str = "contains credentials before '@', which burnrate does not send; remove them and set a header instead, such as `authorization: Basic ...`";

fn has_credentials(uri: &http::Uri) -> bool {
    uri.authority()
        .is_some_and(|authority| authority.as_str().contains('@'))
}

/// Returns whether burnrate sets header `name` itself, so a configured value
/// would conflict with it.
fn is_reserved_header(protocol: Protocol, name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let reserved = [
        "content-type",
        "content-encoding",
        "content-length",
        "transfer-encoding",
        "host",
        "te",
    ];
    reserved.contains(&name.as_str()) || (protocol == Protocol::Grpc && name.starts_with("grpc-"))
}

/// Checks an OTLP/HTTP endpoint, which is a base URL that gets
/// `/v1/<signal>` appended to its path.
fn check_http_base_url(path: &str, endpoint: &str, uri: &http::Uri, problems: &mut Vec<Problem>) {
    if uri.query().is_some() {
        let message = format!(
            "{endpoint:?} has a query string; burnrate appends /v1/traces, /v1/metrics or /v1/logs to the path, so write the base URL without one"
        );
        problems.push(Problem::new(path, message));
        return;
    }
    let signal_path = crate::signal::Signal::ALL
        .into_iter()
        .map(crate::signal::Signal::http_path)
        .find(|signal_path| uri.path().trim_end_matches('/').ends_with(signal_path));
    if let Some(signal_path) = signal_path {
        let base = endpoint.trim_end_matches('/');
        let base = base.strip_suffix(signal_path).unwrap_or(base);
        let message = format!(
            "{endpoint:?} ends in {signal_path}, but burnrate appends the signal path itself; write the base URL {base:?}"
        );
        problems.push(Problem::new(path, message));
    }
}

/// Checks `tls` against the endpoint's scheme and reads its files, so a
/// missing or unusable file fails validation instead of the first export.
fn check_tls(
    field: &dyn Fn(&str) -> String,
    exporter: &Exporter,
    uri: &http::Uri,
    problems: &mut Vec<Problem>,
) {
    let tls = &exporter.tls;
    let https = uri.scheme_str() == Some("https");
    if tls.insecure && https {
        let message = format!(
            "`insecure: true` means plaintext, but {:?} is https://; write an http:// endpoint for plaintext, or remove `insecure` to use TLS",
            exporter.endpoint
        );
        problems.push(Problem::new(&field("tls.insecure"), message));
    }
    if !https && tls.has_files() {
        let message = format!(
            "certificate files are used only with TLS, but {:?} is plaintext http://; write an https:// endpoint or remove the files",
            exporter.endpoint
        );
        problems.push(Problem::new(&field("tls"), message));
        return;
    }
    if let Err(error) = tls.read_ca_certificates() {
        problems.push(Problem::new(
            &field(&format!("tls.{}", error.key)),
            error.message,
        ));
    }
    if let Err(error) = tls.read_client_identity() {
        problems.push(Problem::new(
            &field(&format!("tls.{}", error.key)),
            error.message,
        ));
    }
}

/// Parses an exporter endpoint, which must be an `http` or `https` URL with a host.
pub fn parse_endpoint_url(endpoint: &str) -> Result<http::Uri, String> {
    if endpoint.is_empty() {
        return Err("missing; write a URL such as http://127.0.0.1:4317".to_owned());
    }
    let uri: http::Uri = endpoint
        .parse()
        .map_err(|error| format!("{endpoint:?} is not a URL ({error})"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => {
            return Err(format!(
                "{endpoint:?} has scheme {other:?}; use http:// or https://"
            ));
        }
        None => {
            return Err(format!(
                "{endpoint:?} has no scheme; write http://{endpoint} or https://{endpoint}"
            ));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("{endpoint:?} has no host"));
    }
    // `http::Uri` reads a port that does not fit 16 bits as no port at all.
    let authority = uri.authority().map_or("", |authority| authority.as_str());
    let host_and_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, rest)| rest);
    let port_text = host_and_port
        .rsplit_once(':')
        .map(|(_, port)| port)
        .filter(|port| !port.contains(']'));
    if port_text.is_some_and(|port| !matches!(port.parse::<u16>(), Ok(1..))) {
        return Err(format!("{endpoint:?} has an invalid port; use 1 to 65535"));
    }
    Ok(uri)
}
