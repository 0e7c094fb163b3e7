//! The subset of Go's text/template that Prometheus rule labels and
//! annotations use: `{{ $labels.name }}`, `{{ $value }}`, pipelines into the
//! humanize functions, and `printf`.

use std::collections::BTreeMap;
use std::fmt::Write;

/// The functions a template may call.
const FUNCTIONS: &[&str] = &[
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "printf",
    "toUpper",
    "toLower",
    "title",
];

/// Go template actions, which the subset does not take.
const ACTIONS: &[&str] = &[
    "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
];

/// A parsed template.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq)]
enum Part {
    Text(String),
    /// Commands joined by '|': each result is the last argument of the next.
    Action(Vec<Command>),
}

#[derive(Clone, Debug, PartialEq)]
enum Command {
    Operand(Operand),
    Call {
        function: String,
        args: Vec<Operand>,
    },
}

#[derive(Clone, Debug, PartialEq)]
enum Operand {
    Value,
    Label(String),
    Text(String),
    Number(f64),
}

/// The data a template is rendered with: the alert's labels and value.
pub struct TemplateData<'a> {
    pub labels: &'a BTreeMap<String, String>,
    pub value: f64,
}

#[derive(Clone, Debug)]
enum Datum {
    Number(f64),
    Text(String),
}

impl Datum {
    fn text(&self) -> String {
        match self {
            Datum::Number(number) => format_number(*number),
            Datum::Text(text) => text.clone(),
        }
    }

    fn number(&self) -> Result<f64, String> {
        match self {
            Datum::Number(number) => Ok(*number),
            Datum::Text(text) => text
                .trim()
                .parse()
                .map_err(|_| format!("{text:?} is not a number")),
        }
    }
}

impl Template {
    /// Parses `text`, rejecting constructs outside the supported subset by name.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            let mut literal = &rest[..start];
            let mut action = &rest[start + 2..];
            if let Some(trimmed) = action.strip_prefix('-') {
                literal = literal.trim_end();
                action = trimmed;
            }
            let end = action
                .find("}}")
                .ok_or_else(|| "an action opened with {{ is not closed with }}".to_owned())?;
            let mut inner = &action[..end];
            rest = &action[end + 2..];
            if let Some(trimmed) = inner.strip_suffix('-') {
                inner = trimmed;
                rest = rest.trim_start();
            }
            if !literal.is_empty() {
                parts.push(Part::Text(literal.to_owned()));
            }
            parts.push(Part::Action(parse_pipeline(inner.trim())?));
        }
        if rest.contains("}}") {
            return Err("}} without a matching {{".to_owned());
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Template { parts })
    }

    /// Renders the template. A function that fails, such as `humanize` of a
    /// word, renders an error text in place, as Prometheus renders its
    /// template errors into the annotation.
    pub fn render(&self, data: &TemplateData<'_>) -> String {
        let mut output = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => output.push_str(text),
                Part::Action(commands) => match run_pipeline(commands, data) {
                    Ok(datum) => output.push_str(&datum.text()),
                    Err(reason) => {
                        let _ = write!(output, "<error: {reason}>");
                    }
                },
            }
        }
        output
    }
}

fn parse_pipeline(text: &str) -> Result<Vec<Command>, String> {
    if text.is_empty() {
        return Err("empty action {{ }}".to_owned());
    }
    let mut commands = Vec::new();
    for (index, command) in split_outside_quotes(text, '|').into_iter().enumerate() {
        let words = split_words(command.trim())?;
        let Some(first) = words.first() else {
            return Err(format!("empty command in {{{{ {text} }}}}"));
        };
        if FUNCTIONS.contains(&first.as_str()) {
            let args = words[1..]
                .iter()
                .map(|word| parse_operand(word))
                .collect::<Result<Vec<_>, _>>()?;
            commands.push(Command::Call {
                function: first.clone(),
                args,
            });
        } else if words.len() == 1 && index == 0 {
            commands.push(Command::Operand(parse_operand(first)?));
        } else if ACTIONS.contains(&first.as_str()) {
            return Err(format!(
                "the `{first}` action is not supported; templates take $labels, $value and pipelines into {}",
                FUNCTIONS.join(", ")
            ));
        } else if is_identifier(first) {
            return Err(format!(
                "function `{first}` is not supported; use one of {}",
                FUNCTIONS.join(", ")
            ));
        } else {
            return Err(format!("cannot read {{{{ {text} }}}}"));
        }
    }
    Ok(commands)
}

fn parse_operand(word: &str) -> Result<Operand, String> {
    if word == "$value" || word == ".Value" {
        return Ok(Operand::Value);
    }
    for prefix in ["$labels.", ".Labels."] {
        if let Some(name) = word.strip_prefix(prefix) {
            return Ok(Operand::Label(name.to_owned()));
        }
    }
    if let Some(text) = word
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    {
        return Ok(Operand::Text(unescape(text)));
    }
    if let Some(text) = word
        .strip_prefix('`')
        .and_then(|rest| rest.strip_suffix('`'))
    {
        return Ok(Operand::Text(text.to_owned()));
    }
    if let Ok(number) = word.parse::<f64>() {
        return Ok(Operand::Number(number));
    }
    Err(format!(
        "`{word}` is not supported; use $value, $labels.<name>, a quoted string or a number"
    ))
}

fn run_pipeline(commands: &[Command], data: &TemplateData<'_>) -> Result<Datum, String> {
    let mut previous: Option<Datum> = None;
    for command in commands {
        let datum = match command {
            Command::Operand(operand) => operand_value(operand, data),
            Command::Call { function, args } => {
                let mut values: Vec<Datum> =
                    args.iter().map(|arg| operand_value(arg, data)).collect();
                values.extend(previous.take());
                call(function, &values)?
            }
        };
        previous = Some(datum);
    }
    previous.ok_or_else(|| "empty pipeline".to_owned())
}

fn operand_value(operand: &Operand, data: &TemplateData<'_>) -> Datum {
    match operand {
        Operand::Value => Datum::Number(data.value),
        Operand::Label(name) => Datum::Text(data.labels.get(name).cloned().unwrap_or_default()),
        Operand::Text(text) => Datum::Text(text.clone()),
        Operand::Number(number) => Datum::Number(*number),
    }
}

fn call(function: &str, args: &[Datum]) -> Result<Datum, String> {
    let single = || -> Result<&Datum, String> {
        match args {
            [only] => Ok(only),
            _ => Err(format!("{function} takes one argument, got {}", args.len())),
        }
    };
    Ok(match function {
        "humanize" => Datum::Text(humanize(single()?.number()?)),
        "humanize1024" => Datum::Text(humanize_1024(single()?.number()?)),
        "humanizeDuration" => Datum::Text(humanize_duration(single()?.number()?)),
        "humanizePercentage" => {
            Datum::Text(format!("{}%", format_g(single()?.number()? * 100.0, 4)))
        }
        "humanizeTimestamp" => Datum::Text(humanize_timestamp(single()?.number()?)),
        "toUpper" => Datum::Text(single()?.text().to_uppercase()),
        "toLower" => Datum::Text(single()?.text().to_lowercase()),
        "title" => Datum::Text(title(&single()?.text())),
        _ => {
            let (format, rest) = args
                .split_first()
                .ok_or_else(|| "printf needs a format".to_owned())?;
            Datum::Text(printf(&format.text(), rest)?)
        }
    })
}

/// Formats a number with SI prefixes and 4 significant digits: `1.235k`,
/// `12m`.
pub fn humanize(value: f64) -> String {
    if value == 0.0 || !value.is_finite() {
        return format_g(value, 4);
    }
    let (mut value, mut prefix) = (value, "");
    if value.abs() >= 1.0 {
        for next in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if value.abs() < 1000.0 {
                break;
            }
            value /= 1000.0;
            prefix = next;
        }
    } else {
        for next in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if value.abs() >= 1.0 {
                break;
            }
            value *= 1000.0;
            prefix = next;
        }
    }
    format!("{}{prefix}", format_g(value, 4))
}

fn humanize_1024(value: f64) -> String {
    if value.abs() <= 1.0 || !value.is_finite() {
        return format_g(value, 4);
    }
    let (mut value, mut prefix) = (value, "");
    for next in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if value.abs() < 1024.0 {
            break;
        }
        value /= 1024.0;
        prefix = next;
    }
    format!("{}{prefix}", format_g(value, 4))
}

/// Formats seconds as `1d 2h 3m 4s`, or in ms, us or ns below a second.
pub fn humanize_duration(seconds: f64) -> String {
    if !seconds.is_finite() {
        return format_g(seconds, 4);
    }
    if seconds == 0.0 {
        return "0s".to_owned();
    }
    if seconds.abs() >= 1.0 {
        let sign = if seconds < 0.0 { "-" } else { "" };
        let whole = seconds.abs() as u64;
        let (days, hours) = (whole / 86_400, whole / 3_600 % 24);
        let (minutes, rest) = (whole / 60 % 60, whole % 60);
        return if days > 0 {
            format!("{sign}{days}d {hours}h {minutes}m {rest}s")
        } else if hours > 0 {
            format!("{sign}{hours}h {minutes}m {rest}s")
        } else if minutes > 0 {
            format!("{sign}{minutes}m {rest}s")
        } else {
            // Under a minute, 4 significant digits, as Prometheus shows them.
            format!("{sign}{}s", format_g(seconds.abs(), 4))
        };
    }
    let mut value = seconds;
    let mut prefix = "";
    for next in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if value.abs() >= 1.0 {
            break;
        }
        prefix = next;
        value *= 1000.0;
    }
    format!("{}{prefix}s", format_g(value, 4))
}

/// Formats seconds since the Unix epoch as Go prints a UTC time:
/// `2026-12-04 10:15:00.5 +0000 UTC`, with trailing zeros of the fraction
/// removed.
fn humanize_timestamp(seconds: f64) -> String {
    if !seconds.is_finite() {
        return format_g(seconds, 4);
    }
    let time = chrono::DateTime::from_timestamp_nanos((seconds * 1e9) as i64);
    let mut text = time.format("%Y-%m-%d %H:%M:%S").to_string();
    let nanos = time.timestamp_subsec_nanos();
    if nanos > 0 {
        let fraction = format!("{nanos:09}");
        text.push('.');
        text.push_str(fraction.trim_end_matches('0'));
    }
    text.push_str(" +0000 UTC");
    text
}

fn title(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Formats like Go's `%.{precision}g`: the shortest form with at most
/// `precision` significant digits, in exponent form for very large or small
/// values.
pub fn format_g(value: f64, precision: usize) -> String {
    if value.is_nan() {
        return "NaN".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    if value == 0.0 {
        return "0".to_owned();
    }
    let exponent_form = format!("{:.*e}", precision - 1, value);
    let (mantissa, exponent) = exponent_form
        .split_once('e')
        .unwrap_or((&exponent_form, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if exponent < -4 || exponent >= precision as i32 {
        let mantissa = trim_zeros(mantissa);
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.abs());
    }
    let decimals = (precision as i32 - 1 - exponent).max(0) as usize;
    trim_zeros(&format!("{value:.decimals$}")).to_owned()
}

fn trim_zeros(number: &str) -> &str {
    if number.contains('.') {
        number.trim_end_matches('0').trim_end_matches('.')
    } else {
        number
    }
}

/// Formats a number as Go's `%v` does: the shortest digits that read back
/// as the same value, in exponent form below 1e-4 and from 1e6 on.
fn format_number(value: f64) -> String {
    if !value.is_finite() || value == 0.0 {
        return format_g(value, 4);
    }
    let shortest = format!("{value:e}");
    let (mantissa, exponent) = shortest.split_once('e').unwrap_or((&shortest, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..6).contains(&exponent) {
        format!("{value}")
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    }
}

/// Formats `args` by the verbs of `format`: `%s`, `%v`, `%d`, `%f`, `%g`,
/// `%e`, each with an optional precision such as `%.2f`, and `%%`.
fn printf(format: &str, args: &[Datum]) -> Result<String, String> {
    let mut output = String::new();
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            output.push(c);
            continue;
        }
        let mut precision = String::new();
        if chars.peek() == Some(&'.') {
            chars.next();
            while let Some(digit) = chars.peek().filter(|c| c.is_ascii_digit()) {
                precision.push(*digit);
                chars.next();
            }
        }
        let verb = chars.next().ok_or_else(|| "format ends in %".to_owned())?;
        if verb == '%' {
            output.push('%');
            continue;
        }
        let arg = args
            .next()
            .ok_or_else(|| format!("printf has no argument for %{verb}"))?;
        let digits: Option<usize> = precision.parse().ok();
        match verb {
            's' | 'v' => output.push_str(&arg.text()),
            'd' => {
                let _ = write!(output, "{}", arg.number()?.trunc() as i64);
            }
            'f' => {
                let _ = write!(output, "{:.*}", digits.unwrap_or(6), arg.number()?);
            }
            'e' => {
                let _ = write!(output, "{:.*e}", digits.unwrap_or(6), arg.number()?);
            }
            'g' => {
                let number = arg.number()?;
                match digits {
                    Some(digits) => output.push_str(&format_g(number, digits.max(1))),
                    None => output.push_str(&format_number(number)),
                }
            }
            other => return Err(format!("printf verb %{other} is not supported")),
        }
    }
    Ok(output)
}

fn split_outside_quotes(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quote: Option<char> = None;
    for (index, c) in text.char_indices() {
        match quote {
            Some(open) if c == open => quote = None,
            Some(_) => {}
            None if c == '"' || c == '`' => quote = Some(c),
            None if c == separator => {
                parts.push(&text[start..index]);
                start = index + c.len_utf8();
            }
            None => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

fn split_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut word = String::new();
        if c == '"' || c == '`' {
            word.push(c);
            chars.next();
            let mut closed = false;
            while let Some(next) = chars.next() {
                word.push(next);
                if next == '\\' && c == '"' {
                    if let Some(escaped) = chars.next() {
                        word.push(escaped);
                    }
                    continue;
                }
                if next == c {
                    closed = true;
                    break;
                }
            }
            if !closed {
                return Err(format!("unterminated string in {{{{ {text} }}}}"));
            }
        } else {
            while let Some(&next) = chars.peek() {
                if next.is_whitespace() {
                    break;
                }
                word.push(next);
                chars.next();
            }
        }
        words.push(word);
    }
    Ok(words)
}

fn unescape(text: &str) -> String {
    text.replace("\\\"", "\"")
        .replace("\\n", "\n")
        .replace("\\\\", "\\")
}

fn is_identifier(word: &str) -> bool {
    word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(text: &str, value: f64) -> String {
        let labels: BTreeMap<String, String> = [("service_name", "checkout"), ("limit", "tokens")]
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        let template = Template::parse(text).unwrap_or_else(|error| panic!("{text}: {error}"));
        template.render(&TemplateData {
            labels: &labels,
            value,
        })
    }

    #[test]
    fn labels_value_and_functions() {
        let cases: &[(&str, f64, &str)] = &[
            ("plain text", 1.0, "plain text"),
            (
                "{{ $labels.service_name }} uses {{ $value }}",
                0.5,
                "checkout uses 0.5",
            ),
            ("{{ .Labels.limit }}={{ .Value }}", 3.0, "tokens=3"),
            ("{{ $labels.missing }}|", 1.0, "|"),
            ("{{ $value | humanizePercentage }}", 0.8523, "85.23%"),
            ("{{ $value | humanize }}", 1234567.0, "1.235M"),
            ("{{ $value | humanize }}", 0.012, "12m"),
            ("{{ $value | humanize }}", 0.0, "0"),
            ("{{ $value | humanize1024 }}", 2048.0, "2ki"),
            ("{{ $value | humanizeDuration }}", 93784.0, "1d 2h 3m 4s"),
            ("{{ $value | humanizeDuration }}", 90.0, "1m 30s"),
            ("{{ $value | humanizeDuration }}", 0.25, "250ms"),
            ("{{ $value | humanizeDuration }}", 12.7, "12.7s"),
            ("{{ $value | humanizeDuration }}", 3600.0, "1h 0m 0s"),
            ("{{ $value | humanizeDuration }}", 1e-10, "100ps"),
            (
                "{{ $value | humanizeTimestamp }}",
                1_765_000_000.5,
                "2025-12-06 05:46:40.5 +0000 UTC",
            ),
            ("{{ $value }}", 0.85, "0.85"),
            ("{{ $value }}", 0.1, "0.1"),
            ("{{ $value }}", 12.7, "12.7"),
            ("{{ $value }}", 1_500_000.0, "1.5e+06"),
            ("{{ $value }}", 123_456.0, "123456"),
            ("{{ $value }}", 0.00001, "1e-05"),
            (r#"{{ printf "%g" $value }}"#, 0.85, "0.85"),
            ("{{ $value | humanizeDuration }}", 0.0, "0s"),
            ("{{ humanize $value }}", 1500.0, "1.5k"),
            (r#"{{ printf "%.2f" $value }} USD"#, 12.3456, "12.35 USD"),
            (
                r#"{{ printf "%s at %d%%" $labels.limit $value }}"#,
                91.7,
                "tokens at 91%",
            ),
            ("{{ $labels.service_name | toUpper }}", 0.0, "CHECKOUT"),
            ("{{ \"spend is high\" | title }}", 0.0, "Spend Is High"),
            ("a {{- $value -}} b", 7.0, "a7b"),
            ("{{ $value }}", 1e21, "1e+21"),
        ];
        for (text, value, expected) in cases {
            assert_eq!(render(text, *value), *expected, "{text}");
        }
    }

    #[test]
    fn unsupported_templates_are_rejected_by_name() {
        let cases = [
            ("{{ $value", "not closed"),
            ("{{ }}", "empty action"),
            (
                "{{ if $value }}x{{ end }}",
                "the `if` action is not supported",
            ),
            ("{{ query \"up\" }}", "function `query`"),
            (
                "{{ $externalLabels.x }}",
                "`$externalLabels.x` is not supported",
            ),
            ("{{ printf \"%.2f }}", "unterminated string"),
            ("value }}", "without a matching"),
        ];
        for (text, expected) in cases {
            let error = Template::parse(text).unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    #[test]
    fn failing_function_renders_an_error_in_place() {
        let text = render("{{ $labels.limit | humanize }}", 0.0);
        assert_eq!(text, "<error: \"tokens\" is not a number>");
    }

    #[test]
    fn format_g_matches_go() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (1234.5, "1234"),
            (12345.0, "1.234e+04"),
            (0.0001234, "0.0001234"),
            (0.00001234, "1.234e-05"),
            (99.99, "99.99"),
            (-2.5, "-2.5"),
            (f64::NAN, "NaN"),
        ];
        for (value, expected) in cases {
            assert_eq!(format_g(*value, 4), *expected, "{value}");
        }
    }
}
