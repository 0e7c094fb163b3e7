//! Messages shared by all signals: attributes, resources and scopes.

use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde_json::Value;

use super::JsonError;
use super::reader::{Object, Path, base64_bytes, boolean, double, int32, int64, string, uint32};

/// Maximum nesting of `AnyValue`s inside array and kvlist values. An attribute
/// value is at depth 1. The limit bounds the recursion of this decoder on its
/// own. For input from [`super::parse`], serde_json's limit of 128 JSON levels
/// is reached first, at about 40 nested array values.
pub(super) const MAX_ANY_VALUE_DEPTH: usize = 64;

pub(super) fn resource(value: &Value, path: &Path<'_>) -> Result<Resource, JsonError> {
    let object = Object::new(value, path)?;
    Ok(Resource {
        attributes: object.repeated("attributes", "attributes", key_value)?,
        dropped_attributes_count: object.field(
            "droppedAttributesCount",
            "dropped_attributes_count",
            uint32,
        )?,
        entity_refs: object.repeated("entityRefs", "entity_refs", entity_ref)?,
    })
}

fn entity_ref(value: &Value, path: &Path<'_>) -> Result<EntityRef, JsonError> {
    let object = Object::new(value, path)?;
    Ok(EntityRef {
        schema_url: object.field("schemaUrl", "schema_url", string)?,
        r#type: object.field("type", "type", string)?,
        id_keys: object.repeated("idKeys", "id_keys", string)?,
        description_keys: object.repeated("descriptionKeys", "description_keys", string)?,
    })
}

pub(super) fn instrumentation_scope(
    value: &Value,
    path: &Path<'_>,
) -> Result<InstrumentationScope, JsonError> {
    let object = Object::new(value, path)?;
    Ok(InstrumentationScope {
        name: object.field("name", "name", string)?,
        version: object.field("version", "version", string)?,
        attributes: object.repeated("attributes", "attributes", key_value)?,
        dropped_attributes_count: object.field(
            "droppedAttributesCount",
            "dropped_attributes_count",
            uint32,
        )?,
    })
}

/// Decodes an attribute, a `KeyValue` whose value is at depth 1.
pub(super) fn key_value(value: &Value, path: &Path<'_>) -> Result<KeyValue, JsonError> {
    nested_key_value(value, path, 1)
}

/// Decodes a log record body, an `AnyValue` at depth 1.
pub(super) fn any_value(value: &Value, path: &Path<'_>) -> Result<AnyValue, JsonError> {
    nested_any_value(value, path, 1)
}

fn nested_key_value(value: &Value, path: &Path<'_>, depth: usize) -> Result<KeyValue, JsonError> {
    let object = Object::new(value, path)?;
    Ok(KeyValue {
        key: object.field("key", "key", string)?,
        value: object.optional("value", "value", |value, path| {
            nested_any_value(value, path, depth)
        })?,
        key_strindex: object.field("keyStrindex", "key_strindex", int32)?,
    })
}

/// Decodes an `AnyValue` at nesting `depth`. An object with no member set, or
/// with only unknown members, is an empty `AnyValue`.
pub(super) fn nested_any_value(
    value: &Value,
    path: &Path<'_>,
    depth: usize,
) -> Result<AnyValue, JsonError> {
    if depth > MAX_ANY_VALUE_DEPTH {
        return Err(path.error(format!(
            "AnyValue nesting is deeper than the maximum of {MAX_ANY_VALUE_DEPTH} levels"
        )));
    }

    let object = Object::new(value, path)?;
    let Some(member) = object.oneof(&[
        ("stringValue", "string_value"),
        ("boolValue", "bool_value"),
        ("intValue", "int_value"),
        ("doubleValue", "double_value"),
        ("arrayValue", "array_value"),
        ("kvlistValue", "kvlist_value"),
        ("bytesValue", "bytes_value"),
        ("stringValueStrindex", "string_value_strindex"),
    ])?
    else {
        return Ok(AnyValue { value: None });
    };

    let (value, path) = (member.value, &member.path);
    let decoded = match member.name {
        "stringValue" => any_value::Value::StringValue(string(value, path)?),
        "boolValue" => any_value::Value::BoolValue(boolean(value, path)?),
        "intValue" => any_value::Value::IntValue(int64(value, path)?),
        "doubleValue" => any_value::Value::DoubleValue(double(value, path)?),
        "arrayValue" => any_value::Value::ArrayValue(array_value(value, path, depth)?),
        "kvlistValue" => any_value::Value::KvlistValue(kvlist_value(value, path, depth)?),
        "bytesValue" => any_value::Value::BytesValue(base64_bytes(value, path)?),
        // The one member left is `stringValueStrindex`.
        _ => any_value::Value::StringValueStrindex(int32(value, path)?),
    };
    Ok(AnyValue {
        value: Some(decoded),
    })
}

fn array_value(value: &Value, path: &Path<'_>, depth: usize) -> Result<ArrayValue, JsonError> {
    let object = Object::new(value, path)?;
    Ok(ArrayValue {
        values: object.repeated("values", "values", |element, path| {
            nested_any_value(element, path, depth + 1)
        })?,
    })
}

fn kvlist_value(value: &Value, path: &Path<'_>, depth: usize) -> Result<KeyValueList, JsonError> {
    let object = Object::new(value, path)?;
    Ok(KeyValueList {
        values: object.repeated("values", "values", |element, path| {
            nested_key_value(element, path, depth + 1)
        })?,
    })
}
