//! Reading a configuration file: YAML parsing, `${env:VAR}` and `${file:PATH}` expansion,
//! unknown-key detection and typed decoding, collecting every problem with its
//! field path instead of stopping at the first.
//!
//! Decoding recovers from a type error by dropping the offending value, which
//! then takes its default, and decoding again, so one wrong value does not
//! hide the problems after it.

use std::collections::HashMap;

use serde_yaml::{Mapping, Value};

use super::error::{ConfigError, Problem};
use super::model::Config;

/// Upper bound on decoding attempts, each of which drops one bad value.
const MAX_DECODE_ATTEMPTS: usize = 100;

/// One step of a path into the document.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

fn format_path(segments: &[Segment]) -> String {
    let mut text = String::new();
    for segment in segments {
        match segment {
            Segment::Key(key) if text.is_empty() => text.push_str(key),
            Segment::Key(key) => {
                text.push('.');
                text.push_str(key);
            }
            Segment::Index(index) => text.push_str(&format!("[{index}]")),
        }
    }
    text
}

/// State shared by the steps of parsing one document.
#[derive(Default)]
struct Parse {
    problems: Vec<Problem>,
    /// Paths whose values were dropped; checks of their defaults are not reported.
    dropped: Vec<String>,
    /// Values that were exactly one `${env:...}` or `${file:...}` reference
    /// and were read again as a number or boolean, by path, with the expanded
    /// text.
    reparsed: HashMap<String, String>,
}

/// Parses and decodes a configuration document. `lookup_env` resolves
/// `${env:VAR}` references, so tests can inject an environment.
pub fn parse_config(
    text: &str,
    lookup_env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let mut document: Value = match serde_yaml::from_str(text) {
        Ok(Value::Null) => Value::Mapping(Mapping::new()),
        Ok(value @ Value::Mapping(_)) => value,
        Ok(_) => {
            let problem = Problem::new("", "the configuration must be a mapping of sections");
            return Err(ConfigError::new(vec![problem]));
        }
        Err(error) => {
            return Err(ConfigError::new(vec![Problem::new("", error.to_string())]));
        }
    };

    let mut parse = Parse::default();
    let mut failed_references = Vec::new();
    expand_env(
        &mut document,
        &mut Vec::new(),
        lookup_env,
        &mut parse,
        &mut failed_references,
    );
    for segments in &failed_references {
        drop_value(&mut document, segments);
    }

    let config = decode_with_recovery(document, &mut parse);
    let mut checks = Vec::new();
    super::validate::validate(&config, &mut checks);
    let Parse {
        mut problems,
        dropped,
        ..
    } = parse;
    problems.extend(
        checks
            .into_iter()
            .filter(|problem| !is_under_any(&problem.path, &dropped)),
    );

    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError::new(problems))
    }
}

fn is_under_any(path: &str, prefixes: &[String]) -> bool {
    prefixes.iter().any(|prefix| {
        path == prefix
            || path
                .strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.starts_with(['.', '[']))
    })
}

/// Decodes the document, dropping each value that fails to decode and
/// trying again, and reports unknown keys.
fn decode_with_recovery(mut document: Value, parse: &mut Parse) -> Config {
    let mut unknown: Vec<String> = Vec::new();
    for _ in 0..MAX_DECODE_ATTEMPTS {
        unknown.clear();
        let mut record_unknown = |path: serde_ignored::Path<'_>| {
            let path = format_path(&ignored_path(&path));
            if !unknown.contains(&path) {
                unknown.push(path);
            }
        };
        let ignored = serde_ignored::Deserializer::new(document.clone(), &mut record_unknown);
        let result: Result<Config, _> = serde_path_to_error::deserialize(ignored);
        let error = match result {
            Ok(config) => {
                report_unknown(&unknown, parse);
                return config;
            }
            Err(error) => error,
        };

        let segments = error_path(error.path());
        let path = format_path(&segments);
        // A number or boolean from an environment variable where text belongs
        // is used as the text it was.
        if let Some(text) = parse.reparsed.remove(&path) {
            replace_value(&mut document, &segments, Value::String(text));
            continue;
        }
        parse.problems.push(Problem::new(
            &path,
            plain_message(&error.into_inner().to_string()),
        ));
        parse.dropped.push(path);
        if !drop_value(&mut document, &segments) {
            break;
        }
    }
    report_unknown(&unknown, parse);
    Config::default()
}

fn report_unknown(unknown: &[String], parse: &mut Parse) {
    parse
        .problems
        .extend(unknown.iter().map(|path| Problem::unknown_key(path)));
}

/// Rewrites serde's type names in plain words.
fn plain_message(message: &str) -> String {
    message
        .replace("expected u64", "expected a whole number")
        .replace("expected u32", "expected a whole number")
        .replace("expected usize", "expected a whole number")
        .replace("expected i64", "expected a whole number")
}

/// Drops the value at `segments`: a mapping entry is removed, so the field
/// takes its default, and a list item becomes an empty mapping, so later
/// items keep their index. Returns false when nothing could be dropped.
fn drop_value(document: &mut Value, segments: &[Segment]) -> bool {
    let Some((last, parents)) = segments.split_last() else {
        return false;
    };
    let Some(parent) = value_at(document, parents) else {
        return false;
    };
    match (parent, last) {
        (Value::Mapping(entries), Segment::Key(key)) => entries.remove(key.as_str()).is_some(),
        (Value::Sequence(items), Segment::Index(index)) if *index < items.len() => {
            items[*index] = Value::Mapping(Mapping::new());
            true
        }
        _ => false,
    }
}

fn replace_value(document: &mut Value, segments: &[Segment], replacement: Value) {
    if let Some(value) = value_at(document, segments) {
        *value = replacement;
    }
}

fn value_at<'a>(document: &'a mut Value, segments: &[Segment]) -> Option<&'a mut Value> {
    let mut value = document;
    for segment in segments {
        value = match (value, segment) {
            (Value::Mapping(entries), Segment::Key(key)) => entries.get_mut(key.as_str())?,
            (Value::Sequence(items), Segment::Index(index)) => items.get_mut(*index)?,
            _ => return None,
        };
    }
    Some(value)
}

fn ignored_path(path: &serde_ignored::Path<'_>) -> Vec<Segment> {
    use serde_ignored::Path;
    match path {
        Path::Root => Vec::new(),
        Path::Seq { parent, index } => {
            let mut segments = ignored_path(parent);
            segments.push(Segment::Index(*index));
            segments
        }
        Path::Map { parent, key } => {
            let mut segments = ignored_path(parent);
            segments.push(Segment::Key(key.clone()));
            segments
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => ignored_path(parent),
    }
}

fn error_path(path: &serde_path_to_error::Path) -> Vec<Segment> {
    use serde_path_to_error::Segment as ErrorSegment;
    path.iter()
        .filter_map(|segment| match segment {
            ErrorSegment::Seq { index } => Some(Segment::Index(*index)),
            ErrorSegment::Map { key } => Some(Segment::Key(key.clone())),
            ErrorSegment::Enum { .. } | ErrorSegment::Unknown => None,
        })
        .collect()
}

/// Replaces `${env:NAME}`, `${env:NAME:-default}` and `${file:PATH}` in every
/// string value; `$$` is a literal `$`. A value that is exactly one reference is parsed
/// again as a YAML scalar, so `size: ${env:SIZE}` can yield a number. The
/// paths of references that could not be resolved go to `failed`.
fn expand_env(
    value: &mut Value,
    path: &mut Vec<Segment>,
    lookup_env: &dyn Fn(&str) -> Option<String>,
    parse: &mut Parse,
    failed: &mut Vec<Vec<Segment>>,
) {
    match value {
        Value::String(text) if text.contains('$') => match expand_string(text, lookup_env) {
            Ok(expanded) => {
                let whole_reference = text.starts_with("${")
                    && text.ends_with('}')
                    && text.matches("${").count() == 1;
                *value = match serde_yaml::from_str::<Value>(&expanded) {
                    Ok(scalar @ (Value::Bool(_) | Value::Number(_))) if whole_reference => {
                        parse.reparsed.insert(format_path(path), expanded);
                        scalar
                    }
                    _ => Value::String(expanded),
                };
            }
            Err(message) => {
                let text_path = format_path(path);
                parse.problems.push(Problem::new(&text_path, message));
                parse.dropped.push(text_path);
                failed.push(path.clone());
            }
        },
        Value::Sequence(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                path.push(Segment::Index(index));
                expand_env(item, path, lookup_env, parse, failed);
                path.pop();
            }
        }
        Value::Mapping(entries) => {
            for (key, item) in entries.iter_mut() {
                path.push(Segment::Key(key.as_str().unwrap_or_default().to_owned()));
                expand_env(item, path, lookup_env, parse, failed);
                path.pop();
            }
        }
        _ => {}
    }
}

fn expand_string(
    text: &str,
    lookup_env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut output = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('$') {
        output.push_str(&rest[..start]);
        rest = &rest[start..];
        if let Some(after) = rest.strip_prefix("$$") {
            output.push('$');
            rest = after;
            continue;
        }
        if let Some(reference) = rest.strip_prefix("${file:") {
            let Some(end) = reference.find('}') else {
                return Err(format!(
                    "unclosed reference in {text:?}; write ${{file:PATH}}"
                ));
            };
            output.push_str(&read_reference_file(&reference[..end])?);
            rest = &reference[end + 1..];
            continue;
        }
        let Some(reference) = rest.strip_prefix("${env:") else {
            output.push('$');
            rest = &rest[1..];
            continue;
        };
        let Some(end) = reference.find('}') else {
            return Err(format!(
                "unclosed reference in {text:?}; write ${{env:NAME}}"
            ));
        };
        let (name, default) = match reference[..end].split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (&reference[..end], None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "invalid environment variable name {name:?} in {text:?}"
            ));
        }
        match (lookup_env(name), default) {
            (Some(found), _) => output.push_str(&found),
            (None, Some(default)) => output.push_str(default),
            (None, None) => {
                return Err(format!(
                    "environment variable {name} is not set; set it or write ${{env:{name}:-default}}"
                ));
            }
        }
        rest = &reference[end + 1..];
    }
    output.push_str(rest);
    Ok(output)
}

/// Reads the file of a `${file:PATH}` reference without its trailing line
/// breaks, so a secret written by `echo` works as is. A relative path is
/// relative to the working directory. The error never contains the file's
/// contents.
fn read_reference_file(path: &str) -> Result<String, String> {
    if path.is_empty() {
        return Err("empty path in ${file:}; write ${file:/path/to/file}".to_owned());
    }
    let contents = std::fs::read_to_string(path).map_err(|error| {
        format!(
            "failed to read {path:?} for ${{file:{path}}}: {error}; check the path and the file's permissions"
        )
    })?;
    Ok(contents.trim_end_matches(['\r', '\n']).to_owned())
}
