"""Regenerate tests/fixtures/spans/: the OTLP export requests that the real SDKs send.

For each case, client_app.py runs that case alone against fake_provider and exports
straight to the in-process upstream receiver (no burnrate in between). Each received
ExportTraceServiceRequest is written as OTLP/JSON, and SUMMARY.md lists every span.

    target/e2e-venv/bin/python tests/e2e/capture_fixtures.py
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from google.protobuf.json_format import MessageToDict

from fake_provider import CASES, FakeProvider
from upstream import Upstream, flatten_spans

E2E_DIR = Path(__file__).resolve().parent
FIXTURE_DIR = E2E_DIR.parent / "fixtures" / "spans"
SERVICE_NAMES = {"anthropic": "checkout", "openai": "search"}
ID_FIELDS = {"traceId", "spanId", "parentSpanId"}
PACKAGES = [
    "anthropic",
    "openai",
    "opentelemetry-sdk",
    "opentelemetry-exporter-otlp-proto-grpc",
    "opentelemetry-instrumentation-httpx",
    "opentelemetry-instrumentation-anthropic",
    "opentelemetry-instrumentation-openai",
]


def run_case(
    case_name: str, provider: FakeProvider, upstream: Upstream, work_dir: Path
) -> list:
    """Run client_app for one case and return the export requests the upstream received."""
    before = len(upstream.requests())
    service_name = SERVICE_NAMES[CASES[case_name].provider]
    command = [
        sys.executable,
        str(E2E_DIR / "client_app.py"),
        "--provider-url", provider.base_url,
        "--otlp-endpoint", upstream.endpoint,
        "--service-name", service_name,
        "--cases", case_name,
        "--output", str(work_dir / f"{case_name}.client.json"),
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if completed.returncode != 0:
        raise RuntimeError(
            f"client_app failed for case {case_name} with exit code "
            f"{completed.returncode}:\n{completed.stderr}"
        )
    return upstream.requests()[before:]


def to_otlp_json(request) -> dict:
    """Convert an export request to OTLP/JSON.

    OTLP/JSON differs from protobuf's default JSON mapping in two ways that matter here:
    trace and span ids are lowercase hex (not base64), and enums are integers.
    """
    document = MessageToDict(request, use_integers_for_enums=True)
    _ids_to_hex(document)
    return document


def _ids_to_hex(node) -> None:
    if isinstance(node, list):
        for item in node:
            _ids_to_hex(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in ID_FIELDS and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                _ids_to_hex(value)


def attribute_type(value) -> str:
    if isinstance(value, list):
        element_types = sorted({attribute_type(item) for item in value}) or ["empty"]
        return "/".join(element_types) + " array"
    return {bool: "bool", int: "int", float: "double", str: "string", bytes: "bytes"}[
        type(value)
    ]


def summarize_case(case_name: str, requests: list) -> list[str]:
    """Build the SUMMARY.md section of one case: one table per span."""
    spans = flatten_spans(requests)
    by_id = {span["span_id"]: span for span in spans}
    trace_numbers: dict[str, int] = {}
    lines = [
        f"## {case_name}",
        "",
        f"{len(requests)} export request(s), {len(spans)} spans.",
        "",
    ]
    for span in spans:
        trace_number = trace_numbers.setdefault(
            span["trace_id"], len(trace_numbers) + 1
        )
        parent = by_id.get(span["parent_span_id"])
        if not span["parent_span_id"]:
            relation = "root"
        elif parent is None:
            relation = (
                f"child of span {span['parent_span_id']}, which is not in this export"
            )
        else:
            relation = f"child of `{parent['name']}` ({parent['scope']})"
        status = span["status"].get("code", "STATUS_CODE_UNSET")
        lines.append(f"### `{span['name']}`, scope `{span['scope']}`")
        lines.append("")
        lines.append(
            f"- trace {trace_number}: `{span['trace_id']}`, span `{span['span_id']}`, {relation}"
        )
        lines.append(f"- status {status}")
        if span["events"]:
            lines.append(f"- events: {', '.join(span['events'])}")
        lines.append("")
        lines.append("| attribute | type | value |")
        lines.append("| --- | --- | --- |")
        for key, value in span["attributes"].items():
            value_text = json.dumps(value)
            if len(value_text) > 80:
                value_text = value_text[:77] + "..."
            lines.append(f"| `{key}` | {attribute_type(value)} | `{value_text}` |")
        lines.append("")
    return lines


def main() -> int:
    FIXTURE_DIR.mkdir(parents=True, exist_ok=True)
    provider = FakeProvider().start()
    upstream = Upstream().start()
    sections: list[str] = []
    try:
        with tempfile.TemporaryDirectory() as work_dir:
            for case_name in CASES:
                requests = run_case(case_name, provider, upstream, Path(work_dir))
                documents = [to_otlp_json(request) for request in requests]
                (FIXTURE_DIR / f"{case_name}.json").write_text(
                    json.dumps(documents, indent=2) + "\n"
                )
                sections.extend(summarize_case(case_name, requests))
    finally:
        provider.stop()
        upstream.stop()

    versions = ", ".join(f"{name} {metadata.version(name)}" for name in PACKAGES)
    header = (
        (E2E_DIR / "fixtures_summary_header.md")
        .read_text()
        .replace("{versions}", versions)
    )
    (FIXTURE_DIR / "SUMMARY.md").write_text(header + "\n" + "\n".join(sections))
    print(f"wrote {len(CASES)} fixtures and SUMMARY.md to {FIXTURE_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
