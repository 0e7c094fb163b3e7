//! Writes the seed corpus of the fuzz targets to `fuzz/corpus/<target>/` from
//! the OTLP/JSON fixtures under `tests/fixtures/`:
//!
//! - `spans/*.json`: arrays of `ExportTraceServiceRequest`s that real Python
//!   clients exported. Each request becomes one seed per target.
//! - `otlp_json/*.json`: one request each, of the signal that its top-level
//!   key names.
//!
//! Seeds are named `seed-*`. Files of that name are replaced, and other
//! files are left alone. Run from the repository root:
//! `cargo run --manifest-path fuzz/Cargo.toml --example seed_corpus`.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use burnrate::pipeline::Message;
use burnrate::receiver::json::{decode_logs, decode_metrics, decode_traces};
use burnrate::signal::Signal;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::AnyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use serde_json::Value as Json;

const HEADER_PREFIX: &str = "http.response.header.";

/// Header sets that the fixtures do not contain: `retry-after` as an HTTP
/// date and with milliseconds, Go durations with every unit, and RFC 3339
/// times with an offset.
const EXTRA_HEADER_SEEDS: [(&str, &str); 3] = [
    (
        "retry-after",
        "retry-after: Wed, 21 Oct 2015 07:28:00 GMT\nretry-after-ms: 1500.5\n",
    ),
    (
        "openai-units",
        "x-ratelimit-reset-requests: 2h3m4.5s\n\
         x-ratelimit-reset-tokens: 1.25ms500us500\u{b5}s500\u{3bc}s10ns\n\
         x-ratelimit-reset-input-tokens: 7.66\n\
         x-ratelimit-limit-output-tokens: 100\n\
         x-ratelimit-remaining-output-tokens: 0\n",
    ),
    (
        "anthropic-offset",
        "anthropic-ratelimit-tokens-reset: 2025-10-09T10:54:00.5+02:00\n\
         anthropic-ratelimit-tokens-limit: 80000\n\
         anthropic-ratelimit-tokens-remaining: 79000\n",
    ),
];

/// Seeds of one fuzz target, named without the `seed-` prefix.
#[derive(Default)]
struct Seeds {
    files: Vec<(String, Vec<u8>)>,
    contents: BTreeSet<Vec<u8>>,
}

impl Seeds {
    /// Adds a seed unless another seed has the same content.
    fn add(&mut self, name: String, content: Vec<u8>) {
        if self.contents.insert(content.clone()) {
            self.files.push((name, content));
        }
    }

    fn write(&self, directory: &Path) {
        let display = directory.display();
        fs::create_dir_all(directory)
            .unwrap_or_else(|error| panic!("failed to create {display}: {error}"));
        let entries = fs::read_dir(directory)
            .unwrap_or_else(|error| panic!("failed to list {display}: {error}"));
        for entry in entries {
            let path = entry
                .unwrap_or_else(|error| panic!("failed to list {display}: {error}"))
                .path();
            let is_seed = path
                .file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("seed-"));
            if is_seed {
                fs::remove_file(&path)
                    .unwrap_or_else(|error| panic!("failed to remove {}: {error}", path.display()));
            }
        }
        for (name, content) in &self.files {
            let path = directory.join(format!("seed-{name}"));
            fs::write(&path, content)
                .unwrap_or_else(|error| panic!("failed to write {}: {error}", path.display()));
        }
        println!("{display}: {} seeds", self.files.len());
    }
}

fn main() {
    let fuzz_directory = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let fixtures = fuzz_directory.join("../tests/fixtures");
    let mut protobuf = Seeds::default();
    let mut json = Seeds::default();
    let mut headers = Seeds::default();

    for path in json_files(&fixtures.join("spans")) {
        let stem = file_stem(&path);
        let document = read_json(&path);
        let Json::Array(requests) = document else {
            panic!("{} is not a JSON array of requests", path.display());
        };
        for (index, request) in requests.iter().enumerate() {
            let body = serde_json::to_vec(request).expect("serialize a JSON value");
            let name = format!("spans-{stem}-{index}");
            let message = decode(Signal::Traces, &body, &path);
            protobuf.add(
                name.clone(),
                with_selector(Signal::Traces, &message.encode()),
            );
            json.add(name.clone(), with_selector(Signal::Traces, &body));
            if let Message::Traces(request) = &message {
                add_header_seeds(&mut headers, &name, request);
            }
        }
    }

    for path in json_files(&fixtures.join("otlp_json")) {
        let stem = file_stem(&path);
        let signal = signal_of(&read_json(&path), &path);
        let body = read_file(&path);
        let message = decode(signal, &body, &path);
        let name = format!("otlp_json-{stem}");
        protobuf.add(name.clone(), with_selector(signal, &message.encode()));
        json.add(name.clone(), with_selector(signal, &body));
        if let Message::Traces(request) = &message {
            add_header_seeds(&mut headers, &name, request);
        }
    }

    for (name, text) in EXTRA_HEADER_SEEDS {
        headers.add(name.to_owned(), text.as_bytes().to_vec());
    }

    let corpus = fuzz_directory.join("corpus");
    protobuf.write(&corpus.join("otlp_protobuf"));
    json.write(&corpus.join("otlp_json"));
    headers.write(&corpus.join("rate_limit_headers"));
}

/// Lists the `*.json` files of a directory in name order, or none when the
/// directory does not exist.
fn json_files(directory: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(directory) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .map(|entry| {
            let entry = entry
                .unwrap_or_else(|error| panic!("failed to list {}: {error}", directory.display()));
            entry.path()
        })
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "json")
        })
        .collect();
    paths.sort();
    paths
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .expect("a fixture file name")
        .to_string_lossy()
        .into_owned()
}

fn read_file(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|error| panic!("failed to read {}: {error}", path.display()))
}

fn read_json(path: &Path) -> Json {
    serde_json::from_slice(&read_file(path))
        .unwrap_or_else(|error| panic!("{} is not valid JSON: {error}", path.display()))
}

/// Returns the signal of an export request by its top-level key.
fn signal_of(document: &Json, path: &Path) -> Signal {
    for (key, signal) in [
        ("resourceSpans", Signal::Traces),
        ("resourceMetrics", Signal::Metrics),
        ("resourceLogs", Signal::Logs),
    ] {
        if document.get(key).is_some() {
            return signal;
        }
    }
    panic!(
        "{} has none of resourceSpans, resourceMetrics and resourceLogs",
        path.display()
    );
}

/// Decodes an OTLP/JSON fixture with burnrate's own decoder, which must
/// accept every fixture.
fn decode(signal: Signal, body: &[u8], path: &Path) -> Message {
    let decoded = match signal {
        Signal::Traces => decode_traces(body).map(Message::Traces),
        Signal::Metrics => decode_metrics(body).map(Message::Metrics),
        Signal::Logs => decode_logs(body).map(Message::Logs),
    };
    decoded.unwrap_or_else(|error| panic!("{} does not decode: {error}", path.display()))
}

/// Prefixes a body with the first byte that selects `signal` in the OTLP
/// fuzz targets: its index in `Signal::ALL`.
fn with_selector(signal: Signal, body: &[u8]) -> Vec<u8> {
    let selector = Signal::ALL
        .iter()
        .position(|candidate| *candidate == signal)
        .expect("every signal is in Signal::ALL");
    let mut input = vec![u8::try_from(selector).expect("three signals fit in a byte")];
    input.extend_from_slice(body);
    input
}

/// Adds one `rate_limit_headers` seed per span that captured response
/// headers, written as `name: value` lines with the name normalized as
/// extraction does: lowercase, with `_` turned into `-`.
fn add_header_seeds(seeds: &mut Seeds, name: &str, request: &ExportTraceServiceRequest) {
    let spans = request
        .resource_spans
        .iter()
        .flat_map(|resource| &resource.scope_spans)
        .flat_map(|scope| &scope.spans);
    for (index, span) in spans.enumerate() {
        let mut text = String::new();
        for attribute in &span.attributes {
            let Some(header) = attribute.key.strip_prefix(HEADER_PREFIX) else {
                continue;
            };
            if let Some(value) = attribute.value.as_ref().and_then(first_string) {
                let header = header.to_ascii_lowercase().replace('_', "-");
                text.push_str(&format!("{header}: {value}\n"));
            }
        }
        if !text.is_empty() {
            seeds.add(format!("{name}-span{index}"), text.into_bytes());
        }
    }
}

/// Returns a string attribute, or the first element of a string array, as
/// the OpenTelemetry HTTP instrumentations record header values.
fn first_string(value: &AnyValue) -> Option<String> {
    match value.value.as_ref()? {
        Value::StringValue(text) => Some(text.clone()),
        Value::ArrayValue(array) => match array.values.first()?.value.as_ref()? {
            Value::StringValue(text) => Some(text.clone()),
            _ => None,
        },
        _ => None,
    }
}
