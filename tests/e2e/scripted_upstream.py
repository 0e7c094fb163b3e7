"""OTLP trace upstream on 127.0.0.1 whose replies follow a script, for the export tests.

One class serves either OTLP/gRPC or OTLP/HTTP with protobuf bodies. The n-th export
attempt gets the n-th `Reply` of the script, and every attempt after the script gets
the default reply. Each attempt is recorded with its arrival time, its spans and
whether the reply reached a waiting client, so a test can count delivered spans,
duplicates and retries exactly. The server can be stopped and started again on the
same port, so a test can take the upstream down and bring it back.

`GoawayUpstream` is a minimal HTTP/2 server that ends a connection with a GOAWAY
frame, as a gRPC server does when it shuts down.
"""

from __future__ import annotations

import gzip
import select
import socket
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1 import (
    trace_service_pb2,
    trace_service_pb2_grpc,
)

from conftest import free_port
from upstream import flatten_spans

GRPC = "grpc"
HTTP = "http/protobuf"
PROTOCOLS = (GRPC, HTTP)

# A held reply waits at most this long for `release()`, so a test that never calls it
# cannot hang the server.
MAX_HOLD_SECONDS = 30.0
HOLD_POLL_SECONDS = 0.05
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
GRPC_WORKERS = 16


@dataclass(frozen=True)
class Reply:
    """The upstream's response to one export attempt.

    A test sets the fields of the protocol it runs: `grpc_code` for gRPC and
    `http_status` for OTLP/HTTP. `retry_after_seconds` becomes a `google.rpc.RetryInfo`
    in the gRPC status details, or a `Retry-After` header. `rejected_spans` > 0 on an
    accepting reply is a partial success. `delay_seconds` is waited before replying,
    and `hold` waits for `ScriptedUpstream.release()` instead.
    """

    grpc_code: grpc.StatusCode = grpc.StatusCode.OK
    http_status: int = 200
    retry_after_seconds: int | None = None
    rejected_spans: int = 0
    message: str = ""
    delay_seconds: float = 0.0
    hold: bool = False

    def accepts(self, protocol: str) -> bool:
        if protocol == GRPC:
            return self.grpc_code == grpc.StatusCode.OK
        return 200 <= self.http_status < 300


ACCEPT = Reply()


@dataclass
class Attempt:
    """One export request as the upstream received it."""

    number: int
    received_at: float  # time.monotonic()
    path: str
    headers: dict[str, str]
    body: bytes  # the request's protobuf encoding, after gzip decompression
    spans: list[dict]
    reply: Reply
    # True once the reply's status was written to a waiting client (HTTP), or the
    # handler returned while the call was active (gRPC). The status alone decides the
    # outcome for burnrate, even when the rest of the body is cut off.
    # NOTE: a gRPC server stopped at that moment can still lose the reply, so the
    # client retries and the spans arrive twice.
    answered: bool = False
    answered_at: float | None = None


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    attempts: list[Attempt] = field(default_factory=list)
    active: int = 0
    max_active: int = 0


class ScriptedUpstream:
    """An OTLP trace receiver for `protocol` (GRPC or HTTP) on 127.0.0.1:`port`.

    `port` None picks a port that is free now. The server listens only between
    `start()` and `stop()`, so a test can point burnrate at it before it is up.
    """

    def __init__(
        self,
        protocol: str,
        script: list[Reply] | None = None,
        default: Reply = ACCEPT,
        port: int | None = None,
    ) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
        self.protocol = protocol
        self.port = port if port is not None else free_port()
        self._script = list(script or [])
        self._default = default
        self._state = _State()
        self._released = threading.Semaphore(0)
        self._grpc_server: grpc.Server | None = None
        self._http_server: _HttpServer | None = None
        self._http_thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        """The URL for burnrate's `exporters[].endpoint`."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._grpc_server is not None or self._http_server is not None

    def set_default(self, reply: Reply) -> None:
        """Reply to every attempt after the script with `reply` from now on."""
        with self._state.lock:
            self._default = reply

    def start(self) -> ScriptedUpstream:
        if self.running:
            raise RuntimeError(f"upstream on port {self.port} is already running")
        if self.protocol == GRPC:
            self._start_grpc()
        else:
            self._start_http()
        return self

    def stop(self) -> None:
        """Close the listener and every open connection. Pending replies are cancelled."""
        if self._grpc_server is not None:
            self._grpc_server.stop(grace=None).wait(timeout=5)
            self._grpc_server = None
        if self._http_server is not None:
            self._http_server.shutdown()
            self._http_server.server_close()
            self._http_server.close_connections()
            if self._http_thread is not None:
                self._http_thread.join(timeout=5)
            self._http_server = None
            self._http_thread = None

    def release(self, count: int = 1) -> None:
        """Let `count` held replies be sent."""
        self._released.release(count)

    def attempts(self) -> list[Attempt]:
        """Return a copy of the attempts received so far, oldest first."""
        with self._state.lock:
            return list(self._state.attempts)

    def max_concurrent_attempts(self) -> int:
        with self._state.lock:
            return self._state.max_active

    def delivered_spans(self) -> list[dict]:
        """Return the spans of every attempt that was accepted and answered, with duplicates."""
        return [
            span
            for attempt in self.attempts()
            if attempt.answered and attempt.reply.accepts(self.protocol)
            for span in attempt.spans
        ]

    def delivered_span_ids(self) -> set[str]:
        return {span["span_id"] for span in self.delivered_spans()}

    def wait_for_spans(self, count: int, timeout_seconds: float) -> set[str]:
        """Poll every 0.05 s until `count` distinct spans were delivered or the timeout passes.

        Returns the distinct span ids delivered by then either way.
        """
        deadline = time.monotonic() + timeout_seconds
        delivered = self.delivered_span_ids()
        while len(delivered) < count and time.monotonic() < deadline:
            time.sleep(0.05)
            delivered = self.delivered_span_ids()
        return delivered

    def wait_for_attempts(self, count: int, timeout_seconds: float) -> list[Attempt]:
        """Poll every 0.05 s until `count` attempts arrived or the timeout passes."""
        deadline = time.monotonic() + timeout_seconds
        attempts = self.attempts()
        while len(attempts) < count and time.monotonic() < deadline:
            time.sleep(0.05)
            attempts = self.attempts()
        return attempts

    # Shared by both protocols.

    def _begin(self, path: str, headers: dict[str, str], body: bytes) -> Attempt:
        received_at = time.monotonic()
        request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
        spans = flatten_spans([request])
        with self._state.lock:
            number = len(self._state.attempts)
            reply = (
                self._script[number] if number < len(self._script) else self._default
            )
            attempt = Attempt(number, received_at, path, headers, body, spans, reply)
            self._state.attempts.append(attempt)
            self._state.active += 1
            self._state.max_active = max(self._state.max_active, self._state.active)
        return attempt

    def _wait_before_reply(self, attempt: Attempt, client_gone) -> bool:
        """Wait out the reply's delay or hold. Return False when the client went away."""
        deadline = time.monotonic() + (
            MAX_HOLD_SECONDS if attempt.reply.hold else attempt.reply.delay_seconds
        )
        while True:
            if client_gone():
                return False
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            if attempt.reply.hold:
                if self._released.acquire(timeout=min(HOLD_POLL_SECONDS, remaining)):
                    return not client_gone()
            else:
                time.sleep(min(HOLD_POLL_SECONDS, remaining))

    def _end(self, attempt: Attempt, answered: bool) -> None:
        with self._state.lock:
            attempt.answered = answered
            attempt.answered_at = time.monotonic() if answered else None
            self._state.active -= 1

    # OTLP/gRPC.

    def _start_grpc(self) -> None:
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=GRPC_WORKERS),
            options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)],
        )
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(
            _GrpcTraceService(self), server
        )
        bound = server.add_insecure_port(f"127.0.0.1:{self.port}")
        if bound != self.port:
            raise RuntimeError(
                f"failed to bind the gRPC upstream to 127.0.0.1:{self.port}"
            )
        server.start()
        self._grpc_server = server

    # OTLP/HTTP.

    def _start_http(self) -> None:
        server = _HttpServer(("127.0.0.1", self.port), _HttpHandler)
        server.upstream = self
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        self._http_server = server
        self._http_thread = thread


class _GrpcTraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, upstream: ScriptedUpstream) -> None:
        self.upstream = upstream

    def Export(self, request, context):  # noqa: N802 - the gRPC method name
        headers = {
            key: value
            for key, value in context.invocation_metadata()
            if isinstance(value, str)
        }
        attempt = self.upstream._begin(
            "TraceService/Export", headers, request.SerializeToString()
        )
        answered = False
        try:
            if not self.upstream._wait_before_reply(
                attempt, lambda: not context.is_active()
            ):
                context.abort(grpc.StatusCode.CANCELLED, "the client went away")
            reply = attempt.reply
            answered = context.is_active()
            if reply.grpc_code == grpc.StatusCode.OK:
                response = trace_service_pb2.ExportTraceServiceResponse()
                if reply.rejected_spans:
                    response.partial_success.rejected_spans = reply.rejected_spans
                    response.partial_success.error_message = reply.message
                return response
            status = status_pb2.Status(
                code=reply.grpc_code.value[0], message=reply.message
            )
            if reply.retry_after_seconds is not None:
                retry_info = error_details_pb2.RetryInfo()
                retry_info.retry_delay.seconds = reply.retry_after_seconds
                status.details.add().Pack(retry_info)
            context.set_trailing_metadata(
                (("grpc-status-details-bin", status.SerializeToString()),)
            )
            context.abort(reply.grpc_code, reply.message)
        finally:
            self.upstream._end(attempt, answered)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    upstream: ScriptedUpstream

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.connections_lock = threading.Lock()
        self.connections: set[socket.socket] = set()

    def close_connections(self) -> None:
        """Close kept-alive connections, which `shutdown()` leaves open."""
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _HttpHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HttpServer
    status_sent = False

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        pass

    def _client_gone(self) -> bool:
        """Return whether the client closed the connection: readable with no data left."""
        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _send(self, status: int, body: bytes, extra_headers: dict[str, str]) -> None:
        """Write the response. `status_sent` turns true once the status line and the
        headers are written, which is a whole response when the body is empty."""
        self.send_response(status)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra_headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.status_sent = True
        if body:
            self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 - the http.server method name
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            body = gzip.decompress(body)
        if self.path != "/v1/traces":
            self._send(404, b"", {})
            return
        upstream = self.server.upstream
        headers = {name.lower(): value for name, value in self.headers.items()}
        attempt = upstream._begin(self.path, headers, body)
        self.status_sent = False
        try:
            if not upstream._wait_before_reply(attempt, self._client_gone):
                self.close_connection = True
                return
            reply = attempt.reply
            if reply.accepts(HTTP):
                response = trace_service_pb2.ExportTraceServiceResponse()
                if reply.rejected_spans:
                    response.partial_success.rejected_spans = reply.rejected_spans
                    response.partial_success.error_message = reply.message
                self._send(reply.http_status, response.SerializeToString(), {})
            else:
                status = status_pb2.Status(
                    code=reply.grpc_code.value[0], message=reply.message
                )
                extra = {}
                if reply.retry_after_seconds is not None:
                    extra["Retry-After"] = str(reply.retry_after_seconds)
                self._send(reply.http_status, status.SerializeToString(), extra)
        except OSError:
            # The connection closed while the reply was written. The attempt counts
            # as answered only when its status was written before.
            self.close_connection = True
        finally:
            upstream._end(attempt, self.status_sent)


HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HTTP2_FRAME_HEADERS = 0x1
HTTP2_FRAME_SETTINGS = 0x4
HTTP2_FRAME_GOAWAY = 0x7
HTTP2_FLAG_ACK = 0x1
# HTTP/2 error codes (RFC 9113, section 7) that a GOAWAY frame can carry.
HTTP2_NO_ERROR = 0x0
HTTP2_INTERNAL_ERROR = 0x2
GOAWAY_SOCKET_TIMEOUT_SECONDS = 10.0


def _http2_frame(frame_type: int, flags: int, stream_id: int, payload: bytes) -> bytes:
    header = len(payload).to_bytes(3, "big") + bytes([frame_type, flags])
    return header + stream_id.to_bytes(4, "big") + payload


class GoawayUpstream:
    """An h2c server on 127.0.0.1:`port` that ends the first connection with a GOAWAY.

    It completes the HTTP/2 preface and SETTINGS exchange like any server. When the
    first request's HEADERS frame arrives, it sends GOAWAY with last-stream-id 0 and
    `error_code`, then reads until the client closes the connection. Last-stream-id 0
    means that the server processed no stream, so RFC 9113 (section 6.8) allows the
    request to be retried. `goaway_sent` is set once the frame is written. The listener
    accepts one connection only.
    """

    def __init__(self, port: int, error_code: int, debug_data: bytes = b"") -> None:
        self.port = port
        self.error_code = error_code
        self.debug_data = debug_data
        self.goaway_sent = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", port))
        self._listener.settimeout(GOAWAY_SOCKET_TIMEOUT_SECONDS)
        self._thread = threading.Thread(target=self._serve_one, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._listener.close()
        self._thread.join(timeout=GOAWAY_SOCKET_TIMEOUT_SECONDS + 1)

    def _serve_one(self) -> None:
        try:
            connection, _ = self._listener.accept()
        except OSError:
            return
        with connection:
            connection.settimeout(GOAWAY_SOCKET_TIMEOUT_SECONDS)
            try:
                self._end_with_goaway(connection)
            except (OSError, ValueError):
                # The client went away or sent something other than HTTP/2, so
                # `goaway_sent` stays unset and the test's wait for it fails.
                return

    def _end_with_goaway(self, connection: socket.socket) -> None:
        reader = connection.makefile("rb")
        if reader.read(len(HTTP2_PREFACE)) != HTTP2_PREFACE:
            raise ValueError("the client did not send the HTTP/2 preface")
        connection.sendall(_http2_frame(HTTP2_FRAME_SETTINGS, 0, 0, b""))
        while True:
            header = reader.read(9)
            if len(header) < 9:
                raise ValueError("the connection closed before a request arrived")
            length = int.from_bytes(header[0:3], "big")
            frame_type, flags = header[3], header[4]
            reader.read(length)
            if frame_type == HTTP2_FRAME_SETTINGS and not flags & HTTP2_FLAG_ACK:
                connection.sendall(
                    _http2_frame(HTTP2_FRAME_SETTINGS, HTTP2_FLAG_ACK, 0, b"")
                )
            elif frame_type == HTTP2_FRAME_HEADERS:
                last_stream_id = 0
                payload = last_stream_id.to_bytes(4, "big")
                payload += self.error_code.to_bytes(4, "big") + self.debug_data
                connection.sendall(_http2_frame(HTTP2_FRAME_GOAWAY, 0, 0, payload))
                self.goaway_sent.set()
                # Closing with unread data would send a TCP reset, which the client
                # may read before the GOAWAY. Read until the client closes instead.
                while connection.recv(65536):
                    pass
                return
