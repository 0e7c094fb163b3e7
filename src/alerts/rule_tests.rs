//! Unit tests for rule files in the format of `promtool test rules`: input
//! series in the expanding notation, alerts expected at given times, and
//! expressions with their expected samples.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::engine::Engine;
use super::history::{History, Labels, METRIC_NAME};
use super::promql::{self, Value};
use super::rules::{self, parse_duration};
use super::state::AlertState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    rule_files: Vec<String>,
    evaluation_interval: Option<String>,
    #[serde(default)]
    group_eval_order: Vec<String>,
    tests: Vec<TestGroup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestGroup {
    name: Option<String>,
    interval: Option<String>,
    #[serde(default)]
    input_series: Vec<InputSeries>,
    #[serde(default)]
    alert_rule_test: Vec<AlertTest>,
    #[serde(default)]
    promql_expr_test: Vec<ExprTest>,
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InputSeries {
    series: String,
    values: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertTest {
    eval_time: String,
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<ExpectedAlert>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedAlert {
    #[serde(default)]
    exp_labels: BTreeMap<String, String>,
    #[serde(default)]
    exp_annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExprTest {
    expr: String,
    eval_time: String,
    #[serde(default)]
    exp_samples: Vec<ExpectedSample>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedSample {
    #[serde(default)]
    labels: String,
    value: f64,
}

/// One input value: a sample, nothing (`_`), or the end of the series
/// (`stale`).
#[derive(Clone, Copy, Debug, PartialEq)]
enum InputValue {
    Sample(f64),
    Missing,
    Stale,
}

/// Runs every test of the test file at `path` and returns the failures, or
/// the reason the file could not be run.
pub fn run_test_file(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("{}: cannot read the test file: {error}", path.display()))?;
    let file: TestFile = serde_yaml::from_str(&text)
        .map_err(|error| format!("{}: invalid test file: {error}", path.display()))?;
    if !file.group_eval_order.is_empty() {
        return Err(format!(
            "{}: `group_eval_order` is not supported; groups are evaluated in file order",
            path.display()
        ));
    }
    let evaluation_interval = duration(&file.evaluation_interval, Duration::from_secs(60))
        .map_err(|reason| format!("{}: evaluation_interval: {reason}", path.display()))?;

    let base = path.parent().unwrap_or(Path::new("."));
    let rule_files = rules::load_all(&file.rule_files, base).map_err(|problems| {
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        format!(
            "{}: the rule files have problems:\n{}",
            path.display(),
            lines.join("\n")
        )
    })?;

    let mut failures = Vec::new();
    for (index, group) in file.tests.iter().enumerate() {
        let name = group
            .name
            .clone()
            .unwrap_or_else(|| format!("tests[{index}]"));
        let context = format!("{}: {name}", path.display());
        match run_group(group, &rule_files, evaluation_interval) {
            Ok(group_failures) => failures.extend(
                group_failures
                    .into_iter()
                    .map(|failure| format!("{context}: {failure}")),
            ),
            Err(reason) => failures.push(format!("{context}: {reason}")),
        }
    }
    Ok(failures)
}

fn run_group(
    group: &TestGroup,
    rule_files: &[rules::RuleFile],
    evaluation_interval: Duration,
) -> Result<Vec<String>, String> {
    if !group.external_labels.is_empty() {
        return Err("`external_labels` is not supported".to_owned());
    }
    let interval = duration(&group.interval, evaluation_interval)?;
    let mut inputs: Vec<(Labels, Vec<InputValue>)> = Vec::new();
    for input in &group.input_series {
        let labels = parse_series(&input.series)?;
        let values = expand_values(&input.values)
            .map_err(|reason| format!("input series {:?}: {reason}", input.series))?;
        inputs.push((labels, values));
    }

    let mut alert_checks: BTreeMap<i64, Vec<&AlertTest>> = BTreeMap::new();
    for test in &group.alert_rule_test {
        let at = millis(&parse_duration(&test.eval_time)?);
        alert_checks.entry(at).or_default().push(test);
    }
    let mut expr_checks: BTreeMap<i64, Vec<&ExprTest>> = BTreeMap::new();
    for test in &group.promql_expr_test {
        let at = millis(&parse_duration(&test.eval_time)?);
        expr_checks.entry(at).or_default().push(test);
    }
    let last = alert_checks
        .keys()
        .chain(expr_checks.keys())
        .max()
        .copied()
        .unwrap_or(0);

    // The rules see every input series, so the history takes all of them.
    let names: BTreeSet<String> = inputs
        .iter()
        .filter_map(|(labels, _)| labels.get(METRIC_NAME).cloned())
        .collect();
    let mut engine = Engine::new(rule_files.to_vec(), evaluation_interval, usize::MAX);
    engine.replace_history(History::new(
        names,
        Duration::from_secs(u32::MAX as u64),
        usize::MAX,
    ));

    let step = millis(&interval).max(1);
    let evaluation_step = millis(&evaluation_interval).max(1);
    let mut failures = Vec::new();
    let mut times: BTreeSet<i64> = (0..=last / step).map(|index| index * step).collect();
    times.extend((0..=last / evaluation_step).map(|index| index * evaluation_step));
    times.extend(alert_checks.keys().chain(expr_checks.keys()));
    for at in times {
        if at % step == 0 {
            let index = (at / step) as usize;
            let mut samples = Vec::new();
            let mut gone = Vec::new();
            for (labels, values) in &inputs {
                match values.get(index) {
                    Some(InputValue::Sample(value)) => samples.push((labels.clone(), *value)),
                    Some(InputValue::Stale) => gone.push(labels.clone()),
                    Some(InputValue::Missing) | None => {}
                }
            }
            engine.record_points(at, samples, gone);
        }
        if at % evaluation_step == 0 {
            engine.evaluate_due(at);
        }
        for test in alert_checks.get(&at).into_iter().flatten() {
            failures.extend(check_alerts(&engine, test, at));
        }
        for test in expr_checks.get(&at).into_iter().flatten() {
            failures.extend(check_expression(&engine, test, at)?);
        }
    }
    Ok(failures)
}

fn check_alerts(engine: &Engine, test: &AlertTest, at: i64) -> Option<String> {
    let mut found: Vec<(Labels, BTreeMap<String, String>)> = engine
        .alerts_of(&test.alertname)
        .filter(|alert| alert.state == AlertState::Firing)
        .map(|alert| (alert.labels.clone(), alert.annotations.clone()))
        .collect();
    let mut expected: Vec<(Labels, BTreeMap<String, String>)> = test
        .exp_alerts
        .iter()
        .map(|alert| {
            let mut labels = alert.exp_labels.clone();
            labels.insert("alertname".to_owned(), test.alertname.clone());
            (labels, alert.exp_annotations.clone())
        })
        .collect();
    found.sort();
    expected.sort();
    (found != expected).then(|| {
        format!(
            "alertname {:?} at {}:\n  expected: {}\n  found:    {}",
            test.alertname,
            format_time(at),
            format_alerts(&expected),
            format_alerts(&found),
        )
    })
}

fn check_expression(engine: &Engine, test: &ExprTest, at: i64) -> Result<Option<String>, String> {
    let expr =
        promql::parse(&test.expr).map_err(|reason| format!("expr {:?}: {reason}", test.expr))?;
    let found = match promql::evaluate(&expr, engine.history(), at) {
        Ok(Value::Vector(samples)) => samples
            .into_iter()
            .map(|sample| (sample.labels, sample.value))
            .collect(),
        Ok(Value::Scalar(value)) => vec![(Labels::new(), value)],
        Err(reason) => {
            return Ok(Some(format!(
                "expr {:?} at {}: evaluation failed: {reason}",
                test.expr,
                format_time(at)
            )));
        }
    };
    let mut expected = Vec::new();
    for sample in &test.exp_samples {
        let labels = if sample.labels.trim().is_empty() {
            Labels::new()
        } else {
            parse_series(&sample.labels)?
        };
        expected.push((labels, sample.value));
    }
    let mut found: Vec<(Labels, f64)> = found;
    found.sort_by(|a, b| a.0.cmp(&b.0));
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    let equal = found.len() == expected.len()
        && found
            .iter()
            .zip(&expected)
            .all(|(a, b)| a.0 == b.0 && values_equal(a.1, b.1));
    Ok((!equal).then(|| {
        format!(
            "expr {:?} at {}:\n  expected: {:?}\n  found:    {:?}",
            test.expr,
            format_time(at),
            expected,
            found
        )
    }))
}

/// Compares as promtool does: equal within a relative 1e-6, and NaN equals NaN.
fn values_equal(found: f64, expected: f64) -> bool {
    if found.is_nan() || expected.is_nan() {
        return found.is_nan() && expected.is_nan();
    }
    found == expected || (found - expected).abs() <= 1e-6 * expected.abs().max(found.abs())
}

/// Parses a series such as `metric{a="x"}` or `{__name__="m"}` into labels.
fn parse_series(text: &str) -> Result<Labels, String> {
    let expr = promql_parser::parser::parse(text)
        .map_err(|reason| format!("series {text:?} is not valid: {reason}"))?;
    let promql_parser::parser::Expr::VectorSelector(selector) = expr else {
        return Err(format!(
            "series {text:?} is not a series such as metric{{a=\"x\"}}"
        ));
    };
    let mut labels = Labels::new();
    if let Some(name) = &selector.name {
        labels.insert(METRIC_NAME.to_owned(), name.clone());
    }
    for matcher in &selector.matchers.matchers {
        if !matches!(matcher.op, promql_parser::label::MatchOp::Equal) {
            return Err(format!(
                "series {text:?} may only use `=` between a label and its value"
            ));
        }
        labels.insert(matcher.name.clone(), matcher.value.clone());
    }
    Ok(labels)
}

/// Expands the promtool value notation: `1 2 3`, `a+bxn` and `a-bxn` (n + 1
/// values from a in steps of b), `axn` (a, n + 1 times), `_` and `_xn` (n
/// missing samples) and `stale`.
fn expand_values(text: &str) -> Result<Vec<InputValue>, String> {
    let mut values = Vec::new();
    for item in text.split_whitespace() {
        if item == "stale" {
            values.push(InputValue::Stale);
            continue;
        }
        if item == "_" {
            values.push(InputValue::Missing);
            continue;
        }
        if let Some(count) = item.strip_prefix("_x") {
            let count: usize = count
                .parse()
                .map_err(|_| format!("{item:?} is not `_x` and a count"))?;
            values.extend(std::iter::repeat_n(InputValue::Missing, count));
            continue;
        }
        let Some((start_and_step, count)) = item.rsplit_once('x') else {
            values.push(InputValue::Sample(number(item)?));
            continue;
        };
        let count: usize = count
            .parse()
            .map_err(|_| format!("{item:?} has no count after `x`"))?;
        // The sign between start and step may follow an exponent, as in 1e3.
        let split = start_and_step
            .char_indices()
            .skip(1)
            .filter(|(index, c)| {
                (*c == '+' || *c == '-')
                    && !matches!(start_and_step.as_bytes()[index - 1], b'e' | b'E')
            })
            .map(|(index, _)| index)
            .last();
        let (start, step) = match split {
            Some(index) => (
                number(&start_and_step[..index])?,
                number(&start_and_step[index..])?,
            ),
            None => (number(start_and_step)?, 0.0),
        };
        for index in 0..=count {
            values.push(InputValue::Sample(start + step * index as f64));
        }
    }
    Ok(values)
}

fn number(text: &str) -> Result<f64, String> {
    match text.trim_start_matches('+') {
        "Inf" | "inf" => Ok(f64::INFINITY),
        "-Inf" | "-inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        other => other
            .parse()
            .map_err(|_| format!("{text:?} is not a number")),
    }
}

fn duration(text: &Option<String>, default: Duration) -> Result<Duration, String> {
    match text {
        None => Ok(default),
        Some(text) => parse_duration(text),
    }
}

fn millis(duration: &Duration) -> i64 {
    duration.as_millis() as i64
}

fn format_time(at: i64) -> String {
    humantime::format_duration(Duration::from_millis(at as u64)).to_string()
}

fn format_alerts(alerts: &[(Labels, BTreeMap<String, String>)]) -> String {
    if alerts.is_empty() {
        return "(none)".to_owned();
    }
    let items: Vec<String> = alerts
        .iter()
        .map(|(labels, annotations)| format!("labels {labels:?} annotations {annotations:?}"))
        .collect();
    items.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_notation_expands() {
        use InputValue::{Missing, Sample, Stale};
        let cases: &[(&str, &[InputValue])] = &[
            ("1 2 3", &[Sample(1.0), Sample(2.0), Sample(3.0)]),
            (
                "0+10x3",
                &[Sample(0.0), Sample(10.0), Sample(20.0), Sample(30.0)],
            ),
            ("5-2x2", &[Sample(5.0), Sample(3.0), Sample(1.0)]),
            ("-1+1x2", &[Sample(-1.0), Sample(0.0), Sample(1.0)]),
            ("7x2", &[Sample(7.0), Sample(7.0), Sample(7.0)]),
            ("1e3+1e3x1", &[Sample(1000.0), Sample(2000.0)]),
            ("1 _ stale", &[Sample(1.0), Missing, Stale]),
            ("_x2 4", &[Missing, Missing, Sample(4.0)]),
        ];
        for (text, expected) in cases {
            assert_eq!(expand_values(text).unwrap(), *expected, "{text}");
        }
        assert!(expand_values("1+x").is_err());
        assert!(expand_values("one").is_err());
    }

    #[test]
    fn series_parse_into_labels() {
        let labels = parse_series(r#"up{job="a", instance="b"}"#).unwrap();
        assert_eq!(labels.get(METRIC_NAME).map(String::as_str), Some("up"));
        assert_eq!(labels.get("job").map(String::as_str), Some("a"));
        assert!(parse_series(r#"up{job=~"a"}"#).is_err());
    }
}
