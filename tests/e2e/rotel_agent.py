"""Run rotel, a Rust OTLP collector, as a real downstream OTLP receiver for burnrate.

The `rotel` Python package (PyPI, pinned in requirements.txt) ships the collector as
the executable `rotel/rotel-agent`. It runs in the foreground here, with both OTLP
receivers and its OTLP exporter on explicit 127.0.0.1 addresses, and its pid and log
files in the test's own folder.
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import rotel

from conftest import free_port, terminate_process

AGENT_PATH = Path(rotel.__file__).resolve().parent / "rotel-agent"
READY_TIMEOUT_SECONDS = 15.0
STOP_TIMEOUT_SECONDS = 10.0


@dataclass
class RotelAgent:
    """A running rotel-agent and the addresses of its receivers."""

    process: subprocess.Popen
    grpc_port: int
    http_port: int
    output_path: Path

    @property
    def grpc_url(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def output(self) -> str:
        return self.output_path.read_text(errors="replace")

    def stop(self) -> None:
        terminate_process(self.process, STOP_TIMEOUT_SECONDS)


def agent_version() -> str:
    """Return what `rotel-agent --version` prints, such as `rotel 0.0.1-alpha10`."""
    completed = subprocess.run(
        [str(AGENT_PATH), "--version"], capture_output=True, text=True, timeout=10
    )
    return completed.stdout.strip()


def start_rotel(
    work_dir: Path, exporter_endpoint: str, exporter_protocol: str = "grpc"
) -> RotelAgent:
    """Start rotel-agent with its OTLP exporter sending to `exporter_endpoint` and wait until
    both receivers accept connections.

    `exporter_protocol` is rotel's `grpc` or `http`. rotel compresses what it exports with
    gzip. Its batch timeout is 50 ms, so spans leave it soon after they arrive.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    grpc_port, http_port = free_port(), free_port()
    command = [
        str(AGENT_PATH), "start",
        "--otlp-grpc-endpoint", f"127.0.0.1:{grpc_port}",
        "--otlp-http-endpoint", f"127.0.0.1:{http_port}",
        "--exporter", "otlp",
        "--otlp-exporter-endpoint", exporter_endpoint,
        "--otlp-exporter-protocol", exporter_protocol,
        "--batch-timeout", "50ms",
        "--pid-file", str(work_dir / "rotel.pid"),
        "--log-file", str(work_dir / "rotel.log"),
    ]  # fmt: skip
    output_path = work_dir / "rotel-output.log"
    with open(output_path, "wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, cwd=work_dir
        )
    agent = RotelAgent(process, grpc_port, http_port, output_path)
    try:
        _wait_listening(agent)
    except BaseException:
        agent.stop()
        raise
    return agent


def _wait_listening(agent: RotelAgent) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    waiting = {agent.grpc_port, agent.http_port}
    while waiting and time.monotonic() < deadline:
        if agent.process.poll() is not None:
            raise RuntimeError(
                f"rotel-agent exited with code {agent.process.returncode} before listening; "
                f"output:\n{agent.output()}"
            )
        for port in sorted(waiting):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                waiting.discard(port)
            except OSError:
                pass
        if waiting:
            time.sleep(0.1)
    if waiting:
        raise RuntimeError(
            f"rotel-agent did not listen on 127.0.0.1 ports {sorted(waiting)} within "
            f"{READY_TIMEOUT_SECONDS} s; output:\n{agent.output()}"
        )
