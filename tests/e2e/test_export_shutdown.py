"""burnrate's graceful shutdown with a memory queue and a slow upstream.

One consumer and 1 MiB batches of 600 KB requests make every export carry exactly one
request of 10 spans. The upstream holds every reply until the test releases it. After
SIGTERM, the test releases two replies, so two requests are delivered within
`service.shutdown_timeout`, and the third export is still held at the deadline. Spans
delivered plus spans counted with reason `shutdown` must equal spans accepted.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time

import pytest

from conftest import http_get
from export_harness import export_counts, exporter_config, report, wait_for_counts
from otlp_client import GrpcSender, build_request, span_ids
from scripted_upstream import PROTOCOLS, Reply, ScriptedUpstream

REQUESTS = 6
SPANS_PER_REQUEST = 10
# 10 spans of 60,000 bytes each make a request larger than half of a 1 MiB batch.
PADDING_BYTES = 60_000
RELEASED = 2
SHUTDOWN_TIMEOUT_SECONDS = 3
# burnrate waits up to 2 s for aborted exports after the deadline, and the rest is margin.
EXIT_TIMEOUT_SECONDS = SHUTDOWN_TIMEOUT_SECONDS + 2 + 10
READY_CHANGE_TIMEOUT_SECONDS = 5
SETUP_TIMEOUT_SECONDS = 10


def readyz_status(burnrate) -> int | None:
    """Return the status of GET /readyz, or None when the admin listener is closed."""
    try:
        status, _ = http_get(burnrate.admin_url + "/readyz", timeout_seconds=1)
    except OSError:
        return None
    return status


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_sigterm_drains_then_counts_the_rest(burnrate_launcher, protocol):
    upstream = ScriptedUpstream(protocol, default=Reply(hold=True)).start()
    exporter = exporter_config(
        upstream.endpoint_url,
        protocol,
        sending_queue={"num_consumers": 1},
        batch={"send_batch_max_size_mib": 1, "timeout": "0s"},
    )
    burnrate = burnrate_launcher(
        [exporter], service={"shutdown_timeout": f"{SHUTDOWN_TIMEOUT_SECONDS}s"}
    )
    try:
        sender = GrpcSender(burnrate.grpc_endpoint)
        accepted_ids: set[str] = set()
        try:
            for index in range(REQUESTS):
                request = build_request(
                    f"shutdown-{protocol}",
                    index,
                    SPANS_PER_REQUEST,
                    padding_bytes=PADDING_BYTES,
                )
                result = sender.send(request)
                assert result.accepted, (
                    f"burnrate refused request {index}: {result.status}"
                )
                accepted_ids.update(span_ids(request))
        finally:
            sender.close()
        before = wait_for_counts(
            burnrate,
            lambda counts: counts.in_flight == 1 and counts.queue_size == REQUESTS - 1,
            SETUP_TIMEOUT_SECONDS,
        )
        assert before.accepted == len(accepted_ids), before.summary()
        assert before.in_flight == 1, before.summary()
        assert before.queue_size == REQUESTS - 1, before.summary()
        assert readyz_status(burnrate) == 200

        sigterm_at = time.monotonic()
        burnrate.process.send_signal(signal.SIGTERM)
        ready_statuses = []
        deadline = time.monotonic() + READY_CHANGE_TIMEOUT_SECONDS
        while time.monotonic() < deadline and burnrate.process.poll() is None:
            ready_statuses.append(readyz_status(burnrate))
            if ready_statuses[-1] == 503:
                break
            time.sleep(0.05)
        healthz_while_draining, _ = http_get(
            burnrate.admin_url + "/healthz", timeout_seconds=1
        )
        upstream.release(RELEASED)
        try:
            exit_code = burnrate.process.wait(timeout=EXIT_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"burnrate did not exit within {EXIT_TIMEOUT_SECONDS} s of SIGTERM; "
                f"stderr:\n{burnrate.stderr()}"
            )
        exited_after = time.monotonic() - sigterm_at
    finally:
        upstream.stop()

    log = burnrate.stderr()
    dropped_match = re.search(
        r"data was not delivered before the shutdown deadline.*dropped_items=(\d+)", log
    )
    dropped = int(dropped_match.group(1)) if dropped_match else 0
    attempts = upstream.attempts()
    delivered = upstream.delivered_spans()
    delivered_ids = {span["span_id"] for span in delivered}
    report(
        f"shutdown {protocol}",
        accepted=len(accepted_ids),
        delivered=len(delivered),
        shutdown_dropped=dropped,
        attempts=len(attempts),
        answered_after_sigterm_seconds=[
            round(attempt.answered_at - sigterm_at, 3)
            for attempt in attempts
            if attempt.answered
        ],
        readyz_after_sigterm=ready_statuses,
        healthz_while_draining=healthz_while_draining,
        exit_code=exit_code,
        exited_after_seconds=round(exited_after, 3),
    )

    assert 503 in ready_statuses, f"/readyz after SIGTERM returned {ready_statuses}"
    assert healthz_while_draining == 200, (
        "/healthz should return 200 until burnrate exits"
    )

    assert exit_code == 0, f"stderr:\n{log}"
    assert dropped_match, f"burnrate logged no shutdown drop count; stderr:\n{log}"
    assert len(delivered) + dropped == len(accepted_ids)
    assert len(delivered) == RELEASED * SPANS_PER_REQUEST
    assert len(delivered_ids) == len(delivered), "some span arrived twice"
    assert delivered_ids <= accepted_ids
    assert len(attempts) == RELEASED + 1, (
        "after the deadline burnrate should start no export"
    )

    assert not attempts[-1].answered


@pytest.mark.parametrize("upstream_state", ["down", "retry-after-30s"])
def test_sigterm_during_retry_wait(burnrate_launcher, upstream_state):
    """Exports waiting between retries at the deadline are counted with reason `shutdown`.

    `down`: nothing listens on the upstream port. `retry-after-30s`: the upstream responds with
    503 with `Retry-After: 30`, longer than `service.shutdown_timeout`.
    """
    if upstream_state == "down":
        upstream = ScriptedUpstream(PROTOCOLS[0])
    else:
        upstream = ScriptedUpstream(
            PROTOCOLS[1], default=Reply(http_status=503, retry_after_seconds=30)
        )
        upstream.start()
    exporter = exporter_config(
        upstream.endpoint_url,
        upstream.protocol,
        retry_on_failure={"max_elapsed_time": "300s"},
    )
    burnrate = burnrate_launcher([exporter], service={"shutdown_timeout": "1s"})
    try:
        sender = GrpcSender(burnrate.grpc_endpoint)
        accepted_ids: set[str] = set()
        try:
            for index in range(3):
                request = build_request(
                    f"retry-wait-{upstream_state}", index, SPANS_PER_REQUEST
                )
                result = sender.send(request)
                assert result.accepted, (
                    f"burnrate refused request {index}: {result.status}"
                )
                accepted_ids.update(span_ids(request))
        finally:
            sender.close()
        before = wait_for_counts(
            burnrate, lambda counts: counts.retries >= 1, SETUP_TIMEOUT_SECONDS
        )
        burnrate.process.send_signal(signal.SIGTERM)
        exit_code = burnrate.process.wait(timeout=EXIT_TIMEOUT_SECONDS)
    finally:
        upstream.stop()

    log = burnrate.stderr()
    dropped_match = re.search(
        r"data was not delivered before the shutdown deadline.*dropped_items=(\d+)", log
    )
    dropped = int(dropped_match.group(1)) if dropped_match else 0
    report(
        f"shutdown during retry wait, upstream {upstream_state}",
        accepted=len(accepted_ids),
        delivered=len(upstream.delivered_spans()),
        shutdown_dropped=dropped,
        before_sigterm=before.summary(),
        exit_code=exit_code,
    )

    assert before.retries >= 1, before.summary()
    assert exit_code == 0, f"stderr:\n{log}"
    assert upstream.delivered_spans() == []
    assert dropped == len(accepted_ids), f"stderr:\n{log}"


def test_sigterm_with_empty_queue_exits_cleanly(burnrate_launcher):
    """A burnrate with nothing queued logs that the queue drained and exits with 0."""
    upstream = ScriptedUpstream(PROTOCOLS[0]).start()
    burnrate = burnrate_launcher([exporter_config(upstream.endpoint_url, PROTOCOLS[0])])
    try:
        counts = export_counts(burnrate)
        burnrate.process.send_signal(signal.SIGTERM)
        exit_code = burnrate.process.wait(timeout=EXIT_TIMEOUT_SECONDS)
    finally:
        upstream.stop()

    log = burnrate.stderr()
    assert counts.accepted == 0
    assert exit_code == 0, f"stderr:\n{log}"
    assert "export queue drained" in log
    assert "data was not delivered" not in log
