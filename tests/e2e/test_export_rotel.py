"""burnrate forwarding to rotel, a real OTLP collector, over OTLP/gRPC and OTLP/HTTP,
with and without gzip.

The chain is: OpenTelemetry SDK → burnrate → rotel's OTLP receiver → rotel's OTLP/gRPC
exporter → a recording upstream. Every span the SDK finished must arrive once, with its
ids, name, kind, parent, status, events and attributes unchanged.
"""

from __future__ import annotations

import pytest
from opentelemetry.trace import SpanKind, Status, StatusCode

from export_harness import exporter_config, report, settled, wait_for_counts
from otlp_client import run_sdk, sdk_attributes
from rotel_agent import agent_version, start_rotel
from scripted_upstream import GRPC, HTTP, ScriptedUpstream

FORWARD_TIMEOUT_SECONDS = 20
SPANS_PER_TRACE = 4
TRACES = 5


def emit_traces(tracer) -> None:
    """Emit TRACES traces of a server span with client children, with attributes of every type."""
    for trace_index in range(TRACES):
        with tracer.start_as_current_span(
            f"handle order {trace_index}",
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": "POST",
                "order.index": trace_index,
                "order.total": 12.5 * (trace_index + 1),
                "order.express": trace_index % 2 == 0,
                "order.items": ["book", "pen"],
                "order.quantities": [1, 2, 3],
            },
        ) as parent:
            parent.add_event("order received", {"queue.depth": trace_index})
            for child_index in range(SPANS_PER_TRACE - 1):
                with tracer.start_as_current_span(
                    f"call inventory {child_index}",
                    kind=SpanKind.CLIENT,
                    attributes={
                        "peer.service": "inventory",
                        "retry.count": child_index,
                    },
                ) as child:
                    if child_index == 1:
                        child.set_status(Status(StatusCode.ERROR, "out of stock"))


def otlp_status_code(span) -> str:
    """Return the span status as upstream.flatten_spans writes it (MessageToDict of Status)."""
    names = {
        StatusCode.UNSET: "STATUS_CODE_UNSET",
        StatusCode.OK: "STATUS_CODE_OK",
        StatusCode.ERROR: "STATUS_CODE_ERROR",
    }
    return names[span.status.status_code]


@pytest.fixture(scope="module")
def rotel_version() -> str:
    version = agent_version()
    report("rotel", version=repr(version))
    return version


@pytest.mark.parametrize("compression", ["none", "gzip"])
@pytest.mark.parametrize("protocol", [GRPC, HTTP])
def test_rotel_receives_every_span_unchanged(
    burnrate_launcher, tmp_path, rotel_version, protocol, compression
):
    final_upstream = ScriptedUpstream(GRPC).start()
    rotel = start_rotel(tmp_path / "rotel", final_upstream.endpoint_url, "grpc")
    try:
        rotel_url = rotel.grpc_url if protocol == GRPC else rotel.http_url
        burnrate = burnrate_launcher(
            [exporter_config(rotel_url, protocol, compression=compression)]
        )
        run = run_sdk(burnrate.grpc_endpoint, "rotel-chain", emit_traces)

        assert run.export_results, "the SDK exported nothing"
        assert all(result.name == "SUCCESS" for result in run.export_results), (
            f"burnrate did not acknowledge every SDK export: {run.export_results}"
        )
        sent = len(run.spans)
        assert sent == TRACES * SPANS_PER_TRACE

        delivered_ids = final_upstream.wait_for_spans(sent, FORWARD_TIMEOUT_SECONDS)
        counts = wait_for_counts(burnrate, settled, FORWARD_TIMEOUT_SECONDS)
        delivered = final_upstream.delivered_spans()
        report(
            f"rotel {protocol} compression={compression}",
            sdk_spans=sent,
            delivered=len(delivered),
            distinct=len(delivered_ids),
            counts=counts.summary(),
        )
        assert counts.sent == sent, f"burnrate counters: {counts.summary()}"
        assert counts.failed_total == 0, f"burnrate counters: {counts.summary()}"
        assert len(delivered) == sent, (
            f"{len(delivered)} spans reached the upstream through rotel for {sent} sent; "
            f"rotel output:\n{rotel.output()}"
        )
        assert len(delivered_ids) == sent, "some span arrived twice"

        by_id = {span["span_id"]: span for span in delivered}
        for span in run.spans:
            span_id = format(span.context.span_id, "016x")
            received = by_id.get(span_id)
            assert received is not None, f"span {span.name} ({span_id}) did not arrive"
            parent_id = format(span.parent.span_id, "016x") if span.parent else ""
            assert received["trace_id"] == format(span.context.trace_id, "032x")
            assert received["parent_span_id"] == parent_id
            assert received["name"] == span.name
            assert received["kind"] == span.kind.value + 1, (
                "OTLP span kinds are the SDK's plus 1"
            )
            assert received["attributes"] == sdk_attributes(span)
            assert received["events"] == [event.name for event in span.events]
            assert received["status"].get(
                "code", "STATUS_CODE_UNSET"
            ) == otlp_status_code(span)
            assert received["resource"].get("service.name") == "rotel-chain"
    finally:
        rotel.stop()
        final_upstream.stop()
