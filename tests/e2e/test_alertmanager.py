"""burnrate's alert notifiers against a real Alertmanager and a webhook receiver.

A rule fires while LLM spans arrive and resolves once they stop. The test checks that
Alertmanager's `GET /api/v2/alerts` lists the alert as active and later no longer
lists it, and that the webhook receiver got the firing and the resolved notification
with the fingerprint Alertmanager computed for the same labels.

Needs Debian's Alertmanager at /usr/bin/prometheus-alertmanager, which
scripts/debian-tools.sh installs.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import free_port, http_get, launch_burnrate, terminate_process
from otlp_client import GrpcSender, build_request

ALERTMANAGER_BIN = Path("/usr/bin/prometheus-alertmanager")
READY_TIMEOUT_SECONDS = 30
FIRE_TIMEOUT_SECONDS = 30
# The rule's range is 10 s, so the alert resolves about 10 s after the last span.
RESOLVE_TIMEOUT_SECONDS = 40
SEND_INTERVAL_SECONDS = 0.5
ALERT_NAME = "LlmTraffic"
SERVICE_NAME = "export-test"  # The service.name of otlp_client.build_request's spans.
LLM_ATTRIBUTES = {
    "gen_ai.provider.name": "anthropic",
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": "claude-sonnet-4-5",
    "gen_ai.usage.input_tokens": 100,
    "gen_ai.usage.output_tokens": 20,
}
RULES = f"""\
groups:
  - name: traffic
    rules:
      - alert: {ALERT_NAME}
        expr: sum by (service_name) (increase(burnrate_llm_requests_total{{service_name="{SERVICE_NAME}"}}[10s])) > 0
        for: 1s
        labels:
          severity: info
        annotations:
          summary: "{{{{ $labels.service_name }}}} made LLM calls"
"""
ALERTMANAGER_CONFIG = """\
route:
  receiver: discard
  group_wait: 1s
receivers:
  - name: discard
"""


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that stores every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.payloads: list[dict] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the name http.server calls)
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.payloads.append(json.loads(body))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/alerts"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def alerts(self, status: str) -> list[dict]:
        """Return the alerts named ALERT_NAME with `status` from every payload so far."""
        with self._lock:
            payloads = list(self.payloads)
        return [
            alert
            for payload in payloads
            for alert in payload["alerts"]
            if alert["labels"].get("alertname") == ALERT_NAME
            and alert["status"] == status
        ]


@pytest.fixture
def alertmanager(tmp_path):
    """Start Alertmanager on a free 127.0.0.1 port with clustering off; yield its URL."""
    assert ALERTMANAGER_BIN.is_file(), (
        f"{ALERTMANAGER_BIN} is not installed; run scripts/debian-tools.sh as root"
    )
    work_dir = tmp_path / "alertmanager"
    (work_dir / "data").mkdir(parents=True)
    config_path = work_dir / "alertmanager.yml"
    config_path.write_text(ALERTMANAGER_CONFIG)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(work_dir / "stderr.log", "wb") as stderr:
        process = subprocess.Popen(
            [
                str(ALERTMANAGER_BIN),
                f"--config.file={config_path}",
                f"--storage.path={work_dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            cwd=work_dir,
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"Alertmanager exited with {process.returncode}; stderr:\n"
                    + (work_dir / "stderr.log").read_text(errors="replace")
                )
            try:
                if http_get(url + "/-/ready", timeout_seconds=1)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"Alertmanager not ready within {READY_TIMEOUT_SECONDS} s")
            time.sleep(0.1)
        yield url
    finally:
        terminate_process(process)


@pytest.fixture
def webhook_receiver():
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


def active_alerts(alertmanager_url: str) -> list[dict]:
    """Return the alerts named ALERT_NAME that Alertmanager lists (it omits resolved ones)."""
    with urllib.request.urlopen(
        alertmanager_url + "/api/v2/alerts", timeout=2
    ) as response:
        alerts = json.loads(response.read())
    return [
        alert for alert in alerts if alert["labels"].get("alertname") == ALERT_NAME
    ]


def test_alert_fires_and_resolves(
    burnrate_bin, tmp_path, alertmanager, webhook_receiver
):
    rules_path = tmp_path / "rules.yaml"
    rules_path.write_text(RULES)
    alerts_config = {
        "evaluation_interval": "1s",
        "rule_files": [str(rules_path)],
        "notifiers": [
            {
                "name": "am",
                "kind": "alertmanager",
                "url": alertmanager,
                "repeat_interval": "2s",
            },
            {"name": "hook", "kind": "webhook", "url": webhook_receiver.url},
        ],
    }
    burnrate = launch_burnrate(
        burnrate_bin, tmp_path / "burnrate", [], alerts=alerts_config
    )
    sender = GrpcSender(burnrate.grpc_endpoint)
    try:
        # Fire: send LLM spans until Alertmanager lists the alert.
        started = time.monotonic()
        deadline = started + FIRE_TIMEOUT_SECONDS
        index = 0
        active: list[dict] = []
        while time.monotonic() < deadline and not active:
            result = sender.send(build_request("alerts", index, 2, LLM_ATTRIBUTES))
            assert result.accepted, f"burnrate refused spans: {result.status}"
            index += 1
            time.sleep(SEND_INTERVAL_SECONDS)
            active = active_alerts(alertmanager)
        fired_after = time.monotonic() - started
        assert active, (
            f"Alertmanager did not list {ALERT_NAME} within {FIRE_TIMEOUT_SECONDS} s; "
            f"burnrate stderr:\n{burnrate.stderr()}"
        )
        alert = active[0]
        assert alert["status"]["state"] == "active", alert
        assert alert["labels"] == {
            "alertname": ALERT_NAME,
            "service_name": SERVICE_NAME,
            "severity": "info",
        }
        assert alert["annotations"] == {"summary": f"{SERVICE_NAME} made LLM calls"}
        fingerprint = alert["fingerprint"]

        # Resolve: stop sending; the 10 s increase falls to 0.
        stopped = time.monotonic()
        deadline = stopped + RESOLVE_TIMEOUT_SECONDS
        while time.monotonic() < deadline and active:
            time.sleep(0.5)
            active = active_alerts(alertmanager)
        resolved_after = time.monotonic() - stopped
        assert not active, (
            f"Alertmanager still lists {ALERT_NAME} {RESOLVE_TIMEOUT_SECONDS} s after "
            f"the last span: {active}"
        )

        # The webhook notifier sends the resolution in the same evaluation.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not webhook_receiver.alerts("resolved"):
            time.sleep(0.1)
        firing = webhook_receiver.alerts("firing")
        resolved = webhook_receiver.alerts("resolved")
        assert len(firing) == 1, webhook_receiver.payloads
        assert len(resolved) == 1, webhook_receiver.payloads
        assert firing[0]["fingerprint"] == fingerprint
        assert resolved[0]["fingerprint"] == fingerprint
        assert resolved[0]["endsAt"] > resolved[0]["startsAt"]
        first_payload = webhook_receiver.payloads[0]
        assert first_payload["version"] == "4"
        assert first_payload["receiver"] == "hook"
        assert first_payload["groupLabels"] == {"alertname": ALERT_NAME}

        print(
            f"\nspan requests sent: {index}; listed in Alertmanager after "
            f"{fired_after:.1f} s; gone from Alertmanager {resolved_after:.1f} s after "
            f"the last span; webhook payloads: {len(webhook_receiver.payloads)}; "
            f"fingerprint: {fingerprint}"
        )
    finally:
        sender.close()
        terminate_process(burnrate.process)
    assert burnrate.process.returncode == 0, burnrate.stderr()
