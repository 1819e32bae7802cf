"""`make demo` runs `secmon demo`: within a minute the printed login shows the demo devices, the
answering ones up and the closed ones down, the disk and battery wear get preventive tickets with
their forecast, and Ctrl-C stops everything."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from demo.runner import DemoError, wait_healthy
from peers.net import free_port

SECMON = Path(sys.executable).with_name("secmon")


class _Impostor(BaseHTTPRequestHandler):
    """Another program on the demo's port that answers every GET like a healthy secmon."""

    def do_GET(self) -> None:
        body = json.dumps({"status": "ok", "database": "sqlite"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def impostor() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Impostor)
    thread = threading.Thread(target=server.serve_forever, name="impostor", daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _wait_for_banner(proc: subprocess.Popen[str], timeout: float = 90) -> str:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("Press Ctrl-C"):
            return "".join(lines)
    raise AssertionError("no demo banner:\n" + "".join(lines[-40:]))


def _devices(url: str, token: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    sites = httpx.get(f"{url}/api/v1/sites", headers=headers, timeout=5).json()
    rows = httpx.get(f"{url}/api/v1/sites/{sites[0]['id']}/devices", headers=headers, timeout=5)
    return {d["ext_id"]: d for d in rows.json()}


def _child_pid(parent: int, word: str) -> int:
    """The child process of `parent` whose command line has `word` as an argument."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            args = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and word.encode() in args:
            return int(stat.parent.name)
    raise AssertionError(f"no child of {parent} runs {word!r}")


def _running(pid: int) -> bool:
    """Alive and not yet a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _demo(tmp_path: Path, port: int) -> subprocess.Popen[str]:
    """`secmon demo` in its own process group, as a terminal runs it (Ctrl-C reaches them all)."""
    return subprocess.Popen(
        [str(SECMON), "demo", "--port", str(port), "--data-dir", str(tmp_path / "demo")],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
    )


@pytest.mark.e2e
def test_demo_shows_devices_up_and_down_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    proc = _demo(tmp_path, port)
    try:
        banner = _wait_for_banner(proc)
        url = re.search(r"server:\s+(\S+)", banner)
        login = re.search(r"\(login (\S+) / ([^)\s]+)\)", banner)
        status = re.search(r"status:\s+(\S+)", banner)
        assert url, banner
        assert login, banner
        token = httpx.post(
            f"{url[1]}/api/v1/auth/token",
            data={"username": login[1], "password": login[2]},
            timeout=5,
        ).json()["access_token"]

        def statuses() -> dict[str, str]:
            return {ext: d["state"]["status"] for ext, d in _devices(url[1], token).items()}

        def settled() -> bool:
            now = statuses()
            return len(now) == 6 and "unknown" not in now.values()

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not settled():
            time.sleep(1)
        final = statuses()
        assert final["nvr-01"] == "up"
        assert final["cam-01"] == "up"
        assert final["cam-03"] == "down"
        assert final["ups-01"] == "down"
        assert status, banner
        page = httpx.get(status[1], timeout=10)
        assert page.status_code == 200
        assert "Demo Security Integrator Client" in page.text
        console = httpx.get(f"{url[1]}/console", timeout=5)
        assert console.status_code == 303  # to the login form
        home = httpx.get(f"{url[1]}/", timeout=5, follow_redirects=True)  # the first URL printed
        assert home.status_code == 200
        assert home.url.path == "/console/login"

        # The time-compressed wear: preventive tickets for the NVR's disk and the UPS battery.
        headers = {"Authorization": f"Bearer {token}"}

        def preventive() -> dict[str, dict[str, Any]]:
            rows = httpx.get(f"{url[1]}/api/v1/tickets", headers=headers, timeout=5).json()
            return {t["code"]: t for t in rows if t["kind"] == "preventive"}

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(preventive()) < 2:
            time.sleep(2)
        tickets = preventive()
        assert set(tickets) == {"predict.disk_sectors", "predict.battery"}, tickets
        devices = _devices(url[1], token)
        assert tickets["predict.disk_sectors"]["device_id"] == devices["nvr-01"]["id"]
        assert tickets["predict.battery"]["device_id"] == devices["ups-01"]["id"]
        forecasts = httpx.get(
            f"{url[1]}/api/v1/devices/{devices['nvr-01']['id']}/forecasts",
            headers=headers,
            timeout=5,
        ).json()
        assert forecasts[0]["alarm"] is True
        assert forecasts[0]["svg"].startswith("<svg")
    finally:
        # Ctrl-C reaches the demo, its server and its agent at once, and the agent may finish
        # first: stop the agent, wait until it is gone, then Ctrl-C the whole group.
        agent = _child_pid(proc.pid, "agent")
        os.kill(agent, signal.SIGINT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _running(agent):
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out[-3000:]
    assert "agent stopped" in out
    assert "exited with code" not in out, out[-3000:]


@pytest.mark.e2e
def test_demo_refuses_a_port_another_program_holds(tmp_path: Path, impostor: int) -> None:
    proc = _demo(tmp_path, impostor)
    try:
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 1, out[-3000:]
    assert f"port {impostor} is in use by another program" in out
    assert "secmon demo is running" not in out


def test_readiness_check_does_not_take_another_server_for_its_own(impostor: int) -> None:
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with pytest.raises(DemoError, match="not this demo's server"):
            wait_healthy(f"http://127.0.0.1:{impostor}", alive, instance="run-1", deadline_s=30)
    finally:
        alive.kill()
        alive.wait()
