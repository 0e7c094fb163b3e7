//! Evaluation of the PromQL subset that alert rules may use, over a
//! [`History`]. Expressions are parsed by the `promql-parser` crate;
//! [`check_supported`] rejects what this evaluator does not implement, so a
//! rule that loads always evaluates.

use std::collections::BTreeMap;
use std::time::Duration;

use promql_parser::label::{Labels as LabelNames, MatchOp};
use promql_parser::parser::{
    AggregateExpr, BinModifier, BinaryExpr, Call, Expr, LabelModifier, VectorMatchCardinality,
    VectorSelector,
};

use super::history::{History, Labels, METRIC_NAME, Point, selected_names};

/// The aggregations that [`evaluate`] implements.
pub const AGGREGATIONS: &[&str] = &["sum", "min", "max", "avg", "count", "topk"];

/// The functions that [`evaluate`] implements.
pub const FUNCTIONS: &[&str] = &[
    "rate",
    "increase",
    "delta",
    "avg_over_time",
    "max_over_time",
    "predict_linear",
    "clamp_min",
    "clamp_max",
    "abs",
    "time",
    "absent",
];

/// One element of an instant vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub value: f64,
}

/// The result of an expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Scalar(f64),
    Vector(Vec<Sample>),
}

/// Parses `text` and checks that every part of it is supported.
pub fn parse(text: &str) -> Result<Expr, String> {
    let expr = promql_parser::parser::parse(text)?;
    check_supported(&expr)?;
    Ok(expr)
}

/// Returns an error that names the first part of `expr` that [`evaluate`]
/// does not implement.
pub fn check_supported(expr: &Expr) -> Result<(), String> {
    match expr {
        Expr::NumberLiteral(_) => Ok(()),
        Expr::StringLiteral(_) => Err("string literals are not supported".to_owned()),
        Expr::Paren(paren) => check_supported(&paren.expr),
        Expr::Unary(unary) => check_supported(&unary.expr),
        Expr::VectorSelector(selector) => check_selector(selector),
        Expr::MatrixSelector(matrix) => check_selector(&matrix.vs),
        Expr::Subquery(_) => Err("subqueries are not supported".to_owned()),
        Expr::Extension(_) => Err("extension expressions are not supported".to_owned()),
        Expr::Aggregate(aggregate) => {
            let name = aggregate.op.to_string();
            if !AGGREGATIONS.contains(&name.as_str()) {
                return Err(format!(
                    "aggregation `{name}` is not supported; use one of {}",
                    AGGREGATIONS.join(", ")
                ));
            }
            if let Some(param) = &aggregate.param {
                check_supported(param)?;
            }
            check_supported(&aggregate.expr)
        }
        Expr::Binary(binary) => {
            let op = binary.op.to_string();
            if op == "atan2" {
                return Err("operator `atan2` is not supported".to_owned());
            }
            if let Some(modifier) = &binary.modifier
                && matches!(
                    modifier.card,
                    VectorMatchCardinality::ManyToOne(_) | VectorMatchCardinality::OneToMany(_)
                )
            {
                return Err(format!(
                    "`group_left` and `group_right` are not supported (in `{expr}`); match one to one with `on` or `ignoring`"
                ));
            }
            check_supported(&binary.lhs)?;
            check_supported(&binary.rhs)
        }
        Expr::Call(call) => {
            let name = call.func.name;
            if !FUNCTIONS.contains(&name) {
                return Err(format!(
                    "function `{name}` is not supported; use one of {}",
                    FUNCTIONS.join(", ")
                ));
            }
            call.args
                .args
                .iter()
                .try_for_each(|arg| check_supported(arg))
        }
    }
}

fn check_selector(selector: &VectorSelector) -> Result<(), String> {
    if selector.offset.is_some() {
        return Err(format!("`offset` is not supported (in `{selector}`)"));
    }
    if selector.at.is_some() {
        return Err(format!(
            "the `@` modifier is not supported (in `{selector}`)"
        ));
    }
    if selected_names(selector).is_empty() {
        return Err(format!(
            "`{selector}` does not name its metric; write the name, such as burnrate_llm_requests_total{{...}}"
        ));
    }
    Ok(())
}

/// Returns every metric name that `expr` selects.
pub fn metric_names(expr: &Expr, names: &mut Vec<String>) {
    match expr {
        Expr::VectorSelector(selector) => names.extend(selected_names(selector)),
        Expr::MatrixSelector(matrix) => names.extend(selected_names(&matrix.vs)),
        Expr::Paren(paren) => metric_names(&paren.expr, names),
        Expr::Unary(unary) => metric_names(&unary.expr, names),
        Expr::Aggregate(aggregate) => {
            metric_names(&aggregate.expr, names);
            if let Some(param) = &aggregate.param {
                metric_names(param, names);
            }
        }
        Expr::Binary(binary) => {
            metric_names(&binary.lhs, names);
            metric_names(&binary.rhs, names);
        }
        Expr::Call(call) => call
            .args
            .args
            .iter()
            .for_each(|arg| metric_names(arg, names)),
        Expr::Subquery(subquery) => metric_names(&subquery.expr, names),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// Returns the longest range that `expr` selects, so that the history keeps
/// enough points.
pub fn longest_range(expr: &Expr) -> Duration {
    match expr {
        Expr::MatrixSelector(matrix) => matrix.range,
        Expr::Paren(paren) => longest_range(&paren.expr),
        Expr::Unary(unary) => longest_range(&unary.expr),
        Expr::Aggregate(aggregate) => longest_range(&aggregate.expr),
        Expr::Binary(binary) => longest_range(&binary.lhs).max(longest_range(&binary.rhs)),
        Expr::Call(call) => call
            .args
            .args
            .iter()
            .map(|arg| longest_range(arg))
            .max()
            .unwrap_or_default(),
        _ => Duration::ZERO,
    }
}

/// Evaluates `expr` at `at` (milliseconds since the Unix epoch).
pub fn evaluate(expr: &Expr, history: &History, at: i64) -> Result<Value, String> {
    Evaluator { history, at }.eval(expr)
}

struct Evaluator<'a> {
    history: &'a History,
    at: i64,
}

impl Evaluator<'_> {
    fn eval(&self, expr: &Expr) -> Result<Value, String> {
        match expr {
            Expr::NumberLiteral(number) => Ok(Value::Scalar(number.val)),
            Expr::Paren(paren) => self.eval(&paren.expr),
            Expr::Unary(unary) => match self.eval(&unary.expr)? {
                Value::Scalar(value) => Ok(Value::Scalar(-value)),
                Value::Vector(samples) => Ok(Value::Vector(
                    samples
                        .into_iter()
                        .map(|sample| Sample {
                            labels: without_name(sample.labels),
                            value: -sample.value,
                        })
                        .collect(),
                )),
            },
            Expr::VectorSelector(selector) => Ok(Value::Vector(
                self.history
                    .instant(selector, self.at)
                    .into_iter()
                    .map(|(labels, value)| Sample { labels, value })
                    .collect(),
            )),
            Expr::MatrixSelector(matrix) => Err(format!(
                "range selector `{matrix}` must be the argument of a function such as rate"
            )),
            Expr::Aggregate(aggregate) => self.aggregate(aggregate),
            Expr::Binary(binary) => self.binary(binary),
            Expr::Call(call) => self.call(call),
            Expr::StringLiteral(_) | Expr::Subquery(_) | Expr::Extension(_) => {
                Err(check_supported(expr)
                    .err()
                    .unwrap_or_else(|| format!("`{expr}` is not supported")))
            }
        }
    }

    fn vector(&self, expr: &Expr) -> Result<Vec<Sample>, String> {
        match self.eval(expr)? {
            Value::Vector(samples) => Ok(samples),
            Value::Scalar(_) => Err(format!("`{expr}` is a scalar where a vector is expected")),
        }
    }

    fn scalar(&self, expr: &Expr) -> Result<f64, String> {
        match self.eval(expr)? {
            Value::Scalar(value) => Ok(value),
            Value::Vector(_) => Err(format!("`{expr}` is a vector where a scalar is expected")),
        }
    }

    fn aggregate(&self, aggregate: &AggregateExpr) -> Result<Value, String> {
        let samples = self.vector(&aggregate.expr)?;
        let op = aggregate.op.to_string();
        let group_of = |labels: &Labels| group_labels(labels, aggregate.modifier.as_ref());

        if op == "topk" {
            let param = aggregate
                .param
                .as_ref()
                .ok_or_else(|| "topk needs a count".to_owned())?;
            let count = self.scalar(param)?;
            if count.is_nan() || count < 1.0 {
                return Ok(Value::Vector(Vec::new()));
            }
            let mut groups: BTreeMap<Labels, Vec<Sample>> = BTreeMap::new();
            for sample in samples {
                groups
                    .entry(group_of(&sample.labels))
                    .or_default()
                    .push(sample);
            }
            let mut result = Vec::new();
            for (_, mut members) in groups {
                // Largest first, and NaN last, as Prometheus orders topk.
                members.sort_by(|a, b| descending_nan_last(a.value, b.value));
                result.extend(members.into_iter().take(count as usize));
            }
            return Ok(Value::Vector(result));
        }

        let mut groups: BTreeMap<Labels, Vec<f64>> = BTreeMap::new();
        for sample in samples {
            groups
                .entry(group_of(&sample.labels))
                .or_default()
                .push(sample.value);
        }
        let result = groups
            .into_iter()
            .map(|(labels, values)| {
                let count = values.len() as f64;
                let value = match op.as_str() {
                    "sum" => values.iter().sum(),
                    "avg" => values.iter().sum::<f64>() / count,
                    "count" => count,
                    "min" => extreme(&values, f64::min),
                    _ => extreme(&values, f64::max),
                };
                Sample { labels, value }
            })
            .collect();
        Ok(Value::Vector(result))
    }

    fn binary(&self, binary: &BinaryExpr) -> Result<Value, String> {
        let op = binary.op.to_string();
        let return_bool = binary.modifier.as_ref().is_some_and(|m| m.return_bool);
        let lhs = self.eval(&binary.lhs)?;
        let rhs = self.eval(&binary.rhs)?;
        match (lhs, rhs) {
            (Value::Scalar(left), Value::Scalar(right)) => {
                let value = apply(&op, left, right)?;
                Ok(Value::Scalar(value.unwrap_or(0.0)))
            }
            (Value::Vector(samples), Value::Scalar(right)) => Ok(Value::Vector(vector_scalar(
                samples,
                &op,
                right,
                false,
                return_bool,
            )?)),
            (Value::Scalar(left), Value::Vector(samples)) => Ok(Value::Vector(vector_scalar(
                samples,
                &op,
                left,
                true,
                return_bool,
            )?)),
            (Value::Vector(left), Value::Vector(right)) => {
                let modifier = binary.modifier.as_ref();
                if matches!(op.as_str(), "and" | "or" | "unless") {
                    Ok(Value::Vector(set_operation(&op, left, right, modifier)))
                } else {
                    Ok(Value::Vector(one_to_one(
                        &op,
                        left,
                        right,
                        modifier,
                        return_bool,
                    )?))
                }
            }
        }
    }

    fn call(&self, call: &Call) -> Result<Value, String> {
        let args = &call.args.args;
        let name = call.func.name;
        match name {
            "time" => Ok(Value::Scalar(self.at as f64 / 1_000.0)),
            "abs" => Ok(Value::Vector(map_values(self.vector(&args[0])?, f64::abs))),
            "clamp_min" | "clamp_max" => {
                let samples = self.vector(&args[0])?;
                let bound = self.scalar(&args[1])?;
                let clamp = |value: f64| {
                    if name == "clamp_min" {
                        value.max(bound)
                    } else {
                        value.min(bound)
                    }
                };
                Ok(Value::Vector(map_values(samples, clamp)))
            }
            "absent" => {
                if !self.vector(&args[0])?.is_empty() {
                    return Ok(Value::Vector(Vec::new()));
                }
                let labels = match args[0].as_ref() {
                    Expr::VectorSelector(selector) => equality_labels(selector),
                    _ => Labels::new(),
                };
                Ok(Value::Vector(vec![Sample { labels, value: 1.0 }]))
            }
            _ => self.range_function(name, call),
        }
    }

    fn range_function(&self, name: &str, call: &Call) -> Result<Value, String> {
        let args = &call.args.args;
        let Expr::MatrixSelector(matrix) = args[0].as_ref() else {
            return Err(format!("`{name}` needs a range selector such as x[5m]"));
        };
        let horizon = match name {
            "predict_linear" => Some(self.scalar(&args[1])?),
            _ => None,
        };
        let range_ms = matrix.range.as_millis() as i64;
        let mut result = Vec::new();
        for (labels, points) in self.history.range(&matrix.vs, self.at, matrix.range) {
            let value = match name {
                "rate" => extrapolated_delta(&points, self.at, range_ms, true, true),
                "increase" => extrapolated_delta(&points, self.at, range_ms, true, false),
                "delta" => extrapolated_delta(&points, self.at, range_ms, false, false),
                "avg_over_time" => {
                    Some(points.iter().map(|(_, value)| value).sum::<f64>() / points.len() as f64)
                }
                "max_over_time" => Some(extreme(
                    &points.iter().map(|(_, value)| *value).collect::<Vec<_>>(),
                    f64::max,
                )),
                _ => predict_linear(&points, self.at, horizon.unwrap_or_default()),
            };
            if let Some(value) = value {
                result.push(Sample {
                    labels: without_name(labels),
                    value,
                });
            }
        }
        Ok(Value::Vector(result))
    }
}

/// Applies `op` to two values. A comparison returns `Some(1)` or `Some(0)`
/// for true or false; an arithmetic operator returns its result.
fn apply(op: &str, left: f64, right: f64) -> Result<Option<f64>, String> {
    let truth = |holds: bool| Some(if holds { 1.0 } else { 0.0 });
    Ok(match op {
        "+" => Some(left + right),
        "-" => Some(left - right),
        "*" => Some(left * right),
        "/" => Some(left / right),
        "%" => Some(left % right),
        "^" => Some(left.powf(right)),
        "==" => truth(left == right),
        "!=" => truth(left != right),
        ">" => truth(left > right),
        "<" => truth(left < right),
        ">=" => truth(left >= right),
        "<=" => truth(left <= right),
        other => return Err(format!("operator `{other}` is not supported here")),
    })
}

fn is_comparison(op: &str) -> bool {
    matches!(op, "==" | "!=" | ">" | "<" | ">=" | "<=")
}

/// Applies `op` between each sample and a scalar. `scalar_first` puts the
/// scalar on the left. A comparison without `bool` keeps the samples for
/// which it holds, with their values.
fn vector_scalar(
    samples: Vec<Sample>,
    op: &str,
    scalar: f64,
    scalar_first: bool,
    return_bool: bool,
) -> Result<Vec<Sample>, String> {
    let mut result = Vec::new();
    for sample in samples {
        let (left, right) = if scalar_first {
            (scalar, sample.value)
        } else {
            (sample.value, scalar)
        };
        let outcome = apply(op, left, right)?.unwrap_or(f64::NAN);
        if is_comparison(op) && !return_bool {
            if outcome == 1.0 {
                result.push(sample);
            }
            continue;
        }
        result.push(Sample {
            labels: without_name(sample.labels),
            value: outcome,
        });
    }
    Ok(result)
}

/// Matches two vectors one to one on their labels (all but the metric name,
/// or those that `on` and `ignoring` select) and applies `op` to each pair.
fn one_to_one(
    op: &str,
    left: Vec<Sample>,
    right: Vec<Sample>,
    modifier: Option<&BinModifier>,
    return_bool: bool,
) -> Result<Vec<Sample>, String> {
    if left.is_empty() || right.is_empty() {
        return Ok(Vec::new());
    }
    let matching = modifier.and_then(|modifier| modifier.matching.as_ref());
    let mut right_by_signature: BTreeMap<Labels, f64> = BTreeMap::new();
    for sample in &right {
        let signature = signature(&sample.labels, matching);
        if right_by_signature.insert(signature, sample.value).is_some() {
            return Err(format!(
                "many-to-many matching not allowed: the right side of `{op}` has more than one series for labels {}",
                format_labels(&self::signature(&sample.labels, matching))
            ));
        }
    }

    let mut matched: BTreeMap<Labels, ()> = BTreeMap::new();
    let mut result = Vec::new();
    for sample in left {
        let signature = signature(&sample.labels, matching);
        let Some(right_value) = right_by_signature.get(&signature) else {
            continue;
        };
        let outcome = apply(op, sample.value, *right_value)?.unwrap_or(f64::NAN);
        let comparison = is_comparison(op);
        // Filtered out before the duplicate check, as in Prometheus.
        if comparison && !return_bool && outcome != 1.0 {
            continue;
        }
        if matched.insert(signature.clone(), ()).is_some() {
            return Err(format!(
                "multiple matches for labels {}: the left side of `{op}` has more than one series; group_left is not supported",
                format_labels(&signature)
            ));
        }
        let mut labels = sample.labels;
        if !comparison || return_bool {
            labels.remove(METRIC_NAME);
        }
        match matching {
            Some(LabelModifier::Include(names)) => {
                labels.retain(|name, _| names.labels.contains(name));
            }
            Some(LabelModifier::Exclude(names)) => {
                labels.retain(|name, _| !names.labels.contains(name));
            }
            None => {}
        }
        let value = if comparison && !return_bool {
            sample.value
        } else {
            outcome
        };
        result.push(Sample { labels, value });
    }
    Ok(result)
}

/// Applies `and`, `or` or `unless` between two vectors, matching on the same
/// signatures as [`one_to_one`].
fn set_operation(
    op: &str,
    left: Vec<Sample>,
    right: Vec<Sample>,
    modifier: Option<&BinModifier>,
) -> Vec<Sample> {
    let matching = modifier.and_then(|modifier| modifier.matching.as_ref());
    let right_signatures: Vec<Labels> = right
        .iter()
        .map(|sample| signature(&sample.labels, matching))
        .collect();
    let in_right =
        |sample: &Sample| right_signatures.contains(&signature(&sample.labels, matching));
    match op {
        "and" => left.into_iter().filter(|sample| in_right(sample)).collect(),
        "unless" => left
            .into_iter()
            .filter(|sample| !in_right(sample))
            .collect(),
        _ => {
            let left_signatures: Vec<Labels> = left
                .iter()
                .map(|sample| signature(&sample.labels, matching))
                .collect();
            let mut result = left;
            result.extend(
                right.into_iter().filter(|sample| {
                    !left_signatures.contains(&signature(&sample.labels, matching))
                }),
            );
            result
        }
    }
}

/// Returns the labels that two series must share to match: those `on`
/// names, or all but those `ignoring` names and the metric name.
fn signature(labels: &Labels, matching: Option<&LabelModifier>) -> Labels {
    let keep = |name: &String| match matching {
        Some(LabelModifier::Include(names)) => names.labels.contains(name),
        Some(LabelModifier::Exclude(names)) => name != METRIC_NAME && !names.labels.contains(name),
        None => name != METRIC_NAME,
    };
    labels
        .iter()
        .filter(|(name, _)| keep(name))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

/// Returns the labels of an aggregation group: those `by` names, or all but
/// those `without` names and the metric name.
fn group_labels(labels: &Labels, modifier: Option<&LabelModifier>) -> Labels {
    match modifier {
        Some(LabelModifier::Include(names)) => keep_only(labels, names),
        Some(LabelModifier::Exclude(names)) => labels
            .iter()
            .filter(|(name, _)| *name != METRIC_NAME && !names.labels.contains(name))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect(),
        None => Labels::new(),
    }
}

fn keep_only(labels: &Labels, names: &LabelNames) -> Labels {
    labels
        .iter()
        .filter(|(name, _)| names.labels.contains(name))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

fn without_name(mut labels: Labels) -> Labels {
    labels.remove(METRIC_NAME);
    labels
}

fn map_values(samples: Vec<Sample>, function: impl Fn(f64) -> f64) -> Vec<Sample> {
    samples
        .into_iter()
        .map(|sample| Sample {
            labels: without_name(sample.labels),
            value: function(sample.value),
        })
        .collect()
}

/// Returns the labels that `absent` gives its result: those of the
/// selector's equality matchers.
fn equality_labels(selector: &VectorSelector) -> Labels {
    selector
        .matchers
        .matchers
        .iter()
        .filter(|matcher| matches!(matcher.op, MatchOp::Equal) && matcher.name != METRIC_NAME)
        .map(|matcher| (matcher.name.clone(), matcher.value.clone()))
        .collect()
}

/// Returns the minimum or maximum by `pick`, ignoring NaN unless every value
/// is NaN.
fn extreme(values: &[f64], pick: fn(f64, f64) -> f64) -> f64 {
    values
        .iter()
        .copied()
        .filter(|value| !value.is_nan())
        .reduce(pick)
        .unwrap_or(f64::NAN)
}

fn descending_nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        (false, false) => b.total_cmp(&a),
    }
}

fn format_labels(labels: &Labels) -> String {
    let pairs: Vec<String> = labels
        .iter()
        .map(|(name, value)| format!("{name}={value:?}"))
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

/// Computes `rate`, `increase` or `delta` as Prometheus does: the change
/// over the points, with counter resets added back for counters, then
/// extrapolated toward the edges of the range when the points end near them.
fn extrapolated_delta(
    points: &[Point],
    at: i64,
    range_ms: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    let (first, last) = (points.first()?, points.last()?);
    if points.len() < 2 {
        return None;
    }
    let mut result = last.1 - first.1;
    if is_counter {
        for pair in points.windows(2) {
            if pair[1].1 < pair[0].1 {
                result += pair[0].1;
            }
        }
    }
    let range_start = at - range_ms;
    let mut to_start = (first.0 - range_start) as f64 / 1_000.0;
    let to_end = (at - last.0) as f64 / 1_000.0;
    let sampled = (last.0 - first.0) as f64 / 1_000.0;
    let average_step = sampled / (points.len() - 1) as f64;

    if is_counter && result > 0.0 && first.1 >= 0.0 {
        // A counter cannot go below zero, so extrapolate no further back
        // than where it would have been zero.
        to_start = to_start.min(sampled * (first.1 / result));
    }
    let threshold = average_step * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        average_step / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        average_step / 2.0
    };
    result *= interval / sampled;
    if is_rate {
        result /= range_ms as f64 / 1_000.0;
    }
    Some(result)
}

/// Predicts the value `horizon` seconds after `at` by least-squares linear
/// regression over the points, as Prometheus' `predict_linear` does.
fn predict_linear(points: &[Point], at: i64, horizon: f64) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let first_value = points[0].1;
    if points.iter().all(|(_, value)| *value == first_value) {
        return Some(if first_value.is_infinite() {
            f64::NAN
        } else {
            first_value
        });
    }
    let count = points.len() as f64;
    let (mut sum_x, mut sum_y, mut sum_xy, mut sum_x2) = (0.0, 0.0, 0.0, 0.0);
    for (time, value) in points {
        let x = (*time - at) as f64 / 1_000.0;
        sum_x += x;
        sum_y += value;
        sum_xy += x * value;
        sum_x2 += x * x;
    }
    let covariance = sum_xy - sum_x * sum_y / count;
    let variance = sum_x2 - sum_x * sum_x / count;
    let slope = covariance / variance;
    let intercept = sum_y / count - slope * sum_x / count;
    Some(slope * horizon + intercept)
}

#[cfg(test)]
mod tests;
