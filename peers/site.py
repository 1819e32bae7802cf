"""A simulated site for end-to-end tests: TCP devices on 127.0.0.1 and a real agent process."""

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from simulate.peers.net import free_port

SECMON = Path(sys.executable).with_name("secmon")
INTERVAL_S = 5


class Listener:
    """A TCP service that accepts and closes, as a device's open service port does."""

    def __init__(self, port: int = 0) -> None:
        """`port`: bind this one (to bring a stopped device back on its old port)."""
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"listener-{self.port}")
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                conn, _ = self.sock.accept()
                conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def write_secret(path: Path, value: str) -> None:
    """A secret file as `agent run` requires it: readable by its owner only."""
    path.write_text(value + "\n")
    path.chmod(0o600)


def write_agent_yaml(
    workdir: Path,
    *,
    server_url: str,
    token: str,
    devices: list[dict[str, Any]],
    site: str = "hq",
    batch_max_age: float = 60,
    agent: Mapping[str, Any] | None = None,
    secrets: Mapping[str, str] | None = None,
) -> Path:
    """`workdir/agent.yaml` for `devices`, with the agent token and each of `secrets` (file name:
    value) in files beside it; `agent` adds settings to the agent block."""
    workdir.mkdir(parents=True, exist_ok=True)
    write_secret(workdir / "agent-token", token)
    for name, value in (secrets or {}).items():
        write_secret(workdir / name, value)
    config: dict[str, Any] = {
        "site": site,
        "server": {"url": server_url, "token": {"file": "agent-token"}, "timeout": 5},
        "agent": {
            "outbox_path": "outbox.sqlite",
            "metrics_listen": f"127.0.0.1:{free_port()}",
            "batch_max_age": batch_max_age,
            **(agent or {}),
        },
        "devices": devices,
    }
    path = workdir / "agent.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@dataclass
class Site:
    """Devices up (listening) and down (a closed port), and the agent config that polls them."""

    workdir: Path
    up: dict[str, Listener] = field(default_factory=dict)
    down: dict[str, int] = field(default_factory=dict)

    @classmethod
    def make(cls, workdir: Path, *, n_up: int = 3, n_down: int = 1) -> "Site":
        site = cls(workdir=workdir)
        site.up = {f"cam-{i:02d}": Listener() for i in range(1, n_up + 1)}
        site.down = {f"ups-{i:02d}": free_port() for i in range(1, n_down + 1)}
        return site

    @property
    def device_ids(self) -> list[str]:
        return [*self.up, *self.down]

    def write_config(self, *, server_url: str, token: str, batch_size: int = 500) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        token_file = self.workdir / "agent-token"
        write_secret(token_file, token)
        devices = [
            {"id": dev, "name": f"Camera {dev}", "class": "camera", "subsystem": "video",
             "port": listener.port}
            for dev, listener in self.up.items()
        ] + [
            {"id": dev, "name": f"UPS {dev}", "class": "ups", "subsystem": "power", "port": port}
            for dev, port in self.down.items()
        ]  # fmt: skip
        config = {
            "site": "hq",
            "server": {"url": server_url, "token": {"file": str(token_file)}, "timeout": 5},
            "agent": {
                "outbox_path": str(self.outbox_path),
                "metrics_listen": f"127.0.0.1:{free_port()}",
                "batch_size": batch_size,
                "batch_max_age": 1,
                # The tests wait for the outbox to drain after an outage; production keeps 60 s.
                "push_backoff_max": 5,
            },
            "devices": [
                {**d, "protocol": "tcp", "address": "127.0.0.1", "interval": INTERVAL_S,
                 "timeout": 2}
                for d in devices
            ],
        }  # fmt: skip
        path = self.workdir / "agent.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    @property
    def outbox_path(self) -> Path:
        return self.workdir / "outbox.sqlite"

    def close(self) -> None:
        for listener in self.up.values():
            listener.close()


def agent_config(
    workdir: Path, *, server_url: str, token: str, devices: list[dict[str, Any]]
) -> Path:
    """Write an agent config for site `hq` polling `devices` (entries as in agent.yaml), with
    batches sent within a second; returns its path (token file and outbox beside it)."""
    workdir.mkdir(parents=True, exist_ok=True)
    token_file = workdir / "agent-token"
    write_secret(token_file, token)
    config = {
        "site": "hq",
        "server": {"url": server_url, "token": {"file": str(token_file)}, "timeout": 5},
        "agent": {
            "outbox_path": str(workdir / "outbox.sqlite"),
            "metrics_listen": f"127.0.0.1:{free_port()}",
            "batch_max_age": 1,
        },
        "devices": devices,
    }
    path = workdir / "agent.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@dataclass(frozen=True)
class OutboxView:
    """What the agent's outbox file says, read after the agent stopped."""

    depth: int
    total_enqueued: int
    dropped: int
    rejected: int
    pending_ids: frozenset[str]


def read_outbox(path: Path) -> OutboxView:
    db = sqlite3.connect(path)
    try:
        pending = frozenset(row[0] for row in db.execute("SELECT sample_id FROM samples"))
        seq = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'samples'").fetchone()
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    finally:
        db.close()
    return OutboxView(
        depth=len(pending),
        total_enqueued=int(seq[0]) if seq else 0,
        dropped=int(meta.get("dropped_total", 0)),
        rejected=int(meta.get("rejected_total", 0)),
        pending_ids=pending,
    )


class AgentProcess:
    """`secmon agent run` as a child process, logging to a file."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.log_path = config.with_suffix(".log")
        self.proc: subprocess.Popen[bytes] | None = None
        self.metrics_url = "http://{}/metrics".format(
            yaml.safe_load(config.read_text())["agent"]["metrics_listen"]
        )

    def start(self) -> "AgentProcess":
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(SECMON), "agent", "run", "--config", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "SECMON_LOG_LEVEL": "INFO"},
            )
        return self

    def stop(self, *, timeout: float = 30) -> int:
        """SIGTERM: the agent flushes in-flight results to the outbox and exits."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def metric(self, name: str) -> float | None:
        """One unlabelled sample from the agent's /metrics, None while it is not answering."""
        try:
            text = httpx.get(self.metrics_url, timeout=2).text
        except httpx.HTTPError:
            return None
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def wait_for(what: str, check: Callable[[], bool], *, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
