//! A checker for the Prometheus text exposition format, version 0.0.4, as
//! described in the Prometheus documentation ("Exposition formats"). It is
//! strict where burnrate's writer has a choice, so that broken label escaping,
//! repeated series, negative counters and inconsistent histograms show up as
//! fuzzing failures.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

/// Label pairs of one sample, sorted by label name.
type Labels = Vec<(String, String)>;

/// Panics with the reason, the line number and the whole text when `text` is
/// not a valid exposition.
pub fn assert_valid(text: &str) {
    if let Err(problem) = check(text) {
        panic!("invalid Prometheus exposition: {problem}\n--- exposition ---\n{text}");
    }
}

/// Checks `text` and returns the first problem found.
pub fn check(text: &str) -> Result<(), String> {
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("the text does not end with a newline".to_owned());
    }
    let mut checker = Checker::default();
    for (index, line) in text.lines().enumerate() {
        checker
            .line(line)
            .map_err(|problem| format!("line {}: {problem}: {line:?}", index + 1))?;
    }
    checker.finish()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
    Summary,
    Untyped,
}

impl Kind {
    fn parse(text: &str) -> Option<Kind> {
        match text {
            "counter" => Some(Kind::Counter),
            "gauge" => Some(Kind::Gauge),
            "histogram" => Some(Kind::Histogram),
            "summary" => Some(Kind::Summary),
            "untyped" => Some(Kind::Untyped),
            _ => None,
        }
    }
}

/// One histogram series: its `_bucket` samples in order and its `_count`.
#[derive(Default)]
struct HistogramSeries {
    /// (upper bound `le`, cumulative count) in the order written.
    buckets: Vec<(f64, f64)>,
    count: Option<f64>,
}

#[derive(Default)]
struct Checker {
    /// The family of the last `# TYPE` line, which the samples that follow
    /// belong to.
    family: Option<(String, Kind)>,
    typed_families: BTreeSet<String>,
    described_families: BTreeSet<String>,
    series: BTreeSet<(String, Labels)>,
    /// Histogram series by (family name, labels without `le`).
    histograms: BTreeMap<(String, Labels), HistogramSeries>,
}

impl Checker {
    fn line(&mut self, line: &str) -> Result<(), String> {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            return self.help(rest);
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            return self.type_line(rest);
        }
        if line.starts_with('#') {
            // Any other comment line is allowed and ignored.
            return Ok(());
        }
        if line.is_empty() {
            return Err("empty line".to_owned());
        }
        self.sample(line)
    }

    fn help(&mut self, rest: &str) -> Result<(), String> {
        let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
        check_metric_name(name)?;
        if !self.described_families.insert(name.to_owned()) {
            return Err(format!("second HELP line for `{name}`"));
        }
        // HELP text escapes only backslash and newline.
        let mut characters = help.chars();
        while let Some(character) = characters.next() {
            if character == '\\' {
                match characters.next() {
                    Some('\\' | 'n') => {}
                    other => return Err(format!("invalid escape `\\{other:?}` in HELP text")),
                }
            }
        }
        Ok(())
    }

    fn type_line(&mut self, rest: &str) -> Result<(), String> {
        let Some((name, kind)) = rest.split_once(' ') else {
            return Err("TYPE line without a type".to_owned());
        };
        check_metric_name(name)?;
        let kind = Kind::parse(kind).ok_or_else(|| format!("unknown metric type `{kind}`"))?;
        if !self.typed_families.insert(name.to_owned()) {
            return Err(format!(
                "second TYPE line for `{name}`; a family must be written in one block"
            ));
        }
        self.family = Some((name.to_owned(), kind));
        Ok(())
    }

    fn sample(&mut self, line: &str) -> Result<(), String> {
        let (name, labels, value) = parse_sample(line)?;
        let Some((family, kind)) = self.family.clone() else {
            return Err(format!("sample `{name}` before any TYPE line"));
        };
        let suffix = name
            .strip_prefix(family.as_str())
            .ok_or_else(|| format!("sample `{name}` outside its family, after `{family}`"))?;
        let allowed_suffixes: &[&str] = match kind {
            Kind::Histogram => &["_bucket", "_sum", "_count"],
            Kind::Summary => &["", "_sum", "_count"],
            Kind::Counter | Kind::Gauge | Kind::Untyped => &[""],
        };
        if !allowed_suffixes.contains(&suffix) {
            return Err(format!(
                "sample `{name}` does not belong to {kind:?} family `{family}`"
            ));
        }
        if !self.series.insert((name.to_owned(), labels.clone())) {
            return Err("repeated series".to_owned());
        }

        if kind == Kind::Counter && (value.is_nan() || value < 0.0) {
            return Err(format!("counter value {value} is negative or NaN"));
        }
        if kind == Kind::Histogram {
            self.histogram_sample(family, suffix, labels, value)?;
        }
        Ok(())
    }

    fn histogram_sample(
        &mut self,
        family: String,
        suffix: &str,
        mut labels: Labels,
        value: f64,
    ) -> Result<(), String> {
        let le = labels
            .iter()
            .position(|(label, _)| label == "le")
            .map(|index| labels.remove(index).1);
        match (suffix, le) {
            ("_bucket", Some(le)) => {
                let bound = parse_value(&le).map_err(|problem| format!("`le`: {problem}"))?;
                self.histograms
                    .entry((family, labels))
                    .or_default()
                    .buckets
                    .push((bound, value));
                Ok(())
            }
            ("_bucket", None) => Err("histogram bucket without an `le` label".to_owned()),
            (_, Some(_)) => Err("`le` label outside a histogram bucket".to_owned()),
            ("_count", None) => {
                self.histograms.entry((family, labels)).or_default().count = Some(value);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Checks what needs the whole text: the histograms' buckets and counts.
    fn finish(self) -> Result<(), String> {
        for ((family, labels), histogram) in &self.histograms {
            let describe = || format!("histogram `{family}` with labels {labels:?}");
            let Some(&(last_bound, last_count)) = histogram.buckets.last() else {
                return Err(format!("{} has no buckets", describe()));
            };
            if last_bound != f64::INFINITY {
                return Err(format!("{} has no `le=\"+Inf\"` bucket last", describe()));
            }
            for pair in histogram.buckets.windows(2) {
                let ((bound, count), (next_bound, next_count)) = (pair[0], pair[1]);
                if bound.partial_cmp(&next_bound) != Some(Ordering::Less) {
                    return Err(format!("{}: bucket bounds not increasing", describe()));
                }
                if !matches!(
                    count.partial_cmp(&next_count),
                    Some(Ordering::Less | Ordering::Equal)
                ) {
                    return Err(format!("{}: bucket counts not cumulative", describe()));
                }
            }
            if histogram.count != Some(last_count) {
                return Err(format!(
                    "{}: `_count` {:?} differs from the +Inf bucket {last_count}",
                    describe(),
                    histogram.count
                ));
            }
        }
        Ok(())
    }
}

/// Splits a sample line into its metric name, sorted labels and value.
fn parse_sample(line: &str) -> Result<(&str, Labels, f64), String> {
    let name_end = line.find(['{', ' ']).ok_or("sample without a value")?;
    let (name, mut rest) = line.split_at(name_end);
    check_metric_name(name)?;

    let mut labels = Labels::new();
    if let Some(after_brace) = rest.strip_prefix('{') {
        rest = parse_labels(after_brace, &mut labels)?;
    }
    let value_text = rest
        .strip_prefix(' ')
        .ok_or("expected one space before the value")?;
    if value_text.contains(' ') {
        return Err("unexpected text after the value".to_owned());
    }
    let value = parse_value(value_text)?;

    labels.sort();
    for pair in labels.windows(2) {
        if pair[0].0 == pair[1].0 {
            return Err(format!("label `{}` repeated", pair[0].0));
        }
    }
    Ok((name, labels, value))
}

/// Parses `name="value",...}` and returns the text after the closing brace.
fn parse_labels<'a>(mut rest: &'a str, labels: &mut Labels) -> Result<&'a str, String> {
    if let Some(after) = rest.strip_prefix('}') {
        return Ok(after);
    }
    loop {
        let (label, after_name) = rest.split_once("=\"").ok_or("label without `=\"`")?;
        check_label_name(label)?;
        let (value, after_value) = parse_label_value(after_name)?;
        labels.push((label.to_owned(), value));
        if let Some(after) = after_value.strip_prefix('}') {
            return Ok(after);
        }
        rest = after_value
            .strip_prefix(',')
            .ok_or("expected `,` or `}` after a label value")?;
    }
}

/// Reads an escaped label value up to its closing quote and returns the
/// unescaped value and the text after the quote.
fn parse_label_value(text: &str) -> Result<(String, &str), String> {
    let mut value = String::new();
    let mut characters = text.char_indices();
    while let Some((index, character)) = characters.next() {
        match character {
            '"' => return Ok((value, &text[index + 1..])),
            '\\' => match characters.next() {
                Some((_, '\\')) => value.push('\\'),
                Some((_, '"')) => value.push('"'),
                Some((_, 'n')) => value.push('\n'),
                other => {
                    return Err(format!(
                        "invalid escape {:?} in a label value",
                        other.map(|(_, c)| c)
                    ));
                }
            },
            other => value.push(other),
        }
    }
    Err("label value without a closing quote".to_owned())
}

fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "NaN" => Ok(f64::NAN),
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => {
            // Rust also reads `inf` and `nan`, which Prometheus does not write.
            let numeric = text
                .bytes()
                .all(|byte| byte.is_ascii_digit() || b"+-.eE".contains(&byte));
            match text.parse::<f64>() {
                Ok(value) if numeric => Ok(value),
                _ => Err(format!("invalid sample value `{text}`")),
            }
        }
    }
}

/// Metric names match `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn check_metric_name(name: &str) -> Result<(), String> {
    check_name(name, true).map_err(|()| format!("invalid metric name `{name}`"))
}

/// Label names match `[a-zA-Z_][a-zA-Z0-9_]*`, and names that start with
/// `__` are reserved for Prometheus itself.
fn check_label_name(name: &str) -> Result<(), String> {
    if name.starts_with("__") {
        return Err(format!("reserved label name `{name}`"));
    }
    check_name(name, false).map_err(|()| format!("invalid label name `{name}`"))
}

fn check_name(name: &str, allow_colon: bool) -> Result<(), ()> {
    let allowed =
        |byte: u8| byte.is_ascii_alphanumeric() || byte == b'_' || (allow_colon && byte == b':');
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(first) if allowed(first) && !first.is_ascii_digit() => {}
        _ => return Err(()),
    }
    if bytes.all(allowed) { Ok(()) } else { Err(()) }
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn accepts_valid_text() {
        let text = "# HELP c_total Calls, with a \\\\ and a \\n.\n\
                    # TYPE c_total counter\n\
                    c_total{model=\"a\\\"b\\nc\",service=\"s\"} 3\n\
                    c_total{model=\"x\",service=\"s\"} 0\n\
                    # TYPE g gauge\n\
                    g -1.5\n\
                    # TYPE h histogram\n\
                    h_bucket{k=\"v\",le=\"1\"} 1\n\
                    h_bucket{k=\"v\",le=\"+Inf\"} 3\n\
                    h_sum{k=\"v\"} 9\n\
                    h_count{k=\"v\"} 3\n";
        assert_eq!(check(text), Ok(()));
    }

    #[test]
    fn rejects_broken_text() {
        let cases = [
            "# TYPE c counter\nc{a=\"x\ny\"} 1\n",
            "# TYPE c counter\nc{a=\"x\"} 1\nc{a=\"x\"} 2\n",
            "# TYPE c counter\nc -1\n",
            "# TYPE c counter\nc NaN\n",
            "# TYPE c counter\nd 1\n",
            "# TYPE c counter\nc{a=\"\\t\"} 1\n",
            "# TYPE c counter\nc{__a=\"x\"} 1\n",
            "# TYPE c counter\nc inf\n",
            "# TYPE c counter\nc 1",
            "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
            "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 1\n",
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 1\n",
        ];
        for text in cases {
            assert!(check(text).is_err(), "accepted {text:?}");
        }
    }
}
