"""Captured credential headers on spans never reach the upstream, while other attributes do.

The client sets the captured-header attributes itself, in the spellings that
instrumentations write: dashes (the semantic conventions), underscores (Python), other
letter case, one-element string arrays and plain strings, on the span and on a span
event. The spans go in through each receiver path: the OpenTelemetry SDK over gRPC,
and raw OTLP/HTTP requests as protobuf and as OTLP/JSON.
"""

from __future__ import annotations

import json
import urllib.request

import pytest
from google.protobuf.json_format import MessageToDict

from export_harness import (
    exporter_config,
    metric,
    report,
    scrape,
    settled,
    wait_for_counts,
)
from otlp_client import (
    HttpSender,
    build_request,
    key_values,
    run_sdk,
    sdk_attributes,
)
from scripted_upstream import GRPC, ScriptedUpstream

DELIVERY_TIMEOUT_SECONDS = 15
SPANS = 3
SECRET_MARK = "sk-secret"
CREDENTIAL_ATTRIBUTES = {
    "http.request.header.x-api-key": [f"{SECRET_MARK}-dash"],
    "http.request.header.x_api_key": [f"{SECRET_MARK}-underscore"],
    "http.request.header.X-Api-Key": f"{SECRET_MARK}-mixed-case",
    "http.request.header.authorization": [f"Bearer {SECRET_MARK}-authorization"],
}
KEPT_ATTRIBUTES = {
    "http.request.header.anthropic-version": ["2023-06-01"],
    # A different header whose name starts with a credential header's name.
    "http.request.header.x-api-key-id": ["key-7"],
    "http.response.header.x-ratelimit-remaining-tokens": ["9000"],
    "http.request.method": "POST",
    "gen_ai.request.model": "claude-sonnet-4-5",
}
EVENT_NAME = "retry"
EVENT_ATTRIBUTES = {
    "http.request.header.x-api-key": f"{SECRET_MARK}-event",
    "retry.attempt": 2,
}
# Per span: every credential attribute, and the one on the event.
REMOVED_PER_SPAN = len(CREDENTIAL_ATTRIBUTES) + 1


def send_with_sdk(burnrate) -> dict[str, dict]:
    def emit(tracer) -> None:
        for index in range(SPANS):
            with tracer.start_as_current_span(f"llm call {index}") as span:
                span.set_attributes({**CREDENTIAL_ATTRIBUTES, **KEPT_ATTRIBUTES})
                span.add_event(EVENT_NAME, EVENT_ATTRIBUTES)

    run = run_sdk(burnrate.grpc_endpoint, "credentials", emit)
    assert all(result.name == "SUCCESS" for result in run.export_results), (
        run.export_results
    )
    return {
        format(span.context.span_id, "016x"): sdk_attributes(span) for span in run.spans
    }


def raw_request(run: str):
    request = build_request(
        run, 0, SPANS, attributes={**CREDENTIAL_ATTRIBUTES, **KEPT_ATTRIBUTES}
    )
    for span in request.resource_spans[0].scope_spans[0].spans:
        event = span.events.add(
            name=EVENT_NAME, time_unix_nano=span.start_time_unix_nano
        )
        event.attributes.extend(key_values(EVENT_ATTRIBUTES))
    return request


def expected_attributes(request) -> dict[str, dict]:
    """Return the attributes of each span of a raw request, without the credential headers."""
    expected = {}
    for span in request.resource_spans[0].scope_spans[0].spans:
        attributes = {attribute.key: attribute for attribute in span.attributes}
        expected[span.span_id.hex()] = {
            "test.run": attributes["test.run"].value.string_value,
            "test.request": attributes["test.request"].value.int_value,
            "test.span": attributes["test.span"].value.int_value,
            **KEPT_ATTRIBUTES,
        }
    return expected


def send_http_protobuf(burnrate) -> dict[str, dict]:
    request = raw_request("credentials-http-protobuf")
    result = HttpSender(burnrate.http_url).send(request)
    assert result.accepted, f"burnrate refused the request: HTTP {result.status}"
    return expected_attributes(request)


def send_http_json(burnrate) -> dict[str, dict]:
    """Send the request as OTLP/JSON, whose trace and span ids are hex strings."""
    request = raw_request("credentials-http-json")
    body = MessageToDict(request)
    json_spans = body["resourceSpans"][0]["scopeSpans"][0]["spans"]
    messages = request.resource_spans[0].scope_spans[0].spans
    for json_span, message in zip(json_spans, messages, strict=True):
        json_span["traceId"] = message.trace_id.hex()
        json_span["spanId"] = message.span_id.hex()
    http_request = urllib.request.Request(
        burnrate.http_url + "/v1/traces",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(http_request, timeout=10) as response:
        status = response.status
        answer = json.loads(response.read() or b"{}")
    assert status == 200
    assert "partialSuccess" not in answer, f"burnrate rejected spans: {answer}"
    return expected_attributes(request)


@pytest.mark.parametrize(
    "send",
    [send_with_sdk, send_http_protobuf, send_http_json],
    ids=["sdk-grpc", "http-protobuf", "http-json"],
)
def test_credential_headers_removed(burnrate_launcher, send):
    upstream = ScriptedUpstream(GRPC).start()
    try:
        burnrate = burnrate_launcher([exporter_config(upstream.endpoint_url, GRPC)])
        expected = send(burnrate)
        delivered_ids = upstream.wait_for_spans(len(expected), DELIVERY_TIMEOUT_SECONDS)
        counts = wait_for_counts(burnrate, settled, DELIVERY_TIMEOUT_SECONDS)
        removed = metric(scrape(burnrate), "burnrate_processing_removed_headers_total")
    finally:
        upstream.stop()

    delivered = upstream.delivered_spans()
    leaked_bodies = [
        attempt.number
        for attempt in upstream.attempts()
        if SECRET_MARK.encode() in attempt.body
    ]
    report(
        f"credentials {send.__name__}",
        spans=len(expected),
        delivered=len(delivered),
        removed_headers_metric=removed,
        requests_with_secret=leaked_bodies,
        counts=counts.summary(),
    )

    assert delivered_ids == set(expected)
    assert len(delivered) == len(expected), "some span arrived twice"
    assert not leaked_bodies, (
        f"a credential value reached the upstream in attempts {leaked_bodies}"
    )
    for span in delivered:
        leaked = sorted(
            key for key in span["attributes"] if key in CREDENTIAL_ATTRIBUTES
        )
        assert not leaked, f"span {span['name']} kept credential attributes {leaked}"
        expected_kept = {
            key: value
            for key, value in expected[span["span_id"]].items()
            if key not in CREDENTIAL_ATTRIBUTES
        }
        assert span["attributes"] == expected_kept
        assert span["events"] == [EVENT_NAME]
    assert removed == REMOVED_PER_SPAN * len(expected)
