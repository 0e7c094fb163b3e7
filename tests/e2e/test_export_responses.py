"""burnrate's handling of upstream responses: retry hints, transient errors, partial success
and permanent errors, over OTLP/gRPC and OTLP/HTTP.

Each test sends one request of 10 spans with known ids to burnrate's gRPC receiver.
The upstream responds to each export attempt from a script. The retry backoff is 10 ms
to 50 ms, far below the 1 s hints, so a retry that comes only after the hint shows
that burnrate followed it.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass

import grpc
import pytest

from conftest import http_get
from export_harness import exporter_config, report, settled, wait_for_counts
from otlp_client import GrpcSender, build_request, span_ids
from scripted_upstream import ACCEPT, GRPC, HTTP, Reply, ScriptedUpstream

SPANS = 10
HINT_SECONDS = 1
SETTLE_TIMEOUT_SECONDS = 15
# After a drop, the test waits this long for an attempt that must not come. The
# backoff would have retried within 50 ms.
NO_RETRY_WINDOW_SECONDS = 0.5
FAST_RETRY = {
    "initial_interval": "10ms",
    "max_interval": "50ms",
    "max_elapsed_time": "30s",
}


@dataclass(frozen=True)
class Case:
    """A scripted upstream reply with the name that the test id shows."""

    name: str
    protocol: str
    reply: Reply

    @property
    def id(self) -> str:
        return self.name


def grpc_error(code: grpc.StatusCode, retry_after: int | None = None) -> Reply:
    return Reply(
        grpc_code=code, retry_after_seconds=retry_after, message=f"scripted {code.name}"
    )


def http_error(status: int, retry_after: int | None = None) -> Reply:
    return Reply(
        http_status=status,
        retry_after_seconds=retry_after,
        message=f"scripted HTTP {status}",
    )


def start(
    burnrate_launcher,
    case: Case,
    script: list[Reply],
    default: Reply = ACCEPT,
    retry=None,
):
    upstream = ScriptedUpstream(case.protocol, script=script, default=default).start()
    exporter = exporter_config(
        upstream.endpoint_url, case.protocol, retry_on_failure=retry or FAST_RETRY
    )
    burnrate = burnrate_launcher([exporter])
    return upstream, burnrate


def send_one_request(burnrate, run: str) -> set[str]:
    sender = GrpcSender(burnrate.grpc_endpoint)
    try:
        request = build_request(run, 0, SPANS)
        result = sender.send(request)
    finally:
        sender.close()
    assert result.accepted, f"burnrate refused the request: {result.status}"
    return set(span_ids(request))


def exporter_status(burnrate) -> dict:
    status, body = http_get(burnrate.admin_url + "/status")
    assert status == 200, f"GET /status returned {status}: {body[:300]}"
    exporters = json.loads(body)["exporters"]
    assert len(exporters) == 1, exporters
    return exporters[0]


FAILED_ATTEMPTS = 2

HINTED = [
    Case(
        "grpc-unavailable-retryinfo",
        GRPC,
        grpc_error(grpc.StatusCode.UNAVAILABLE, HINT_SECONDS),
    ),
    Case(
        "grpc-resource-exhausted-retryinfo",
        GRPC,
        grpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED, HINT_SECONDS),
    ),
    Case("http-503-retry-after", HTTP, http_error(503, HINT_SECONDS)),
    Case("http-429-retry-after", HTTP, http_error(429, HINT_SECONDS)),
]

UNHINTED = [
    Case("grpc-unavailable", GRPC, grpc_error(grpc.StatusCode.UNAVAILABLE)),
    Case("grpc-deadline-exceeded", GRPC, grpc_error(grpc.StatusCode.DEADLINE_EXCEEDED)),
    Case("http-429", HTTP, http_error(429)),
    Case("http-502", HTTP, http_error(502)),
    Case("http-504", HTTP, http_error(504)),
]


@pytest.mark.parametrize("case", HINTED, ids=lambda case: case.id)
def test_retry_hint_delays_retry(burnrate_launcher, case):
    upstream, burnrate = start(burnrate_launcher, case, [case.reply] * FAILED_ATTEMPTS)
    try:
        expected_ids = send_one_request(burnrate, f"hint-{case.name}")
        delivered_ids = upstream.wait_for_spans(SPANS, SETTLE_TIMEOUT_SECONDS)
        counts = wait_for_counts(burnrate, settled, SETTLE_TIMEOUT_SECONDS)
    finally:
        upstream.stop()

    attempts = upstream.attempts()
    gaps = [
        later.received_at - earlier.received_at
        for earlier, later in itertools.pairwise(attempts)
    ]
    report(
        f"hint {case.name}",
        attempts=len(attempts),
        gaps_seconds=[round(gap, 3) for gap in gaps],
        delivered=len(upstream.delivered_spans()),
        counts=counts.summary(),
    )

    assert len(attempts) == FAILED_ATTEMPTS + 1
    for number, gap in enumerate(gaps, start=1):
        assert gap >= HINT_SECONDS, (
            f"attempt {number + 1} came {gap:.3f} s after attempt {number}, "
            f"before the {HINT_SECONDS} s the upstream asked for"
        )
    assert counts.retries == FAILED_ATTEMPTS, counts.summary()
    assert counts.sent == SPANS, counts.summary()
    assert counts.failed_total == 0, counts.summary()
    assert delivered_ids == expected_ids
    assert len(upstream.delivered_spans()) == SPANS, "some span arrived twice"


@pytest.mark.parametrize("case", UNHINTED, ids=lambda case: case.id)
def test_transient_error_is_retried(burnrate_launcher, case):
    upstream, burnrate = start(burnrate_launcher, case, [case.reply] * FAILED_ATTEMPTS)
    try:
        expected_ids = send_one_request(burnrate, f"transient-{case.name}")
        delivered_ids = upstream.wait_for_spans(SPANS, SETTLE_TIMEOUT_SECONDS)
        counts = wait_for_counts(burnrate, settled, SETTLE_TIMEOUT_SECONDS)
    finally:
        upstream.stop()

    report(
        f"transient {case.name}",
        attempts=len(upstream.attempts()),
        delivered=len(upstream.delivered_spans()),
        counts=counts.summary(),
    )

    assert len(upstream.attempts()) == FAILED_ATTEMPTS + 1
    assert counts.retries == FAILED_ATTEMPTS, counts.summary()
    assert counts.sent == SPANS, counts.summary()
    assert counts.failed_total == 0, counts.summary()
    assert delivered_ids == expected_ids
    assert len(upstream.delivered_spans()) == SPANS, "some span arrived twice"


@pytest.mark.parametrize(
    "case",
    [
        Case(
            "grpc-unavailable-retryinfo-5s",
            GRPC,
            grpc_error(grpc.StatusCode.UNAVAILABLE, 5),
        ),
        Case("http-429-retry-after-5s", HTTP, http_error(429, 5)),
    ],
    ids=lambda case: case.id,
)
def test_hint_past_max_elapsed_time_drops(burnrate_launcher, case):
    """A hint that ends after `max_elapsed_time` drops the request at once as `retries_exhausted`."""
    retry = {**FAST_RETRY, "max_elapsed_time": "2s"}
    upstream, burnrate = start(
        burnrate_launcher, case, [], default=case.reply, retry=retry
    )
    try:
        send_one_request(burnrate, f"exhausted-{case.name}")
        counts = wait_for_counts(burnrate, settled, SETTLE_TIMEOUT_SECONDS)
        time.sleep(NO_RETRY_WINDOW_SECONDS)
    finally:
        upstream.stop()

    report(
        f"hint past budget {case.name}",
        attempts=len(upstream.attempts()),
        counts=counts.summary(),
    )

    assert counts.failed["retries_exhausted"] == SPANS, counts.summary()
    assert counts.failed_total == SPANS, counts.summary()
    assert counts.sent == 0, counts.summary()
    assert counts.retries == 0, counts.summary()
    assert len(upstream.attempts()) == 1


@pytest.mark.parametrize("protocol", [GRPC, HTTP])
def test_backoff_past_max_elapsed_time_drops(burnrate_launcher, protocol):
    """An upstream that stays unavailable exhausts `max_elapsed_time`, and every span is counted."""
    reply = (
        grpc_error(grpc.StatusCode.UNAVAILABLE) if protocol == GRPC else http_error(503)
    )
    case = Case(f"{protocol}-always-unavailable", protocol, reply)
    retry = {
        "initial_interval": "50ms",
        "max_interval": "200ms",
        "max_elapsed_time": "1s",
    }
    upstream, burnrate = start(burnrate_launcher, case, [], default=reply, retry=retry)
    try:
        send_one_request(burnrate, f"backoff-exhausted-{protocol}")
        counts = wait_for_counts(burnrate, settled, SETTLE_TIMEOUT_SECONDS)
    finally:
        upstream.stop()

    attempts = upstream.attempts()
    report(
        f"backoff exhausted {protocol}", attempts=len(attempts), counts=counts.summary()
    )

    assert counts.failed["retries_exhausted"] == SPANS, counts.summary()
    assert counts.failed_total == SPANS, counts.summary()
    assert counts.sent == 0, counts.summary()
    assert counts.retries == len(attempts) - 1, counts.summary()


@pytest.mark.parametrize("protocol", [GRPC, HTTP])
def test_timeout_is_retried(burnrate_launcher, protocol):
    """An attempt that gets no reply within the exporter's `timeout` is retried."""
    case = Case(f"{protocol}-no-reply-in-time", protocol, Reply(delay_seconds=3))
    upstream = ScriptedUpstream(protocol, script=[case.reply]).start()
    exporter = exporter_config(
        upstream.endpoint_url, protocol, retry_on_failure=FAST_RETRY, timeout="1s"
    )
    burnrate = burnrate_launcher([exporter])
    try:
        expected_ids = send_one_request(burnrate, f"timeout-{protocol}")
        delivered_ids = upstream.wait_for_spans(SPANS, SETTLE_TIMEOUT_SECONDS)
        counts = wait_for_counts(burnrate, settled, SETTLE_TIMEOUT_SECONDS)
    finally:
        upstream.stop()

    attempts = upstream.attempts()
    report(
        f"timeout {protocol}",
        attempts=len(attempts),
        first_answered=attempts[0].answered,
        delivered=len(upstream.delivered_spans()),
        counts=counts.summary(),
    )

    assert len(attempts) == 2
    assert not attempts[0].answered, "burnrate should have given up the first attempt"
    assert counts.retries == 1, counts.summary()
    assert counts.sent == SPANS, counts.summary()
    assert counts.failed_total == 0, counts.summary()
    assert delivered_ids == expected_ids
    assert len(upstream.delivered_spans()) == SPANS, "some span arrived twice"


@pytest.mark.parametrize("protocol", [GRPC, HTTP])
def test_partial_success_counted_not_retried(burnrate_launcher, protocol):
    rejected = 4
    reply = Reply(
        rejected_spans=rejected,
        message=f"{rejected} spans rejected by the scripted upstream",
    )
    case = Case(f"{protocol}-partial", protocol, reply)
    upstream, burnrate = start(burnrate_launcher, case, [], default=reply)
    try:
        expected_ids = send_one_request(burnrate, f"partial-{protocol}")
        upstream.wait_for_spans(SPANS, SETTLE_TIMEOUT_SECONDS)
        counts = wait_for_counts(burnrate, settled, SETTLE_TIMEOUT_SECONDS)
        time.sleep(NO_RETRY_WINDOW_SECONDS)
        status = exporter_status(burnrate)
    finally:
        upstream.stop()

    attempts = upstream.attempts()
    upstream_rejected = sum(
        attempt.reply.rejected_spans for attempt in attempts if attempt.answered
    )
    report(
        f"partial success {protocol}",
        attempts=len(attempts),
        upstream_rejected=upstream_rejected,
        counts=counts.summary(),
        status_items=status["items"]["spans"],
    )

    assert len(attempts) == 1, "a partial success must not be retried"
    assert counts.retries == 0, counts.summary()
    assert counts.rejected == upstream_rejected == rejected, counts.summary()
    assert counts.sent == SPANS, counts.summary()
    assert counts.failed_total == 0, counts.summary()
    assert upstream.delivered_span_ids() == expected_ids
    assert status["items"]["spans"]["rejected_by_upstream"] == rejected
    assert "upstream accepted the request partially" in burnrate.stderr()


PERMANENT = [
    Case("grpc-invalid-argument", GRPC, grpc_error(grpc.StatusCode.INVALID_ARGUMENT)),
    Case(
        "grpc-resource-exhausted-without-retryinfo",
        GRPC,
        grpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED),
    ),
    Case("grpc-unauthenticated", GRPC, grpc_error(grpc.StatusCode.UNAUTHENTICATED)),
    Case("http-400", HTTP, http_error(400)),
    Case("http-400-retry-after", HTTP, http_error(400, HINT_SECONDS)),
    Case("http-500", HTTP, http_error(500)),
]


@pytest.mark.parametrize("case", PERMANENT, ids=lambda case: case.id)
def test_permanent_error_drops_without_retry(burnrate_launcher, case):
    upstream, burnrate = start(burnrate_launcher, case, [], default=case.reply)
    try:
        send_one_request(burnrate, f"permanent-{case.name}")
        counts = wait_for_counts(burnrate, settled, SETTLE_TIMEOUT_SECONDS)
        time.sleep(NO_RETRY_WINDOW_SECONDS)
        status = exporter_status(burnrate)
    finally:
        upstream.stop()

    report(
        f"permanent {case.name}",
        attempts=len(upstream.attempts()),
        counts=counts.summary(),
        last_error=(status["last_error"] or {}).get("message"),
    )

    assert len(upstream.attempts()) == 1, "a permanent error must not be retried"
    assert counts.retries == 0, counts.summary()
    assert counts.failed["permanent"] == SPANS, counts.summary()
    assert counts.failed_total == SPANS, counts.summary()
    assert counts.sent == 0, counts.summary()
    assert status["items"]["spans"]["failed"]["permanent"] == SPANS
    assert case.reply.message in (status["last_error"] or {}).get("message", ""), (
        "the upstream's explanation should be part of the error"
    )
    log = burnrate.stderr()
    assert "dropped data that could not be exported" in log
    assert case.reply.message in log
