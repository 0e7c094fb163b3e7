//! Matching of PromQL label matchers, shared by budgets, notifiers and the
//! rule history.

use promql_parser::label::Matcher;

/// Returns whether every matcher matches its label's value. `value_of`
/// returns a label's value, and a label it does not find reads as empty, as
/// in PromQL.
pub fn all_match<'a>(matchers: &[Matcher], value_of: impl Fn(&str) -> Option<&'a str>) -> bool {
    matchers
        .iter()
        .all(|matcher| matcher.is_match(value_of(&matcher.name).unwrap_or_default()))
}
