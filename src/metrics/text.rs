//! A writer for the Prometheus text exposition format (version 0.0.4), and
//! the sink interface that the metric families are rendered through.

use std::fmt::Write;

/// Receives metric families as they are rendered: the text exposition, or a
/// collector of samples for rule evaluation.
pub trait MetricSink {
    /// Starts a metric family with its type and help text.
    fn family(&mut self, name: &str, kind: &str, help: &str);

    /// Takes one sample; `labels` are (name, value) pairs.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64);

    /// Takes the `_bucket`, `_sum` and `_count` samples of a histogram.
    /// `counts` are per bucket, not cumulative, with one more than `bounds`.
    fn histogram(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        bounds: &[f64],
        counts: &[u64],
        sum: f64,
    ) {
        let bucket_name = format!("{name}_bucket");
        let mut cumulative = 0;
        for (index, count) in counts.iter().enumerate() {
            cumulative += count;
            let mut bound_text = String::new();
            match bounds.get(index) {
                Some(bound) => push_float(&mut bound_text, *bound),
                None => bound_text.push_str("+Inf"),
            }
            let mut with_le: Vec<(&str, &str)> = labels.to_vec();
            with_le.push(("le", &bound_text));
            self.sample(&bucket_name, &with_le, cumulative as f64);
        }
        self.sample(&format!("{name}_sum"), labels, sum);
        self.sample(&format!("{name}_count"), labels, cumulative as f64);
    }
}

pub struct TextWriter {
    output: String,
}

impl TextWriter {
    pub fn new() -> TextWriter {
        TextWriter {
            output: String::with_capacity(16 * 1024),
        }
    }

    pub fn finish(self) -> String {
        self.output
    }
}

impl MetricSink for TextWriter {
    /// Starts a metric family with its `# HELP` and `# TYPE` lines.
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        // Writing to a String cannot fail.
        let _ = writeln!(self.output, "# HELP {name} {help}");
        let _ = writeln!(self.output, "# TYPE {name} {kind}");
    }

    /// Writes one sample; `labels` are (name, value) pairs.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.output.push_str(name);
        if !labels.is_empty() {
            self.output.push('{');
            for (index, (label, label_value)) in labels.iter().enumerate() {
                if index > 0 {
                    self.output.push(',');
                }
                self.output.push_str(label);
                self.output.push_str("=\"");
                push_escaped(&mut self.output, label_value);
                self.output.push('"');
            }
            self.output.push('}');
        }
        self.output.push(' ');
        push_float(&mut self.output, value);
        self.output.push('\n');
    }
}

fn push_escaped(output: &mut String, value: &str) {
    for character in value.chars() {
        match character {
            '\\' => output.push_str("\\\\"),
            '"' => output.push_str("\\\""),
            '\n' => output.push_str("\\n"),
            other => output.push(other),
        }
    }
}

fn push_float(output: &mut String, value: f64) {
    if value.is_nan() {
        output.push_str("NaN");
    } else if value.is_infinite() {
        output.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(output, "{value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut writer = TextWriter::new();
        writer.sample("m", &[("a", "x\"y\\z\nw")], 1.5);
        assert_eq!(writer.finish(), "m{a=\"x\\\"y\\\\z\\nw\"} 1.5\n");
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let mut writer = TextWriter::new();
        writer.histogram("h", &[("k", "v")], &[1.0, 2.5], &[1, 0, 2], 9.0);
        let expected = "h_bucket{k=\"v\",le=\"1\"} 1\n\
                        h_bucket{k=\"v\",le=\"2.5\"} 1\n\
                        h_bucket{k=\"v\",le=\"+Inf\"} 3\n\
                        h_sum{k=\"v\"} 9\n\
                        h_count{k=\"v\"} 3\n";
        assert_eq!(writer.finish(), expected);
    }

    #[test]
    fn special_floats() {
        let mut writer = TextWriter::new();
        writer.sample("a", &[], f64::NAN);
        writer.sample("b", &[], f64::INFINITY);
        assert_eq!(writer.finish(), "a NaN\nb +Inf\n");
    }
}
