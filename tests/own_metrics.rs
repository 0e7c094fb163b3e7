#![allow(clippy::unwrap_used)]

//! burnrate sends its ledger's metrics over OTLP to the exporters that take
//! metrics, on an interval and once more at shutdown.

mod support;

use std::time::Duration;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point;
use prost::Message as _;

use support::client::GrpcClient;
use support::otlp;
use support::process::{Burnrate, Settings};
use support::upstream::Upstream;
use support::{Signal, wait_until};

fn llm_span_request() -> Vec<u8> {
    let attributes = vec![
        otlp::string_attribute("gen_ai.provider.name", "openai"),
        otlp::string_attribute("gen_ai.request.model", "gpt-4o-mini"),
        otlp::int_attribute("gen_ai.usage.input_tokens", 1000),
        otlp::int_attribute("gen_ai.usage.output_tokens", 100),
    ];
    let span = otlp::span(
        otlp::trace_id(1),
        otlp::span_id(1),
        "openai.chat",
        attributes,
    );
    otlp::traces("search", vec![span]).encode_to_vec()
}

/// Returns the `ok` count of `burnrate.llm.requests` in a metrics request, if
/// present.
fn ok_requests(request: &ExportMetricsServiceRequest) -> Option<i64> {
    let metric = request
        .resource_metrics
        .iter()
        .flat_map(|resource| &resource.scope_metrics)
        .flat_map(|scope| &scope.metrics)
        .find(|metric| metric.name == "burnrate.llm.requests")?;
    let Some(Data::Sum(sum)) = &metric.data else {
        return None;
    };
    sum.data_points.iter().find_map(|point| {
        let ok = point.attributes.iter().any(|attribute| {
            attribute.key == "outcome"
                && attribute
                    .value
                    .as_ref()
                    .and_then(|value| value.value.as_ref())
                    == Some(&Value::StringValue("ok".to_owned()))
        });
        match (ok, point.value) {
            (true, Some(number_data_point::Value::AsInt(count))) => Some(count),
            _ => None,
        }
    })
}

fn metrics_requests(upstream: &Upstream) -> Vec<ExportMetricsServiceRequest> {
    upstream
        .received()
        .into_iter()
        .filter(|received| received.signal == Signal::Metrics)
        .map(|received| ExportMetricsServiceRequest::decode(received.body).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ledger_metrics_reach_upstream_over_otlp() {
    let upstream = Upstream::start().await;
    let mut settings = Settings::new(upstream.address);
    settings.own_metrics_interval = Some("200ms");
    let mut burnrate = Burnrate::start(&settings).await;

    let mut client = GrpcClient::connect(burnrate.grpc).await;
    client
        .export(Signal::Traces, &llm_span_request())
        .await
        .unwrap();

    let arrived = wait_until(Duration::from_secs(20), || async {
        metrics_requests(&upstream)
            .iter()
            .any(|request| ok_requests(request) == Some(1))
    })
    .await;
    let before_stop = metrics_requests(&upstream).len();
    let status = burnrate.stop();
    let log = burnrate.log();

    assert!(
        arrived,
        "no metrics request with burnrate.llm.requests = 1 arrived; log:\n{log}"
    );
    assert_eq!(status.and_then(|status| status.code()), Some(0), "{log}");
    assert!(
        metrics_requests(&upstream).len() > before_stop,
        "a last metrics export is sent at shutdown; log:\n{log}"
    );
    let last = metrics_requests(&upstream).pop().unwrap();
    let resource = last.resource_metrics[0].resource.as_ref().unwrap();
    let service = resource
        .attributes
        .iter()
        .find(|attribute| attribute.key == "service.name")
        .unwrap();
    assert_eq!(
        service.value.as_ref().unwrap().value,
        Some(Value::StringValue("burnrate".to_owned()))
    );
}
