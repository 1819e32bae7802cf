"""A trap end to end: net-snmp `snmptrap` → real `secmon agent run` (trap listener on) → real
`secmon server run` on SQLite. The agent's batches age 60 s, so only the urgent push explains
a trap stored within seconds."""

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from peers.server import ServerProcess, add_user, provision
from peers.site import AgentProcess, wait_for, write_agent_yaml
from server.models import Device, SampleRow, Ticket
from simulate.peers.snmp import Snmpd, free_udp_port, missing_snmpd
from wire.enums import Role

pytestmark = pytest.mark.e2e

SNMPTRAP = shutil.which("snmptrap")
LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"
LINK_UP = "1.3.6.1.6.3.1.1.5.4"
PASSWORD = "desk-pass-1234"
IF_INDEX = "1.3.6.1.2.1.2.2.1.1"


@pytest.fixture
def snmpd(tmp_path: Path) -> Iterator[Snmpd]:
    reason = missing_snmpd() or (None if SNMPTRAP else "net-snmp snmptrap not installed")
    if reason:
        pytest.skip(reason)
    with Snmpd(tmp_path / "snmpd") as agent:
        assert isinstance(agent, Snmpd)
        yield agent


def write_agent_config(workdir: Path, *, server_url: str, token: str, device_port: int) -> Path:
    ups = {"id": "ups-01", "name": "UPS", "class": "ups", "subsystem": "power",
           "protocol": "snmp", "address": "127.0.0.1", "port": device_port,
           "interval": 60, "timeout": 3}  # fmt: skip
    return write_agent_yaml(
        workdir,
        server_url=server_url,
        token=token,
        devices=[ups],
        agent={"snmp_trap_listen": f"127.0.0.1:{free_udp_port()}"},
    )


def trap_events(engine: Engine, device: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(SampleRow.events)
            .join(Device, Device.id == SampleRow.device_id)
            .where(Device.ext_id == device, SampleRow.events.is_not(None))
        ).all()
    return [event for (events,) in rows for event in events]


def registered(engine: Engine, device: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(Device.id).where(Device.ext_id == device)).first() is not None


def trap_latencies(
    engine: Engine, device: str, senders: list[list[str]], *, timeout: float = 30.0
) -> list[float]:
    """Send each trap with net-snmp and wait until the server has stored it: seconds each."""
    latencies: list[float] = []
    for count, command in enumerate(senders, start=1):
        sent_at = time.monotonic()
        subprocess.run(command, check=True, env={**os.environ, "MIBS": ""}, timeout=10)
        deadline = sent_at + timeout
        while len(trap_events(engine, device)) < count and time.monotonic() < deadline:
            time.sleep(0.005)
        latencies.append(time.monotonic() - sent_at)
    return latencies


def test_trap_reaches_the_server_at_once(
    sqlite_url: str,
    server_factory: Callable[..., ServerProcess],
    snmpd: Snmpd,
    tmp_path: Path,
) -> None:
    server = server_factory(sqlite_url)
    tenant = provision(sqlite_url)
    add_user(sqlite_url, username="desk", password=PASSWORD, role=Role.DESK)
    config = write_agent_config(
        tmp_path / "agent", server_url=server.base_url, token=tenant.token, device_port=snmpd.port
    )
    trap_target = yaml.safe_load(config.read_text())["agent"]["snmp_trap_listen"]
    engine = create_engine(sqlite_url)
    agent = AgentProcess(config).start()
    v2c = [SNMPTRAP or "snmptrap", "-v2c", "-c", "public", trap_target, ""]
    v1 = [
        SNMPTRAP or "snmptrap",
        "-v1",
        "-c",
        "public",
        trap_target,
        "1.3.6.1.4.1.318",
        "127.0.0.1",
    ]
    try:
        # The listener is bound before the agent pushes anything, so before its inventory lands.
        wait_for("the agent's inventory", lambda: registered(engine, "ups-01"), timeout=30)
        latencies = trap_latencies(
            engine,
            "ups-01",
            [
                [*v2c, LINK_DOWN, f"{IF_INDEX}.3", "i", "3"],
                [*v1, "6", "5", ""],  # APC PowerNet upsOnBattery, a v1 trap
                [*v2c, LINK_UP, f"{IF_INDEX}.3", "i", "3"],
            ],
        )
        events = trap_events(engine, "ups-01")
        assert [e["kind"] for e in events] == ["link.down", "ups.on_battery", "link.up"], (
            agent.log()
        )
        assert events[0]["data"]["if_index"] == 3
        with engine.connect() as conn:
            flags = conn.execute(
                select(SampleRow.events_only).where(SampleRow.events.is_not(None))
            ).scalars()
            assert list(flags) == [True, True, True]  # history says these are traps, not polls
        print("\ntrap -> stored: " + ", ".join(f"{t * 1000:.0f} ms" for t in latencies))
        # Batches age 60 s here: only the urgent push explains a trap stored within seconds.
        assert max(latencies) < 5, (latencies, agent.log())
        # The on-battery trap opened the UPS's fault by itself: no poll has said so (snmpd
        # has no UPS-MIB), and the link traps of a UPS name no fault. Detection runs after the
        # ingest answer, so the ticket is waited for.
        wait_for("the UPS's ticket", lambda: ticket_count(engine) > 0, timeout=30)
        with Session(engine) as session:
            tickets = session.scalars(select(Ticket)).all()
            assert [(t.code, t.state) for t in tickets] == [("power.ac_lost", "new")]
            on_battery = events[1]
            assert tickets[0].first_failure_at == datetime.fromisoformat(on_battery["ts"])
            assert tickets[0].respond_by is not None

        # …and the server shows them as the device's events, newest first.
        token = httpx.post(
            f"{server.base_url}/api/v1/auth/token",
            data={"username": "desk", "password": PASSWORD},
        ).json()["access_token"]
        with engine.connect() as conn:
            pk = conn.execute(select(Device.id).where(Device.ext_id == "ups-01")).scalar_one()
        samples = httpx.get(
            f"{server.base_url}/api/v1/devices/{pk}/samples",
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        shown = [e["kind"] for s in samples if s["events_only"] for e in s["events"]]
        assert shown == ["link.up", "ups.on_battery", "link.down"]
        assert agent.stop() == 0, agent.log()
    finally:
        if agent.proc is not None and agent.proc.poll() is None:
            agent.kill()
        engine.dispose()


def ticket_count(engine: Engine) -> int:
    with Session(engine) as session:
        return len(session.scalars(select(Ticket.id)).all())
