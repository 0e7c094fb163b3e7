use std::collections::BTreeSet;

use super::*;

/// Builds a history of `series` (metric name and labels as selector text, then
/// points as (seconds, value)).
fn history(series: &[(&str, &[(i64, f64)])]) -> History {
    let mut names = BTreeSet::new();
    let mut snapshots: BTreeMap<i64, Vec<(Labels, f64)>> = BTreeMap::new();
    for (selector, points) in series {
        let labels = labels_of(selector);
        names.insert(labels[METRIC_NAME].clone());
        for (second, value) in *points {
            snapshots
                .entry(second * 1_000)
                .or_default()
                .push((labels.clone(), *value));
        }
    }
    let mut history = History::new(names, Duration::from_secs(3_600), 1_000);
    for (at, samples) in snapshots {
        history.record(at, samples);
    }
    history
}

/// Parses `name{a="x", b="y"}` into labels.
fn labels_of(text: &str) -> Labels {
    let (name, rest) = text.split_once('{').unwrap_or((text, "}"));
    let mut labels = Labels::new();
    labels.insert(METRIC_NAME.to_owned(), name.to_owned());
    for pair in rest
        .trim_end_matches('}')
        .split(',')
        .filter(|pair| !pair.is_empty())
    {
        let (label, value) = pair.split_once('=').unwrap();
        labels.insert(
            label.trim().to_owned(),
            value.trim().trim_matches('"').to_owned(),
        );
    }
    labels
}

fn eval(history: &History, text: &str, second: i64) -> Value {
    let expr = parse(text).unwrap_or_else(|error| panic!("{text}: {error}"));
    evaluate(&expr, history, second * 1_000).unwrap_or_else(|error| panic!("{text}: {error}"))
}

/// Evaluates `text` to a vector, as (labels without braces, value) sorted.
fn vector(history: &History, text: &str, second: i64) -> Vec<(String, f64)> {
    let Value::Vector(samples) = eval(history, text, second) else {
        panic!("{text} is not a vector");
    };
    let mut found: Vec<(String, f64)> = samples
        .into_iter()
        .map(|sample| {
            let pairs: Vec<String> = sample
                .labels
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect();
            (pairs.join(","), sample.value)
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// A table of expressions and the vector each must give, as in [`vector`].
type VectorCases<'a> = &'a [(&'a str, &'a [(&'a str, f64)])];

/// Evaluates each expression of `cases` at `second` and asserts its vector.
fn assert_vectors(history: &History, cases: VectorCases<'_>, second: i64) {
    for (text, expected) in cases {
        let expected: Vec<(String, f64)> = expected
            .iter()
            .map(|(labels, value)| ((*labels).to_owned(), *value))
            .collect();
        assert_eq!(vector(history, text, second), expected, "{text}");
    }
}

fn usage() -> History {
    history(&[
        (r#"used{svc="a",model="m1"}"#, &[(0, 10.0), (15, 20.0)]),
        (r#"used{svc="b",model="m1"}"#, &[(0, 30.0), (15, 40.0)]),
        (r#"used{svc="c",model="m2"}"#, &[(0, 5.0), (15, 1.0)]),
        (r#"limit{svc="a"}"#, &[(15, 100.0)]),
        (r#"limit{svc="b"}"#, &[(15, 50.0)]),
    ])
}

#[test]
fn selectors_and_matchers() {
    let history = usage();
    let cases: &[(&str, &[(&str, f64)])] = &[
        (
            "used",
            &[
                ("__name__=used,model=m1,svc=a", 20.0),
                ("__name__=used,model=m1,svc=b", 40.0),
                ("__name__=used,model=m2,svc=c", 1.0),
            ],
        ),
        (
            r#"used{svc="a"}"#,
            &[("__name__=used,model=m1,svc=a", 20.0)],
        ),
        (
            r#"used{svc!="a"}"#,
            &[
                ("__name__=used,model=m1,svc=b", 40.0),
                ("__name__=used,model=m2,svc=c", 1.0),
            ],
        ),
        (
            r#"used{svc=~"a|c", model=~"m.*"}"#,
            &[
                ("__name__=used,model=m1,svc=a", 20.0),
                ("__name__=used,model=m2,svc=c", 1.0),
            ],
        ),
        (
            r#"used{model!~"m1"}"#,
            &[("__name__=used,model=m2,svc=c", 1.0)],
        ),
        (
            r#"{__name__="limit", svc="b"}"#,
            &[("__name__=limit,svc=b", 50.0)],
        ),
        (r#"used{svc="zzz"}"#, &[]),
    ];
    assert_vectors(&history, cases, 15);
}

#[test]
fn arithmetic_and_comparison() {
    let history = usage();
    let cases: &[(&str, &[(&str, f64)])] = &[
        (
            "used * 2",
            &[
                ("model=m1,svc=a", 40.0),
                ("model=m1,svc=b", 80.0),
                ("model=m2,svc=c", 2.0),
            ],
        ),
        (
            "100 - used",
            &[
                ("model=m1,svc=a", 80.0),
                ("model=m1,svc=b", 60.0),
                ("model=m2,svc=c", 99.0),
            ],
        ),
        ("-used{svc=\"a\"}", &[("model=m1,svc=a", -20.0)]),
        // Comparison filters and keeps the name and value.
        (
            "used > 15",
            &[
                ("__name__=used,model=m1,svc=a", 20.0),
                ("__name__=used,model=m1,svc=b", 40.0),
            ],
        ),
        (
            "15 < used",
            &[
                ("__name__=used,model=m1,svc=a", 20.0),
                ("__name__=used,model=m1,svc=b", 40.0),
            ],
        ),
        (
            "used > bool 15",
            &[
                ("model=m1,svc=a", 1.0),
                ("model=m1,svc=b", 1.0),
                ("model=m2,svc=c", 0.0),
            ],
        ),
        ("used == 1", &[("__name__=used,model=m2,svc=c", 1.0)]),
        ("used{svc=\"a\"} % 7", &[("model=m1,svc=a", 6.0)]),
        ("used{svc=\"c\"} ^ 3", &[("model=m2,svc=c", 1.0)]),
    ];
    assert_vectors(&history, cases, 15);
    assert_eq!(eval(&history, "2 * 3 + 1", 15), Value::Scalar(7.0));
    assert_eq!(eval(&history, "1 > bool 2", 15), Value::Scalar(0.0));
}

#[test]
fn vector_matching_one_to_one() {
    let history = usage();
    let cases: &[(&str, &[(&str, f64)])] = &[
        ("used / on(svc) limit", &[("svc=a", 0.2), ("svc=b", 0.8)]),
        (
            "used / ignoring(model) limit",
            &[("svc=a", 0.2), ("svc=b", 0.8)],
        ),
        // Without matching labels, no series share all labels.
        ("used / limit", &[]),
        ("used > on(svc) limit", &[]),
        ("used < on(svc) limit", &[("svc=a", 20.0), ("svc=b", 40.0)]),
        (
            "used < bool on(svc) limit",
            &[("svc=a", 1.0), ("svc=b", 1.0)],
        ),
    ];
    assert_vectors(&history, cases, 15);
}

#[test]
fn many_to_many_matching_is_an_error() {
    let history = usage();
    let expr = parse("limit / on(model) used").unwrap();
    let error = evaluate(&expr, &history, 15_000).unwrap_err();
    assert!(error.contains("many-to-many"), "{error}");
    let expr = parse("used / on() limit").unwrap();
    let error = evaluate(&expr, &history, 15_000).unwrap_err();
    assert!(error.contains("more than one series"), "{error}");
}

#[test]
fn comparison_filters_before_the_duplicate_check() {
    let history = usage();
    // Two left series match limit{svc="a"} on svc, but only one passes.
    let history_with_extra = {
        let mut names = BTreeSet::new();
        names.insert("used".to_owned());
        names.insert("limit".to_owned());
        let mut extra = History::new(names, Duration::from_secs(3_600), 100);
        extra.record(
            15_000,
            vec![
                (labels_of(r#"used{svc="a",model="m1"}"#), 20.0),
                (labels_of(r#"used{svc="a",model="m3"}"#), 500.0),
                (labels_of(r#"limit{svc="a"}"#), 100.0),
            ],
        );
        extra
    };
    let found = vector(&history_with_extra, "used > on(svc) limit", 15);
    assert_eq!(found, [("svc=a".to_owned(), 500.0)]);
    // An empty side matches nothing, even with duplicates on the other.
    assert!(vector(&history, r#"limit / on() used{svc="none"}"#, 15).is_empty());
}

#[test]
fn set_operators() {
    let history = usage();
    let cases: &[(&str, &[(&str, f64)])] = &[
        (
            "used and on(svc) limit",
            &[
                ("__name__=used,model=m1,svc=a", 20.0),
                ("__name__=used,model=m1,svc=b", 40.0),
            ],
        ),
        (
            "used unless on(svc) limit",
            &[("__name__=used,model=m2,svc=c", 1.0)],
        ),
        (
            r#"used{svc="a"} or on(svc) limit"#,
            &[
                ("__name__=limit,svc=b", 50.0),
                ("__name__=used,model=m1,svc=a", 20.0),
            ],
        ),
        (
            r#"used{svc="c"} or used{svc="a"}"#,
            &[
                ("__name__=used,model=m1,svc=a", 20.0),
                ("__name__=used,model=m2,svc=c", 1.0),
            ],
        ),
    ];
    assert_vectors(&history, cases, 15);
}

#[test]
fn aggregations() {
    let history = usage();
    let cases: &[(&str, &[(&str, f64)])] = &[
        ("sum(used)", &[("", 61.0)]),
        (
            "sum by (model) (used)",
            &[("model=m1", 60.0), ("model=m2", 1.0)],
        ),
        (
            "sum without (svc) (used)",
            &[("model=m1", 60.0), ("model=m2", 1.0)],
        ),
        (
            "min by (model) (used)",
            &[("model=m1", 20.0), ("model=m2", 1.0)],
        ),
        ("max(used)", &[("", 40.0)]),
        (
            "avg by (model) (used)",
            &[("model=m1", 30.0), ("model=m2", 1.0)],
        ),
        ("count(used)", &[("", 3.0)]),
        (
            "count by (model) (used > 0)",
            &[("model=m1", 2.0), ("model=m2", 1.0)],
        ),
        ("topk(1, used)", &[("__name__=used,model=m1,svc=b", 40.0)]),
        (
            "topk by (model) (1, used)",
            &[
                ("__name__=used,model=m1,svc=b", 40.0),
                ("__name__=used,model=m2,svc=c", 1.0),
            ],
        ),
        ("topk(0, used)", &[]),
    ];
    assert_vectors(&history, cases, 15);
}

fn counter() -> History {
    // 1 per second, scraped every 15 s, with a reset to 0 at 75 s.
    history(&[(
        "requests_total",
        &[
            (0, 0.0),
            (15, 15.0),
            (30, 30.0),
            (45, 45.0),
            (60, 60.0),
            (75, 5.0),
            (90, 20.0),
        ],
    )])
}

#[test]
fn range_functions() {
    let history = counter();
    let cases: &[(&str, i64, f64)] = &[
        ("rate(requests_total[1m])", 60, 1.0),
        ("increase(requests_total[1m])", 60, 60.0),
        // Extrapolated 5 s to the end; the start stops where the counter was 0.
        ("increase(requests_total[1m])", 50, 50.0),
        ("delta(requests_total[30s])", 45, 30.0),
        ("avg_over_time(requests_total[30s])", 60, 45.0),
        ("max_over_time(requests_total[1m])", 90, 60.0),
        // Across the reset to 0 the counter rose 5, then 15.
        ("increase(requests_total[30s])", 90, 20.0),
        ("predict_linear(requests_total[1m], 60)", 60, 120.0),
        ("predict_linear(requests_total[30s], 0)", 45, 45.0),
    ];
    for (text, second, expected) in cases {
        let found = vector(&history, text, *second);
        assert_eq!(found.len(), 1, "{text} at {second}: {found:?}");
        assert!(
            (found[0].1 - expected).abs() < 1e-9,
            "{text} at {second}: {found:?}"
        );
        assert_eq!(found[0].0, "", "{text} drops the metric name");
    }
    // One point is not enough for a rate.
    assert!(vector(&history, "rate(requests_total[10s])", 60).is_empty());
}

#[test]
fn other_functions() {
    let history = usage();
    let cases: &[(&str, &[(&str, f64)])] = &[
        (
            "clamp_min(used, 25)",
            &[
                ("model=m1,svc=a", 25.0),
                ("model=m1,svc=b", 40.0),
                ("model=m2,svc=c", 25.0),
            ],
        ),
        (
            "clamp_max(used, 25)",
            &[
                ("model=m1,svc=a", 20.0),
                ("model=m1,svc=b", 25.0),
                ("model=m2,svc=c", 1.0),
            ],
        ),
        (
            "abs(used - 30)",
            &[
                ("model=m1,svc=a", 10.0),
                ("model=m1,svc=b", 10.0),
                ("model=m2,svc=c", 29.0),
            ],
        ),
        (
            r#"absent(used{svc="zzz", model=~"m.*"})"#,
            &[("svc=zzz", 1.0)],
        ),
        ("absent(used)", &[]),
    ];
    assert_vectors(&history, cases, 15);
    assert_eq!(eval(&history, "time()", 15), Value::Scalar(15.0));
}

#[test]
fn unsupported_parts_are_named() {
    let cases = [
        (
            "histogram_quantile(0.9, used)",
            "function `histogram_quantile`",
        ),
        ("stddev(used)", "aggregation `stddev`"),
        ("used offset 5m", "`offset`"),
        ("used @ 100", "`@`"),
        ("rate(used[5m:1m])", "subqueries"),
        ("used * on(svc) group_left limit", "group_left"),
        ("used atan2 used", "operator `atan2`"),
        (r#"{svc="a"}"#, "does not name its metric"),
        (r#"{__name__=~"used|limit"}"#, "does not name its metric"),
    ];
    for (text, expected) in cases {
        let error = parse(text).unwrap_err();
        assert!(error.contains(expected), "{text}: {error}");
    }
}

#[test]
fn names_and_ranges_are_collected() {
    let expr = parse("rate(a[5m]) / on() b > bool max_over_time(c[1h])").unwrap();
    let mut names = Vec::new();
    metric_names(&expr, &mut names);
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(longest_range(&expr), Duration::from_secs(3_600));
}
