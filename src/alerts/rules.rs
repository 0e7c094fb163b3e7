//! Rule files in the Prometheus format: loading, validation with the file and
//! line of each problem, and glob expansion.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use promql_parser::parser::Expr;
use serde::Deserialize;

use super::promql;
use super::template::Template;

/// One alerting rule, checked and parsed.
#[derive(Clone, Debug)]
pub struct AlertRule {
    pub name: String,
    pub expr: Expr,
    /// The expression as written.
    pub expr_text: String,
    /// How long the expression must hold before the alert fires.
    pub for_duration: Duration,
    /// How long a firing alert keeps firing after the expression stops holding.
    pub keep_firing_for: Duration,
    pub labels: BTreeMap<String, Template>,
    pub annotations: BTreeMap<String, Template>,
    /// 1-based line of the rule in its file.
    pub line: usize,
}

/// A group of rules evaluated together at one interval.
#[derive(Clone, Debug)]
pub struct RuleGroup {
    pub name: String,
    /// The group's own interval; `None` uses the evaluation interval of the
    /// configuration.
    pub interval: Option<Duration>,
    pub rules: Vec<AlertRule>,
}

/// A loaded rule file.
#[derive(Clone, Debug)]
pub struct RuleFile {
    pub path: PathBuf,
    pub groups: Vec<RuleGroup>,
}

/// A problem in a rule file, with its line when known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(
                formatter,
                "{}:{line}: {}",
                self.path.display(),
                self.message
            ),
            None => write!(formatter, "{}: {}", self.path.display(), self.message),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    groups: Vec<RawGroup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    name: String,
    interval: Option<String>,
    #[serde(default)]
    rules: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    alert: Option<String>,
    record: Option<String>,
    expr: Option<String>,
    #[serde(rename = "for")]
    for_duration: Option<String>,
    keep_firing_for: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// Reads and checks one rule file.
pub fn load_file(path: &Path) -> Result<RuleFile, Vec<RuleError>> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        vec![RuleError {
            path: path.to_owned(),
            line: None,
            message: format!("cannot read the rule file: {error}"),
        }]
    })?;
    parse_rule_file(path, &text)
}

/// Checks the rule file `text`, read from `path`, and returns every problem
/// found.
pub fn parse_rule_file(path: &Path, text: &str) -> Result<RuleFile, Vec<RuleError>> {
    let error = |line: Option<usize>, message: String| RuleError {
        path: path.to_owned(),
        line,
        message,
    };
    let raw: RawFile = serde_yaml::from_str(text).map_err(|yaml| {
        let line = yaml.location().map(|location| location.line());
        vec![error(line, format!("invalid rule file: {yaml}"))]
    })?;

    let lines = RuleLines::new(text);
    let mut problems = Vec::new();
    let mut group_names = HashSet::new();
    let mut groups = Vec::new();
    let mut seen_alerts: HashMap<&str, usize> = HashMap::new();
    let mut seen_groups: HashMap<&str, usize> = HashMap::new();
    for raw_group in &raw.groups {
        let occurrence = seen_groups.entry(&raw_group.name).or_default();
        let group_line = lines.find("name", &raw_group.name, *occurrence);
        *occurrence += 1;
        if raw_group.name.trim().is_empty() {
            problems.push(error(group_line, "a group has an empty name".to_owned()));
        } else if !group_names.insert(raw_group.name.as_str()) {
            let message = format!("group {:?} is defined more than once", raw_group.name);
            problems.push(error(group_line, message));
        }
        let interval = match &raw_group.interval {
            None => None,
            Some(text) => match parse_duration(text) {
                Ok(interval) if !interval.is_zero() => Some(interval),
                Ok(_) => {
                    let message = format!(
                        "group {:?}: interval must be greater than 0",
                        raw_group.name
                    );
                    problems.push(error(group_line, message));
                    None
                }
                Err(reason) => {
                    let message = format!("group {:?}: invalid interval: {reason}", raw_group.name);
                    problems.push(error(group_line, message));
                    None
                }
            },
        };

        let mut rules = Vec::new();
        for (index, raw_rule) in raw_group.rules.iter().enumerate() {
            let context = |name: &str| match name {
                "" => format!("group {:?}, rule {}", raw_group.name, index + 1),
                name => format!("group {:?}, rule {name:?}", raw_group.name),
            };
            if let Some(record) = &raw_rule.record {
                let line = lines.find("record", record, 0);
                let message = format!(
                    "{}: recording rules are not supported; burnrate evaluates alerting rules only",
                    context(record)
                );
                problems.push(error(line, message));
                continue;
            }
            let Some(name) = raw_rule
                .alert
                .as_deref()
                .filter(|name| !name.trim().is_empty())
            else {
                let message = format!("{}: missing `alert`, the name of the alert", context(""));
                problems.push(error(group_line, message));
                continue;
            };
            let occurrence = seen_alerts.entry(name).or_default();
            let line = lines.find("alert", name, *occurrence);
            *occurrence += 1;

            match check_rule(name, raw_rule) {
                Ok(mut rule) => {
                    rule.line = line.unwrap_or_default();
                    rules.push(rule);
                }
                Err(reasons) => {
                    for reason in reasons {
                        problems.push(error(line, format!("{}: {reason}", context(name))));
                    }
                }
            }
        }
        groups.push(RuleGroup {
            name: raw_group.name.clone(),
            interval,
            rules,
        });
    }

    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(RuleFile {
        path: path.to_owned(),
        groups,
    })
}

fn check_rule(name: &str, raw: &RawRule) -> Result<AlertRule, Vec<String>> {
    let mut reasons = Vec::new();
    let expr_text = raw.expr.clone().unwrap_or_default();
    let expr = if expr_text.trim().is_empty() {
        reasons.push("missing `expr`".to_owned());
        None
    } else {
        match promql::parse(&expr_text) {
            Ok(expr) => Some(expr),
            Err(reason) => {
                reasons.push(format!("invalid `expr` {:?}: {reason}", expr_text.trim()));
                None
            }
        }
    };
    let mut duration = |field: &str, text: &Option<String>| match text {
        None => Duration::ZERO,
        Some(text) => parse_duration(text).unwrap_or_else(|reason| {
            reasons.push(format!("invalid `{field}` {text:?}: {reason}"));
            Duration::ZERO
        }),
    };
    let for_duration = duration("for", &raw.for_duration);
    let keep_firing_for = duration("keep_firing_for", &raw.keep_firing_for);

    let mut templates = |field: &str, entries: &BTreeMap<String, String>| {
        let mut parsed = BTreeMap::new();
        for (key, text) in entries {
            if !is_label_name(key) {
                reasons.push(format!(
                    "invalid {field} name {key:?}; use letters, digits and '_', not starting with a digit"
                ));
                continue;
            }
            match Template::parse(text) {
                Ok(template) => {
                    parsed.insert(key.clone(), template);
                }
                Err(reason) => {
                    reasons.push(format!("invalid template in {field} {key:?}: {reason}"))
                }
            }
        }
        parsed
    };
    let labels = templates("label", &raw.labels);
    let annotations = templates("annotation", &raw.annotations);
    if labels.contains_key("alertname") {
        reasons.push("label `alertname` is set from `alert`; remove it from `labels`".to_owned());
    }

    match expr {
        Some(expr) if reasons.is_empty() => Ok(AlertRule {
            name: name.to_owned(),
            expr,
            expr_text,
            for_duration,
            keep_firing_for,
            labels,
            annotations,
            line: 0,
        }),
        _ => Err(reasons),
    }
}

/// Parses a Prometheus duration such as `30s`, `5m`, `1h30m` or `7d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    // The parser rejects a zero duration, which Prometheus accepts.
    let digits = trimmed.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    if !digits.is_empty() && digits.bytes().all(|byte| byte == b'0') {
        return Ok(Duration::ZERO);
    }
    promql_parser::util::duration::parse_duration(trimmed)
        .map_err(|_| format!("{text:?} is not a duration such as 30s, 5m, 1h30m or 7d"))
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Finds the lines of `key: value` entries, so that a problem found after
/// decoding can name its line.
struct RuleLines<'a> {
    lines: Vec<&'a str>,
}

impl<'a> RuleLines<'a> {
    fn new(text: &'a str) -> RuleLines<'a> {
        RuleLines {
            lines: text.lines().collect(),
        }
    }

    /// Returns the 1-based line of the `occurrence`-th (from 0) entry
    /// `key: value`, with or without a list dash and quotes.
    fn find(&self, key: &str, value: &str, occurrence: usize) -> Option<usize> {
        self.lines
            .iter()
            .enumerate()
            .filter(|(_, line)| {
                let entry = line.trim_start().trim_start_matches("- ").trim_start();
                let Some(rest) = entry.strip_prefix(key) else {
                    return false;
                };
                let Some(found) = rest.trim_start().strip_prefix(':') else {
                    return false;
                };
                found.trim().trim_matches(|c| c == '"' || c == '\'') == value
            })
            .nth(occurrence)
            .map(|(index, _)| index + 1)
    }
}

/// Expands `patterns` (paths or globs, relative ones from `base`) into the
/// rule files they name, in order and without repeats. A pattern that names
/// no file is an error, as a typo would otherwise disable rules silently.
pub fn expand_patterns(patterns: &[String], base: &Path) -> Result<Vec<PathBuf>, Vec<RuleError>> {
    let (files, problems) = expand_all(patterns, base);
    if problems.is_empty() {
        Ok(files)
    } else {
        Err(problems)
    }
}

/// Expands `patterns` as [`expand_patterns`] does, and returns the files
/// found along with the problems.
fn expand_all(patterns: &[String], base: &Path) -> (Vec<PathBuf>, Vec<RuleError>) {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for pattern in patterns {
        let full = if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            base.join(pattern)
        };
        let found: Vec<PathBuf> = match glob::glob(&full.to_string_lossy()) {
            Ok(paths) => paths
                .filter_map(Result::ok)
                .filter(|path| path.is_file())
                .collect(),
            Err(reason) => {
                problems.push(RuleError {
                    path: PathBuf::from(pattern),
                    line: None,
                    message: format!("invalid glob pattern: {reason}"),
                });
                continue;
            }
        };
        if found.is_empty() {
            problems.push(RuleError {
                path: PathBuf::from(pattern),
                line: None,
                message: "no rule file matches this path or pattern".to_owned(),
            });
        }
        for path in found {
            if !files.contains(&path) {
                files.push(path);
            }
        }
    }
    (files, problems)
}

/// Loads every rule file that `patterns` name and returns all problems found.
pub fn load_all(patterns: &[String], base: &Path) -> Result<Vec<RuleFile>, Vec<RuleError>> {
    let (paths, mut problems) = expand_all(patterns, base);
    let mut files = Vec::new();
    for path in paths {
        match load_file(&path) {
            Ok(file) => files.push(file),
            Err(errors) => problems.extend(errors),
        }
    }
    if problems.is_empty() {
        Ok(files)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests;
