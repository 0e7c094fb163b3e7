"""OTLP/gRPC trace receiver on 127.0.0.1 that stores every export request it receives.

Used in-process by the tests as the upstream backend that burnrate forwards to, and by
capture_fixtures.py as the SDK's direct target.
"""

from __future__ import annotations

import threading
import time
from concurrent import futures
from typing import Callable

import grpc
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1 import (
    trace_service_pb2,
    trace_service_pb2_grpc,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []

    def Export(self, request, context):  # noqa: N802 - the gRPC method name
        with self.lock:
            self.requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()


class Upstream:
    """The receiver's gRPC server. `start()` binds a port on 127.0.0.1 (0 picks a free one)."""

    def __init__(self, port: int = 0) -> None:
        self._service = _TraceService()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(
            self._service, self._server
        )
        self.port = self._server.add_insecure_port(f"127.0.0.1:{port}")
        if self.port == 0:
            raise RuntimeError(f"failed to bind the OTLP receiver to 127.0.0.1:{port}")

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Upstream:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(grace=1).wait(timeout=5)

    def requests(self) -> list[trace_service_pb2.ExportTraceServiceRequest]:
        """Return a copy of the export requests received so far, oldest first."""
        with self._service.lock:
            return list(self._service.requests)

    def spans(self) -> list[dict]:
        """Return every received span flattened with its resource and scope, as `flatten_spans` does."""
        return flatten_spans(self.requests())

    def wait_for(
        self, condition: Callable[[list[dict]], bool], timeout_seconds: float
    ) -> list[dict]:
        """Poll the received spans every 0.1 s until `condition` returns true or the timeout passes.

        Returns the last spans seen either way, so the caller's assert shows what arrived.
        """
        deadline = time.monotonic() + timeout_seconds
        spans = self.spans()
        while not condition(spans) and time.monotonic() < deadline:
            time.sleep(0.1)
            spans = self.spans()
        return spans


def attribute_value(value: AnyValue):
    """Convert an OTLP AnyValue to the Python value that the SDK set.

    That is str, bool, int, float, bytes, list, or dict for a key-value list.
    """
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [attribute_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {
            item.key: attribute_value(item.value) for item in value.kvlist_value.values
        }
    return getattr(value, kind)


def flatten_spans(
    requests: list[trace_service_pb2.ExportTraceServiceRequest],
) -> list[dict]:
    """Flatten export requests to one dict per span.

    Ids are lowercase hex, a root span's parent_span_id is "", and attribute values are
    Python values (see `attribute_value`).
    """
    spans = []
    for request in requests:
        for resource_spans in request.resource_spans:
            resource = {
                a.key: attribute_value(a.value)
                for a in resource_spans.resource.attributes
            }
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans.append(
                        {
                            "trace_id": span.trace_id.hex(),
                            "span_id": span.span_id.hex(),
                            "parent_span_id": span.parent_span_id.hex(),
                            "name": span.name,
                            "kind": span.kind,
                            "scope": scope_spans.scope.name,
                            "resource": resource,
                            "attributes": {
                                a.key: attribute_value(a.value) for a in span.attributes
                            },
                            "status": MessageToDict(span.status),
                            "events": [event.name for event in span.events],
                        }
                    )
    return spans
