"""Shared steps of the export tests: exporter configs, burnrate's counters and bounded waits.

Every figure is read from burnrate's `/metrics` for the one exporter a test configures.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import prometheus_text
from conftest import Burnrate, http_get

EXPORTER = "upstream"
DROP_REASONS = ("permanent", "retries_exhausted", "shutdown")
POLL_SECONDS = 0.05


def exporter_config(upstream_url: str, protocol: str, **sections) -> dict:
    """Return one `exporters` entry named EXPORTER for traces, with fast retries.

    The retry backoff starts at 100 ms and stays under 400 ms, so an upstream that comes
    back is reached soon. Keyword arguments replace whole sections or keys, such as
    `sending_queue={...}`.
    """
    exporter = {
        "name": EXPORTER,
        "endpoint": upstream_url,
        "protocol": protocol,
        "signals": ["traces"],
        "timeout": "5s",
        "retry_on_failure": {
            "initial_interval": "100ms",
            "max_interval": "400ms",
            "max_elapsed_time": "60s",
        },
        "batch": {"timeout": "0s"},
    }
    exporter.update(sections)
    return exporter


def scrape(burnrate: Burnrate) -> list[prometheus_text.Sample]:
    status, text = http_get(burnrate.metrics_url)
    assert status == 200, f"GET {burnrate.metrics_url} returned {status}: {text[:300]}"
    return prometheus_text.parse(text)


def metric(samples: list[prometheus_text.Sample], name: str, **labels: str) -> float:
    """Return the sum of the series of `name` that have `labels`, or 0 when there is none."""
    return sum(sample.value for sample in prometheus_text.find(samples, name, labels))


@dataclass(frozen=True)
class ExportCounts:
    """burnrate's span counters for EXPORTER at one scrape."""

    accepted: int
    refused: int
    sent: int
    rejected: int
    failed: dict[str, int]
    retries: int
    queue_size: int
    in_flight: int

    @property
    def failed_total(self) -> int:
        return sum(self.failed.values())

    def summary(self) -> str:
        failed = ", ".join(f"{reason}={count}" for reason, count in self.failed.items())
        return (
            f"accepted={self.accepted} refused={self.refused} sent={self.sent} "
            f"rejected={self.rejected} failed[{failed}] retries={self.retries} "
            f"queue_size={self.queue_size} in_flight={self.in_flight}"
        )


def export_counts(burnrate: Burnrate) -> ExportCounts:
    samples = scrape(burnrate)
    exporter = {"exporter": EXPORTER}
    return ExportCounts(
        accepted=int(metric(samples, "burnrate_receiver_accepted_spans_total")),
        refused=int(metric(samples, "burnrate_receiver_refused_spans_total")),
        sent=int(metric(samples, "burnrate_exporter_sent_spans_total", **exporter)),
        rejected=int(
            metric(samples, "burnrate_exporter_rejected_spans_total", **exporter)
        ),
        failed={
            reason: int(
                metric(
                    samples,
                    "burnrate_exporter_send_failed_spans_total",
                    **exporter,
                    reason=reason,
                )
            )
            for reason in DROP_REASONS
        },
        retries=int(metric(samples, "burnrate_exporter_retries_total", **exporter)),
        queue_size=int(metric(samples, "burnrate_queue_size", **exporter)),
        in_flight=int(
            metric(samples, "burnrate_exporter_in_flight_requests", **exporter)
        ),
    )


def wait_for_counts(
    burnrate: Burnrate, condition, timeout_seconds: float
) -> ExportCounts:
    """Scrape every 0.05 s until `condition(counts)` is true or the timeout passes.

    Returns the last counts either way, so the caller's assert shows them.
    """
    deadline = time.monotonic() + timeout_seconds
    counts = export_counts(burnrate)
    while not condition(counts) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        counts = export_counts(burnrate)
    return counts


def settled(counts: ExportCounts) -> bool:
    """Return whether every accepted span was sent or given up, and nothing waits or is in flight."""
    return (
        counts.sent + counts.failed_total == counts.accepted
        and counts.queue_size == 0
        and counts.in_flight == 0
    )


def report(name: str, **figures) -> None:
    """Print one line of figures, which `pytest -s` or a failure's captured output shows."""
    print(f"[{name}] " + " ".join(f"{key}={value}" for key, value in figures.items()))
