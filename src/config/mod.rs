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
    parse(&text)
}

/// Returns the exporters to use: the configured ones, or one built from the standard
/// `OTEL_EXPORTER_OTLP_*` variables when the config names none.
pub fn effective_exporters(
    config: &Config,
    lookup_env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Exporter>, ConfigError> {
    if !config.exporters.is_empty() {
        return Ok(config.exporters.clone());
    }
    let endpoint = lookup_env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .or_else(|| lookup_env("OTEL_EXPORTER_OTLP_ENDPOINT"))
        .filter(|value| !value.trim().is_empty());
    let Some(endpoint) = endpoint else {
        return Ok(Vec::new());
    };

    let mut problems = Vec::new();
    let protocol = lookup_env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|| lookup_env("OTEL_EXPORTER_OTLP_PROTOCOL"));
    if let Some(protocol) = protocol.filter(|value| value != "grpc") {
        let message = format!(
            "protocol {protocol:?} is not available in this version; set it to grpc or unset it"
        );
        problems.push(Problem::new("OTEL_EXPORTER_OTLP_PROTOCOL", message));
    }
    let headers = lookup_env("OTEL_EXPORTER_OTLP_TRACES_HEADERS")
        .or_else(|| lookup_env("OTEL_EXPORTER_OTLP_HEADERS"))
        .map(|text| parse_otlp_headers(&text, &mut problems))
        .unwrap_or_default();

    let exporter = Exporter {
        name: "otlp".to_owned(),
        endpoint: endpoint.trim().to_owned(),
        headers,
        ..Exporter::default()
    };
    if let Err(message) = parse_endpoint_url(&exporter.endpoint) {
        problems.push(Problem::new("OTEL_EXPORTER_OTLP_ENDPOINT", message));
    }
    if problems.is_empty() {
        Ok(vec![exporter])
    } else {
        Err(ConfigError::new(problems))
    }
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
