"""A Debian Prometheus server for the end-to-end tests, on a free 127.0.0.1 port.

The binary is /usr/bin/prometheus from Debian's prometheus package, which
scripts/debian-tools.sh installs.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest

from conftest import free_port, http_get

PROMETHEUS_BIN = Path("/usr/bin/prometheus")
PROMETHEUS_READY_TIMEOUT_SECONDS = 30
# Long enough for two rule evaluations of burnrate (alerts.evaluation_interval
# defaults to 15 s) and a few scrapes after them.
QUERY_TIMEOUT_SECONDS = 60


class Prometheus:
    """A Prometheus server on 127.0.0.1 that scrapes its targets and evaluates
    its rule files every second."""

    def __init__(self, work_dir: Path, targets: list[str], rule_files: list[Path] = ()):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(path) for path in rule_files],
            "scrape_configs": [
                {"job_name": "burnrate", "static_configs": [{"targets": targets}]}
            ],
        }
        config_path = work_dir / "prometheus.yml"
        # JSON is valid YAML, so Prometheus reads it unchanged.
        config_path.write_text(json.dumps(config, indent=2) + "\n")
        self.log_path = work_dir / "prometheus.log"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [
                    str(PROMETHEUS_BIN),
                    f"--config.file={config_path}",
                    f"--storage.tsdb.path={work_dir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + PROMETHEUS_READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"prometheus exited early:\n{self.log_path.read_text()}")
            try:
                if http_get(self.url + "/-/ready", timeout_seconds=1)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        pytest.fail(
            f"prometheus was not ready within {PROMETHEUS_READY_TIMEOUT_SECONDS} s:\n"
            f"{self.log_path.read_text()}"
        )

    def query(self, expression: str) -> list[dict]:
        """Run an instant query and return its result vector."""
        url = self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": expression})
        status, body = http_get(url, timeout_seconds=5)
        assert status == 200, f"query {expression!r} returned {status}: {body[:500]}"
        return json.loads(body)["data"]["result"]

    def query_until_data(self, expression: str) -> list[dict]:
        """Repeat the query every 0.5 s until it returns a series, or time out."""
        deadline = time.monotonic() + QUERY_TIMEOUT_SECONDS
        result = self.query(expression)
        while not result and time.monotonic() < deadline:
            time.sleep(0.5)
            result = self.query(expression)
        return result

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
