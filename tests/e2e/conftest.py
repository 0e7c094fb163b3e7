"""Fixtures that start the fake provider, the upstream receiver and the burnrate binary.

Every server listens on 127.0.0.1 on a port picked free at start. burnrate's binary
comes from $BURNRATE_BIN, or target/debug/burnrate under the repository root.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from fake_provider import FakeProvider
from upstream import Upstream

E2E_DIR = Path(__file__).resolve().parent
REPO_ROOT = E2E_DIR.parents[1]
READY_TIMEOUT_SECONDS = 30
STOP_TIMEOUT_SECONDS = 15
CLIENT_APP_TIMEOUT_SECONDS = 120


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free when checked."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http_get(url: str, timeout_seconds: float = 2.0) -> tuple[int, str]:
    """GET `url` and return the status code and body, also for an HTTP error status."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_seconds) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


@dataclass
class Burnrate:
    """A running burnrate process and the addresses it listens on."""

    process: subprocess.Popen
    config_path: Path
    stderr_path: Path
    grpc_endpoint: str
    metrics_url: str
    admin_url: str
    # The OTLP/HTTP receiver's base URL, or "" where the config leaves it at its default.
    http_url: str = ""

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


CONFIG_TEMPLATE = """\
receivers:
  otlp:
    grpc: {{ endpoint: 127.0.0.1:{grpc_port} }}
    http: {{ endpoint: 127.0.0.1:{http_port} }}
metrics:
  prometheus: {{ endpoint: 127.0.0.1:{metrics_port} }}
admin: {{ endpoint: 127.0.0.1:{admin_port} }}
exporters:
  - name: upstream
    endpoint: http://127.0.0.1:{upstream_port}
    protocol: grpc
ledger:
  labels: [deployment.environment]
  time_zone: {time_zone}
  min_projection_basis: 1s
  budgets:
    - {{ name: checkout-month, period: month, amount_usd: 0.01, selector: '{{service_name="checkout"}}' }}
    - {{ name: all-day, period: day, amount_usd: 5, selector: '' }}
"""
# The ledger's time zone in CONFIG_TEMPLATE: far from UTC, so that its calendar
# day differs from UTC's for about half of every day.
LEDGER_TIME_ZONE = "Pacific/Chatham"
# The resource attribute that client_app's spans carry and CONFIG_TEMPLATE
# turns into a label.
DEPLOYMENT_ENVIRONMENT = "e2e"


@pytest.fixture(scope="session")
def burnrate_bin() -> Path:
    path = Path(
        os.environ.get("BURNRATE_BIN", REPO_ROOT / "target" / "debug" / "burnrate")
    )
    if not path.is_absolute():
        path = REPO_ROOT / path
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"burnrate binary not found or not executable at {path}; "
            "run `cargo build` or set BURNRATE_BIN"
        )
    return path


@pytest.fixture(scope="module")
def fake_provider():
    provider = FakeProvider().start()
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
def upstream():
    receiver = Upstream().start()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
def burnrate(burnrate_bin, upstream, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp("burnrate")
    grpc_port, http_port = free_port(), free_port()
    metrics_port, admin_port = free_port(), free_port()
    config_path = work_dir / "burnrate.yaml"
    config_path.write_text(
        CONFIG_TEMPLATE.format(
            grpc_port=grpc_port,
            http_port=http_port,
            metrics_port=metrics_port,
            admin_port=admin_port,
            upstream_port=upstream.port,
            time_zone=LEDGER_TIME_ZONE,
        )
    )
    stderr_path = work_dir / "stderr.log"
    with (
        open(work_dir / "stdout.log", "wb") as stdout,
        open(stderr_path, "wb") as stderr,
    ):
        process = subprocess.Popen(
            [str(burnrate_bin), "run", "--config", str(config_path)],
            stdout=stdout,
            stderr=stderr,
            cwd=work_dir,
        )
    instance = Burnrate(
        process=process,
        config_path=config_path,
        stderr_path=stderr_path,
        grpc_endpoint=f"127.0.0.1:{grpc_port}",
        metrics_url=f"http://127.0.0.1:{metrics_port}/metrics",
        admin_url=f"http://127.0.0.1:{admin_port}",
        http_url=f"http://127.0.0.1:{http_port}",
    )
    try:
        wait_until_ready(instance)
        yield instance
    finally:
        stop_process(instance)


def wait_until_ready(instance: Burnrate) -> None:
    """Poll GET /readyz every 0.1 s until it returns 200, or fail the test with burnrate's stderr."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    last_error = "no attempt made"
    while time.monotonic() < deadline:
        if instance.process.poll() is not None:
            pytest.fail(
                f"burnrate exited with code {instance.process.returncode} before ready; "
                f"stderr:\n{instance.stderr()}"
            )
        try:
            status, body = http_get(instance.admin_url + "/readyz", timeout_seconds=1)
            if status == 200:
                return
            last_error = f"status {status}: {body[:200]}"
        except OSError as error:
            last_error = str(error)
        time.sleep(0.1)
    pytest.fail(
        f"burnrate /readyz did not return 200 within {READY_TIMEOUT_SECONDS} s "
        f"(last: {last_error}); stderr:\n{instance.stderr()}"
    )


def stop_process(instance: Burnrate) -> None:
    """Send SIGTERM and wait. Send SIGKILL and fail the test if burnrate is still running."""
    process = instance.process
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
        pytest.fail(
            f"burnrate did not exit within {STOP_TIMEOUT_SECONDS} s of SIGTERM and was "
            f"killed; stderr:\n{instance.stderr()}"
        )


def run_client_app(
    provider_url: str,
    otlp_endpoint: str,
    service_name: str,
    cases: list[str],
    output: Path,
    compression: str | None = None,
) -> dict:
    """Run client_app.py in a fresh interpreter and return the spans it recorded.

    `compression` is the OTLP exporter's request compression, such as `gzip`;
    None sends uncompressed requests.
    """
    command = [
        sys.executable,
        str(E2E_DIR / "client_app.py"),
        "--provider-url", provider_url,
        "--otlp-endpoint", otlp_endpoint,
        "--service-name", service_name,
        "--cases", ",".join(cases),
        "--output", str(output),
    ]  # fmt: skip
    environment = dict(os.environ)
    environment["OTEL_RESOURCE_ATTRIBUTES"] = (
        f"deployment.environment={DEPLOYMENT_ENVIRONMENT}"
    )
    environment.pop("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", None)
    if compression is not None:
        environment["OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"] = compression
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=CLIENT_APP_TIMEOUT_SECONDS,
        env=environment,
    )
    assert completed.returncode == 0, (
        f"client_app exited with {completed.returncode}; stderr:\n{completed.stderr}"
    )
    return json.loads(output.read_text())


def launch_burnrate(
    burnrate_bin: Path,
    work_dir: Path,
    exporters: list[dict],
    service: dict | None = None,
    alerts: dict | None = None,
) -> Burnrate:
    """Start burnrate with every listener on a free 127.0.0.1 port and wait for /readyz.

    `exporters` is the config's `exporters` list, `service` its `service` section and
    `alerts` its `alerts` section, as Python values. The config is written as JSON,
    which YAML reads unchanged.
    RUST_LOG is removed from burnrate's environment, so `service.log_level` applies.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    grpc_port, http_port, metrics_port, admin_port = (free_port() for _ in range(4))
    config = {
        "receivers": {
            "otlp": {
                "grpc": {"endpoint": f"127.0.0.1:{grpc_port}"},
                "http": {"endpoint": f"127.0.0.1:{http_port}"},
            }
        },
        "metrics": {"prometheus": {"endpoint": f"127.0.0.1:{metrics_port}"}},
        "admin": {"endpoint": f"127.0.0.1:{admin_port}"},
        "exporters": exporters,
        "service": service or {},
    }
    if alerts is not None:
        config["alerts"] = alerts
    config_path = work_dir / "burnrate.yaml"
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    stderr_path = work_dir / "stderr.log"
    environment = dict(os.environ)
    environment.pop("RUST_LOG", None)
    with (
        open(work_dir / "stdout.log", "wb") as stdout,
        open(stderr_path, "wb") as stderr,
    ):
        process = subprocess.Popen(
            [str(burnrate_bin), "run", "--config", str(config_path)],
            stdout=stdout,
            stderr=stderr,
            cwd=work_dir,
            env=environment,
        )
    instance = Burnrate(
        process=process,
        config_path=config_path,
        stderr_path=stderr_path,
        grpc_endpoint=f"127.0.0.1:{grpc_port}",
        metrics_url=f"http://127.0.0.1:{metrics_port}/metrics",
        admin_url=f"http://127.0.0.1:{admin_port}",
        http_url=f"http://127.0.0.1:{http_port}",
    )
    try:
        wait_until_ready(instance)
    except BaseException:
        terminate_process(process)
        raise
    return instance


def terminate_process(
    process: subprocess.Popen, timeout_seconds: float = STOP_TIMEOUT_SECONDS
) -> None:
    """Send SIGTERM, then SIGKILL if the process still runs after `timeout_seconds`."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@pytest.fixture
def burnrate_launcher(burnrate_bin, tmp_path):
    """Return a function that starts burnrate like `launch_burnrate`.

    Call it as `launch(exporters, service=None, name="burnrate")`. `name` is the
    instance's folder under the test's tmp_path. Every instance is stopped at teardown.
    """
    started: list[subprocess.Popen] = []

    def launch(
        exporters: list[dict], service: dict | None = None, name: str = "burnrate"
    ) -> Burnrate:
        instance = launch_burnrate(burnrate_bin, tmp_path / name, exporters, service)
        started.append(instance.process)
        return instance

    yield launch
    for process in started:
        terminate_process(process)
