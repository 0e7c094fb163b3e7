//! Configuration: the YAML model, its defaults, `${env:VAR}` expansion and
//! validation with field paths.

mod error;
mod load;
mod model;
mod validate;

use std::path::Path;

pub use error::{ConfigError, Problem};
pub use model::*;
pub use validate::parse_endpoint_url;

/// The configuration that `burnrate` runs on when no `--config` is given.
pub const DEFAULT_CONFIG: &str = include_str!("../../config/default.yaml");

/// Parses a configuration document, resolving `${env:VAR}` from the process
/// environment.
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    load::parse_config(text, &|name| std::env::var(name).ok())
}

/// Parses a configuration document with an injected environment.
pub fn parse_with_env(
    text: &str,
    lookup_env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    load::parse_config(text, lookup_env)
}

/// Reads and parses a configuration file.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        let message = format!("cannot read config file {}: {error}", path.display());
        ConfigError::new(vec![Problem::new("", message)])
    })?;
    let mut config = parse(&text)?;
    if let Some(directory) = path.parent() {
        config.alerts.rule_files = config
            .alerts
            .rule_files
            .iter()
            .map(|pattern| relative_to(directory, pattern))
            .collect();
    }
    Ok(config)
}

/// Returns `pattern` as a path from `directory` when it is relative, as
/// Prometheus reads the rule files of its configuration file.
fn relative_to(directory: &Path, pattern: &str) -> String {
    if Path::new(pattern).is_absolute() || directory.as_os_str().is_empty() {
        pattern.to_owned()
    } else {
        directory.join(pattern).to_string_lossy().into_owned()
    }
}

/// Returns the exporters to use: the configured ones, or one named `otlp`
/// built from `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_HEADERS` and
/// `OTEL_EXPORTER_OTLP_PROTOCOL` when the config names none. An exporter that
/// points at burnrate's own receiver is an error, because every request would
/// loop back.
pub fn effective_exporters(
    config: &Config,
    lookup_env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Exporter>, ConfigError> {
    let mut problems = Vec::new();
    let exporters = if config.exporters.is_empty() {
        exporter_from_env(lookup_env, &mut problems)
            .into_iter()
            .collect()
    } else {
        config.exporters.clone()
    };

    for (index, exporter) in exporters.iter().enumerate() {
        let Ok(uri) = parse_endpoint_url(&exporter.endpoint) else {
            continue;
        };
        if let Some(receiver) = validate::own_receiver(config, &uri) {
            let path = if config.exporters.is_empty() {
                ENDPOINT_VARIABLE.to_owned()
            } else {
                format!("exporters[{index}].endpoint")
            };
            let message = format!(
                "{:?} is burnrate's own receiver `{receiver}`, so every request would come back to burnrate; \
                 set the upstream backend's address here (a service sets {ENDPOINT_VARIABLE} to burnrate, burnrate does not)",
                exporter.endpoint
            );
            problems.push(Problem::new(&path, message));
        }
    }

    if problems.is_empty() {
        Ok(exporters)
    } else {
        Err(ConfigError::new(problems))
    }
}

const ENDPOINT_VARIABLE: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
const HEADERS_VARIABLE: &str = "OTEL_EXPORTER_OTLP_HEADERS";
const PROTOCOL_VARIABLE: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";

fn exporter_from_env(
    lookup_env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<Problem>,
) -> Option<Exporter> {
    let endpoint = lookup_env(ENDPOINT_VARIABLE).filter(|value| !value.trim().is_empty())?;
    let protocol = match lookup_env(PROTOCOL_VARIABLE).as_deref().map(str::trim) {
        None | Some("" | "grpc") => Protocol::Grpc,
        Some("http/protobuf") => Protocol::HttpProtobuf,
        Some(other) => {
            let message = format!(
                "protocol {other:?} is not supported; set it to grpc or http/protobuf, or unset it for grpc"
            );
            problems.push(Problem::new(PROTOCOL_VARIABLE, message));
            Protocol::Grpc
        }
    };
    let headers = lookup_env(HEADERS_VARIABLE)
        .map(|text| parse_otlp_headers(&text, problems))
        .unwrap_or_default();
    let exporter = Exporter {
        name: "otlp".to_owned(),
        endpoint: endpoint.trim().to_owned(),
        protocol,
        headers,
        ..Exporter::default()
    };

    // Checked as if configured, with the problems reported under the variables' names.
    let mut exporter_problems = Vec::new();
    validate::check_exporter("", &exporter, &mut exporter_problems);
    for problem in exporter_problems {
        let variable = if problem.path.starts_with("headers") {
            HEADERS_VARIABLE
        } else {
            ENDPOINT_VARIABLE
        };
        problems.push(Problem::new(variable, problem.message));
    }
    Some(exporter)
}

/// Parses `OTEL_EXPORTER_OTLP_HEADERS`: comma-separated `key=value` pairs with
/// percent-encoded values.
fn parse_otlp_headers(
    text: &str,
    problems: &mut Vec<Problem>,
) -> std::collections::BTreeMap<String, String> {
    let mut headers = std::collections::BTreeMap::new();
    for pair in text
        .split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
    {
        match pair.split_once('=') {
            Some((key, value)) => {
                headers.insert(
                    key.trim().to_ascii_lowercase(),
                    percent_decode(value.trim()),
                );
            }
            None => {
                let key = pair.split(':').next().unwrap_or_default();
                let message = format!(
                    "entry starting {key:?} has no '='; write key=value pairs separated by commas"
                );
                problems.push(Problem::new("OTEL_EXPORTER_OTLP_HEADERS", message));
            }
        }
    }
    headers
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes.get(index + 1..index + 3).and_then(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        });
        match (bytes[index], hex) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                index += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests;
