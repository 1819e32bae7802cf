"""Faults become tickets end to end: a real `secmon agent run` polls TCP devices on 127.0.0.1,
a real `secmon server run` (SQLite and PostgreSQL) detects, opens and recovers tickets."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.orm import Session

from peers.server import FAST_SWEEP, ServerProcess, Tenant, add_user, provision
from peers.site import AgentProcess, Listener, agent_config, wait_for
from server.models import DeviceState, SampleRow
from tests.e2e.records import all_up, device_pk, episodes, tickets
from wire.enums import Role

pytestmark = pytest.mark.e2e
INTERVAL_S = 5
PASSWORD = "correct horse battery staple"


@dataclass
class Devices:
    """Devices on 127.0.0.1: (class, parent) each, up while their listener runs."""

    workdir: Path
    specs: dict[str, tuple[str, str | None]]
    listeners: dict[str, Listener] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for dev in self.specs:
            self.listeners[dev] = Listener()
            self.ports[dev] = self.listeners[dev].port

    def stop(self, *devs: str) -> None:
        for dev in devs:
            self.listeners.pop(dev).close()

    def start(self, *devs: str) -> None:
        for dev in devs:
            self.listeners[dev] = Listener(self.ports[dev])

    def config(self, *, server_url: str, token: str, name: str = "agent") -> Path:
        subsystem = {"camera": "video", "nvr": "video", "switch": "network", "ups": "power"}
        devices: list[dict[str, Any]] = []
        for dev, (cls, parent) in self.specs.items():
            entry = {
                "id": dev,
                "name": dev,
                "class": cls,
                "subsystem": subsystem[cls],
                "protocol": "tcp",
                "address": "127.0.0.1",
                "port": self.ports[dev],
                "interval": INTERVAL_S,
                "timeout": 1,
            }
            if parent:
                entry["parent"] = parent
            devices.append(entry)
        return agent_config(
            self.workdir / name, server_url=server_url, token=token, devices=devices
        )

    def close(self) -> None:
        for listener in self.listeners.values():
            listener.close()


Specs = dict[str, tuple[str, str | None]]


@pytest.fixture
def make_devices(tmp_path: Path) -> Iterator[Callable[[Specs], Devices]]:
    made: list[Devices] = []

    def make(specs: Specs) -> Devices:
        made.append(Devices(tmp_path / "site", specs))
        return made[-1]

    yield make
    for devices in made:
        devices.close()


def start_agent(
    devices: Devices,
    server: ServerProcess,
    tenant: Tenant,
    agents: list[AgentProcess],
    name: str = "agent",
) -> AgentProcess:
    agent = AgentProcess(devices.config(server_url=server.base_url, token=tenant.token, name=name))
    agents.append(agent.start())
    return agent


def test_stopped_tcp_target_opens_a_ticket_with_deadlines_then_recovers(
    database_url: str,
    server_factory: Any,
    engine: Engine,
    agents: list[AgentProcess],
    make_devices: Callable[[Specs], Devices],
) -> None:
    server = server_factory(database_url, env=FAST_SWEEP)
    tenant = provision(database_url)
    add_user(database_url, username="boss", password=PASSWORD, role=Role.MANAGER)
    devices = make_devices({"nvr-1": ("nvr", None), "cam-1": ("camera", None)})
    start_agent(devices, server, tenant, agents)
    wait_for("devices up", lambda: all_up(engine, 2), timeout=60)
    devices.stop("nvr-1")
    wait_for("a ticket", lambda: len(tickets(engine)) == 1, timeout=60)
    (ticket,) = tickets(engine)
    with Session(engine) as session:
        first_fail = session.scalars(
            select(SampleRow.ts)
            .where(SampleRow.device_id == ticket.device_id, SampleRow.reachable.is_(False))
            .order_by(SampleRow.ts)
        ).first()
    assert ticket.code == "device.unreachable"
    assert ticket.severity == "emergency"  # the recorder is down: system paralysed
    assert ticket.state == "new"
    assert ticket.first_failure_at == first_fail
    assert ticket.respond_by == first_fail + timedelta(minutes=30)
    assert ticket.on_site_by == first_fail + timedelta(hours=4)
    assert ticket.resolve_by == first_fail + timedelta(hours=24)

    # The same through the API, with the SLA clocks running.
    token = httpx.post(
        f"{server.base_url}/api/v1/auth/token", data={"username": "boss", "password": PASSWORD}
    ).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    listed = httpx.get(f"{server.base_url}/api/v1/tickets?open=true", headers=auth).json()
    assert [t["id"] for t in listed] == [ticket.id]
    sla = httpx.get(f"{server.base_url}/api/v1/tickets/{ticket.id}/sla", headers=auth).json()
    assert sla["respond"]["status"] == "ok"
    assert 0 < sla["respond"]["remaining_seconds"] <= 30 * 60

    devices.start("nvr-1")
    wait_for("recovered", lambda: tickets(engine)[0].state == "recovered", timeout=60)
    (episode,) = episodes(engine)
    assert episode.open_key is None
    assert len(tickets(engine)) == 1


def test_switch_down_with_eight_cameras_behind_it_is_one_ticket(
    database_url: str,
    server_factory: Any,
    engine: Engine,
    agents: list[AgentProcess],
    make_devices: Callable[[Specs], Devices],
) -> None:
    server = server_factory(database_url, env=FAST_SWEEP)
    tenant = provision(database_url)
    cams = [f"cam-{i}" for i in range(1, 9)]
    specs: dict[str, tuple[str, str | None]] = {"sw-1": ("switch", None)}
    specs.update(dict.fromkeys(cams, ("camera", "sw-1")))
    devices = make_devices(specs)
    start_agent(devices, server, tenant, agents)
    wait_for("devices up", lambda: all_up(engine, 9), timeout=60)
    devices.stop("sw-1", *cams)
    wait_for(
        "a fault on each device",
        lambda: len({e.device_id for e in episodes(engine) if e.device_id}) == 9,
        timeout=90,
    )
    wait_for(
        "no held faults",
        lambda: all(e.held_for_device_id is None for e in episodes(engine)),
        timeout=30,
    )
    live = [t for t in tickets(engine) if t.state != "cancelled"]
    assert len(live) == 1, [(t.title, t.state) for t in tickets(engine)]
    assert live[0].device_id == device_pk(engine, "sw-1")
    assert {e.ticket_id for e in episodes(engine)} == {live[0].id}
    assert all(e.code != "site.system_paralysed" for e in episodes(engine))


def test_silent_agent_makes_one_site_fault_and_unknown_devices(
    database_url: str,
    server_factory: Any,
    engine: Engine,
    agents: list[AgentProcess],
    make_devices: Callable[[Specs], Devices],
) -> None:
    env = {**FAST_SWEEP, "SECMON_AGENT_OFFLINE_SECONDS": "8"}
    server = server_factory(database_url, env=env)
    tenant = provision(database_url)
    devices = make_devices({"cam-1": ("camera", None), "cam-2": ("camera", None)})
    agent = start_agent(devices, server, tenant, agents)
    wait_for("devices up", lambda: all_up(engine, 2), timeout=60)
    assert agent.stop() == 0
    wait_for("agent offline", lambda: len(tickets(engine)) == 1, timeout=60)
    (ticket,) = tickets(engine)
    assert ticket.code == "site.agent_offline"
    with Session(engine) as session:
        assert {s.status for s in session.scalars(select(DeviceState))} == {"unknown"}
    assert [e.code for e in episodes(engine)] == ["site.agent_offline"]
    agent.start()
    wait_for("agent back", lambda: tickets(engine)[0].state == "recovered", timeout=60)
    wait_for("devices up again", lambda: all_up(engine, 2), timeout=60)


@pytest.mark.postgres
def test_two_servers_racing_on_the_same_faults_make_no_duplicates(
    postgres_url: str,
    server_factory: Any,
    agents: list[AgentProcess],
    make_devices: Callable[[Specs], Devices],
) -> None:
    """Two replicas on one PostgreSQL, each fed by its own agent watching the same devices:
    both detect every fault at about the same time; each fault still has one episode and one
    ticket, and both sweeps run side by side."""
    first = server_factory(postgres_url, env=FAST_SWEEP)
    second = server_factory(postgres_url, env=FAST_SWEEP)
    tenant = provision(postgres_url)
    engine = create_engine(postgres_url)
    ups: Specs = {f"ups-{i:02d}": ("ups", None) for i in range(1, 13)}
    devices = make_devices(ups)
    try:
        start_agent(devices, first, tenant, agents, name="agent-a")
        start_agent(devices, second, tenant, agents, name="agent-b")
        wait_for("devices up", lambda: all_up(engine, len(ups)), timeout=60)
        devices.stop(*ups)
        wait_for("every fault", lambda: len(tickets(engine)) >= len(ups), timeout=90)
        # Let both replicas keep evaluating the outage (and sweeping) for a few more rounds.
        wait_for("more rounds", lambda: _failing_samples(engine) >= 8 * len(ups), timeout=90)
        found = tickets(engine)
        assert sorted(t.device_id or 0 for t in found) == sorted(
            device_pk(engine, dev) for dev in ups
        )
        assert len(episodes(engine)) == len(ups)
        assert "Traceback" not in first.log() + second.log()
    finally:
        engine.dispose()


def _failing_samples(engine: Engine) -> int:
    from sqlalchemy import func

    with Session(engine) as session:
        return int(
            session.scalar(
                select(func.count()).select_from(SampleRow).where(SampleRow.reachable.is_(False))
            )
            or 0
        )
