//! Metric messages: `ExportMetricsServiceRequest` down to the data points of
//! all five metric types and their exemplars.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
use opentelemetry_proto::tonic::metrics::v1::summary_data_point::ValueAtQuantile;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge,
    Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    Summary, SummaryDataPoint, exemplar, metric, number_data_point,
};
use serde_json::Value;

use super::JsonError;
use super::common::{instrumentation_scope, key_value, resource};
use super::reader::{
    Object, Path, boolean, double, enumeration, int32, int64, span_id, string, trace_id, uint32,
    uint64,
};

pub(super) fn export_request(
    value: &Value,
    path: &Path<'_>,
) -> Result<ExportMetricsServiceRequest, JsonError> {
    let object = Object::new(value, path)?;
    Ok(ExportMetricsServiceRequest {
        resource_metrics: object.repeated(
            "resourceMetrics",
            "resource_metrics",
            resource_metrics,
        )?,
    })
}

fn resource_metrics(value: &Value, path: &Path<'_>) -> Result<ResourceMetrics, JsonError> {
    let object = Object::new(value, path)?;
    Ok(ResourceMetrics {
        resource: object.optional("resource", "resource", resource)?,
        scope_metrics: object.repeated("scopeMetrics", "scope_metrics", scope_metrics)?,
        schema_url: object.field("schemaUrl", "schema_url", string)?,
    })
}

fn scope_metrics(value: &Value, path: &Path<'_>) -> Result<ScopeMetrics, JsonError> {
    let object = Object::new(value, path)?;
    Ok(ScopeMetrics {
        scope: object.optional("scope", "scope", instrumentation_scope)?,
        metrics: object.repeated("metrics", "metrics", metric)?,
        schema_url: object.field("schemaUrl", "schema_url", string)?,
    })
}

fn metric(value: &Value, path: &Path<'_>) -> Result<Metric, JsonError> {
    let object = Object::new(value, path)?;
    let data = object.oneof(&[
        ("gauge", "gauge"),
        ("sum", "sum"),
        ("histogram", "histogram"),
        ("exponentialHistogram", "exponential_histogram"),
        ("summary", "summary"),
    ])?;
    let data = match data {
        None => None,
        Some(member) => {
            let (value, path) = (member.value, &member.path);
            Some(match member.name {
                "gauge" => metric::Data::Gauge(gauge(value, path)?),
                "sum" => metric::Data::Sum(sum(value, path)?),
                "histogram" => metric::Data::Histogram(histogram(value, path)?),
                "exponentialHistogram" => {
                    metric::Data::ExponentialHistogram(exponential_histogram(value, path)?)
                }
                // The one member left is `summary`.
                _ => metric::Data::Summary(summary(value, path)?),
            })
        }
    };

    Ok(Metric {
        name: object.field("name", "name", string)?,
        description: object.field("description", "description", string)?,
        unit: object.field("unit", "unit", string)?,
        metadata: object.repeated("metadata", "metadata", key_value)?,
        data,
    })
}

fn aggregation_temporality(value: &Value, path: &Path<'_>) -> Result<i32, JsonError> {
    enumeration(value, path, "AggregationTemporality", |name| {
        AggregationTemporality::from_str_name(name).map(|temporality| temporality as i32)
    })
}

fn gauge(value: &Value, path: &Path<'_>) -> Result<Gauge, JsonError> {
    let object = Object::new(value, path)?;
    Ok(Gauge {
        data_points: object.repeated("dataPoints", "data_points", number_data_point)?,
    })
}

fn sum(value: &Value, path: &Path<'_>) -> Result<Sum, JsonError> {
    let object = Object::new(value, path)?;
    Ok(Sum {
        data_points: object.repeated("dataPoints", "data_points", number_data_point)?,
        aggregation_temporality: object.field(
            "aggregationTemporality",
            "aggregation_temporality",
            aggregation_temporality,
        )?,
        is_monotonic: object.field("isMonotonic", "is_monotonic", boolean)?,
    })
}

fn histogram(value: &Value, path: &Path<'_>) -> Result<Histogram, JsonError> {
    let object = Object::new(value, path)?;
    Ok(Histogram {
        data_points: object.repeated("dataPoints", "data_points", histogram_data_point)?,
        aggregation_temporality: object.field(
            "aggregationTemporality",
            "aggregation_temporality",
            aggregation_temporality,
        )?,
    })
}

fn exponential_histogram(
    value: &Value,
    path: &Path<'_>,
) -> Result<ExponentialHistogram, JsonError> {
    let object = Object::new(value, path)?;
    Ok(ExponentialHistogram {
        data_points: object.repeated(
            "dataPoints",
            "data_points",
            exponential_histogram_data_point,
        )?,
        aggregation_temporality: object.field(
            "aggregationTemporality",
            "aggregation_temporality",
            aggregation_temporality,
        )?,
    })
}

fn summary(value: &Value, path: &Path<'_>) -> Result<Summary, JsonError> {
    let object = Object::new(value, path)?;
    Ok(Summary {
        data_points: object.repeated("dataPoints", "data_points", summary_data_point)?,
    })
}

fn number_data_point(value: &Value, path: &Path<'_>) -> Result<NumberDataPoint, JsonError> {
    let object = Object::new(value, path)?;
    let number = object.oneof(&[("asDouble", "as_double"), ("asInt", "as_int")])?;
    let number = match number {
        None => None,
        Some(member) if member.name == "asDouble" => Some(number_data_point::Value::AsDouble(
            double(member.value, &member.path)?,
        )),
        Some(member) => Some(number_data_point::Value::AsInt(int64(
            member.value,
            &member.path,
        )?)),
    };

    Ok(NumberDataPoint {
        attributes: object.repeated("attributes", "attributes", key_value)?,
        start_time_unix_nano: object.field("startTimeUnixNano", "start_time_unix_nano", uint64)?,
        time_unix_nano: object.field("timeUnixNano", "time_unix_nano", uint64)?,
        exemplars: object.repeated("exemplars", "exemplars", exemplar)?,
        flags: object.field("flags", "flags", uint32)?,
        value: number,
    })
}

fn histogram_data_point(value: &Value, path: &Path<'_>) -> Result<HistogramDataPoint, JsonError> {
    let object = Object::new(value, path)?;
    Ok(HistogramDataPoint {
        attributes: object.repeated("attributes", "attributes", key_value)?,
        start_time_unix_nano: object.field("startTimeUnixNano", "start_time_unix_nano", uint64)?,
        time_unix_nano: object.field("timeUnixNano", "time_unix_nano", uint64)?,
        count: object.field("count", "count", uint64)?,
        sum: object.optional("sum", "sum", double)?,
        bucket_counts: object.repeated("bucketCounts", "bucket_counts", uint64)?,
        explicit_bounds: object.repeated("explicitBounds", "explicit_bounds", double)?,
        exemplars: object.repeated("exemplars", "exemplars", exemplar)?,
        flags: object.field("flags", "flags", uint32)?,
        min: object.optional("min", "min", double)?,
        max: object.optional("max", "max", double)?,
    })
}

fn exponential_histogram_data_point(
    value: &Value,
    path: &Path<'_>,
) -> Result<ExponentialHistogramDataPoint, JsonError> {
    let object = Object::new(value, path)?;
    Ok(ExponentialHistogramDataPoint {
        attributes: object.repeated("attributes", "attributes", key_value)?,
        start_time_unix_nano: object.field("startTimeUnixNano", "start_time_unix_nano", uint64)?,
        time_unix_nano: object.field("timeUnixNano", "time_unix_nano", uint64)?,
        count: object.field("count", "count", uint64)?,
        sum: object.optional("sum", "sum", double)?,
        scale: object.field("scale", "scale", int32)?,
        zero_count: object.field("zeroCount", "zero_count", uint64)?,
        positive: object.optional("positive", "positive", buckets)?,
        negative: object.optional("negative", "negative", buckets)?,
        flags: object.field("flags", "flags", uint32)?,
        exemplars: object.repeated("exemplars", "exemplars", exemplar)?,
        min: object.optional("min", "min", double)?,
        max: object.optional("max", "max", double)?,
        zero_threshold: object.field("zeroThreshold", "zero_threshold", double)?,
    })
}

fn buckets(value: &Value, path: &Path<'_>) -> Result<Buckets, JsonError> {
    let object = Object::new(value, path)?;
    Ok(Buckets {
        offset: object.field("offset", "offset", int32)?,
        bucket_counts: object.repeated("bucketCounts", "bucket_counts", uint64)?,
    })
}

fn summary_data_point(value: &Value, path: &Path<'_>) -> Result<SummaryDataPoint, JsonError> {
    let object = Object::new(value, path)?;
    Ok(SummaryDataPoint {
        attributes: object.repeated("attributes", "attributes", key_value)?,
        start_time_unix_nano: object.field("startTimeUnixNano", "start_time_unix_nano", uint64)?,
        time_unix_nano: object.field("timeUnixNano", "time_unix_nano", uint64)?,
        count: object.field("count", "count", uint64)?,
        sum: object.field("sum", "sum", double)?,
        quantile_values: object.repeated("quantileValues", "quantile_values", value_at_quantile)?,
        flags: object.field("flags", "flags", uint32)?,
    })
}

fn value_at_quantile(value: &Value, path: &Path<'_>) -> Result<ValueAtQuantile, JsonError> {
    let object = Object::new(value, path)?;
    Ok(ValueAtQuantile {
        quantile: object.field("quantile", "quantile", double)?,
        value: object.field("value", "value", double)?,
    })
}

fn exemplar(value: &Value, path: &Path<'_>) -> Result<Exemplar, JsonError> {
    let object = Object::new(value, path)?;
    let number = object.oneof(&[("asDouble", "as_double"), ("asInt", "as_int")])?;
    let number = match number {
        None => None,
        Some(member) if member.name == "asDouble" => Some(exemplar::Value::AsDouble(double(
            member.value,
            &member.path,
        )?)),
        Some(member) => Some(exemplar::Value::AsInt(int64(member.value, &member.path)?)),
    };

    Ok(Exemplar {
        filtered_attributes: object.repeated(
            "filteredAttributes",
            "filtered_attributes",
            key_value,
        )?,
        time_unix_nano: object.field("timeUnixNano", "time_unix_nano", uint64)?,
        span_id: object.field("spanId", "span_id", span_id)?,
        trace_id: object.field("traceId", "trace_id", trace_id)?,
        value: number,
    })
}
