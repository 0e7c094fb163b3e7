use super::*;

fn parse(text: &str) -> Result<RuleFile, Vec<RuleError>> {
    parse_rule_file(Path::new("rules.yaml"), text)
}

fn errors(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

const GOOD: &str = r#"groups:
  - name: limits
    interval: 30s
    rules:
      - alert: TokensNearLimit
        expr: burnrate_ratelimit_utilization_ratio{limit="tokens"} > 0.8
        for: 1m
        keep_firing_for: 2m
        labels:
          severity: warning
        annotations:
          summary: "{{ $labels.service_name }} used {{ $value | humanizePercentage }}"
  - name: spend
    rules:
      - alert: SpendOverBudget
        expr: burnrate_budget_spend_usd > burnrate_budget_usd
"#;

#[test]
fn good_file_loads() {
    let file = parse(GOOD).unwrap();
    assert_eq!(file.groups.len(), 2);
    let limits = &file.groups[0];
    assert_eq!(limits.name, "limits");
    assert_eq!(limits.interval, Some(Duration::from_secs(30)));
    let rule = &limits.rules[0];
    assert_eq!(rule.name, "TokensNearLimit");
    assert_eq!(rule.for_duration, Duration::from_secs(60));
    assert_eq!(rule.keep_firing_for, Duration::from_secs(120));
    assert_eq!(rule.line, 5);
    assert!(rule.labels.contains_key("severity"));
    assert!(rule.annotations.contains_key("summary"));
    let spend = &file.groups[1];
    assert_eq!(spend.interval, None);
    assert_eq!(spend.rules[0].line, 15);
    assert_eq!(spend.rules[0].for_duration, Duration::ZERO);
}

#[test]
fn problems_name_file_line_and_reason() {
    let cases: &[(&str, &str)] = &[
        (
            "groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: rate(x[5m]\n",
            "rules.yaml:4: group \"a\", rule \"X\": invalid `expr`",
        ),
        (
            "groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: histogram_quantile(0.9, x)\n",
            "function `histogram_quantile` is not supported",
        ),
        (
            "groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: x > 1\n        for: soon\n",
            "rules.yaml:4: group \"a\", rule \"X\": invalid `for` \"soon\"",
        ),
        (
            "groups:\n  - name: a\n    rules:\n      - record: job:x\n        expr: x\n",
            "rules.yaml:4: group \"a\", rule \"job:x\": recording rules are not supported",
        ),
        (
            "groups:\n  - name: a\n    rules:\n      - expr: x > 1\n",
            "rules.yaml:2: group \"a\", rule 1: missing `alert`",
        ),
        (
            "groups:\n  - name: a\n    rules:\n      - alert: X\n",
            "rules.yaml:4: group \"a\", rule \"X\": missing `expr`",
        ),
        (
            "groups:\n  - name: a\n    rules: []\n  - name: a\n    rules: []\n",
            "rules.yaml:4: group \"a\" is defined more than once",
        ),
        (
            "groups:\n  - name: a\n    interval: 0s\n    rules: []\n",
            "interval must be greater than 0",
        ),
        (
            "groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: x > 1\n        labels: { 9bad: v }\n",
            "invalid label name \"9bad\"",
        ),
        (
            "groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: x > 1\n        annotations: { summary: \"{{ $value \" }\n",
            "invalid template in annotation \"summary\"",
        ),
        (
            "groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: x > 1\n        labels: { alertname: Y }\n",
            "label `alertname` is set from `alert`",
        ),
        (
            "groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: x > 1\n        fro: 1m\n",
            "rules.yaml:6: invalid rule file: groups[0].rules[0]: unknown field `fro`",
        ),
        ("groups: [", "rules.yaml:2: invalid rule file"),
    ];
    for (text, expected) in cases {
        let found = errors(text);
        assert!(
            found.iter().any(|error| error.contains(expected)),
            "expected {expected:?} in {found:?}"
        );
    }
}

#[test]
fn every_problem_is_reported() {
    let text = "groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: stddev(x)\n      - alert: Y\n        expr: x offset 1m\n";
    let found = errors(text);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].starts_with("rules.yaml:4:"), "{found:?}");
    assert!(found[1].starts_with("rules.yaml:6:"), "{found:?}");
}

#[test]
fn repeated_alert_names_get_their_own_lines() {
    let text = "groups:\n  - name: a\n    rules:\n      - alert: X\n        expr: x > 1\n  - name: b\n    rules:\n      - alert: X\n        expr: x >\n";
    let found = errors(text);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].starts_with("rules.yaml:8:"), "{found:?}");
}

#[test]
fn patterns_expand_and_missing_ones_are_errors() {
    let directory = tempfile::tempdir().unwrap();
    for name in ["b.yaml", "a.yaml", "notes.txt"] {
        std::fs::write(directory.path().join(name), "groups: []\n").unwrap();
    }
    let patterns = vec!["*.yaml".to_owned(), "a.yaml".to_owned()];
    let files = expand_patterns(&patterns, directory.path()).unwrap();
    let names: Vec<_> = files
        .iter()
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["a.yaml", "b.yaml"]);

    let missing = vec!["rules/*.yml".to_owned()];
    let errors = expand_patterns(&missing, directory.path()).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].to_string().contains("no rule file matches"),
        "{}",
        errors[0]
    );
}

#[test]
fn default_rule_pack_loads() {
    let text = include_str!("../../../rules/burnrate.yaml");
    let file = parse_rule_file(Path::new("rules/burnrate.yaml"), text).unwrap();
    let names: Vec<&str> = file
        .groups
        .iter()
        .flat_map(|group| group.rules.iter().map(|rule| rule.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            "LLMRateLimitHigh",
            "LLMRateLimitCritical",
            "LLMRateLimitExhaustionPredicted",
            "LLMRateLimited",
            "LLMDailySpendOverBudget",
            "LLMMonthlySpendOverBudget",
            "LLMMonthlySpendProjectedOverBudget",
            "LLMUnpricedModel",
        ]
    );
}
