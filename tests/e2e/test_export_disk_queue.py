"""burnrate's disk queue across `kill -9` and SIGTERM: acknowledged spans are delivered
after the next start.

The first burnrate acknowledges requests over OTLP/HTTP while it cannot deliver them,
and is stopped. A second burnrate on the same queue folder, with the same exporter
name, must deliver every acknowledged span at least once and drop none.
"""

from __future__ import annotations

import re
import signal

import pytest

from export_harness import export_counts, exporter_config, report, wait_for_counts
from otlp_client import HttpSender, build_request, span_ids
from scripted_upstream import ACCEPT, GRPC, Reply, ScriptedUpstream

REQUESTS = 6
SPANS_PER_REQUEST = 10
RETRY_TIMEOUT_SECONDS = 10
DELIVERY_TIMEOUT_SECONDS = 20
KILL_TIMEOUT_SECONDS = 5
# shutdown_timeout 1 s, up to 2 s for aborted exports, and margin.
STOP_TIMEOUT_SECONDS = 10


def disk_exporter(upstream: ScriptedUpstream, queue_dir, consumers: int = 4) -> dict:
    return exporter_config(
        upstream.endpoint_url,
        GRPC,
        sending_queue={
            "storage": "disk",
            "directory": str(queue_dir),
            "num_consumers": consumers,
        },
    )


@pytest.mark.parametrize("upstream_state", ["down", "export-in-flight"])
def test_disk_queue_survives_kill(burnrate_launcher, tmp_path, upstream_state):
    """`down`: nothing listens on the upstream port before the kill. `export-in-flight`: the
    upstream received exports and holds every reply when burnrate is killed."""
    queue_dir = tmp_path / "queue"
    if upstream_state == "down":
        upstream = ScriptedUpstream(GRPC)
    else:
        upstream = ScriptedUpstream(GRPC, default=Reply(hold=True)).start()
    try:
        first = burnrate_launcher([disk_exporter(upstream, queue_dir)], name="first")
        sender = HttpSender(first.http_url)
        expected_ids: set[str] = set()
        for index in range(REQUESTS):
            request = build_request(f"disk-{upstream_state}", index, SPANS_PER_REQUEST)
            result = sender.send(request)
            assert result.accepted, (
                f"burnrate refused request {index}: HTTP {result.status}"
            )
            expected_ids.update(span_ids(request))

        if upstream_state == "down":
            before = wait_for_counts(
                first, lambda counts: counts.retries >= 1, RETRY_TIMEOUT_SECONDS
            )
            assert before.retries >= 1, before.summary()
        else:
            attempts = upstream.wait_for_attempts(1, RETRY_TIMEOUT_SECONDS)
            assert attempts, "no export reached the upstream"
            before = export_counts(first)
        assert before.accepted == len(expected_ids), before.summary()
        assert before.sent == 0, before.summary()
        assert before.failed_total == 0, before.summary()

        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=KILL_TIMEOUT_SECONDS)
        upstream.set_default(ACCEPT)
        if not upstream.running:
            upstream.start()

        second = burnrate_launcher([disk_exporter(upstream, queue_dir)], name="second")
        delivered_ids = upstream.wait_for_spans(
            len(expected_ids), DELIVERY_TIMEOUT_SECONDS
        )
        after = wait_for_counts(
            second,
            lambda counts: (
                counts.sent + counts.failed_total >= len(expected_ids)
                and counts.queue_size == 0
                and counts.in_flight == 0
            ),
            DELIVERY_TIMEOUT_SECONDS,
        )
    finally:
        upstream.stop()

    delivered = upstream.delivered_spans()
    reopened = re.search(r"disk queue opened.*queued_requests=(\d+)", second.stderr())
    report(
        f"disk queue kill -9, upstream {upstream_state}",
        client_spans=len(expected_ids),
        delivered=len(delivered),
        distinct=len(delivered_ids),
        duplicates=len(delivered) - len(delivered_ids),
        requests_on_disk_at_restart=reopened.group(1) if reopened else "not logged",
        before_kill=before.summary(),
        after_restart=after.summary(),
    )

    assert after.failed_total == 0, after.summary()
    assert after.sent == len(expected_ids), after.summary()
    missing = expected_ids - delivered_ids
    assert not missing, f"{len(missing)} acknowledged spans were lost across kill -9"
    assert delivered_ids == expected_ids


def stop_with_every_export_held(burnrate_launcher, upstream, queue_dir, run: str):
    """Start burnrate on a disk queue with one consumer, have it acknowledge REQUESTS requests
    while the upstream holds every reply, and stop it with SIGTERM.

    Returns the acknowledged span ids and burnrate's log. The consumer takes the first
    request when it arrives, so one request is in flight and the others wait.
    """
    burnrate = burnrate_launcher(
        [disk_exporter(upstream, queue_dir, consumers=1)],
        service={"shutdown_timeout": "1s"},
        name=run,
    )
    sender = HttpSender(burnrate.http_url)
    expected_ids: set[str] = set()
    for index in range(REQUESTS):
        request = build_request(run, index, SPANS_PER_REQUEST)
        result = sender.send(request)
        assert result.accepted, (
            f"burnrate refused request {index}: HTTP {result.status}"
        )
        expected_ids.update(span_ids(request))
    assert upstream.wait_for_attempts(1, RETRY_TIMEOUT_SECONDS), (
        "no export reached the upstream"
    )

    burnrate.process.send_signal(signal.SIGTERM)
    exit_code = burnrate.process.wait(timeout=STOP_TIMEOUT_SECONDS)
    log = burnrate.stderr()
    assert exit_code == 0, f"stderr:\n{log}"
    assert upstream.delivered_span_ids() == set()
    return expected_ids, log


def test_disk_queue_keeps_undelivered_on_sigterm(burnrate_launcher, tmp_path):
    """A graceful stop leaves undelivered requests on disk, counts none as dropped, and the
    next start delivers them."""
    queue_dir = tmp_path / "queue"
    upstream = ScriptedUpstream(GRPC, default=Reply(hold=True)).start()
    try:
        expected_ids, first_log = stop_with_every_export_held(
            burnrate_launcher, upstream, queue_dir, "disk-sigterm"
        )
        upstream.set_default(ACCEPT)
        second = burnrate_launcher([disk_exporter(upstream, queue_dir)], name="second")
        delivered_ids = upstream.wait_for_spans(
            len(expected_ids), DELIVERY_TIMEOUT_SECONDS
        )
        after = wait_for_counts(
            second,
            lambda counts: (
                counts.sent + counts.failed_total >= len(expected_ids)
                and counts.queue_size == 0
                and counts.in_flight == 0
            ),
            DELIVERY_TIMEOUT_SECONDS,
        )
    finally:
        upstream.stop()

    delivered = upstream.delivered_spans()
    reopened = re.search(r"disk queue opened.*queued_requests=(\d+)", second.stderr())
    report(
        "disk queue SIGTERM",
        client_spans=len(expected_ids),
        delivered=len(delivered),
        distinct=len(delivered_ids),
        duplicates=len(delivered) - len(delivered_ids),
        requests_on_disk_at_restart=reopened.group(1) if reopened else "not logged",
        after_restart=after.summary(),
    )

    assert "data was not delivered before the shutdown deadline" not in first_log
    assert reopened and int(reopened.group(1)) == REQUESTS
    assert after.failed_total == 0, after.summary()
    assert after.sent == len(expected_ids), after.summary()
    assert delivered_ids == expected_ids


def test_disk_queue_stop_logs_requests_left(burnrate_launcher, tmp_path):
    upstream = ScriptedUpstream(GRPC, default=Reply(hold=True)).start()
    try:
        _, log = stop_with_every_export_held(
            burnrate_launcher, upstream, tmp_path / "queue", "disk-stop-log"
        )
    finally:
        upstream.stop()

    left = re.search(r"requests left in the disk queue.*requests=(\d+)", log)
    report(
        "disk queue stop log",
        requests_left_logged=left.group(1) if left else "not logged",
    )

    assert left, f"burnrate did not log the requests left on disk; stderr:\n{log}"
    assert int(left.group(1)) == REQUESTS
    assert "export queue drained" not in log
