r"""Instrumented LLM client that runs cases from fake_provider.CASES with the real SDKs.

Run as a subprocess so that OpenTelemetry's global state starts fresh:

    python3 client_app.py --provider-url http://127.0.0.1:8089 --otlp-endpoint 127.0.0.1:4317 \
        --service-name checkout --cases anthropic_cache,anthropic_429 --output spans.json

Spans go to the OTLP/gRPC endpoint (insecure) through a BatchSpanProcessor. Every finished
span is also written to the output JSON file, so a test can compare with exactly what the SDK sent.
Exits 0 only when every case behaved as scripted and every export succeeded.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

import anthropic
import openai
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor
from opentelemetry.instrumentation.httpx import HTTPX2ClientInstrumentor
from opentelemetry.instrumentation.openai import OpenAIInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

from fake_provider import CASE_HEADER, CASES, Case

# Response headers that the httpx instrumentation records on the HTTP client span as
# `http.response.header.<name>` attributes.
CAPTURED_RESPONSE_HEADERS = (
    "anthropic-ratelimit-.*,x-ratelimit-.*,retry-after,retry-after-ms"
)
# Request headers recorded as `http.request.header.<name>`: the API keys that
# burnrate must remove before forwarding, and one harmless header it must keep.
CAPTURED_REQUEST_HEADERS = "x-api-key,authorization,anthropic-version"

log = logging.getLogger("client_app")
MESSAGES = [{"role": "user", "content": "Say hello."}]


class SpanRecorder(SpanProcessor):
    """Span processor that keeps a JSON-ready record of every span that ends."""

    def __init__(self) -> None:
        self.records: list[dict] = []

    def on_end(self, span: ReadableSpan) -> None:
        parent = span.parent
        self.records.append(
            {
                "trace_id": format(span.context.trace_id, "032x"),
                "span_id": format(span.context.span_id, "016x"),
                "parent_span_id": format(parent.span_id, "016x")
                if parent is not None
                else "",
                "name": span.name,
                "kind": span.kind.name,
                "scope": span.instrumentation_scope.name
                if span.instrumentation_scope
                else "",
                "status": span.status.status_code.name,
                "attributes": {
                    key: _json_value(value) for key, value in span.attributes.items()
                },
            }
        )


def _json_value(value):
    return list(value) if isinstance(value, tuple) else value


class ResultCheckingExporter(SpanExporter):
    """Wrapper that remembers the result of every export the batch processor makes."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.results: list[SpanExportResult] = []

    def export(self, spans) -> SpanExportResult:
        result = self.inner.export(spans)
        self.results.append(result)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def set_up_tracing(
    service_name: str, endpoint: str
) -> tuple[TracerProvider, SpanRecorder, ResultCheckingExporter]:
    """Install the global tracer provider and instrument httpx2, Anthropic and OpenAI."""
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    recorder = SpanRecorder()
    exporter = ResultCheckingExporter(
        OTLPSpanExporter(endpoint=endpoint, insecure=True)
    )
    provider.add_span_processor(recorder)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)

    # The instrumentor reads this variable in instrument(), not at import.
    os.environ["OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_RESPONSE"] = (
        CAPTURED_RESPONSE_HEADERS
    )
    os.environ["OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST"] = (
        CAPTURED_REQUEST_HEADERS
    )
    HTTPX2ClientInstrumentor().instrument()
    AnthropicInstrumentor().instrument()
    OpenAIInstrumentor().instrument()
    return provider, recorder, exporter


def run_anthropic(client: anthropic.Anthropic, case: Case) -> None:
    request = {
        "model": case.request_model,
        "max_tokens": 1024,
        "messages": MESSAGES,
        "extra_headers": {CASE_HEADER: case.name},
    }
    if case.status == 429:
        try:
            client.messages.create(**request)
        except anthropic.RateLimitError as error:
            log.info(
                "case %s raised %s as scripted: %s",
                case.name,
                type(error).__name__,
                error,
            )
            return
        raise RuntimeError(
            f"case {case.name} expected anthropic.RateLimitError, but the call succeeded"
        )
    if case.stream:
        # Iterate the returned stream directly, as the SDK's README does. OpenLLMetry 0.62.4
        # ends its span only when iteration goes through its proxy, and `with ... as stream`
        # hands back the unwrapped stream, so its span would never end.
        events = [
            event.type for event in client.messages.create(**request, stream=True)
        ]
        log.info("case %s streamed events %s", case.name, events)
        return
    message = client.messages.create(**request)
    log.info(
        "case %s returned message %s with usage %s",
        case.name,
        message.id,
        message.usage,
    )


def run_openai(client: openai.OpenAI, case: Case) -> None:
    request = {
        "model": case.request_model,
        "messages": MESSAGES,
        "max_completion_tokens": 1024,
        "extra_headers": {CASE_HEADER: case.name},
    }
    if case.stream:
        stream = client.chat.completions.create(
            **request, stream=True, stream_options={"include_usage": True}
        )
        usage = [chunk.usage for chunk in stream if chunk.usage is not None]
        log.info("case %s streamed usage %s", case.name, usage)
        return
    completion = client.chat.completions.create(**request)
    log.info(
        "case %s returned completion %s with usage %s",
        case.name,
        completion.id,
        completion.usage,
    )


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Run scripted LLM calls with OpenTelemetry tracing."
    )
    parser.add_argument(
        "--provider-url",
        required=True,
        help="base URL of fake_provider, such as http://127.0.0.1:8089",
    )
    parser.add_argument(
        "--otlp-endpoint", required=True, help="OTLP/gRPC host:port to export spans to"
    )
    parser.add_argument(
        "--service-name", required=True, help="service.name resource attribute"
    )
    parser.add_argument(
        "--cases",
        required=True,
        help=f"comma-separated case names from: {', '.join(CASES)}",
    )
    parser.add_argument(
        "--output",
        required=True,
        type=Path,
        help="JSON file to write the finished spans to",
    )
    args = parser.parse_args(argv)
    args.cases = [name.strip() for name in args.cases.split(",") if name.strip()]
    unknown = [name for name in args.cases if name not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; expected names from {sorted(CASES)}")
    return args


def main(argv: list[str]) -> int:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="client_app %(levelname)s %(message)s",
    )
    args = parse_args(argv)
    provider, recorder, exporter = set_up_tracing(args.service_name, args.otlp_endpoint)

    anthropic_client = anthropic.Anthropic(
        api_key="sk-ant-dummy", base_url=args.provider_url, max_retries=0
    )
    openai_client = openai.OpenAI(
        api_key="sk-dummy", base_url=args.provider_url + "/v1", max_retries=0
    )
    for name in args.cases:
        case = CASES[name]
        if case.provider == "anthropic":
            run_anthropic(anthropic_client, case)
        else:
            run_openai(openai_client, case)

    flushed = provider.force_flush(timeout_millis=20000)
    provider.shutdown()
    args.output.write_text(
        json.dumps(
            {
                "service_name": args.service_name,
                "cases": args.cases,
                "spans": recorder.records,
            },
            indent=2,
        )
    )

    exported = bool(exporter.results) and all(
        result == SpanExportResult.SUCCESS for result in exporter.results
    )
    if not (flushed and exported):
        log.error(
            "span export failed: force_flush returned %s, export results %s",
            flushed,
            exporter.results,
        )
        return 1
    log.info(
        "exported %d spans in %d requests to %s",
        len(recorder.records),
        len(exporter.results),
        args.otlp_endpoint,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
