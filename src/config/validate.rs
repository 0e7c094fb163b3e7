//! Checks that decoding cannot express: addresses, URLs, ranges and names.

use std::net::SocketAddr;

use super::error::Problem;
use super::model::{Config, Exporter, Protocol};

/// The largest accepted `max_recv_msg_size_mib`.
const MAX_RECV_MSG_SIZE_MIB: u64 = 1024;

/// Checks every section but `exporters`, which are checked as they are decoded.
pub fn validate(config: &Config, problems: &mut Vec<Problem>) {
    let grpc = &config.receivers.otlp.grpc;
    check_listen_address("receivers.otlp.grpc.endpoint", &grpc.endpoint, problems);
    if grpc.max_recv_msg_size_mib == 0 || grpc.max_recv_msg_size_mib > MAX_RECV_MSG_SIZE_MIB {
        problems.push(Problem::new(
            "receivers.otlp.grpc.max_recv_msg_size_mib",
            format!(
                "{} is out of range; use 1 to {MAX_RECV_MSG_SIZE_MIB}",
                grpc.max_recv_msg_size_mib
            ),
        ));
    }
    let prometheus = &config.metrics.prometheus.endpoint;
    check_listen_address("metrics.prometheus.endpoint", prometheus, problems);
    check_listen_address("admin.endpoint", &config.admin.endpoint, problems);

    if let Err(error) = tracing_subscriber::EnvFilter::try_new(&config.service.log_level) {
        let message = format!("invalid filter {:?}: {error}", config.service.log_level);
        problems.push(Problem::new("service.log_level", message));
    }
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
    if exporter.name.is_empty() {
        problems.push(Problem::new(
            &format!("{path}.name"),
            "missing; name the exporter, such as `backend`",
        ));
    }
    if let Err(message) = parse_endpoint_url(&exporter.endpoint) {
        problems.push(Problem::new(&format!("{path}.endpoint"), message));
    }
    if exporter.protocol == Protocol::HttpProtobuf {
        problems.push(Problem::new(
            &format!("{path}.protocol"),
            "http/protobuf export is not available in this version; use grpc",
        ));
    }
    for (name, value) in &exporter.headers {
        let header_path = format!("{path}.headers.{name}");
        if tonic::metadata::MetadataKey::<tonic::metadata::Ascii>::from_bytes(name.as_bytes())
            .is_err()
        {
            let message = "invalid gRPC metadata name; use lowercase letters, digits, '-' and '_'";
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
        problems.push(Problem::new(
            &format!("{path}.timeout"),
            "must be greater than 0s",
        ));
    }
    if exporter.sending_queue.queue_size == 0 {
        problems.push(Problem::new(
            &format!("{path}.sending_queue.queue_size"),
            "must be at least 1",
        ));
    }
    if exporter.sending_queue.num_consumers == 0 {
        problems.push(Problem::new(
            &format!("{path}.sending_queue.num_consumers"),
            "must be at least 1",
        ));
    }
    let retry = &exporter.retry_on_failure;
    if retry.enabled && retry.initial_interval > retry.max_interval {
        problems.push(Problem::new(
            &format!("{path}.retry_on_failure.initial_interval"),
            "must not be greater than `max_interval`",
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
    Ok(uri)
}
