"""OTLP trace clients for the export tests: raw requests with known span ids, senders for
burnrate's two receivers, and the OpenTelemetry SDK with its OTLP/gRPC exporter.

Span ids of raw requests are derived from a run name and an index, so a test can compute
every id it sent without recording anything, and two tests never send the same id.
"""

from __future__ import annotations

import hashlib
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

import grpc
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1 import (
    trace_service_pb2,
    trace_service_pb2_grpc,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

SEND_TIMEOUT_SECONDS = 10.0


def _digest(text: str, size: int) -> bytes:
    return hashlib.sha256(text.encode()).digest()[:size]


def span_id_of(run: str, request_index: int, span_index: int) -> str:
    """Return the hex span id that `build_request` gives a span."""
    return _digest(f"{run}/{request_index}/{span_index}", 8).hex()


def _any_value(value) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, list):
        result = AnyValue()
        result.array_value.values.extend(_any_value(item) for item in value)
        return result
    return AnyValue(string_value=str(value))


def key_values(attributes: dict) -> list[KeyValue]:
    """Convert Python attribute values (str, bool, int, float, list) to OTLP key-values."""
    return [
        KeyValue(key=key, value=_any_value(value)) for key, value in attributes.items()
    ]


def build_request(
    run: str,
    request_index: int,
    span_count: int,
    attributes: dict | None = None,
    padding_bytes: int = 0,
) -> trace_service_pb2.ExportTraceServiceRequest:
    """Build one request of `span_count` spans in one trace.

    Every span carries `test.run`, `test.request` and `test.span`, plus `attributes`.
    `padding_bytes` > 0 adds a `test.padding` string of that length to each span, to
    make the request large.
    """
    request = trace_service_pb2.ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(
        KeyValue(key="service.name", value=AnyValue(string_value="export-test"))
    )
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "burnrate.e2e.export"
    trace_id = _digest(f"{run}/{request_index}", 16)
    start_ns = time.time_ns()
    for span_index in range(span_count):
        span = Span(
            trace_id=trace_id,
            span_id=bytes.fromhex(span_id_of(run, request_index, span_index)),
            name=f"{run} request {request_index} span {span_index}",
            kind=Span.SPAN_KIND_INTERNAL,
            start_time_unix_nano=start_ns,
            end_time_unix_nano=start_ns + 1_000_000,
        )
        values = {
            "test.run": run,
            "test.request": request_index,
            "test.span": span_index,
        }
        values.update(attributes or {})
        if padding_bytes:
            values["test.padding"] = "x" * padding_bytes
        span.attributes.extend(key_values(values))
        scope_spans.spans.append(span)
    return request


def span_ids(request: trace_service_pb2.ExportTraceServiceRequest) -> list[str]:
    return [
        span.span_id.hex()
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
    ]


@dataclass
class SendResult:
    """The outcome of one export to burnrate: accepted, or the status it was refused with."""

    accepted: bool
    status: str
    # The Retry-After header of an HTTP response, or None with gRPC or without the header.
    retry_after: str | None = None


class GrpcSender:
    """Sends trace requests to burnrate's OTLP/gRPC receiver on one channel."""

    def __init__(self, endpoint: str) -> None:
        self._channel = grpc.insecure_channel(endpoint)
        self._stub = trace_service_pb2_grpc.TraceServiceStub(self._channel)

    def send(self, request: trace_service_pb2.ExportTraceServiceRequest) -> SendResult:
        try:
            self._stub.Export(request, timeout=SEND_TIMEOUT_SECONDS)
        except grpc.RpcError as error:
            return SendResult(False, error.code().name)
        return SendResult(True, "OK")

    def close(self) -> None:
        self._channel.close()


class HttpSender:
    """Sends trace requests to burnrate's OTLP/HTTP receiver as protobuf."""

    def __init__(self, base_url: str) -> None:
        self._url = base_url.rstrip("/") + "/v1/traces"

    def send(self, request: trace_service_pb2.ExportTraceServiceRequest) -> SendResult:
        http_request = urllib.request.Request(
            self._url,
            data=request.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(
                http_request, timeout=SEND_TIMEOUT_SECONDS
            ) as response:
                response.read()
                return SendResult(True, str(response.status))
        except urllib.error.HTTPError as error:
            error.read()
            return SendResult(False, str(error.code), error.headers.get("Retry-After"))

    def close(self) -> None:
        pass


class _ResultRecorder(SpanExporter):
    """Forwards to the OTLP exporter and keeps the result of every export."""

    def __init__(self, exporter: SpanExporter) -> None:
        self.exporter = exporter
        self.results: list[SpanExportResult] = []

    def export(self, spans) -> SpanExportResult:
        result = self.exporter.export(spans)
        self.results.append(result)
        return result

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis)


@dataclass
class SdkRun:
    """What the OpenTelemetry SDK finished and what its OTLP exports returned."""

    spans: list[ReadableSpan]
    export_results: list[SpanExportResult]


def run_sdk(grpc_endpoint: str, service_name: str, emit) -> SdkRun:
    """Call `emit(tracer)` under a fresh TracerProvider whose BatchSpanProcessor exports over
    OTLP/gRPC (insecure) to `grpc_endpoint`, then flush and shut the provider down.

    The provider is not installed globally, so runs in one process do not interfere.
    """
    memory = InMemorySpanExporter()
    recorder = _ResultRecorder(OTLPSpanExporter(endpoint=grpc_endpoint, insecure=True))
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.add_span_processor(BatchSpanProcessor(recorder))
    try:
        emit(provider.get_tracer("burnrate.e2e.sdk"))
        assert provider.force_flush(timeout_millis=int(SEND_TIMEOUT_SECONDS * 1000)), (
            "the SDK's force_flush timed out"
        )
    finally:
        provider.shutdown()
    return SdkRun(list(memory.get_finished_spans()), list(recorder.results))


def sdk_attributes(span: ReadableSpan) -> dict:
    """Return a span's attributes as `upstream.attribute_value` returns them: tuples become lists."""
    return {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in (span.attributes or {}).items()
    }
