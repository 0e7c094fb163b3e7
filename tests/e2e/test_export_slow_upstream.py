"""burnrate's exporter in front of a slow upstream: bounded queue, bounded concurrency, no loss.

The upstream holds its first two replies until the test releases them, so both
consumers are busy and the queue fills to `sending_queue.queue_size`. burnrate must
then refuse further requests: gRPC with UNAVAILABLE, HTTP with 503. After the
release, every reply comes after a 0.2 s delay. The client resends refused requests,
and every acknowledged span must arrive once.
"""

from __future__ import annotations

import threading
import time

from export_harness import (
    EXPORTER,
    export_counts,
    exporter_config,
    metric,
    report,
    scrape,
    settled,
    wait_for_counts,
)
from otlp_client import GrpcSender, HttpSender, build_request, span_ids
from scripted_upstream import GRPC, Reply, ScriptedUpstream

QUEUE_SIZE = 5
CONSUMERS = 2
SPANS_PER_REQUEST = 4
TOTAL_REQUESTS = 40
MAX_SENDS_BEFORE_FULL = 100
MAX_RESENDS = 200
RESEND_PAUSE_SECONDS = 0.02
SAMPLE_PAUSE_SECONDS = 0.02
MAX_SAMPLING_SECONDS = 60
SETTLE_TIMEOUT_SECONDS = 30


class GaugeSampler(threading.Thread):
    """Scrapes burnrate every 0.02 s and keeps the largest queue size and in-flight count."""

    def __init__(self, burnrate) -> None:
        super().__init__(daemon=True)
        self.burnrate = burnrate
        self.stop_requested = threading.Event()
        self.max_queue_size = 0
        self.max_in_flight = 0
        self.samples = 0

    def run(self) -> None:
        deadline = time.monotonic() + MAX_SAMPLING_SECONDS
        while not self.stop_requested.is_set() and time.monotonic() < deadline:
            counts = export_counts(self.burnrate)
            self.max_queue_size = max(self.max_queue_size, counts.queue_size)
            self.max_in_flight = max(self.max_in_flight, counts.in_flight)
            self.samples += 1
            self.stop_requested.wait(SAMPLE_PAUSE_SECONDS)

    def finish(self) -> None:
        self.stop_requested.set()
        self.join(timeout=5)


def test_slow_upstream_bounded_and_lossless(burnrate_launcher):
    slow_reply = Reply(delay_seconds=0.2)
    held_reply = Reply(hold=True)
    upstream = ScriptedUpstream(
        GRPC, script=[held_reply, held_reply], default=slow_reply
    ).start()
    exporter = exporter_config(
        upstream.endpoint_url,
        GRPC,
        sending_queue={"queue_size": QUEUE_SIZE, "num_consumers": CONSUMERS},
    )
    burnrate = burnrate_launcher([exporter])
    capacity = metric(scrape(burnrate), "burnrate_queue_capacity", exporter=EXPORTER)
    assert capacity == QUEUE_SIZE

    sender = GrpcSender(burnrate.grpc_endpoint)
    sampler = GaugeSampler(burnrate)
    sampler.start()
    accepted_ids: set[str] = set()
    refused_spans = 0
    refusal_statuses: set[str] = set()
    try:
        # Phase 1: both consumers wait on held replies, so the queue must fill.
        first_refused = None
        for index in range(MAX_SENDS_BEFORE_FULL):
            request = build_request("slow", index, SPANS_PER_REQUEST)
            result = sender.send(request)
            if not result.accepted:
                refused_spans += SPANS_PER_REQUEST
                refusal_statuses.add(result.status)
                first_refused = index
                break
            accepted_ids.update(span_ids(request))
        assert first_refused is not None, (
            f"burnrate accepted {MAX_SENDS_BEFORE_FULL} requests while its consumers were blocked"
        )
        full = export_counts(burnrate)
        assert full.queue_size == QUEUE_SIZE, (
            f"queue not full at the first refusal: {full.summary()}"
        )
        assert full.in_flight == CONSUMERS, full.summary()
        assert len(upstream.attempts()) == CONSUMERS
        # The OTLP/HTTP receiver refuses the same request with 503 and `Retry-After: 1`.
        http_result = HttpSender(burnrate.http_url).send(
            build_request("slow", first_refused, SPANS_PER_REQUEST)
        )
        assert not http_result.accepted
        refused_spans += SPANS_PER_REQUEST
        assert http_result.status == "503"
        assert http_result.retry_after == "1"

        # Phase 2: replies flow again, each after the delay. The client resends whatever is refused.
        upstream.release(CONSUMERS)
        for index in range(first_refused, TOTAL_REQUESTS):
            request = build_request("slow", index, SPANS_PER_REQUEST)
            for _ in range(MAX_RESENDS):
                result = sender.send(request)
                if result.accepted:
                    accepted_ids.update(span_ids(request))
                    break
                refused_spans += SPANS_PER_REQUEST
                refusal_statuses.add(result.status)
                time.sleep(RESEND_PAUSE_SECONDS)
            else:
                raise AssertionError(f"request {index} was refused {MAX_RESENDS} times")

        delivered_ids = upstream.wait_for_spans(
            len(accepted_ids), SETTLE_TIMEOUT_SECONDS
        )
        counts = wait_for_counts(burnrate, settled, SETTLE_TIMEOUT_SECONDS)
    finally:
        sampler.finish()
        sender.close()
        upstream.stop()

    delivered = upstream.delivered_spans()
    report(
        "slow upstream",
        client_spans=len(accepted_ids),
        client_refused_spans=refused_spans,
        delivered=len(delivered),
        distinct=len(delivered_ids),
        attempts=len(upstream.attempts()),
        max_queue_size=sampler.max_queue_size,
        max_in_flight=sampler.max_in_flight,
        max_upstream_concurrency=upstream.max_concurrent_attempts(),
        scrapes=sampler.samples,
        counts=counts.summary(),
    )

    assert refusal_statuses == {"UNAVAILABLE"}
    assert counts.refused == refused_spans, counts.summary()
    assert counts.accepted == len(accepted_ids), counts.summary()
    assert counts.sent == len(accepted_ids), counts.summary()
    assert counts.failed_total == 0, counts.summary()
    assert delivered_ids == accepted_ids
    assert len(delivered) == len(accepted_ids), "some span arrived twice"
    assert sampler.max_queue_size <= QUEUE_SIZE
    assert sampler.max_in_flight <= CONSUMERS
    assert upstream.max_concurrent_attempts() <= CONSUMERS
