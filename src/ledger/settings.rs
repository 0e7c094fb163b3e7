//! The ledger's settings, checked and compiled from the `ledger` section of
//! the configuration.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono_tz::Tz;
use promql_parser::label::Matcher;
use promql_parser::parser::Expr;

use crate::config::{BudgetPeriod, LedgerSettings, Problem};

/// The allowlist entry that labels a series with the call's API key identity.
pub const KEY_ID: &str = "key_id";

/// Labels that every LLM series has, before the allowlisted ones.
pub const COMMON_LABELS: [&str; 3] = [
    "gen_ai_provider_name",
    "gen_ai_request_model",
    "service_name",
];

/// Label names that burnrate's own metrics use beside the series labels.
const RESERVED_LABELS: &[&str] = &[
    "outcome",
    "gen_ai_token_type",
    "limit",
    "period",
    "budget",
    "otel_scope_name",
];

/// Maximum number of attributes that may become labels, because each one
/// multiplies the series.
const MAX_LABELS: usize = 8;

/// Parts of attribute names that hold secrets. Such an attribute never
/// becomes a label, and `key_id` identifies keys instead.
const CREDENTIAL_PARTS: &[&str] = &[
    "authorization",
    "api-key",
    "api_key",
    "apikey",
    "cookie",
    "secret",
    "password",
];

/// One allowlisted attribute and the label it becomes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelSource {
    /// Span or resource attribute, or [`KEY_ID`].
    pub attribute: String,
    /// Prometheus label name: the attribute with every character other than
    /// a letter, digit or '_' turned into '_', as the OTLP to Prometheus
    /// translation does.
    pub name: String,
}

/// A budget with its selector compiled.
#[derive(Clone, Debug)]
pub struct BudgetRule {
    pub name: Arc<str>,
    pub period: BudgetPeriod,
    pub amount_usd: f64,
    /// All must match; empty matches every series.
    matchers: Vec<Matcher>,
}

impl BudgetRule {
    /// Returns whether a series with `labels` counts toward the budget. A
    /// label the series lacks reads as empty, as in PromQL.
    pub fn matches(&self, labels: &[(&str, &str)]) -> bool {
        crate::selector::all_match(&self.matchers, |name| {
            labels
                .iter()
                .find(|(label, _)| *label == name)
                .map(|(_, value)| *value)
        })
    }
}

/// The ledger's settings, ready to use.
#[derive(Clone, Debug)]
pub struct LedgerConfig {
    pub labels: Vec<LabelSource>,
    pub max_series: usize,
    pub time_zone: Tz,
    pub budgets: Vec<BudgetRule>,
    /// How long spend must have been watched in a period before it is
    /// projected.
    pub min_projection_basis: Duration,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig {
            labels: Vec::new(),
            max_series: LedgerSettings::default().max_series,
            time_zone: Tz::UTC,
            budgets: Vec::new(),
            min_projection_basis: LedgerSettings::default().min_projection_basis,
        }
    }
}

impl LedgerConfig {
    /// Checks `settings` and compiles them, or returns every problem found,
    /// each with its field path under `ledger`.
    pub fn from_settings(settings: &LedgerSettings) -> Result<LedgerConfig, Vec<Problem>> {
        let mut problems = Vec::new();
        let labels = label_sources(&settings.labels, &mut problems);
        if settings.max_series == 0 {
            problems.push(Problem::new("ledger.max_series", "must be at least 1"));
        }
        let time_zone = match settings.time_zone.parse::<Tz>() {
            Ok(zone) => zone,
            Err(_) => {
                let message = format!(
                    "unknown time zone {:?}; use an IANA name such as UTC, Europe/Berlin or America/New_York",
                    settings.time_zone
                );
                problems.push(Problem::new("ledger.time_zone", message));
                Tz::UTC
            }
        };

        let mut series_labels: Vec<&str> = COMMON_LABELS.to_vec();
        series_labels.extend(labels.iter().map(|label| label.name.as_str()));
        let mut names = HashSet::new();
        let mut budgets = Vec::new();
        for (index, budget) in settings.budgets.iter().enumerate() {
            let path = format!("ledger.budgets[{index}]");
            if budget.name.trim().is_empty() {
                let message = "missing; name the budget, such as checkout-monthly";
                problems.push(Problem::new(&format!("{path}.name"), message));
            } else if !names.insert((budget.name.as_str(), budget.period)) {
                let message = format!(
                    "duplicate budget {:?} for period {}; give each a unique name",
                    budget.name,
                    budget.period.as_str()
                );
                problems.push(Problem::new(&format!("{path}.name"), message));
            }
            if !(budget.amount_usd.is_finite() && budget.amount_usd > 0.0) {
                let message = format!(
                    "{} is not a positive amount of US dollars; write it as a number such as 500",
                    budget.amount_usd
                );
                problems.push(Problem::new(&format!("{path}.amount_usd"), message));
            }
            let selector_path = format!("{path}.selector");
            match parse_selector(&budget.selector, &series_labels) {
                Ok(matchers) => budgets.push(BudgetRule {
                    name: Arc::from(budget.name.as_str()),
                    period: budget.period,
                    amount_usd: budget.amount_usd,
                    matchers,
                }),
                Err(message) => problems.push(Problem::new(&selector_path, message)),
            }
        }

        if settings.min_projection_basis < Duration::from_secs(1) {
            let message = "must be at least 1s; a shorter basis projects the first call's cost over the whole period";
            problems.push(Problem::new("ledger.min_projection_basis", message));
        }

        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(LedgerConfig {
            labels,
            max_series: settings.max_series,
            time_zone,
            budgets,
            min_projection_basis: settings.min_projection_basis,
        })
    }

    /// Projects `spent` in the `period` that contains `now` to its end; see
    /// [`super::project`].
    pub fn project(
        &self,
        spent: f64,
        period: BudgetPeriod,
        now: SystemTime,
        started: SystemTime,
    ) -> Option<f64> {
        super::project(
            spent,
            period,
            now,
            started,
            self.time_zone,
            self.min_projection_basis,
        )
    }

    /// Returns the names of the allowlisted labels, in order.
    pub fn label_names(&self) -> impl Iterator<Item = &str> {
        self.labels.iter().map(|label| label.name.as_str())
    }

    /// Returns whether the series are labelled by API key identity.
    pub fn labels_by_key(&self) -> bool {
        self.labels.iter().any(|label| label.attribute == KEY_ID)
    }
}

fn label_sources(attributes: &[String], problems: &mut Vec<Problem>) -> Vec<LabelSource> {
    if attributes.len() > MAX_LABELS {
        let message = format!(
            "{} attributes listed; at most {MAX_LABELS} may become labels, as each multiplies the series",
            attributes.len()
        );
        problems.push(Problem::new("ledger.labels", message));
    }
    let mut sources: Vec<LabelSource> = Vec::new();
    for (index, attribute) in attributes.iter().enumerate() {
        let path = format!("ledger.labels[{index}]");
        let attribute = attribute.trim();
        let lowercase = attribute.to_ascii_lowercase();
        if attribute.is_empty() {
            problems.push(Problem::new(
                &path,
                "empty; name a span or resource attribute",
            ));
            continue;
        }
        if CREDENTIAL_PARTS.iter().any(|part| lowercase.contains(part)) {
            let message = format!(
                "{attribute:?} looks like a credential, which never becomes a label; \
                 use `key_id`, a hash that tells API keys apart"
            );
            problems.push(Problem::new(&path, message));
            continue;
        }
        let name = prometheus_label_name(attribute);
        if name.starts_with(|c: char| c.is_ascii_digit()) || name.starts_with("__") {
            let message =
                format!("{attribute:?} makes the label name {name:?}, which Prometheus rejects");
            problems.push(Problem::new(&path, message));
            continue;
        }
        let in_use = COMMON_LABELS.contains(&name.as_str())
            || RESERVED_LABELS.contains(&name.as_str())
            || sources.iter().any(|source| source.name == name);
        if in_use {
            let message = format!(
                "{attribute:?} makes the label name {name:?}, which is already in use; list each attribute once and leave out the built-in labels"
            );
            problems.push(Problem::new(&path, message));
            continue;
        }
        sources.push(LabelSource {
            attribute: attribute.to_owned(),
            name,
        });
    }
    sources
}

/// Turns an attribute name into a Prometheus label name.
fn prometheus_label_name(attribute: &str) -> String {
    attribute
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Parses a PromQL series selector such as `{service_name="checkout"}` into
/// its matchers. `known` are the label names a series can have.
fn parse_selector(selector: &str, known: &[&str]) -> Result<Vec<Matcher>, String> {
    if selector.trim().is_empty() {
        return Ok(Vec::new());
    }
    let hint = "write a series selector such as {service_name=\"checkout\"}";
    let expr = promql_parser::parser::parse(selector)
        .map_err(|error| format!("{selector:?} is not a series selector ({error}); {hint}"))?;
    let Expr::VectorSelector(vector) = expr else {
        return Err(format!("{selector:?} is not a series selector; {hint}"));
    };
    if vector.name.is_some() || vector.offset.is_some() || vector.at.is_some() {
        return Err(format!(
            "{selector:?} has a metric name, offset or @; a budget selector holds only label matchers; {hint}"
        ));
    }
    if !vector.matchers.or_matchers.is_empty() {
        return Err(format!(
            "{selector:?} uses `or` between matchers, which a budget does not support; list one budget per alternative"
        ));
    }
    for matcher in &vector.matchers.matchers {
        if !known.contains(&matcher.name.as_str()) {
            return Err(format!(
                "{selector:?} matches on label {:?}, which LLM series do not have; use one of {}",
                matcher.name,
                known.join(", ")
            ));
        }
    }
    Ok(vector.matchers.matchers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Budget;

    fn settings(labels: &[&str], budgets: Vec<Budget>) -> LedgerSettings {
        LedgerSettings {
            labels: labels.iter().map(|label| label.to_string()).collect(),
            budgets,
            ..LedgerSettings::default()
        }
    }

    fn budget(name: &str, amount_usd: f64, selector: &str) -> Budget {
        Budget {
            name: name.to_owned(),
            period: BudgetPeriod::Month,
            amount_usd,
            selector: selector.to_owned(),
        }
    }

    fn problems(settings: &LedgerSettings) -> Vec<(String, String)> {
        match LedgerConfig::from_settings(settings) {
            Ok(_) => Vec::new(),
            Err(problems) => problems
                .into_iter()
                .map(|problem| (problem.path, problem.message))
                .collect(),
        }
    }

    #[test]
    fn labels_become_prometheus_names() {
        let config = LedgerConfig::from_settings(&settings(
            &["deployment.environment", "app.tenant-id", KEY_ID],
            Vec::new(),
        ))
        .unwrap();
        let names: Vec<&str> = config.label_names().collect();
        assert_eq!(names, ["deployment_environment", "app_tenant_id", "key_id"]);
        assert!(config.labels_by_key());
    }

    #[test]
    fn bad_labels_name_the_entry() {
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("http.request.header.x-api-key", "credential"),
            ("http.request.header.authorization", "credential"),
            ("service.name", "already in use"),
            ("outcome", "already in use"),
            ("9lives", "Prometheus rejects"),
            ("__name", "Prometheus rejects"),
        ];
        for (attribute, expected) in cases {
            let found = problems(&settings(&[attribute], Vec::new()));
            assert_eq!(found.len(), 1, "{attribute:?}: {found:?}");
            assert_eq!(found[0].0, "ledger.labels[0]", "{attribute:?}");
            assert!(
                found[0].1.contains(expected),
                "{attribute:?}: {}",
                found[0].1
            );
        }

        let repeated = problems(&settings(&["tenant.id", "tenant_id"], Vec::new()));
        assert_eq!(repeated.len(), 1, "{repeated:?}");
        assert_eq!(repeated[0].0, "ledger.labels[1]");

        let many: Vec<String> = (0..9).map(|index| format!("attribute.{index}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let found = problems(&settings(&many, Vec::new()));
        assert_eq!(found[0].0, "ledger.labels", "{found:?}");
    }

    #[test]
    fn short_projection_basis_is_rejected() {
        let short = LedgerSettings {
            min_projection_basis: Duration::from_millis(500),
            ..LedgerSettings::default()
        };
        let found = problems(&short);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "ledger.min_projection_basis");
        let config = LedgerConfig::from_settings(&LedgerSettings::default()).unwrap();
        assert_eq!(config.min_projection_basis, Duration::from_secs(900));
    }

    #[test]
    fn unknown_time_zone_is_rejected() {
        let bad = LedgerSettings {
            time_zone: "Europe/Berln".to_owned(),
            ..LedgerSettings::default()
        };
        let found = problems(&bad);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "ledger.time_zone");
        assert!(found[0].1.contains("\"Europe/Berln\""), "{}", found[0].1);

        let good = LedgerSettings {
            time_zone: "Asia/Kolkata".to_owned(),
            ..LedgerSettings::default()
        };
        let config = LedgerConfig::from_settings(&good).unwrap();
        assert_eq!(config.time_zone, Tz::Asia__Kolkata);
    }

    #[test]
    fn budget_selectors_match_series_labels() {
        let config = LedgerConfig::from_settings(&settings(
            &["deployment.environment"],
            vec![
                budget("all", 100.0, ""),
                budget("checkout", 50.0, r#"{service_name="checkout"}"#),
                budget(
                    "prod-claude",
                    20.0,
                    r#"{deployment_environment="prod", gen_ai_request_model=~"claude-.*"}"#,
                ),
                budget(
                    "not-search",
                    10.0,
                    r#"{service_name!="search", service_name=~".+"}"#,
                ),
            ],
        ))
        .unwrap();
        let series = [
            ("gen_ai_provider_name", "anthropic"),
            ("gen_ai_request_model", "claude-sonnet-4-5"),
            ("service_name", "checkout"),
            ("deployment_environment", "prod"),
        ];
        let matched: Vec<&str> = config
            .budgets
            .iter()
            .filter(|budget| budget.matches(&series))
            .map(|budget| &*budget.name)
            .collect();
        assert_eq!(matched, ["all", "checkout", "prod-claude", "not-search"]);

        let other = [
            ("gen_ai_provider_name", "openai"),
            ("gen_ai_request_model", "gpt-4o"),
            ("service_name", "search"),
        ];
        let matched: Vec<&str> = config
            .budgets
            .iter()
            .filter(|budget| budget.matches(&other))
            .map(|budget| &*budget.name)
            .collect();
        assert_eq!(matched, ["all"]);
    }

    #[test]
    fn bad_budgets_name_the_field() {
        let cases: &[(Budget, &str, &str)] = &[
            (budget("", 10.0, ""), "ledger.budgets[0].name", "missing"),
            (
                budget("a", 0.0, ""),
                "ledger.budgets[0].amount_usd",
                "positive",
            ),
            (
                budget("a", -5.0, ""),
                "ledger.budgets[0].amount_usd",
                "positive",
            ),
            (
                budget("a", f64::NAN, ""),
                "ledger.budgets[0].amount_usd",
                "positive",
            ),
            (
                budget("a", 1.0, "service_name=checkout"),
                "ledger.budgets[0].selector",
                "not a series selector",
            ),
            (
                budget("a", 1.0, r#"burnrate_llm_cost_usd_total{service_name="x"}"#),
                "ledger.budgets[0].selector",
                "metric name",
            ),
            (
                budget("a", 1.0, r#"{servce_name="x"}"#),
                "ledger.budgets[0].selector",
                "\"servce_name\"",
            ),
            (
                budget("a", 1.0, r#"{service_name!="x"}"#),
                "ledger.budgets[0].selector",
                "non-empty matcher",
            ),
            (
                budget("a", 1.0, r#"{service_name=~"("}"#),
                "ledger.budgets[0].selector",
                "not a series selector",
            ),
            (
                budget("a", 1.0, r#"sum(rate({service_name="x"}[5m]))"#),
                "ledger.budgets[0].selector",
                "not a series selector",
            ),
        ];
        for (budget, path, expected) in cases {
            let found = problems(&settings(&[], vec![budget.clone()]));
            assert_eq!(found.len(), 1, "{budget:?}: {found:?}");
            assert_eq!(found[0].0, *path, "{budget:?}");
            assert!(found[0].1.contains(expected), "{budget:?}: {}", found[0].1);
        }

        let twice = problems(&settings(
            &[],
            vec![budget("team", 1.0, ""), budget("team", 2.0, "")],
        ));
        assert_eq!(twice.len(), 1, "{twice:?}");
        assert_eq!(twice[0].0, "ledger.budgets[1].name");
    }
}
