//! Field lookup and scalar conversion shared by the per-signal decoders.
//!
//! Every reader takes the JSON value and its [`Path`] and returns a
//! [`JsonError`] that names the path when the value does not fit the field.

use std::fmt::Display;

use serde_json::{Map, Number, Value};

use super::JsonError;

/// One step from a JSON value to a value nested in it.
#[derive(Clone, Copy)]
enum Step<'a> {
    Field(&'a str),
    Index(usize),
}

/// Location of a value in the JSON document. Each path borrows its parent, so
/// descending costs no allocation and the path text is built only for an error.
#[derive(Clone, Copy)]
pub(super) struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    step: Option<Step<'a>>,
}

impl<'a> Path<'a> {
    /// The document itself.
    pub(super) const ROOT: Path<'static> = Path {
        parent: None,
        step: None,
    };

    pub(super) fn field(&'a self, name: &'a str) -> Path<'a> {
        Path {
            parent: Some(self),
            step: Some(Step::Field(name)),
        }
    }

    pub(super) fn index(&'a self, index: usize) -> Path<'a> {
        Path {
            parent: Some(self),
            step: Some(Step::Index(index)),
        }
    }

    pub(super) fn error(&self, message: impl Into<String>) -> JsonError {
        JsonError {
            path: self.render(),
            message: message.into(),
        }
    }

    /// Renders the path as `a[0].b`, walking the parents in a loop.
    fn render(&self) -> String {
        let mut steps = Vec::new();
        let mut current = Some(self);
        while let Some(path) = current {
            if let Some(step) = path.step {
                steps.push(step);
            }
            current = path.parent;
        }

        let mut text = String::new();
        for step in steps.iter().rev() {
            match step {
                Step::Field(name) => {
                    if !text.is_empty() {
                        text.push('.');
                    }
                    text.push_str(name);
                }
                Step::Index(index) => {
                    text.push('[');
                    text.push_str(&index.to_string());
                    text.push(']');
                }
            }
        }
        text
    }
}

/// A JSON object that represents one protobuf message.
pub(super) struct Object<'a> {
    fields: &'a Map<String, Value>,
    path: &'a Path<'a>,
}

impl<'a> Object<'a> {
    /// Views `value` as a message, or fails when it is not a JSON object.
    pub(super) fn new(value: &'a Value, path: &'a Path<'a>) -> Result<Self, JsonError> {
        match value {
            Value::Object(fields) => Ok(Object { fields, path }),
            other => Err(path.error(format!("expected an object, found {}", describe(other)))),
        }
    }

    /// Finds a field by its lowerCamelCase JSON name or its original proto
    /// field name. Returns `None` when the field is absent or `null`, because
    /// the proto3 JSON mapping reads `null` as the field's default value.
    fn find(
        &self,
        json_name: &'static str,
        proto_name: &'static str,
    ) -> Result<Option<(&'a Value, Path<'a>)>, JsonError> {
        let by_json_name = self.fields.get_key_value(json_name);
        let by_proto_name = if proto_name == json_name {
            None
        } else {
            self.fields.get_key_value(proto_name)
        };

        let (key, value) = match (by_json_name, by_proto_name) {
            (Some(_), Some((key, _))) => {
                return Err(self.path.field(key).error(format!(
                    "duplicates `{json_name}`; set the field under one name only"
                )));
            }
            (Some(entry), None) | (None, Some(entry)) => entry,
            (None, None) => return Ok(None),
        };

        if value.is_null() {
            return Ok(None);
        }
        Ok(Some((value, self.path.field(key))))
    }

    /// Decodes a field that may be absent, such as a message or a proto3
    /// `optional` scalar.
    pub(super) fn optional<T>(
        &self,
        json_name: &'static str,
        proto_name: &'static str,
        decode: impl FnOnce(&'a Value, &Path<'_>) -> Result<T, JsonError>,
    ) -> Result<Option<T>, JsonError> {
        match self.find(json_name, proto_name)? {
            Some((value, path)) => decode(value, &path).map(Some),
            None => Ok(None),
        }
    }

    /// Decodes a field, using the type's default value when it is absent.
    pub(super) fn field<T: Default>(
        &self,
        json_name: &'static str,
        proto_name: &'static str,
        decode: impl FnOnce(&'a Value, &Path<'_>) -> Result<T, JsonError>,
    ) -> Result<T, JsonError> {
        Ok(self
            .optional(json_name, proto_name, decode)?
            .unwrap_or_default())
    }

    /// Decodes a repeated field from a JSON array. An absent field is an
    /// empty list, and a `null` element is an error.
    pub(super) fn repeated<T>(
        &self,
        json_name: &'static str,
        proto_name: &'static str,
        decode_element: impl Fn(&'a Value, &Path<'_>) -> Result<T, JsonError>,
    ) -> Result<Vec<T>, JsonError> {
        let Some((value, path)) = self.find(json_name, proto_name)? else {
            return Ok(Vec::new());
        };
        let Value::Array(elements) = value else {
            return Err(path.error(format!("expected an array, found {}", describe(value))));
        };

        let mut decoded = Vec::with_capacity(elements.len());
        for (index, element) in elements.iter().enumerate() {
            decoded.push(decode_element(element, &path.index(index))?);
        }
        Ok(decoded)
    }

    /// Finds the one member of a `oneof` that is set. `members` lists
    /// (JSON name, proto name) pairs, and the returned member carries its JSON
    /// name. Setting two non-null members is an error, because a oneof has
    /// at most one value.
    pub(super) fn oneof(
        &self,
        members: &[(&'static str, &'static str)],
    ) -> Result<Option<OneofMember<'a>>, JsonError> {
        let mut found: Option<OneofMember<'a>> = None;
        for &(json_name, proto_name) in members {
            let Some((value, path)) = self.find(json_name, proto_name)? else {
                continue;
            };
            if let Some(first) = &found {
                return Err(path.error(format!(
                    "cannot be set together with `{}`; set only one of them",
                    first.name
                )));
            }
            found = Some(OneofMember {
                name: json_name,
                value,
                path,
            });
        }
        Ok(found)
    }
}

/// The member of a `oneof` that a JSON object sets.
pub(super) struct OneofMember<'a> {
    /// lowerCamelCase JSON name, even when the object used the proto name.
    pub(super) name: &'static str,
    pub(super) value: &'a Value,
    pub(super) path: Path<'a>,
}

/// Quotes a string from the request for an error message, escaped and cut
/// to its first 64 characters so that a huge value cannot bloat the message.
fn quote(text: &str) -> String {
    const MAX_QUOTED_CHARS: usize = 64;
    match text.char_indices().nth(MAX_QUOTED_CHARS) {
        Some((cut, _)) => format!("{:?}... ({} bytes)", &text[..cut], text.len()),
        None => format!("{text:?}"),
    }
}

/// Names the JSON type of `value` for error messages.
fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(super) fn string(value: &Value, path: &Path<'_>) -> Result<String, JsonError> {
    match value {
        Value::String(text) => Ok(text.clone()),
        other => Err(path.error(format!("expected a string, found {}", describe(other)))),
    }
}

/// Reads a bool. The proto3 JSON mapping allows only `true` and `false`.
pub(super) fn boolean(value: &Value, path: &Path<'_>) -> Result<bool, JsonError> {
    match value {
        Value::Bool(flag) => Ok(*flag),
        other => Err(path.error(format!("expected true or false, found {}", describe(other)))),
    }
}

/// Reads a `fixed64` or `uint64` field.
pub(super) fn uint64(value: &Value, path: &Path<'_>) -> Result<u64, JsonError> {
    integer(value, path, u64::MIN, u64::MAX)
}

/// Reads an `int64`, `sint64` or `sfixed64` field.
pub(super) fn int64(value: &Value, path: &Path<'_>) -> Result<i64, JsonError> {
    integer(value, path, i64::MIN, i64::MAX)
}

/// Reads a `fixed32` or `uint32` field.
pub(super) fn uint32(value: &Value, path: &Path<'_>) -> Result<u32, JsonError> {
    integer(value, path, u32::MIN, u32::MAX)
}

/// Reads an `int32`, `sint32` or `sfixed32` field.
pub(super) fn int32(value: &Value, path: &Path<'_>) -> Result<i32, JsonError> {
    integer(value, path, i32::MIN, i32::MAX)
}

/// Reads an integer given as a JSON number or a decimal string, the two forms
/// the proto3 JSON mapping accepts. `min` and `max` only name the range in the
/// error message.
fn integer<T>(value: &Value, path: &Path<'_>, min: T, max: T) -> Result<T, JsonError>
where
    T: TryFrom<i128> + Display,
{
    let wide = match value {
        Value::Number(number) => number_to_integer(number, path)?,
        Value::String(text) => decimal_string_to_integer(text, path)?,
        other => {
            return Err(path.error(format!(
                "expected an integer as a number or a decimal string, found {}",
                describe(other)
            )));
        }
    };
    T::try_from(wide)
        .map_err(|_| path.error(format!("{wide} is out of range; expected {min} to {max}")))
}

/// 2^53: f64 represents every integer of at most this magnitude exactly.
const MAX_EXACT_F64_INTEGER: f64 = 9_007_199_254_740_992.0;

fn number_to_integer(number: &Number, path: &Path<'_>) -> Result<i128, JsonError> {
    if let Some(unsigned) = number.as_u64() {
        return Ok(i128::from(unsigned));
    }
    if let Some(signed) = number.as_i64() {
        return Ok(i128::from(signed));
    }

    // serde_json stores numbers written with a fraction or an exponent, and
    // integers beyond the u64 range, as f64. Such a number is accepted when it
    // is an exact integer, such as `1e3` or `5.0`.
    let float = number.as_f64().unwrap_or(f64::NAN);
    if float.fract() != 0.0 || !float.is_finite() {
        return Err(path.error(format!("expected an integer, found {number}")));
    }
    if float.abs() > MAX_EXACT_F64_INTEGER {
        return Err(path.error(format!(
            "{number} is too large to be read exactly from a JSON number; \
             send it as a decimal string"
        )));
    }
    // The checks above make the value integral and at most 2^53 in magnitude,
    // so the cast is exact.
    Ok(float as i128)
}

fn decimal_string_to_integer(text: &str, path: &Path<'_>) -> Result<i128, JsonError> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(path.error(format!(
            "expected a decimal integer string, found {}",
            quote(text)
        )));
    }
    // A string of more than 38 digits overflows i128. Such a value is out of
    // range for every protobuf integer type anyway.
    text.parse::<i128>()
        .map_err(|_| path.error(format!("{text} is out of range for a 64-bit integer")))
}

/// Reads a double from a JSON number, a numeric string, or one of the strings
/// "NaN", "Infinity" and "-Infinity".
pub(super) fn double(value: &Value, path: &Path<'_>) -> Result<f64, JsonError> {
    match value {
        Value::Number(number) => number
            .as_f64()
            .ok_or_else(|| path.error(format!("{number} is not representable as a double"))),
        Value::String(text) => match text.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            _ => numeric_string_to_double(text, path),
        },
        other => Err(path.error(format!(
            "expected a number or one of \"NaN\", \"Infinity\", \"-Infinity\", found {}",
            describe(other)
        ))),
    }
}

/// Parses a string that contains a JSON number. Rust's own float parser would
/// also accept "inf" and "nan", which the proto3 JSON mapping does not.
fn numeric_string_to_double(text: &str, path: &Path<'_>) -> Result<f64, JsonError> {
    let has_number_characters = !text.is_empty()
        && text
            .bytes()
            .all(|byte| byte.is_ascii_digit() || b"+-.eE".contains(&byte));
    let parsed = if has_number_characters {
        serde_json::from_str::<f64>(text).ok()
    } else {
        None
    };
    parsed.ok_or_else(|| {
        path.error(format!(
            "expected a number or one of \"NaN\", \"Infinity\", \"-Infinity\", found {}",
            quote(text)
        ))
    })
}

/// Reads an enum given as its integer value or its value name, such as
/// `SPAN_KIND_SERVER`. Unknown integers are kept, because proto3 enums are
/// open, but unknown names are errors.
pub(super) fn enumeration(
    value: &Value,
    path: &Path<'_>,
    enum_name: &str,
    from_name: impl Fn(&str) -> Option<i32>,
) -> Result<i32, JsonError> {
    match value {
        Value::String(name) => from_name(name)
            .ok_or_else(|| path.error(format!("unknown {enum_name} value {}", quote(name)))),
        Value::Number(_) => int32(value, path),
        other => Err(path.error(format!(
            "expected a {enum_name} as an integer or a value name, found {}",
            describe(other)
        ))),
    }
}

/// Reads a 16-byte trace id.
pub(super) fn trace_id(value: &Value, path: &Path<'_>) -> Result<Vec<u8>, JsonError> {
    hex_id(value, path, 16)
}

/// Reads an 8-byte span id.
pub(super) fn span_id(value: &Value, path: &Path<'_>) -> Result<Vec<u8>, JsonError> {
    hex_id(value, path, 8)
}

/// Reads an id written as case-insensitive hex, as OTLP/JSON requires in place
/// of the proto3 mapping's base64. An empty string is an empty (unset) id.
fn hex_id(value: &Value, path: &Path<'_>, byte_len: usize) -> Result<Vec<u8>, JsonError> {
    let Value::String(text) = value else {
        return Err(path.error(format!("expected a hex string, found {}", describe(value))));
    };
    if text.is_empty() {
        return Ok(Vec::new());
    }

    let digit_count = byte_len * 2;
    if let Some(bad) = text.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(path.error(format!(
            "expected {digit_count} hex digits, found non-hex character {bad:?} in {}",
            quote(text)
        )));
    }
    if text.len() != digit_count {
        return Err(path.error(format!(
            "expected {digit_count} hex digits, found {} in {}",
            text.len(),
            quote(text)
        )));
    }

    let mut bytes = Vec::with_capacity(byte_len);
    for pair in text.as_bytes().chunks_exact(2) {
        bytes.push(hex_digit_value(pair[0]) << 4 | hex_digit_value(pair[1]));
    }
    Ok(bytes)
}

/// Converts an ASCII hex digit to its value. Callers check the digit first.
fn hex_digit_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        b'A'..=b'F' => digit - b'A' + 10,
        _ => 0,
    }
}

/// Reads a `bytes` field written as base64. As in the proto3 JSON mapping,
/// both the standard and the URL-safe alphabet are accepted (a string with
/// `-` or `_` is read as URL-safe), with or without `=` padding.
pub(super) fn base64_bytes(value: &Value, path: &Path<'_>) -> Result<Vec<u8>, JsonError> {
    let Value::String(text) = value else {
        return Err(path.error(format!(
            "expected a base64 string, found {}",
            describe(value)
        )));
    };

    if let Some((offset, character)) = text.char_indices().find(|(_, c)| !c.is_ascii()) {
        return Err(path.error(format!(
            "invalid base64: unexpected character {character:?} at byte offset {offset}"
        )));
    }

    let url_safe = text.contains(['-', '_']);
    // Padding is valid only when it completes the last group of four.
    let data = if text.len() % 4 == 0 {
        text.strip_suffix("==")
            .or_else(|| text.strip_suffix('='))
            .unwrap_or(text)
    } else {
        text.as_str()
    };
    if data.len() % 4 == 1 {
        return Err(path.error(format!(
            "invalid base64: {} has a length that no encoding produces",
            quote(text)
        )));
    }

    let mut bytes = Vec::with_capacity(data.len() * 3 / 4);
    let mut buffer: u32 = 0;
    let mut buffered_bits = 0;
    for (offset, character) in data.char_indices() {
        let Some(sextet) = base64_sextet(character, url_safe) else {
            return Err(path.error(format!(
                "invalid base64: unexpected character {character:?} at byte offset {offset}"
            )));
        };
        buffer = (buffer << 6) | sextet;
        buffered_bits += 6;
        if buffered_bits >= 8 {
            buffered_bits -= 8;
            bytes.push((buffer >> buffered_bits) as u8);
            buffer &= (1 << buffered_bits) - 1;
        }
    }
    // Leftover bits of a final partial group carry no data and are ignored.
    Ok(bytes)
}

fn base64_sextet(character: char, url_safe: bool) -> Option<u32> {
    match character {
        'A'..='Z' => Some(u32::from(character) - u32::from('A')),
        'a'..='z' => Some(u32::from(character) - u32::from('a') + 26),
        '0'..='9' => Some(u32::from(character) - u32::from('0') + 52),
        '+' if !url_safe => Some(62),
        '/' if !url_safe => Some(63),
        '-' if url_safe => Some(62),
        '_' if url_safe => Some(63),
        _ => None,
    }
}
