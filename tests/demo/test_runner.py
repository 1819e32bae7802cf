"""`make demo` runs `secmon demo`: the printed logins work, the demo scenario's faults reach the
server as tickets (an emergency, a general one, one recovered, a switch's cameras held under its
ticket) while the status page goes green, red and green again; the time-compressed wear gets
preventive tickets, this month's inspection is pre-filled, an instructor's cue fired from the
console's Training page opens its fault, and Ctrl-C stops everything, leaving no process or port
behind."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from demo.runner import DemoError, wait_healthy
from simulate.peers.net import free_port

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


class Output:
    """The demo's output, drained by a thread as it comes: a full pipe would stall the demo
    (its server and agent log to it) while the test polls the API."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._drain, args=(proc,), daemon=True)
        self._thread.start()

    def _drain(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self.lines.append("")  # end of output
            self._changed.notify_all()

    def until(self, prefix: str, timeout: float = 180) -> str:
        """The output up to and including the first line starting with `prefix`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for i, line in enumerate(self.lines):
                    if line.startswith(prefix):
                        return "".join(self.lines[: i + 1])
                left = deadline - time.monotonic()
                if (self.lines and self.lines[-1] == "") or left <= 0:
                    raise AssertionError(f"no {prefix!r} line:\n" + "".join(self.lines[-40:]))
                self._changed.wait(left)

    def text(self, timeout: float = 60) -> str:
        self._thread.join(timeout)
        return "".join(self.lines)


def _devices(url: str, token: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    sites = httpx.get(f"{url}/api/v1/sites", headers=headers, timeout=5).json()
    rows = httpx.get(f"{url}/api/v1/sites/{sites[0]['id']}/devices", headers=headers, timeout=5)
    return {d["ext_id"]: d for d in rows.json()}


def _console(url: str, username: str, password: str) -> httpx.Client:
    """A browser logged in to the console (cookies kept, redirects not followed)."""
    browser = httpx.Client(base_url=url, timeout=10)
    form = browser.get("/console/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None, form.text
    done = browser.post(
        "/console/login", data={"username": username, "password": password, "csrf": csrf[1]}
    )
    assert done.status_code == 303, done.text
    return browser


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


def _demo(tmp_path: Path, port: int, *args: str) -> subprocess.Popen[str]:
    """`secmon demo` in its own process group, as a terminal runs it (Ctrl-C reaches them all)."""
    return subprocess.Popen(
        [str(SECMON), "demo", "--port", str(port), "--data-dir", str(tmp_path / "demo"), *args],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,
    )


def _token(url: str, username: str, password: str) -> str:
    answer = httpx.post(
        f"{url}/api/v1/auth/token", data={"username": username, "password": password}, timeout=5
    )
    assert answer.status_code == 200, (username, answer.text)
    token: str = answer.json()["access_token"]
    return token


def _free(port: int, kind: socket.SocketKind) -> bool:
    """Nobody holds the port (TIME_WAIT of closed connections aside, as SO_REUSEADDR allows)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _group_alive(pgid: int) -> list[int]:
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


@dataclass
class Seen:
    """What the e2e test has watched the demo do, polled until all of it holds."""

    banners: list[str] = field(default_factory=list)  # the status page's states, in order
    tickets: dict[int, dict[str, Any]] = field(default_factory=dict)
    held: list[dict[str, Any]] = field(default_factory=list)  # episodes under another's ticket
    inspection: dict[str, Any] | None = None

    def banner(self, state: str) -> None:
        if not self.banners or self.banners[-1] != state:
            self.banners.append(state)

    def green_red_green(self) -> bool:
        states = [s for s in self.banners if s in ("ok", "down")]
        return states[:1] == ["ok"] and "down" in states and states[-1] == "ok"

    def faults(self, **match: str) -> list[dict[str, Any]]:
        return [
            t
            for t in self.tickets.values()
            if t["kind"] == "fault" and all(t[k] == v for k, v in match.items())
        ]

    def preventive(self) -> set[str]:
        return {t["code"] for t in self.tickets.values() if t["kind"] == "preventive"}

    def done(self) -> bool:
        return (
            bool(self.faults(severity="emergency"))
            and bool(self.faults(severity="general"))
            and bool(self.faults(state="recovered"))
            and bool(self.held)
            and self.green_red_green()
            and self.preventive() == {"predict.disk_sectors", "predict.battery"}
            and self.inspection is not None
            and self.inspection["prefilled_at"] is not None
        )


@pytest.mark.e2e
def test_demo_scenario_opens_its_tickets_and_stops_leaving_nothing(tmp_path: Path) -> None:
    port = free_port()
    # Half the scenario's times: the same faults and recoveries, sooner (polls stay every 5 s).
    proc = _demo(tmp_path, port, "--time-scale", "0.5")
    output = Output(proc)
    agent_ports: list[int] = []
    try:
        banner = output.until("Press Ctrl-C")
        url = re.search(r"server:\s+(\S+)", banner)
        status = re.search(r"status:\s+(\S+)", banner)
        logins = dict(re.findall(r"(manager|technician|client) / ([^,)\s]+)", banner))
        assert url, banner
        assert status, banner
        assert set(logins) == {"manager", "technician", "client"}, banner
        for user in ("technician", "client"):
            _token(url[1], user, logins[user])
        token = _token(url[1], "manager", logins["manager"])
        headers = {"Authorization": f"Bearer {token}"}
        config = yaml.safe_load((tmp_path / "demo" / "agent.yaml").read_text())
        agent_ports = [d["port"] for d in config["devices"]]
        assert {d["protocol"] for d in config["devices"]} == {"snmp", "onvif", "mqtt"}
        tour = output.until("  instructor cues")  # "scenario … starts now", the tour
        assert "smoke in the server room" in tour

        seen = Seen()
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not seen.done():
            page = httpx.get(status[1], timeout=10).text
            seen.banner(re.search(r'class="banner (\w+)"', page)[1])  # type: ignore[index]
            rows = httpx.get(f"{url[1]}/api/v1/tickets", headers=headers, timeout=10).json()
            seen.tickets = {t["id"]: t for t in rows}
            episodes = httpx.get(
                f"{url[1]}/api/v1/faults", params={"open": "false"}, headers=headers, timeout=10
            ).json()
            seen.held = [e for e in episodes if e["parent_episode_id"] is not None]
            inspections = httpx.get(f"{url[1]}/api/v1/inspections", headers=headers, timeout=10)
            seen.inspection = next(iter(inspections.json()), None)
            time.sleep(1)
        devices = _devices(url[1], token)
        names = {d["id"]: ext for ext, d in devices.items()}
        summary = {
            "banners": seen.banners,
            "tickets": [(t["kind"], t["severity"], t["state"], t["code"], names.get(t["device_id"]))
                        for t in seen.tickets.values()],
            "held": [names.get(e["device_id"]) for e in seen.held],
        }  # fmt: skip
        assert seen.faults(severity="emergency", code="env.smoke_alarm"), summary
        assert seen.faults(severity="general", code="device.unreachable"), summary
        assert seen.faults(state="recovered"), summary
        switch = seen.faults(code="device.unreachable", device_id=devices["sw-01"]["id"])
        assert switch, summary
        # The cameras behind the switch: held under the switch's ticket, none of their own.
        assert {names[e["device_id"]] for e in seen.held} == {"cam-05", "cam-06", "cam-07"}
        assert {e["ticket_id"] for e in seen.held} == {switch[0]["id"]}
        assert seen.green_red_green(), summary
        assert seen.preventive() == {"predict.disk_sectors", "predict.battery"}, summary
        assert seen.inspection is not None, summary
        assert seen.inspection["prefilled_at"] is not None, seen.inspection

        # The instructor's cue from the console's Training page: cam-01 turned away, an ONVIF
        # tamper event, its ticket.
        browser = _console(url[1], "manager", logins["manager"])
        try:
            training = browser.get("/console/training")
            assert training.status_code == 200, training.text
            assert "someone turns cam-01 away" in training.text
            csrf = re.search(r'name="csrf" value="([^"]+)"', training.text)
            assert csrf is not None
            form = {"csrf": csrf[1], "cue": "camera-tamper"}
            fired = browser.post("/console/training", data=form)
            assert fired.status_code == 303, fired.text
        finally:
            browser.close()
        deadline = time.monotonic() + 60
        tamper: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not tamper:
            rows = httpx.get(f"{url[1]}/api/v1/tickets", headers=headers, timeout=10).json()
            tamper = [t for t in rows if t["code"] == "camera.tamper"]
            time.sleep(1)
        assert tamper, rows
        assert tamper[0]["device_id"] == devices["cam-01"]["id"]
    finally:
        # Ctrl-C reaches the demo, its server and its agent at once, and the agent may finish
        # first: stop the agent, wait until it is gone, then Ctrl-C the whole group.
        agent = _child_pid(proc.pid, "agent")
        os.kill(agent, signal.SIGINT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _running(agent):
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
    out = output.text()
    assert proc.returncode == 0, out[-3000:]
    assert "agent stopped" in out
    assert "exited with code" not in out, out[-3000:]
    assert _group_alive(proc.pid) == []
    assert _free(port, socket.SOCK_STREAM)
    for device_port in agent_ports:  # cameras and broker on TCP, SNMP devices on UDP
        assert _free(device_port, socket.SOCK_STREAM), device_port
        assert _free(device_port, socket.SOCK_DGRAM), device_port


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
