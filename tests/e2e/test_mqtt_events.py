"""An MQTT event end to end: a device publishes on real Mosquitto → real `secmon agent run` →
real `secmon server run` on SQLite. The device is polled every 10 min and batches age 60 s, so
only the urgent events-only push explains an event stored within seconds."""

import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine, create_engine, select

from peers.server import ServerProcess, provision
from peers.site import AgentProcess, wait_for, write_agent_yaml
from server.models import SampleRow, Ticket
from simulate.peers.mosquitto import MOSQUITTO, MosquittoServer
from tests.e2e.test_snmp_traps import trap_events

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed"),
]

POLL_INTERVAL_S = 600


@pytest.fixture
def device_client(broker: MosquittoServer) -> Iterator[paho.Client]:
    client = paho.Client(CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


def publish(client: paho.Client, topic: str, payload: dict[str, Any]) -> None:
    client.publish(topic, json.dumps(payload), qos=1).wait_for_publish(timeout=5)


def ticket_codes(engine: Engine) -> list[str | None]:
    with engine.connect() as conn:
        return list(conn.execute(select(Ticket.code).order_by(Ticket.id)).scalars())


def write_agent_config(
    workdir: Path, *, server_url: str, token: str, broker_port: int, topic: str
) -> Path:
    door = {"id": "door-7", "name": "Door 7", "class": "access_controller",
            "subsystem": "access", "protocol": "mqtt", "address": "127.0.0.1",
            "port": broker_port, "interval": POLL_INTERVAL_S, "timeout": 3,
            "mqtt": {"template": "access_controller", "topic": topic}}  # fmt: skip
    return write_agent_yaml(
        workdir,
        server_url=server_url,
        token=token,
        devices=[door],
        site=f"hq-{uuid.uuid4().hex[:8]}",  # its own persistent MQTT session
    )


@dataclass(frozen=True)
class Setup:
    """A running server with a tenant, and an agent config for one MQTT door on `topic`."""

    config: Path
    topic: str
    engine: Engine
    server_url: str
    site_id: int


@pytest.fixture
def setup(
    sqlite_url: str,
    server_factory: Callable[..., ServerProcess],
    broker: MosquittoServer,
    tmp_path: Path,
) -> Iterator[Setup]:
    server = server_factory(sqlite_url)
    tenant = provision(sqlite_url)
    topic = f"site/hq/acs/{uuid.uuid4().hex[:8]}"
    config = write_agent_config(
        tmp_path / "agent",
        server_url=server.base_url,
        token=tenant.token,
        broker_port=broker.port,
        topic=topic,
    )
    engine = create_engine(sqlite_url)
    yield Setup(config, topic, engine, server.base_url, tenant.site_id)
    engine.dispose()


def test_mqtt_event_reaches_the_server_at_once_not_at_the_next_poll(
    setup: Setup, device_client: paho.Client
) -> None:
    config, topic, engine = setup.config, setup.topic, setup.engine
    agent = AgentProcess(config).start()
    try:
        # The agent subscribes at start; its first poll is anywhere in the next 10 min.
        wait_for("the agent's subscription", lambda: "subscribed" in agent.log(), timeout=30)
        sent_at = time.monotonic()
        publish(device_client, f"{topic}/event", {"type": "door_forced", "door": 1})
        deadline = sent_at + 30
        while not trap_events(engine, "door-7") and time.monotonic() < deadline:
            time.sleep(0.01)
        latency = time.monotonic() - sent_at
        events = trap_events(engine, "door-7")
        assert [e["kind"] for e in events] == ["door.forced"], agent.log()
        assert events[0]["data"] == {
            "maintenance": False,
            "payload": {"type": "door_forced", "door": 1},
        }
        with engine.connect() as conn:
            flags = conn.execute(
                select(SampleRow.events_only).where(SampleRow.events.is_not(None))
            ).scalars()
            assert list(flags) == [True]  # an events-only row, not riding on a poll
        print(f"\nmqtt event -> stored: {latency * 1000:.0f} ms")
        assert latency < 5, agent.log()
        assert ticket_codes(engine) == []  # a forced door is for the guards, not a fault
        publish(device_client, f"{topic}/event", {"type": "reader_fault", "reader": 2})
        wait_for(
            "the reader fault's ticket",
            lambda: ticket_codes(engine) == ["access.reader_fault"],
            timeout=30,
        )
        assert agent.stop() == 0, agent.log()
        assert len(trap_events(engine, "door-7")) == 2  # the stop's final flush adds no copy
    finally:
        if agent.proc is not None and agent.proc.poll() is None:
            agent.kill()


def test_event_delivered_but_not_stored_when_the_agent_is_killed_arrives_once_after_restart(
    setup: Setup, device_client: paho.Client
) -> None:
    """SIGKILL between the broker's delivery and the outbox commit: the event was never
    acknowledged, so the persistent session hands it to the restarted agent; stored once."""
    config, topic, engine = setup.config, setup.topic, setup.engine
    outbox = config.parent / "outbox.sqlite"
    agent = AgentProcess(config).start()
    try:
        wait_for("the agent's subscription", lambda: "subscribed" in agent.log(), timeout=30)
        # Hold the outbox's write lock: the agent's commit waits (sqlite's 5 s busy timeout).
        blocker = sqlite3.connect(outbox, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        publish(device_client, f"{topic}/event", {"type": "door_forced", "door": 1})
        time.sleep(1.0)  # delivered to the agent within ms on loopback; its write is waiting
        agent.kill()
        blocker.execute("ROLLBACK")
        blocker.close()
        assert not any("door.forced" in body for body in outbox_bodies(outbox))
        assert trap_events(engine, "door-7") == []

        agent = AgentProcess(config).start()
        wait_for("the event at the server", lambda: bool(trap_events(engine, "door-7")), timeout=15)
        assert agent.stop() == 0, agent.log()
        events = trap_events(engine, "door-7")
        assert [e["kind"] for e in events] == ["door.forced"], agent.log()
    finally:
        if agent.proc is not None and agent.proc.poll() is None:
            agent.kill()


def outbox_bodies(path: Path) -> list[str]:
    db = sqlite3.connect(path)
    try:
        return [body for (body,) in db.execute("SELECT body FROM samples")]
    finally:
        db.close()
