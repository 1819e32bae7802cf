"""The MQTT probe under stress and failure, against a real Mosquitto: a flood of 10,000 messages
through the whole agent, bad payloads logged once per kind, silence after N report intervals,
liveness changes reported at once, a broker restart that keeps the persistent session, and
`secmon agent check` showing MQTT devices with their state."""

import asyncio
import json
import logging
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest

from agent.config import load_config
from agent.probes.mqtt.link import Session
from agent.probes.mqtt.probe import MqttProbe
from agent.sampling import poll_device
from simulate.peers.mosquitto import MOSQUITTO, MosquittoServer
from tests.agent.factories import closed_port
from tests.agent.probes.test_mqtt import (
    SECMON,
    FakeClock,
    IngestStub,
    connect_client,
    error_of,
    mqtt_device,
    poll_until,
    publish,
    run_agent_until,
    unique_topic,
)
from wire.enums import ProbeErrorCode
from wire.schema import Event

pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed")

FLOOD = 10_000


@pytest.fixture(scope="module")
def broker() -> Iterator[MosquittoServer]:
    server = MosquittoServer().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def publisher(broker: MosquittoServer) -> Iterator[paho.Client]:
    client = connect_client(broker.port)
    try:
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


def flood(client: paho.Client, messages: list[tuple[str, bytes]]) -> None:
    """Publish at QoS 1 as fast as paho goes, then wait for the last PUBACK."""
    infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos[-50:]:
        info.wait_for_publish(timeout=60)
    assert all(info.is_published() for info in infos)


async def test_flood_of_10000_events_reaches_the_server_all_in_order(
    broker: MosquittoServer,
    publisher: paho.Client,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through the whole agent (link, outbox, pusher): none lost, none twice, and the agent
    keeps polling meanwhile (a device state sample arrives after the flood)."""
    monkeypatch.setenv("SECMON_TEST_TOKEN", "t")
    stub = IngestStub()
    topic = unique_topic()
    path = tmp_path / "agent.yaml"
    path.write_text(
        f"""\
site: flood-{uuid.uuid4().hex[:8]}
server: {{url: {stub.url}, token: {{env: SECMON_TEST_TOKEN}}}}
agent: {{outbox_path: outbox.sqlite, batch_max_age: 0.2}}
devices:
  - {{id: door-7, name: Door 7, class: access_controller, subsystem: access, protocol: mqtt,
     address: 127.0.0.1, port: {broker.port}, interval: 5, timeout: 3,
     mqtt: {{template: access_controller, topic: {topic}}}}}
""",
        encoding="utf-8",
    )
    cfg = load_config(path)
    messages = [
        (f"{topic}/event", json.dumps({"type": "access_granted", "n": i}).encode())
        for i in range(FLOOD)
    ]
    flooded = asyncio.Event()

    async def publish_when_subscribed() -> None:
        # The stub fills `received` from its own thread: polled.
        while "door-7" not in {s.device_id for s in stub.received()}:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        await asyncio.to_thread(flood, publisher, messages)
        await asyncio.to_thread(
            publish, publisher, f"{topic}/state", {"door": "open"}, retain=False
        )
        flooded.set()

    def events() -> list[Event]:
        return [e for s in stub.received() for e in s.events]

    def done() -> bool:
        polls = [s for s in stub.received() if not s.events_only]
        return (
            flooded.is_set()
            and len(events()) >= FLOOD
            and any(s.checks.get("door.open") is True for s in polls)
        )

    sender = asyncio.create_task(publish_when_subscribed())
    try:
        await asyncio.wait_for(run_agent_until(cfg, done, within=120), timeout=130)
        await sender
        numbers = [e.data["payload"]["n"] for e in events()]
        assert len(numbers) == FLOOD
        assert numbers == list(range(FLOOD))  # in order, none twice
    finally:
        sender.cancel()
        stub.close()


async def test_flood_of_10000_state_messages_leaves_the_last_state_and_polls_answer(
    broker: MosquittoServer, publisher: paho.Client
) -> None:
    probe = MqttProbe()
    topic = unique_topic()
    device = mqtt_device(broker.port, topic)
    try:
        assert (await poll_device(probe, device)).sample.error is None
        messages = [
            (
                f"{topic}/state",
                json.dumps({"door": "open", "battery": {"voltage": i / 10}}).encode(),
            )
            for i in range(FLOOD)
        ]
        sending = asyncio.create_task(asyncio.to_thread(flood, publisher, messages))
        while not sending.done():  # polls keep answering during the flood
            sample = (await poll_device(probe, device)).sample
            assert sample.error is None, sample.error
            await asyncio.sleep(0.05)
        await sending
        last = (FLOOD - 1) / 10
        sample, _ = await poll_until(
            probe, device, lambda s: s.checks.get("battery.voltage") == last, within=30
        )
        assert probe.messages_received() == FLOOD
        assert sample.checks["mqtt.malformed"] == 0
    finally:
        await asyncio.to_thread(probe.close)


async def test_bad_payloads_are_counted_and_each_kind_logged_once(
    broker: MosquittoServer, publisher: paho.Client, caplog: pytest.LogCaptureFixture
) -> None:
    probe = MqttProbe()
    topic = unique_topic()
    device = mqtt_device(broker.port, topic, max_payload_bytes=1024)
    caplog.set_level(logging.WARNING, logger="agent.probes.mqtt.link")
    try:
        assert (await poll_device(probe, device)).sample.error is None
        bad = [b"not json", b"[1, 2]", b"x" * 5000, b'{"door": 7}'] * 25
        for payload in bad:
            publisher.publish(f"{topic}/state", payload, qos=1)
        publish(publisher, f"{topic}/state", {"door": "open"})
        sample, _ = await poll_until(probe, device, lambda s: s.error is not None)
        assert error_of(sample) is ProbeErrorCode.PROTOCOL_ERROR  # marked: malformed data
        assert sample.reachable
        sample, _ = await poll_until(probe, device, lambda s: s.checks.get("door.open") is True)
        assert sample.checks["mqtt.malformed"] == len(bad)
        warnings = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
        kinds = sorted(m.split("malformed ")[1].split()[0] for m in warnings)
        assert kinds == ["not_json", "not_object", "too_large", "unknown_value"]
    finally:
        await asyncio.to_thread(probe.close)


async def test_silence_of_n_report_intervals_is_unreachable(
    broker: MosquittoServer, publisher: paho.Client
) -> None:
    """A device without LWT that reports every 60 s is unreachable after 3 x 60 s of silence."""
    clock = FakeClock()
    probe = MqttProbe(monotonic=clock)
    topic = unique_topic()
    device = mqtt_device(broker.port, topic, template="tasmota", report_interval=60)
    try:
        assert (await poll_device(probe, device)).sample.error is None  # subscribed
        publish(publisher, f"tele/{topic}/STATE", {"POWER": "ON"})
        await poll_until(probe, device, lambda s: s.checks.get("power.on") is True)
        clock.now += 179
        assert (await poll_device(probe, device)).sample.error is None
        clock.now += 1
        sample = (await poll_device(probe, device)).sample
        assert error_of(sample) is ProbeErrorCode.UNREACHABLE
        assert sample.error is not None
        assert "limit 180 s" in sample.error.message
        publish(publisher, f"tele/{topic}/STATE", {"POWER": "OFF"})
        sample, _ = await poll_until(probe, device, lambda s: s.error is None)
        assert sample.checks["power.on"] is False
    finally:
        await asyncio.to_thread(probe.close)


class LivenessLog:
    """A liveness sink that keeps what it was told."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.changed = asyncio.Event()

    def __call__(self, device_ids: list[str]) -> None:
        self.calls.append(device_ids)
        self.changed.set()

    async def wait(self, check: Callable[[], bool], within: float = 15) -> None:
        async with asyncio.timeout(within):
            while not check():
                self.changed.clear()
                await self.changed.wait()


async def test_lwt_flips_are_reported_at_once_and_state_messages_are_not(
    broker: MosquittoServer, publisher: paho.Client
) -> None:
    heard = LivenessLog()
    topic = unique_topic()
    device = mqtt_device(broker.port, topic)
    probe = MqttProbe(devices=[device], on_liveness=heard)
    try:
        probe.start()
        await poll_until(probe, device, lambda s: s.error is None)
        publish(publisher, f"{topic}/status", "online")  # first status heard: news
        await heard.wait(lambda: len(heard.calls) == 1)
        publish(publisher, f"{topic}/state", {"door": "open"})
        publish(publisher, f"{topic}/status", "online")  # no change: no news
        publish(publisher, f"{topic}/status", "offline")
        await heard.wait(lambda: len(heard.calls) == 2)
        publish(publisher, f"{topic}/status", "online")
        await heard.wait(lambda: len(heard.calls) == 3)
        assert heard.calls == [["door-7"]] * 3
        sample = (await poll_device(probe, device)).sample
        assert sample.error is None
        assert sample.checks["door.open"] is True
    finally:
        await asyncio.to_thread(probe.close)


@pytest.mark.parametrize("persistence", [True, False])
async def test_broker_restart_keeps_the_persistent_session_and_reports_liveness(
    persistence: bool,
) -> None:
    """Devices become broker.unreachable (reported at once) while the broker is down; events
    published right after it returns, before the agent has reconnected, are delivered when the
    broker kept the agent's session and subscriptions (persistence on). The control: a broker
    without persistence forgets the session, and those events are lost."""
    broker = MosquittoServer(persistence=persistence).start()
    heard = LivenessLog()
    got: list[int] = []
    topic = unique_topic()
    device = mqtt_device(broker.port, topic)

    def sink(device_id: str, event: Event, stored: Callable[[], None]) -> None:
        got.append(event.data["payload"]["n"])
        stored()
        heard.changed.set()  # wakes `heard.wait` for events too

    session = Session(client_id=f"secmon-test-{uuid.uuid4().hex[:8]}", persistent=True)
    probe = MqttProbe(session, devices=[device], on_event=sink, on_liveness=heard)
    publisher: paho.Client | None = None
    try:
        probe.start()
        await poll_until(probe, device, lambda s: s.error is None)
        broker.stop()
        await heard.wait(lambda: len(heard.calls) >= 1)
        sample = (await poll_device(probe, device)).sample
        assert error_of(sample) is ProbeErrorCode.BROKER_UNREACHABLE
        assert not sample.reachable

        # paho retries after 1 s, then 2 s, then 4 s: after two failed tries the agent stays
        # away for 4 s, time enough to publish while it is not connected.
        await asyncio.sleep(3.5)
        broker.start()
        publisher = connect_client(broker.port)
        for n in range(50):
            publish(publisher, f"{topic}/event", {"type": "tamper", "n": n})
        sample = (await poll_device(probe, device)).sample
        assert error_of(sample) is ProbeErrorCode.BROKER_UNREACHABLE  # not reconnected yet
        await poll_until(probe, device, lambda s: s.error is None, within=45)
        await heard.wait(lambda: len(heard.calls) >= 2)  # lost, then back
        if persistence:
            await heard.wait(lambda: len(got) >= 50, within=10)
            assert got == list(range(50))
        else:
            publish(publisher, f"{topic}/event", {"type": "tamper", "n": 50})
            await heard.wait(lambda: len(got) >= 1, within=10)
            assert got == [50]  # the 50 published before the agent came back are gone
    finally:
        await asyncio.to_thread(probe.close)
        if publisher is not None:
            publisher.disconnect()
            publisher.loop_stop()
        broker.close()


def test_agent_check_table_shows_mqtt_devices_with_their_state(
    broker: MosquittoServer, publisher: paho.Client, tmp_path: Path
) -> None:
    online, offline = unique_topic(), unique_topic()
    publish(publisher, f"{online}/status", "online", retain=True)
    publish(publisher, f"{online}/state", {"door": "closed", "tamper": True}, retain=True)
    publish(publisher, f"{offline}/status", "offline", retain=True)
    rows: list[dict[str, Any]] = [
        {"id": "door-1", "port": broker.port, "topic": online},
        {"id": "door-2", "port": broker.port, "topic": offline},
        {"id": "door-3", "port": closed_port(), "topic": online},
    ]
    devices = "\n".join(
        f"""  - {{id: {r["id"]}, name: {r["id"]}, class: access_controller, subsystem: access,
     protocol: mqtt, address: 127.0.0.1, port: {r["port"]}, interval: 10, timeout: 3,
     mqtt: {{template: access_controller, topic: {r["topic"]}}}}}"""
        for r in rows
    )
    config = tmp_path / "agent.yaml"
    config.write_text(
        "site: test-site\nserver: {url: http://127.0.0.1:9, token: {env: SECMON_TEST_TOKEN}}\n"
        f"devices:\n{devices}\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [str(SECMON), "agent", "check", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SECMON_TEST_TOKEN": "t"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert lines["door-1"].split()[3] == "ok"
    assert "door.open=false" in lines["door-1"]
    assert "tamper=true" in lines["door-1"]
    assert "mqtt.online=true" in lines["door-1"]
    assert "ERROR device.unreachable" in lines["door-2"]
    assert "'offline' (LWT)" in lines["door-2"]
    assert "ERROR broker.unreachable" in lines["door-3"]


async def test_device_going_silent_is_announced_once_without_waiting_for_its_poll(
    broker: MosquittoServer, publisher: paho.Client
) -> None:
    clock = FakeClock()
    topic = unique_topic()
    device = mqtt_device(broker.port, topic, template="tasmota", report_interval=60)
    probe = MqttProbe(devices=[device], monotonic=clock)
    try:
        probe.start()
        assert (await poll_device(probe, device)).sample.error is None
        publish(publisher, f"tele/{topic}/STATE", {"POWER": "ON"})
        await poll_until(probe, device, lambda s: s.checks.get("power.on") is True)
        clock.now += 179
        assert probe.newly_silent() == []
        clock.now += 1
        assert probe.newly_silent() == ["door-7"]
        assert probe.newly_silent() == []  # once per silence
        publish(publisher, f"tele/{topic}/STATE", {"POWER": "ON"})
        await poll_until(probe, device, lambda s: s.error is None)
        clock.now += 180
        assert probe.newly_silent() == ["door-7"]
    finally:
        await asyncio.to_thread(probe.close)
