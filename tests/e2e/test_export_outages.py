"""burnrate's exporter when the upstream is unreachable: at start, and for a while mid-stream.

Connection failures are transient, so burnrate retries and delivers every acknowledged
span once the upstream listens again. Spans sent by the client equal spans delivered
to the upstream plus spans counted in `burnrate_exporter_send_failed_spans_total`.
"""

from __future__ import annotations

import time

import pytest

from conftest import free_port
from export_harness import exporter_config, report, settled, wait_for_counts
from otlp_client import GrpcSender, build_request, span_ids
from scripted_upstream import (
    GRPC,
    HTTP2_INTERNAL_ERROR,
    HTTP2_NO_ERROR,
    PROTOCOLS,
    GoawayUpstream,
    ScriptedUpstream,
)

DELIVERY_TIMEOUT_SECONDS = 20
RETRY_TIMEOUT_SECONDS = 10
SPANS_PER_REQUEST = 10


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_upstream_down_at_start(burnrate_launcher, protocol):
    upstream = ScriptedUpstream(
        protocol
    )  # its port is reserved but nothing listens yet
    burnrate = burnrate_launcher([exporter_config(upstream.endpoint_url, protocol)])
    sender = GrpcSender(burnrate.grpc_endpoint)
    expected_ids: set[str] = set()
    try:
        for index in range(5):
            request = build_request(
                f"down-at-start-{protocol}", index, SPANS_PER_REQUEST
            )
            result = sender.send(request)
            assert result.accepted, f"burnrate refused request {index}: {result.status}"
            expected_ids.update(span_ids(request))

        before = wait_for_counts(
            burnrate, lambda counts: counts.retries >= 2, RETRY_TIMEOUT_SECONDS
        )
        assert before.retries >= 2, (
            f"no retries while the upstream was down: {before.summary()}"
        )
        assert before.sent == 0, before.summary()
        assert before.failed_total == 0, before.summary()

        upstream.start()
        delivered_ids = upstream.wait_for_spans(
            len(expected_ids), DELIVERY_TIMEOUT_SECONDS
        )
        after = wait_for_counts(burnrate, settled, DELIVERY_TIMEOUT_SECONDS)
        delivered = upstream.delivered_spans()
        report(
            f"down at start {protocol}",
            client_spans=len(expected_ids),
            delivered=len(delivered),
            distinct=len(delivered_ids),
            retries_while_down=before.retries,
            counts=after.summary(),
        )
        assert after.accepted == len(expected_ids), after.summary()
        assert after.sent == len(expected_ids), after.summary()
        assert after.failed_total == 0, after.summary()
        assert delivered_ids == expected_ids
        assert len(delivered) == len(expected_ids), "some span arrived twice"
    finally:
        sender.close()
        upstream.stop()




@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_upstream_down_mid_stream(burnrate_launcher, protocol):
    """The upstream stops after request 15 of 60 and listens again after request 35.

    With gRPC, a request in transit when the upstream stops can get a GOAWAY, which
    burnrate retries like any broken connection.
    """
    upstream = ScriptedUpstream(protocol).start()
    burnrate = burnrate_launcher([exporter_config(upstream.endpoint_url, protocol)])
    sender = GrpcSender(burnrate.grpc_endpoint)
    expected_ids: set[str] = set()
    spans_per_request = 5
    try:
        for index in range(60):
            request = build_request(f"mid-stream-{protocol}", index, spans_per_request)
            result = sender.send(request)
            assert result.accepted, f"burnrate refused request {index}: {result.status}"
            expected_ids.update(span_ids(request))
            if index == 15:
                upstream.stop()
            elif index == 35:
                upstream.start()
            time.sleep(0.02)

        counts = wait_for_counts(burnrate, settled, DELIVERY_TIMEOUT_SECONDS)
        # Spans that burnrate dropped never arrive, so the wait does not include them.
        delivered_ids = upstream.wait_for_spans(
            len(expected_ids) - counts.failed_total, DELIVERY_TIMEOUT_SECONDS
        )
    finally:
        sender.close()
        upstream.stop()

    delivered = upstream.delivered_spans()
    report(
        f"down mid-stream {protocol}",
        client_spans=len(expected_ids),
        delivered=len(delivered),
        distinct=len(delivered_ids),
        duplicates=len(delivered) - len(delivered_ids),
        attempts=len(upstream.attempts()),
        counts=counts.summary(),
    )
    assert counts.accepted == len(expected_ids), counts.summary()
    assert counts.retries > 0, (
        f"no retries while the upstream was down: {counts.summary()}"
    )
    assert counts.sent + counts.failed_total == len(expected_ids), counts.summary()
    assert delivered_ids <= expected_ids
    assert len(delivered_ids) + counts.failed_total == len(expected_ids), (
        f"spans delivered plus spans counted as failed differ from spans sent: "
        f"{len(delivered_ids)} delivered, {counts.summary()}"
    )
    assert counts.failed_total == 0, counts.summary()
    missing = expected_ids - delivered_ids
    attempts_with_missing = [
        (attempt.number, attempt.answered, len(attempt.spans))
        for attempt in upstream.attempts()
        if missing & {span["span_id"] for span in attempt.spans}
    ]
    assert not missing, (
        f"{len(missing)} acknowledged spans never reached the upstream; attempts "
        f"that carried them (number, answered, spans): {attempts_with_missing}"
    )


@pytest.mark.parametrize(
    "error_code",
    [HTTP2_NO_ERROR, HTTP2_INTERNAL_ERROR],
    ids=["goaway-no-error", "goaway-internal-error"],
)
def test_goaway_before_processing_is_retried(burnrate_launcher, error_code):
    """A gRPC upstream that shuts down sends GOAWAY. A request it never processed must be
    retried: the connection broke, which docs/configuration.md lists as transient.

    NO_ERROR is the code of a graceful shutdown (RFC 9113, section 6.8). INTERNAL_ERROR
    with the debug data "Cancelling all calls" is what the grpcio 1.85 upstream of
    test_upstream_down_mid_stream sends when it stops.
    """
    port = free_port()
    goaway = GoawayUpstream(port, error_code, b"Cancelling all calls")
    upstream = ScriptedUpstream(GRPC, port=port)
    burnrate = burnrate_launcher([exporter_config(upstream.endpoint_url, GRPC)])
    sender = GrpcSender(burnrate.grpc_endpoint)
    try:
        request = build_request(f"goaway-{error_code}", 0, SPANS_PER_REQUEST)
        result = sender.send(request)
        assert result.accepted, f"burnrate refused the request: {result.status}"
        assert goaway.goaway_sent.wait(RETRY_TIMEOUT_SECONDS), (
            "no request reached the server"
        )
        goaway.stop()
        upstream.start()
        counts = wait_for_counts(burnrate, settled, DELIVERY_TIMEOUT_SECONDS)
    finally:
        sender.close()
        goaway.stop()
        upstream.stop()

    report(
        f"goaway {error_code}",
        delivered=len(upstream.delivered_spans()),
        counts=counts.summary(),
    )
    assert counts.failed["permanent"] == 0, counts.summary()
    assert counts.sent == SPANS_PER_REQUEST, counts.summary()
    assert upstream.delivered_span_ids() == set(span_ids(request))
