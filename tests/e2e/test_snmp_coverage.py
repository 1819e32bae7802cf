"""Field devices end to end: our fixtures served by snmpsim, a real `secmon agent run` choosing
profiles by what each device answers, a real `secmon server run` on SQLite. A door contact in
alarm and a lost redundant power input each open their ticket, growing bad sectors arrive as a
numeric check, and a device nothing is read from shows amber (`unmonitored`), not green."""

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine

from peers.server import ServerProcess, add_user, provision
from peers.site import AgentProcess, wait_for, write_agent_yaml
from server.models import Device, DeviceState, Ticket
from simulate.peers.snmp import Snmpsim, missing_snmpsim
from wire.enums import Role

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "snmp"
SNMPSET = shutil.which("snmpset")
PASSWORD = "manager-pass-1234"
SUPPLY_B = "1.3.6.1.4.1.9.9.13.1.5.1.3.2"  # ciscoEnvMonSupplyState of "PWR-B DC input"
DISK_3_BAD_SECTORS = "1.3.6.1.4.1.6574.2.1.1.9.2"  # diskBadSector of "Disk 3"


@pytest.fixture
def snmpsim(tmp_path: Path) -> Iterator[Snmpsim]:
    reason = missing_snmpsim() or (None if SNMPSET else "net-snmp snmpset not installed")
    if reason:
        pytest.skip(reason)
    with Snmpsim(tmp_path / "snmpsim", FIXTURES, ready_community="sensor-akcp") as sim:
        assert isinstance(sim, Snmpsim)
        yield sim


def snmp_device(
    device_id: str, device_class: str, subsystem: str, community: str, port: int
) -> dict[str, Any]:
    return {
        "id": device_id,
        "name": device_id,
        "class": device_class,
        "subsystem": subsystem,
        "protocol": "snmp",
        "address": "127.0.0.1",
        "port": port,
        "interval": 5,
        "timeout": 3,
        "snmp": {"community": {"file": f"community-{community}"}},
    }


def snmpset(port: int, community: str, oid: str, value: int) -> None:
    command = [SNMPSET or "snmpset", "-v2c", "-c", community, f"127.0.0.1:{port}", oid, "i"]
    subprocess.run([*command, str(value)], check=True, env={**os.environ, "MIBS": ""}, timeout=10)


def tickets(engine: Engine) -> dict[str, set[str]]:
    """Open or closed, the codes of every ticket by device."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(Device.ext_id, Ticket.code).join(Device, Device.id == Ticket.device_id)
        ).all()
    found: dict[str, set[str]] = {}
    for device, code in rows:
        if code is not None:
            found.setdefault(device, set()).add(code)
    return found


def state(engine: Engine, device: str) -> DeviceState | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(DeviceState).join(Device, Device.id == DeviceState.device_id)
            .where(Device.ext_id == device)
        ).first()  # fmt: skip
    return None if row is None else DeviceState(**row._mapping)


def check(engine: Engine, device: str, name: str) -> object:
    found = state(engine, device)
    if found is None or not found.checks:
        return None
    entry = found.checks.get(name)
    return entry["value"] if isinstance(entry, dict) else None


def console_site_page(base_url: str, site_id: int) -> str:
    with httpx.Client(base_url=base_url, follow_redirects=True) as browser:
        form = browser.get("/console/login").text
        match = re.search(r'name="csrf" value="([^"]+)"', form)
        assert match is not None, form
        browser.post(
            "/console/login",
            data={"username": "boss", "password": PASSWORD, "csrf": match.group(1)},
        )
        page = browser.get(f"/console/sites/{site_id}")
        assert page.status_code == 200, page.text
        return page.text


def test_field_devices_open_the_right_tickets_and_unread_ones_show_amber(
    sqlite_url: str,
    server_factory: Callable[..., ServerProcess],
    snmpsim: Snmpsim,
    tmp_path: Path,
) -> None:
    server = server_factory(sqlite_url)
    tenant = provision(sqlite_url)
    add_user(sqlite_url, username="boss", password=PASSWORD, role=Role.MANAGER)
    port = snmpsim.port
    fixtures = ("sensor-akcp", "switch-industrial", "nas-synology", "intercom-unknown")
    config = write_agent_yaml(
        tmp_path / "agent",
        server_url=server.base_url,
        token=tenant.token,
        batch_max_age=1,
        devices=[
            snmp_device("env-1", "sensor", "alarm", "sensor-akcp", port),
            snmp_device("sw-1", "switch", "network", "switch-industrial", port),
            snmp_device("nas-1", "nvr", "video", "nas-synology", port),
            snmp_device("gate-1", "access_controller", "access", "intercom-unknown", port),
        ],
        secrets={f"community-{name}": name for name in fixtures},
    )
    engine = create_engine(sqlite_url)
    agent = AgentProcess(config).start()
    try:
        # The monitor's "Server Room Door" (normally closed) is in alarm from the start.
        wait_for(
            "the door contact's ticket",
            lambda: "env.contact_abnormal" in tickets(engine).get("env-1", set()),
            timeout=60,
        )
        # The switch's two DC inputs read fine; then input B is lost.
        wait_for(
            "the switch's first poll",
            lambda: check(engine, "sw-1", "power_input.pwr_b_dc_input.ok") is True,
        )
        assert "power.input_lost" not in tickets(engine).get("sw-1", set())
        snmpset(port, "switch-industrial", SUPPLY_B, 3)  # critical
        wait_for(
            "the lost power input's ticket",
            lambda: "power.input_lost" in tickets(engine).get("sw-1", set()),
            timeout=60,
        )
        # A disk whose status stays normal while its bad sectors grow: a numeric check.
        wait_for(
            "the disk's bad sectors",
            lambda: check(engine, "nas-1", "syno.disk.disk_3.bad_sectors") == 412,
        )
        assert check(engine, "nas-1", "syno.disk.disk_3.status") == "normal"
        snmpset(port, "nas-synology", DISK_3_BAD_SECTORS, 530)
        wait_for(
            "the grown count",
            lambda: check(engine, "nas-1", "syno.disk.disk_3.bad_sectors") == 530,
        )
        # The intercom answers, but nothing beyond reachability is read: amber, with why.
        gate = state(engine, "gate-1")
        assert gate is not None
        assert (gate.status, gate.reachable) == ("unmonitored", True), agent.log()
        assert gate.error_message is not None
        assert gate.error_message.startswith("no profile matched what the device answers")
        assert "1.3.6.1.4.1.99999.77" in gate.error_message
        page = console_site_page(server.base_url, tenant.site_id)
        row = re.search(r'gate-1</a>.*?<td class="([^"]*)">([^<]*)</td>', page, re.DOTALL)
        assert row is not None, page
        assert row.groups() == ("unmonitored", "unmonitored")
        up = re.search(r'env-1</a>.*?<td class="([^"]*)">([^<]*)</td>', page, re.DOTALL)
        assert up is not None
        assert up.groups() == ("", "up")  # answering and read: no amber
        metrics = httpx.get(agent.metrics_url, timeout=5).text
        assert (
            'secmon_agent_devices_unmonitored{device_class="access_controller",probe="snmp"} 1.0'
            in metrics
        )
    finally:
        agent.stop()
        engine.dispose()
