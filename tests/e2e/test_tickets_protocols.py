"""Faults become tickets over real protocols, end to end: a real `secmon agent run` polls an
NVR on a real net-snmp `snmpd` and watches a door controller through a real Mosquitto; a real
`secmon server run` (SQLite and PostgreSQL) opens a ticket with the shipped severity and the
SLA preset's deadlines when the device goes down, and marks it recovered when it comes back."""

import os
import signal
import subprocess
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from agent.backoff import RECHECK_FRACTION
from peers.server import FAST_SWEEP, ServerProcess, Tenant, add_user, provision
from peers.site import AgentProcess, agent_config, wait_for
from server.models import Ticket
from server.sla import PRESETS, BusinessCalendar, compute_deadlines
from server.tickets.policy import DEFAULT_PRESET
from simulate.peers.mosquitto import MOSQUITTO, MosquittoServer, start_device
from simulate.peers.snmp import Snmpd, missing_snmpd
from tests.e2e.records import (
    bearer,
    device_pk,
    device_status,
    episodes,
    first_failing_poll,
    polls,
    tickets,
)
from wire.enums import Role

pytestmark = pytest.mark.e2e

INTERVAL_S = 5  # the agent's floor; confirmation (2 polls) and recovery (3) take seconds
PASSWORD = "protocol tickets test password"
MANAGER = "boss"


def start_server(
    database_url: str, server_factory: Callable[..., ServerProcess]
) -> tuple[ServerProcess, Tenant]:
    """The server with a fast sweep, a tenant (site `hq`, zone `default`, UTC) and a manager."""
    server = server_factory(database_url, env=FAST_SWEEP)
    tenant = provision(database_url)
    add_user(database_url, username=MANAGER, password=PASSWORD, role=Role.MANAGER)
    return server, tenant


def ticket_for(engine: Engine, device_id: int, code: str) -> Ticket | None:
    """The device's one ticket for `code` (more than one would be a duplicate)."""
    found = [t for t in tickets(engine) if t.device_id == device_id and t.code == code]
    assert len(found) <= 1, [(t.id, t.code, t.state) for t in found]
    return found[0] if found else None


def ticket_state(engine: Engine, device_id: int, code: str) -> str | None:
    ticket = ticket_for(engine, device_id, code)
    return None if ticket is None else ticket.state


def api_sla(server: ServerProcess, ticket_id: int) -> dict[str, Any]:
    auth = bearer(server.base_url, username=MANAGER, password=PASSWORD)
    reply = httpx.get(f"{server.base_url}/api/v1/tickets/{ticket_id}/sla", headers=auth, timeout=10)
    reply.raise_for_status()
    sla: dict[str, Any] = reply.json()
    return sla


def assert_api_deadlines_match(server: ServerProcess, ticket: Ticket) -> dict[str, Any]:
    """The API's SLA clocks run from the stored first failure to the stored deadlines."""
    sla = api_sla(server, ticket.id)
    assert sla["policy"] == DEFAULT_PRESET
    assert datetime.fromisoformat(sla["started_at"]) == ticket.first_failure_at
    for clock, stored in (
        ("respond", ticket.respond_by),
        ("on_site", ticket.on_site_by),
        ("resolve", ticket.resolve_by),
    ):
        assert datetime.fromisoformat(sla[clock]["deadline"]) == stored, clock
        assert sla[clock]["status"] == "ok", (clock, sla[clock])
        assert sla[clock]["remaining_seconds"] > 0, (clock, sla[clock])
    return sla


# -- SNMP: an NVR on net-snmp snmpd -----------------------------------------------------------


@pytest.fixture
def snmpd(tmp_path: Path) -> Iterator[Snmpd]:
    reason = missing_snmpd()
    if reason:
        pytest.skip(reason)
    agent = Snmpd(tmp_path / "snmpd")
    agent.start()
    try:
        yield agent
    finally:
        agent.stop()


def test_nvr_whose_snmp_agent_dies_gets_an_emergency_ticket_that_recovers_with_it(
    database_url: str,
    server_factory: Callable[..., ServerProcess],
    engine: Engine,
    agents: list[AgentProcess],
    snmpd: Snmpd,
    tmp_path: Path,
) -> None:
    server, tenant = start_server(database_url, server_factory)
    config = agent_config(
        tmp_path / "agent",
        server_url=server.base_url,
        token=tenant.token,
        devices=[
            {"id": "nvr-1", "name": "Recorder 1", "class": "nvr", "subsystem": "video",
             "protocol": "snmp", "address": "127.0.0.1", "port": snmpd.port,
             "interval": INTERVAL_S, "timeout": 2},
        ],
    )  # fmt: skip
    agent = AgentProcess(config)
    agents.append(agent.start())
    wait_for("the NVR up at the server", lambda: device_status(engine, "nvr-1") == "up", timeout=60)
    nvr = device_pk(engine, "nvr-1")

    killed_at = datetime.now(UTC)
    snmpd.kill()
    wait_for(
        "an unreachable ticket",
        lambda: ticket_for(engine, nvr, "device.unreachable") is not None,
        timeout=60,
    )
    ticket = ticket_for(engine, nvr, "device.unreachable")
    assert ticket is not None
    # The clock starts at the first poll that went unanswered, not at confirmation.
    first_fail = first_failing_poll(engine, nvr, after=killed_at - timedelta(seconds=INTERVAL_S))
    last_ok = max(p.ts for p in polls(engine, nvr) if p.reachable)
    assert last_ok < first_fail.ts
    assert first_fail.error_code == "device.unreachable"
    assert ticket.first_failure_at == first_fail.ts
    assert ticket.first_failure_at < ticket.created_at
    # device.unreachable@nvr is an emergency (the recorder is down: the system is paralysed),
    # and the default preset gives an emergency 30 min / 4 h on site / 24 h, around the clock.
    assert ticket.severity == "emergency"
    assert ticket.state == "new"
    assert ticket.kind == "fault"
    assert ticket.sla_policy == DEFAULT_PRESET
    assert ticket.respond_by == first_fail.ts + timedelta(minutes=30)
    assert ticket.on_site_by == first_fail.ts + timedelta(hours=4)
    assert ticket.resolve_by == first_fail.ts + timedelta(hours=24)
    sla = assert_api_deadlines_match(server, ticket)
    assert sla["respond"]["remaining_seconds"] <= 30 * 60
    (episode,) = [e for e in episodes(engine) if e.device_id == nvr]
    assert episode.ticket_id == ticket.id
    assert episode.started_at == first_fail.ts
    assert episode.recovered_at is None

    snmpd.start()  # the same port: the agent's next polls are answered again
    wait_for(
        "the ticket recovered",
        lambda: ticket_state(engine, nvr, "device.unreachable") == "recovered",
        timeout=60,
    )
    recovered = ticket_for(engine, nvr, "device.unreachable")
    assert recovered is not None
    assert recovered.id == ticket.id
    assert recovered.recovered_at is not None
    (episode,) = [e for e in episodes(engine) if e.device_id == nvr]
    assert episode.open_key is None
    assert episode.recovered_at is not None
    # Recovery dates from the first answered poll after the outage.
    first_back = min(p.ts for p in polls(engine, nvr) if p.reachable and p.ts > first_fail.ts)
    assert episode.recovered_at == first_back
    assert [t.id for t in tickets(engine)] == [ticket.id], "no other ticket for this outage"
    assert agent.stop() == 0, agent.log()


# -- MQTT: a door controller's Last Will --------------------------------------------------------


@pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed")
def test_door_controller_whose_mqtt_will_fires_gets_a_ticket_that_recovers_when_it_is_back(
    database_url: str,
    server_factory: Callable[..., ServerProcess],
    engine: Engine,
    agents: list[AgentProcess],
    broker: MosquittoServer,
    tmp_path: Path,
) -> None:
    device: subprocess.Popen[str] | None = None
    try:
        server, tenant = start_server(database_url, server_factory)
        topic = f"site/hq/acs/{uuid.uuid4().hex[:8]}"
        config = agent_config(
            tmp_path / "agent",
            server_url=server.base_url,
            token=tenant.token,
            devices=[
                {"id": "door-1", "name": "Door 1", "class": "access_controller",
                 "subsystem": "access", "protocol": "mqtt", "address": "127.0.0.1",
                 "port": broker.port, "interval": INTERVAL_S, "timeout": 3,
                 "mqtt": {"template": "access_controller", "topic": topic}},
            ],
        )  # fmt: skip
        device = start_device(broker.port, topic, keepalive=2)
        agent = AgentProcess(config)
        agents.append(agent.start())
        wait_for(
            "the door up at the server", lambda: device_status(engine, "door-1") == "up", timeout=60
        )
        door = device_pk(engine, "door-1")

        killed_at = datetime.now(UTC)
        os.kill(device.pid, signal.SIGKILL)  # the socket closes: the broker publishes the will
        device.wait(10)
        wait_for(
            "an offline ticket",
            lambda: ticket_for(engine, door, "access.controller_offline") is not None,
            timeout=60,
        )
        ticket = ticket_for(engine, door, "access.controller_offline")
        assert ticket is not None
        first_fail = first_failing_poll(engine, door, after=killed_at)
        assert first_fail.error_code == "device.unreachable"
        assert "offline" in (first_fail.error_message or "")
        assert ticket.first_failure_at == first_fail.ts
        # The LWT report is the first failing poll; the confirming one is the agent's re-check
        # a quarter interval later, not a scheduled poll that happened to fall due a moment
        # after the report (two looks at one instant).
        failing = [p for p in polls(engine, door) if p.ts >= first_fail.ts and not p.reachable]
        recheck = timedelta(seconds=INTERVAL_S * RECHECK_FRACTION)
        assert failing[1].ts - failing[0].ts >= recheck - timedelta(milliseconds=100)
        # No shipped override for access.controller_offline: the rule's default, general. The
        # general cell counts business hours (08:30-17:30 Mon-Fri, the site's zone is UTC).
        assert ticket.severity == "general"
        assert ticket.state == "new"
        assert ticket.sla_policy == DEFAULT_PRESET
        expected = compute_deadlines(
            PRESETS[DEFAULT_PRESET],
            "general",
            "default",
            first_fail.ts,
            BusinessCalendar.office("UTC", hours="08:30-17:30", weekdays=range(5)),
        )
        assert ticket.respond_by == expected.respond_by
        assert ticket.on_site_by == expected.on_site_by
        assert ticket.resolve_by == expected.resolve_by
        # Independent of the SLA code: at least the targets' running time later, inside hours.
        assert ticket.respond_by is not None
        assert ticket.on_site_by is not None
        assert ticket.respond_by - first_fail.ts >= timedelta(hours=2)
        assert ticket.on_site_by - first_fail.ts >= timedelta(hours=9)
        for deadline in (ticket.respond_by, ticket.on_site_by, ticket.resolve_by):
            assert deadline is not None
            assert deadline.weekday() < 5
            assert "08:30" <= deadline.strftime("%H:%M") <= "17:30", deadline
        assert_api_deadlines_match(server, ticket)
        (episode,) = [e for e in episodes(engine) if e.device_id == door]
        assert episode.ticket_id == ticket.id
        assert episode.recovered_at is None

        device = start_device(broker.port, topic, keepalive=2)  # it reconnects: "online"
        wait_for(
            "the ticket recovered",
            lambda: ticket_state(engine, door, "access.controller_offline") == "recovered",
            timeout=60,
        )
        recovered = ticket_for(engine, door, "access.controller_offline")
        assert recovered is not None
        assert recovered.recovered_at is not None
        (episode,) = [e for e in episodes(engine) if e.device_id == door]
        assert episode.open_key is None
        assert episode.recovered_at is not None
        first_back = min(p.ts for p in polls(engine, door) if p.reachable and p.ts > first_fail.ts)
        assert episode.recovered_at == first_back
        assert [t.id for t in tickets(engine)] == [ticket.id], "no other ticket for this outage"
        assert agent.stop() == 0, agent.log()
    finally:
        if device is not None and device.poll() is None:
            device.kill()
            device.wait(10)
