//! Reading a configuration file: YAML parsing, `${env:VAR}` expansion,
//! unknown-key detection and typed decoding, collecting every problem with its
//! field path instead of stopping at the first.

use serde::de::DeserializeOwned;
use serde_yaml::{Mapping, Value};

use super::error::{ConfigError, Problem};
use super::model::Config;

/// Parses and decodes a configuration document. `lookup_env` resolves
/// `${env:VAR}` references, so tests can inject an environment.
pub fn parse_config(
    text: &str,
    lookup_env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let mut problems = Vec::new();

    let mut document: Value = match serde_yaml::from_str(text) {
        Ok(Value::Null) => Value::Mapping(Mapping::new()),
        Ok(value) => value,
        Err(error) => {
            return Err(ConfigError::new(vec![Problem::new("", error.to_string())]));
        }
    };
    expand_env(&mut document, "", lookup_env, &mut problems);

    let Value::Mapping(sections) = document else {
        let problem = Problem::new("", "the configuration must be a mapping of sections");
        return Err(ConfigError::new(vec![problem]));
    };

    let mut config = Config::default();
    for (key, value) in sections {
        let Some(name) = key.as_str() else {
            problems.push(Problem::new(
                "",
                format!("section name {key:?} is not a string"),
            ));
            continue;
        };
        match name {
            "receivers" => _ = decode_into(&mut config.receivers, value, name, &mut problems),
            "metrics" => _ = decode_into(&mut config.metrics, value, name, &mut problems),
            "admin" => _ = decode_into(&mut config.admin, value, name, &mut problems),
            "service" => _ = decode_into(&mut config.service, value, name, &mut problems),
            "exporters" => decode_exporters(&mut config, value, &mut problems),
            _ => problems.push(Problem::unknown_key(name)),
        }
    }

    super::validate::validate(&config, &mut problems);
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError::new(problems))
    }
}

/// Decodes each exporter on its own, so that an error in one does not hide
/// the errors in the others.
fn decode_exporters(config: &mut Config, value: Value, problems: &mut Vec<Problem>) {
    let items = match value {
        Value::Sequence(items) => items,
        Value::Null => Vec::new(),
        other => {
            let found = type_name(&other);
            problems.push(Problem::new(
                "exporters",
                format!("expected a list, found {found}"),
            ));
            return;
        }
    };
    // Checked here rather than in `validate`, so that paths keep the index of
    // the item in the file even when an earlier item failed to decode.
    let mut names = std::collections::HashSet::new();
    for (index, item) in items.into_iter().enumerate() {
        let mut exporter = Default::default();
        let path = format!("exporters[{index}]");
        if !decode_into(&mut exporter, item, &path, problems) {
            continue;
        }
        super::validate::check_exporter(&path, &exporter, problems);
        if !exporter.name.is_empty() && !names.insert(exporter.name.clone()) {
            let message = format!(
                "duplicate exporter name {:?}; give each a unique name",
                exporter.name
            );
            problems.push(Problem::new(&format!("{path}.name"), message));
        }
        config.exporters.push(exporter);
    }
}

/// Decodes `value` into `target`, reporting unknown keys and the first type
/// error under `prefix`. Returns whether decoding succeeded.
fn decode_into<T: DeserializeOwned>(
    target: &mut T,
    value: Value,
    prefix: &str,
    problems: &mut Vec<Problem>,
) -> bool {
    // An empty section such as `admin:` means "all defaults".
    if value.is_null() {
        return true;
    }

    let mut unknown = Vec::new();
    let mut record_unknown = |path: serde_ignored::Path<'_>| {
        unknown.push(join_path(prefix, &ignored_path(&path)));
    };
    let ignored = serde_ignored::Deserializer::new(value, &mut record_unknown);
    let result: Result<T, _> = serde_path_to_error::deserialize(ignored);
    problems.extend(unknown.iter().map(|path| Problem::unknown_key(path)));

    match result {
        Ok(decoded) => {
            *target = decoded;
            true
        }
        Err(error) => {
            let path = join_path(prefix, &error_path(error.path()));
            problems.push(Problem::new(&path, error.into_inner().to_string()));
            false
        }
    }
}

fn ignored_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", ignored_path(parent)),
        Path::Map { parent, key } => join_path(&ignored_path(parent), key),
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => ignored_path(parent),
    }
}

fn error_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut text = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => text.push_str(&format!("[{index}]")),
            Segment::Map { key } => text = join_path(&text, key),
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    text
}

fn join_path(prefix: &str, key: &str) -> String {
    match (prefix.is_empty(), key.is_empty()) {
        (true, _) => key.to_owned(),
        (_, true) => prefix.to_owned(),
        _ if key.starts_with('[') => format!("{prefix}{key}"),
        _ => format!("{prefix}.{key}"),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// Replaces `${env:NAME}` and `${env:NAME:-default}` in every string value;
/// `$$` is a literal `$`. A value that is exactly one reference is parsed
/// again as a YAML scalar, so `size: ${env:SIZE}` can yield a number.
fn expand_env(
    value: &mut Value,
    path: &str,
    lookup_env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<Problem>,
) {
    match value {
        Value::String(text) if text.contains('$') => match expand_string(text, lookup_env) {
            Ok(expanded) => {
                let whole_reference = text.starts_with("${")
                    && text.ends_with('}')
                    && text.matches("${").count() == 1;
                *value = match serde_yaml::from_str::<Value>(&expanded) {
                    Ok(scalar @ (Value::Bool(_) | Value::Number(_))) if whole_reference => scalar,
                    _ => Value::String(expanded),
                };
            }
            Err(message) => problems.push(Problem::new(path, message)),
        },
        Value::Sequence(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                expand_env(item, &format!("{path}[{index}]"), lookup_env, problems);
            }
        }
        Value::Mapping(entries) => {
            for (key, item) in entries.iter_mut() {
                let key = key.as_str().unwrap_or_default();
                expand_env(item, &join_path(path, key), lookup_env, problems);
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
