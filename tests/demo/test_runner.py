"""`make demo` runs `secmon demo`: within a minute the printed login shows the demo devices, the
answering ones up and the closed ones down, the disk and battery wear get preventive tickets with
their forecast, and Ctrl-C stops everything."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.peers.net import free_port

SECMON = Path(sys.executable).with_name("secmon")

pytestmark = pytest.mark.e2e


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


def test_demo_shows_devices_up_and_down_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [str(SECMON), "demo", "--port", str(port), "--data-dir", str(tmp_path / "demo")],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
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
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out[-3000:]
    assert "agent stopped" in out
