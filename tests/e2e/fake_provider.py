"""Fake Anthropic and OpenAI HTTP APIs on 127.0.0.1 for the end-to-end tests.

Responses copy the real APIs' body shapes, headers and SSE framing. The request header
`x-fake-case: <name>` selects one of CASES. A request without that header, for another
path, or whose `model` or `stream` differs from the case gets a 400 in the provider's
error format, so a wrong client call fails loudly.

CASES is the only place that contains token counts and rate-limit header values, and the
tests import it. Rate-limit figures are fixed per case, not tracked across calls, and read as:
- Anthropic: `tokens` limit = input-tokens limit + output-tokens limit. After a call,
  input-tokens remaining = limit - (input + cache read + cache write tokens),
  output-tokens remaining = limit - output tokens, and tokens remaining is their sum.
  A `reset` header is RFC 3339 in whole UTC seconds: the second of the response plus the
  case's offset.
- OpenAI: tokens remaining = limit - total_tokens; resets are the Go-style durations that
  the API sends (`1ms`, `6m0s`).

Run as a script to serve until interrupted: `python3 fake_provider.py --port 8089`.
"""

from __future__ import annotations

import argparse
import json
import secrets
import string
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CASE_HEADER = "x-fake-case"
ANTHROPIC_ORGANIZATION_ID = "5f0c2d1e-8a4b-4c6d-9e7f-1a2b3c4d5e6f"
OPENAI_ORGANIZATION = "org-burnrate-e2e"
TEXT = "Hello from the fake provider."


@dataclass(frozen=True)
class RateLimit:
    """One rate-limit window as the response headers state it."""

    limit: int
    remaining: int
    # Anthropic: seconds after the response (an int). OpenAI: the header text, such as "6m0s".
    reset: int | str


@dataclass(frozen=True)
class Case:
    """One scripted API call: what the client sends and what the fake returns."""

    name: str
    provider: str  # gen_ai.provider.name: "anthropic" or "openai"
    path: str
    request_model: str
    response_model: str
    stream: bool
    status: int
    # The API's own usage object, exactly as the response body carries it. Empty for an error.
    usage: dict = field(default_factory=dict)
    # By burnrate's `limit` label: requests, tokens, input_tokens, output_tokens.
    rate_limits: dict[str, RateLimit] = field(default_factory=dict)
    retry_after_seconds: int | None = None


def _anthropic_limits(
    requests_remaining: int, input_used: int, output_used: int, requests_reset: int
):
    input_remaining = 2_000_000 - input_used
    output_remaining = 400_000 - output_used
    return {
        "requests": RateLimit(4000, requests_remaining, requests_reset),
        "input_tokens": RateLimit(2_000_000, input_remaining, 60),
        "output_tokens": RateLimit(400_000, output_remaining, 60),
        "tokens": RateLimit(2_400_000, input_remaining + output_remaining, 60),
    }


_CACHE_USAGE = {
    "input_tokens": 1200,
    "cache_creation_input_tokens": 2000,
    "cache_read_input_tokens": 30000,
    "cache_creation": {
        "ephemeral_5m_input_tokens": 2000,
        "ephemeral_1h_input_tokens": 0,
    },
    "output_tokens": 350,
    "service_tier": "standard",
}
_STREAM_USAGE = {
    "input_tokens": 800,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 4000,
    "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
    "output_tokens": 220,
    "service_tier": "standard",
}


def _openai_usage(prompt: int, cached: int, completion: int, reasoning: int) -> dict:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


CASES: dict[str, Case] = {
    case.name: case
    for case in [
        Case(
            name="anthropic_cache",
            provider="anthropic",
            path="/v1/messages",
            request_model="claude-sonnet-4-5",
            response_model="claude-sonnet-4-5-20250929",
            stream=False,
            status=200,
            usage=_CACHE_USAGE,
            # 33200 input tokens counted against the limit: 1200 + 2000 + 30000.
            rate_limits=_anthropic_limits(3999, 33200, 350, 20),
        ),
        Case(
            name="anthropic_stream",
            provider="anthropic",
            path="/v1/messages",
            request_model="claude-sonnet-4-5",
            response_model="claude-sonnet-4-5-20250929",
            stream=True,
            status=200,
            usage=_STREAM_USAGE,
            rate_limits=_anthropic_limits(3998, 4800, 220, 20),
        ),
        Case(
            name="anthropic_429",
            provider="anthropic",
            path="/v1/messages",
            request_model="claude-sonnet-4-5",
            response_model="claude-sonnet-4-5-20250929",
            stream=False,
            status=429,
            rate_limits=_anthropic_limits(0, 4800, 220, 17),
            retry_after_seconds=17,
        ),
        Case(
            name="openai_reasoning",
            provider="openai",
            path="/v1/chat/completions",
            request_model="o4-mini",
            response_model="o4-mini-2025-04-16",
            stream=False,
            status=200,
            usage=_openai_usage(
                prompt=1500, cached=1024, completion=300, reasoning=128
            ),
            rate_limits={
                "requests": RateLimit(5000, 4999, "1ms"),
                "tokens": RateLimit(2_000_000, 1_998_200, "6m0s"),
            },
        ),
        Case(
            name="openai_stream",
            provider="openai",
            path="/v1/chat/completions",
            request_model="gpt-4o-mini",
            response_model="gpt-4o-mini-2024-07-18",
            stream=True,
            status=200,
            usage=_openai_usage(prompt=2100, cached=1024, completion=150, reasoning=0),
            rate_limits={
                "requests": RateLimit(30000, 29999, "2ms"),
                "tokens": RateLimit(150_000_000, 149_997_750, "1m30.5s"),
            },
        ),
    ]
}


@dataclass(frozen=True)
class SentResponse:
    """One response that the fake sent, with the wall-clock time it was built."""

    case: str
    status: int
    headers: dict[str, str]
    sent_at_unix: float


def _random_id(prefix: str, length: int) -> str:
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def _rfc3339(unix_seconds: int) -> str:
    return datetime.fromtimestamp(unix_seconds, timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def anthropic_headers(case: Case, now_unix: float) -> dict[str, str]:
    """Build the headers of an Anthropic response, in the order the API sends them."""
    headers = {"content-type": "application/json"}
    if case.stream:
        headers = {
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-cache",
        }
    whole_second = int(now_unix)
    for kind in ("requests", "input_tokens", "output_tokens", "tokens"):
        window = case.rate_limits[kind]
        prefix = "anthropic-ratelimit-" + kind.replace("_", "-")
        headers[prefix + "-limit"] = str(window.limit)
        headers[prefix + "-remaining"] = str(window.remaining)
        headers[prefix + "-reset"] = _rfc3339(whole_second + window.reset)
    if case.retry_after_seconds is not None:
        headers["retry-after"] = str(case.retry_after_seconds)
    headers["request-id"] = _random_id("req_011C", 22)
    headers["anthropic-organization-id"] = ANTHROPIC_ORGANIZATION_ID
    headers["via"] = "1.1 google"
    headers["cf-cache-status"] = "DYNAMIC"
    headers["x-robots-tag"] = "none"
    return headers


def openai_headers(case: Case) -> dict[str, str]:
    """Build the headers of an OpenAI response, in the order the API sends them."""
    headers = {"content-type": "application/json"}
    if case.stream:
        headers = {"content-type": "text/event-stream; charset=utf-8"}
    headers["access-control-expose-headers"] = "X-Request-ID"
    headers["openai-organization"] = OPENAI_ORGANIZATION
    headers["openai-processing-ms"] = "412"
    headers["openai-project"] = "proj_burnrateE2E"
    headers["openai-version"] = "2020-10-01"
    requests, tokens = case.rate_limits["requests"], case.rate_limits["tokens"]
    headers["x-ratelimit-limit-requests"] = str(requests.limit)
    headers["x-ratelimit-limit-tokens"] = str(tokens.limit)
    headers["x-ratelimit-remaining-requests"] = str(requests.remaining)
    headers["x-ratelimit-remaining-tokens"] = str(tokens.remaining)
    headers["x-ratelimit-reset-requests"] = str(requests.reset)
    headers["x-ratelimit-reset-tokens"] = str(tokens.reset)
    headers["x-request-id"] = "req_" + secrets.token_hex(16)
    headers["x-content-type-options"] = "nosniff"
    return headers


def anthropic_message(case: Case) -> dict:
    return {
        "model": case.response_model,
        "id": _random_id("msg_01", 22),
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": TEXT}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": case.usage,
    }


def anthropic_error(error_type: str, message: str) -> dict:
    return {
        "type": "error",
        "error": {"type": error_type, "message": message},
        "request_id": _random_id("req_011C", 22),
    }


def rate_limit_error(case: Case) -> dict:
    """Build the 429 body of the case's provider."""
    if case.provider == "anthropic":
        return anthropic_error(
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit.",
        )
    message = (
        f"Rate limit reached for {case.request_model} on requests per min (RPM). "
        "Please try again later."
    )
    return {
        "error": {
            "message": message,
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }


def anthropic_stream_events(case: Case) -> list[tuple[str, dict]]:
    """Build the SSE events of a streamed Anthropic message as (event name, data) pairs.

    message_start carries the input and cache counts with output_tokens 1, as the API does,
    and message_delta carries the final usage.
    """
    message = anthropic_message(case)
    message["content"] = []
    message["stop_reason"] = None
    message["usage"] = {**case.usage, "output_tokens": 1}
    final_usage = {key: case.usage[key] for key in case.usage if key.endswith("tokens")}
    half = len(TEXT) // 2
    return [
        ("message_start", {"type": "message_start", "message": message}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        ("ping", {"type": "ping"}),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": TEXT[:half]},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": TEXT[half:]},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": final_usage,
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]


def openai_completion(case: Case) -> dict:
    return {
        "id": _random_id("chatcmpl-", 29),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": case.response_model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": TEXT,
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": case.usage,
        "service_tier": "default",
        "system_fingerprint": None,
    }


def openai_error(message: str) -> dict:
    return {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }


def openai_stream_chunks(case: Case) -> list[dict]:
    """Build the chunks of a streamed chat completion that asked for `include_usage`.

    Every chunk has `"usage": null` except the last, which has no choices and the usage.
    """
    base = {
        "id": _random_id("chatcmpl-", 29),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": case.response_model,
        "service_tier": "default",
        "system_fingerprint": "fp_560af6e559",
    }

    def chunk(delta: dict, finish_reason: str | None) -> dict:
        choice = {
            "index": 0,
            "delta": delta,
            "logprobs": None,
            "finish_reason": finish_reason,
        }
        return {**base, "choices": [choice], "usage": None}

    half = len(TEXT) // 2
    return [
        chunk({"role": "assistant", "content": "", "refusal": None}, None),
        chunk({"content": TEXT[:half]}, None),
        chunk({"content": TEXT[half:]}, None),
        chunk({}, "stop"),
        {**base, "choices": [], "usage": case.usage},
    ]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def version_string(self) -> str:
        return "cloudflare"

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        request = json.loads(self.rfile.read(length) or b"{}")
        case = CASES.get(self.headers.get(CASE_HEADER, ""))
        problem = _request_problem(case, self.path, request)
        if problem is not None:
            self._send_bad_request(problem)
            return

        now = time.time()
        if case.provider == "anthropic":
            headers = anthropic_headers(case, now)
        else:
            headers = openai_headers(case)
        self.server.record(SentResponse(case.name, case.status, headers, now))

        if case.status != 200:
            self._send_json(case.status, headers, rate_limit_error(case))
        elif not case.stream:
            body = (
                anthropic_message(case)
                if case.provider == "anthropic"
                else openai_completion(case)
            )
            self._send_json(200, headers, body)
        elif case.provider == "anthropic":
            events = [
                f"event: {name}\ndata: {_compact_json(data)}\n\n"
                for name, data in anthropic_stream_events(case)
            ]
            self._send_stream(headers, events)
        else:
            events = [
                f"data: {_compact_json(chunk)}\n\n"
                for chunk in openai_stream_chunks(case)
            ]
            self._send_stream(headers, events + ["data: [DONE]\n\n"])

    def _send_bad_request(self, message: str) -> None:
        if self.path.startswith("/v1/chat/"):
            body = openai_error(message)
        else:
            body = anthropic_error("invalid_request_error", message)
        self._send_json(400, {"content-type": "application/json"}, body)

    def _send_json(self, status: int, headers: dict[str, str], body: dict) -> None:
        data = _compact_json(body).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_stream(self, headers: dict[str, str], events: list[str]) -> None:
        """Send the SSE events with chunked transfer encoding, one HTTP chunk per event."""
        self.send_response(200)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for event in events:
            data = event.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class names it so
        self.server.log_lines.append(format % args)


def _compact_json(value) -> str:
    """Serialize without spaces, as both APIs do."""
    return json.dumps(value, separators=(",", ":"))


def _request_problem(case: Case | None, path: str, request: dict) -> str | None:
    """Return why the request does not match its case, or None when it matches."""
    if case is None:
        return (
            f"missing or unknown {CASE_HEADER} header; expected one of {sorted(CASES)}"
        )
    if path != case.path:
        return f"case {case.name} expects POST {case.path}, got {path}"
    if request.get("model") != case.request_model:
        return f"case {case.name} expects model {case.request_model!r}, got {request.get('model')!r}"
    if bool(request.get("stream")) != case.stream:
        return f"case {case.name} expects stream={case.stream}, got {request.get('stream')!r}"
    return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)
        self.lock = threading.Lock()
        self.sent: list[SentResponse] = []
        self.log_lines: list[str] = []

    def record(self, response: SentResponse) -> None:
        with self.lock:
            self.sent.append(response)


class FakeProvider:
    """The fake API server, run on a background thread of the current process."""

    def __init__(self, port: int = 0) -> None:
        self._server = _Server(("127.0.0.1", port))
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-provider", daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def serve_forever(self) -> None:
        """Serve on the calling thread until interrupted, in place of `start()`."""
        try:
            self._server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self._server.server_close()

    def sent_responses(self) -> list[SentResponse]:
        """Return a copy of the responses sent so far, oldest first."""
        with self._server.lock:
            return list(self._server.sent)


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Serve the fake Anthropic and OpenAI APIs on 127.0.0.1."
    )
    parser.add_argument(
        "--port", type=int, default=0, help="TCP port to listen on; 0 picks a free one"
    )
    port = parser.parse_args().port
    provider = FakeProvider(port)
    print(
        f"fake provider listening on {provider.base_url}; cases: {', '.join(CASES)}",
        flush=True,
    )
    provider.serve_forever()


if __name__ == "__main__":
    main()
