//! A parser for the Prometheus text format that burnrate serves, and the
//! changes of counters between two scrapes.

use std::collections::BTreeMap;

/// One scrape.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    /// Each sample's value by its series, written as `name{label="value",...}`
    /// with the labels sorted by name.
    pub samples: BTreeMap<String, f64>,
    parsed: Vec<Sample>,
}

#[derive(Clone, Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

impl Metrics {
    /// Parses the Prometheus text exposition format. Panics on a line that
    /// is not a comment, blank, or a sample.
    pub fn parse(text: &str) -> Metrics {
        let mut samples = BTreeMap::new();
        let mut parsed = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, labels, rest) = split_sample(line);
            let value = rest
                .split_whitespace()
                .next()
                .unwrap_or_else(|| panic!("sample without a value: {line}"));
            let value = parse_value(value).unwrap_or_else(|| panic!("invalid value in: {line}"));
            samples.insert(series_from_owned(name, &labels), value);
            parsed.push(Sample {
                name: name.to_owned(),
                labels: labels.into_iter().collect(),
                value,
            });
        }
        Metrics { samples, parsed }
    }

    /// Returns the value of one series, or `None` when burnrate does not
    /// serve it.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples.get(&series(name, labels)).copied()
    }

    /// Returns the value of one series, or 0 when burnrate does not serve
    /// it, because a counter that was never incremented may be absent.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels).unwrap_or(0.0)
    }

    /// Sums the series of family `name` whose labels include all of
    /// `labels`.
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.parsed
            .iter()
            .filter(|sample| sample.name == name)
            .filter(|sample| {
                labels.iter().all(|(label, value)| {
                    sample.labels.get(*label).map(String::as_str) == Some(value)
                })
            })
            .map(|sample| sample.value)
            .sum()
    }
}

/// Returns the series whose names start with `prefix` and whose values
/// differ between `before` and `after`, with the difference. A series absent
/// from a scrape counts as 0.
pub fn changes(before: &Metrics, after: &Metrics, prefix: &str) -> BTreeMap<String, f64> {
    let mut keys: Vec<&String> = before.samples.keys().collect();
    keys.extend(after.samples.keys());
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|key| key.starts_with(prefix))
        .filter_map(|key| {
            let old = before.samples.get(key).copied().unwrap_or(0.0);
            let new = after.samples.get(key).copied().unwrap_or(0.0);
            (new != old).then(|| (key.clone(), new - old))
        })
        .collect()
}

/// Writes a series key: `name{a="x",b="y"}` with the labels sorted, or `name`
/// without labels. Label values are written with the exposition format's
/// escapes.
pub fn series(name: &str, labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return name.to_owned();
    }
    let mut sorted: Vec<(&str, &str)> = labels.to_vec();
    sorted.sort();
    let rendered: Vec<String> = sorted
        .iter()
        .map(|(label, value)| {
            let escaped = value
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{label}=\"{escaped}\"")
        })
        .collect();
    format!("{name}{{{}}}", rendered.join(","))
}

/// Splits a sample line into its name, its labels (unescaped) and the text
/// after them.
fn split_sample(line: &str) -> (&str, Vec<(String, String)>, &str) {
    let name_end = line
        .find(|character: char| character == '{' || character.is_whitespace())
        .unwrap_or_else(|| panic!("sample without a value: {line}"));
    let name = &line[..name_end];
    if !line[name_end..].starts_with('{') {
        return (name, Vec::new(), &line[name_end..]);
    }

    let mut labels = Vec::new();
    let mut characters = line[name_end + 1..].char_indices();
    let mut label = String::new();
    loop {
        let (index, character) = characters
            .next()
            .unwrap_or_else(|| panic!("unterminated labels in: {line}"));
        match character {
            '}' => return (name, labels, &line[name_end + 1 + index + 1..]),
            ',' | ' ' => {}
            '=' => {
                let Some((_, '"')) = characters.next() else {
                    panic!("label value without quotes in: {line}");
                };
                let mut value = String::new();
                loop {
                    let (_, character) = characters
                        .next()
                        .unwrap_or_else(|| panic!("unterminated label value in: {line}"));
                    match character {
                        '"' => break,
                        '\\' => match characters.next() {
                            Some((_, 'n')) => value.push('\n'),
                            Some((_, escaped)) => value.push(escaped),
                            None => panic!("unterminated escape in: {line}"),
                        },
                        other => value.push(other),
                    }
                }
                labels.push((std::mem::take(&mut label), value));
            }
            other => label.push(other),
        }
    }
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => text.parse().ok(),
    }
}

fn series_from_owned(name: &str, labels: &[(String, String)]) -> String {
    let borrowed: Vec<(&str, &str)> = labels
        .iter()
        .map(|(label, value)| (label.as_str(), value.as_str()))
        .collect();
    series(name, &borrowed)
}
