"""The MQTT probe against a real Mosquitto on a free 127.0.0.1 port: state from retained
messages, LWT, silence, bad payloads, bad credentials, broker down, persistent session."""

import asyncio
import gzip
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import CollectorRegistry

from agent.commands import run_agent
from agent.config import AgentConfig, Credentials, DeviceConfig, load_config
from agent.probes.mqtt.link import BrokerKey, BrokerLink, Session, utc_now
from agent.probes.mqtt.mapping import template_names
from agent.probes.mqtt.probe import MqttProbe
from agent.sampling import poll_device
from peers.devices import make_device
from simulate.peers.mosquitto import MOSQUITTO, MosquittoServer
from tests.agent.factories import NoJitter, closed_port
from wire.enums import ProbeErrorCode
from wire.schema import Event, IngestBatch, Sample

pytestmark = pytest.mark.skipif(
    MOSQUITTO is None, reason="mosquitto is not installed (apt install mosquitto mosquitto-clients)"
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "mqtt"
SECMON = Path(sys.executable).parent / "secmon"
LIVENESS = {"mqtt.online", "mqtt.silent_s", "mqtt.malformed", "mqtt.reconnects"}


@pytest.fixture(scope="module")
def broker() -> Iterator[MosquittoServer]:
    server = MosquittoServer().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def own_broker() -> Iterator[MosquittoServer]:
    """A broker this test may stop and restart."""
    server = MosquittoServer().start()
    try:
        yield server
    finally:
        server.close()


class FakeClock:
    """Monotonic time the test moves; read from paho's thread too (a float read is atomic)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def connect_client(
    port: int, *, client_id: str = "", will: tuple[str, str] | None = None, keepalive: int = 60
) -> paho.Client:
    """A device (or test publisher) on the broker, its loop in paho's thread."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    if will is not None:
        client.will_set(will[0], will[1], qos=1, retain=True)
    client.connect("127.0.0.1", port, keepalive=keepalive)
    client.loop_start()
    return client


def close_socket(client: paho.Client) -> None:
    sock = client.socket()
    assert sock is not None
    sock.close()


def publish(client: paho.Client, topic: str, payload: Any, *, retain: bool = False) -> None:
    if isinstance(payload, dict):
        payload = json.dumps(payload)
    client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(timeout=5)


@pytest.fixture
def publisher(broker: MosquittoServer) -> Iterator[paho.Client]:
    client = connect_client(broker.port)
    try:
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.fixture
async def probe() -> AsyncIterator[MqttProbe]:
    mqtt_probe = MqttProbe()
    try:
        yield mqtt_probe
    finally:
        await asyncio.to_thread(mqtt_probe.close)


def unique_topic() -> str:
    return f"site/t/{uuid.uuid4().hex[:10]}"


def mqtt_device(port: int, topic: str, **mqtt: Any) -> DeviceConfig:
    options: dict[str, Any] = {"template": "access_controller", "topic": topic}
    options.update(mqtt)
    return make_device(
        id="door-7",
        name="Door 7",
        subsystem="access",
        protocol="mqtt",
        port=port,
        interval=10,
        timeout=3,
        mqtt=options,
        **{"class": "access_controller"},
    )


async def poll_until(
    probe: MqttProbe,
    device: DeviceConfig,
    done: Callable[[Sample], bool],
    *,
    within: float = 8.0,
) -> tuple[Sample, list[Event]]:
    """Poll until `done(sample)`; also returns every event seen on the way."""
    deadline = time.monotonic() + within
    events: list[Event] = []
    while True:
        sample = (await poll_device(probe, device)).sample
        events += sample.events
        if done(sample):
            return sample, events
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met; last sample: {sample}")
        await asyncio.sleep(0.05)


def error_of(sample: Sample) -> ProbeErrorCode | None:
    return sample.error.code if sample.error is not None else None


@pytest.mark.parametrize("name", template_names())
async def test_template_maps_real_messages(
    name: str, broker: MosquittoServer, publisher: paho.Client, probe: MqttProbe
) -> None:
    fixture = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    prefix = unique_topic()
    topic = f"{prefix}/{fixture['topic']}"
    live: list[dict[str, Any]] = []
    for message in fixture["messages"]:
        message = {**message, "topic": message["topic"].replace(fixture["topic"], topic)}
        if message.get("retain"):
            # availability is retained, as devices publish it: the first poll already sees it
            publish(publisher, message["topic"], message["payload"], retain=True)
        else:
            live.append(message)  # state and events in order, once the agent listens
    device = mqtt_device(broker.port, topic, template=name)

    first = (await poll_device(probe, device)).sample
    assert first.error is None, first.error
    for message in live:
        publish(publisher, message["topic"], message["payload"])
    expected = fixture["expected_checks"]
    expected_events = [tuple(k) for k in fixture.get("expected_events", [])]
    seen: list[Event] = list(first.events)

    def complete(sample: Sample) -> bool:
        seen.extend(sample.events)
        checks = {k: v for k, v in sample.checks.items() if k not in LIVENESS}
        return checks == expected and len(seen) >= len(expected_events)

    sample, _ = await poll_until(probe, device, complete)
    assert sample.checks["mqtt.online"] is True
    assert [(e.kind, e.data["maintenance"]) for e in seen] == expected_events


async def test_clean_lwt_on_dropped_connection_marks_the_device_unreachable_then_back(
    broker: MosquittoServer, publisher: paho.Client, probe: MqttProbe
) -> None:
    topic = unique_topic()
    status = f"{topic}/status"
    door = connect_client(broker.port, will=(status, json.dumps({"state": "offline"})))
    publish(door, status, {"state": "online"}, retain=True)
    publish(door, f"{topic}/state", {"door": "closed"}, retain=True)
    device = mqtt_device(broker.port, topic)
    sample = (await poll_device(probe, device)).sample
    assert sample.error is None
    assert sample.checks["door.open"] is False

    door.loop_stop()
    close_socket(door)  # no DISCONNECT: the broker publishes the will
    sample, _ = await poll_until(probe, device, lambda s: s.error is not None)
    assert error_of(sample) is ProbeErrorCode.UNREACHABLE
    assert not sample.reachable
    assert sample.error is not None
    assert "'offline' (LWT)" in sample.error.message

    publish(publisher, status, {"state": "online"}, retain=True)
    sample, _ = await poll_until(probe, device, lambda s: s.error is None)
    assert sample.checks["mqtt.online"] is True


async def test_hung_device_is_unreachable_after_keepalive_expiry(
    broker: MosquittoServer, probe: MqttProbe
) -> None:
    topic = unique_topic()
    status = f"{topic}/status"
    door = paho.Client(CallbackAPIVersion.VERSION2)
    door.will_set(status, "offline", qos=1, retain=True)
    door.connect("127.0.0.1", broker.port, keepalive=1)
    door.publish(status, "online", qos=1, retain=True)
    for _ in range(5):  # CONNECT, PUBLISH, PUBACK; then the device hangs (socket open, silent)
        door.loop(timeout=0.1)
    device = mqtt_device(broker.port, topic)
    try:
        assert (await poll_device(probe, device)).sample.error is None
        started = time.monotonic()
        sample, _ = await poll_until(probe, device, lambda s: s.error is not None)
        assert error_of(sample) is ProbeErrorCode.UNREACHABLE
        # Mosquitto drops a client after 1.5 x keepalive of silence; allow scheduling slack.
        assert time.monotonic() - started < 6
    finally:
        close_socket(door)


async def test_silence_longer_than_the_timeout_is_unreachable(
    broker: MosquittoServer, publisher: paho.Client
) -> None:
    clock = FakeClock()
    probe = MqttProbe(monotonic=clock)
    topic = unique_topic()
    publish(publisher, f"{topic}/state", {"door": "closed"}, retain=True)
    device = mqtt_device(broker.port, topic, silence_timeout=120)
    try:
        assert (await poll_device(probe, device)).sample.error is None
        clock.now += 119
        assert (await poll_device(probe, device)).sample.error is None
        clock.now += 2
        sample = (await poll_device(probe, device)).sample
        assert error_of(sample) is ProbeErrorCode.UNREACHABLE
        assert sample.error is not None
        assert "silent for 121 s" in sample.error.message

        publish(publisher, f"{topic}/state", {"door": "open"})
        sample, _ = await poll_until(probe, device, lambda s: s.error is None)
        assert sample.checks["door.open"] is True
    finally:
        await asyncio.to_thread(probe.close)


async def test_device_never_heard_is_unreachable_after_the_silence_timeout(
    broker: MosquittoServer,
) -> None:
    clock = FakeClock()
    probe = MqttProbe(monotonic=clock)
    device = mqtt_device(broker.port, unique_topic(), silence_timeout=60)
    try:
        sample = (await poll_device(probe, device)).sample
        assert sample.error is None
        assert sample.checks["mqtt.silent_s"] is None
        clock.now += 60
        sample = (await poll_device(probe, device)).sample
        assert sample.error is not None
        assert "no message for 60 s" in sample.error.message
    finally:
        await asyncio.to_thread(probe.close)


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        (b"<html>not json</html>", "not_json"),
        (b"\xff\xfe\x00garbage", "not_utf8"),
        (b'{"door": "open", "tamper": "maybe"}', "wrong_type"),
        (b'{"door": "' + b"x" * 2000 + b'"}', "too_large"),
    ],
)
async def test_garbage_payload_is_a_protocol_error_and_the_device_recovers(
    broker: MosquittoServer, publisher: paho.Client, probe: MqttProbe, payload: bytes, kind: str
) -> None:
    topic = unique_topic()
    publish(publisher, f"{topic}/state", {"door": "closed"}, retain=True)
    device = mqtt_device(broker.port, topic, max_payload_bytes=1024)
    assert (await poll_device(probe, device)).sample.error is None

    publish(publisher, f"{topic}/state", payload)
    sample, _ = await poll_until(probe, device, lambda s: s.error is not None)
    assert error_of(sample) is ProbeErrorCode.PROTOCOL_ERROR
    assert sample.reachable
    assert sample.error is not None
    assert kind in sample.error.message

    publish(publisher, f"{topic}/state", {"door": "open"})
    sample, _ = await poll_until(
        probe, device, lambda s: s.error is None and s.checks["door.open"] is True
    )
    assert sample.checks["mqtt.malformed"] == 1


async def test_wrong_password_is_auth_failed_and_right_one_works(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = MosquittoServer(users={"agent": "s3cret"}).start()
    publisher = connect_client_with_auth(server.port, "agent", "s3cret")
    probe = MqttProbe()
    try:
        topic = unique_topic()
        publish(publisher, f"{topic}/state", {"door": "closed"}, retain=True)
        monkeypatch.setenv("MQTT_TEST_BAD", "wrong")
        monkeypatch.setenv("MQTT_TEST_GOOD", "s3cret")
        bad = mqtt_device(server.port, topic).model_copy(
            update={"credentials": credentials("agent", "MQTT_TEST_BAD")}
        )
        sample = (await poll_device(probe, bad)).sample
        assert error_of(sample) is ProbeErrorCode.AUTH_FAILED, sample.error
        assert sample.reachable

        good = mqtt_device(server.port, topic).model_copy(
            update={"id": "door-8", "credentials": credentials("agent", "MQTT_TEST_GOOD")}
        )
        sample = (await poll_device(probe, good)).sample
        assert sample.error is None, sample.error
        assert sample.checks["door.open"] is False
    finally:
        await asyncio.to_thread(probe.close)
        publisher.disconnect()
        publisher.loop_stop()
        server.close()


def connect_client_with_auth(port: int, user: str, password: str) -> paho.Client:
    client = paho.Client(CallbackAPIVersion.VERSION2)
    client.username_pw_set(user, password)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def credentials(user: str, env: str) -> Credentials:
    return Credentials.model_validate({"username": user, "password": {"env": env}})


async def test_no_broker_is_broker_unreachable_not_device_unreachable(probe: MqttProbe) -> None:
    sample = (await poll_device(probe, mqtt_device(closed_port(), unique_topic()))).sample
    assert error_of(sample) is ProbeErrorCode.BROKER_UNREACHABLE
    assert not sample.reachable
    assert sample.error is not None
    assert "cannot connect to broker" in sample.error.message


async def test_broker_going_down_makes_devices_broker_unreachable_until_it_returns(
    own_broker: MosquittoServer, probe: MqttProbe
) -> None:
    topic = unique_topic()
    device = mqtt_device(own_broker.port, topic)
    assert (await poll_device(probe, device)).sample.error is None

    own_broker.stop()
    sample, _ = await poll_until(probe, device, lambda s: s.error is not None)
    assert error_of(sample) is ProbeErrorCode.BROKER_UNREACHABLE

    own_broker.start()
    publisher = connect_client(own_broker.port)
    try:
        publish(publisher, f"{topic}/state", {"door": "open"}, retain=True)
        sample, _ = await poll_until(
            probe, device, lambda s: s.error is None and s.checks.get("door.open") is True
        )
    finally:
        publisher.disconnect()
        publisher.loop_stop()


async def test_messages_published_while_the_agent_is_down_arrive_after_restart(
    broker: MosquittoServer, publisher: paho.Client
) -> None:
    session = Session(client_id=f"secmon-test-{uuid.uuid4().hex[:8]}", persistent=True)
    topic = unique_topic()
    device = mqtt_device(broker.port, topic)
    before = MqttProbe(session)
    assert (await poll_device(before, device)).sample.error is None
    await asyncio.to_thread(before.close)

    for i in range(150):
        publish(publisher, f"{topic}/event", {"type": "door_forced", "n": i})
    publish(publisher, f"{topic}/state", {"door": "open", "tamper": True})

    after = MqttProbe(session)
    try:
        sample, events = await poll_until(
            after, device, lambda s: s.error is None and s.checks.get("tamper") is True
        )
        sample, more = await poll_until(after, device, lambda s: not s.events, within=3)
        numbers = [e.data["payload"]["n"] for e in events + more]
        assert numbers == list(range(150))
        assert sample.checks["door.open"] is True
    finally:
        await asyncio.to_thread(after.close)


async def test_throwaway_session_does_not_get_what_was_published_while_away(
    broker: MosquittoServer, publisher: paho.Client
) -> None:
    """Control for the test above: without the persistent session the events are gone."""
    topic = unique_topic()
    device = mqtt_device(broker.port, topic)
    before = MqttProbe()
    assert (await poll_device(before, device)).sample.error is None
    await asyncio.to_thread(before.close)
    publish(publisher, f"{topic}/event", {"type": "door_forced"})
    publish(publisher, f"{topic}/state", {"door": "open"}, retain=True)
    after = MqttProbe()
    try:
        _, events = await poll_until(after, device, lambda s: s.error is None)
        assert events == []
    finally:
        await asyncio.to_thread(after.close)


def test_agent_check_json_shows_mqtt_device_state(
    broker: MosquittoServer, publisher: paho.Client, tmp_path: Path
) -> None:
    topic = unique_topic()
    publish(publisher, f"{topic}/status", "online", retain=True)
    publish(publisher, f"{topic}/state", {"door": "open", "power": {"ac": False}}, retain=True)
    config = tmp_path / "agent.yaml"
    config.write_text(
        f"""\
site: test-site
server: {{url: http://127.0.0.1:9, token: {{env: SECMON_TEST_TOKEN}}}}
agent: {{outbox_path: outbox.sqlite}}
devices:
  - {{id: door-7, name: Door 7, class: access_controller, subsystem: access, protocol: mqtt,
     address: 127.0.0.1, port: {broker.port}, interval: 10, timeout: 3,
     mqtt: {{template: access_controller, topic: {topic}}}}}
  - {{id: door-8, name: Door 8, class: access_controller, subsystem: access, protocol: mqtt,
     address: 127.0.0.1, port: {closed_port()}, interval: 10, timeout: 3,
     mqtt: {{template: access_controller, topic: {topic}}}}}
""",
        encoding="utf-8",
    )
    result = subprocess.run(
        [str(SECMON), "agent", "check", "--json", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SECMON_TEST_TOKEN": "t"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    rows = {row["device_id"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert rows["door-7"]["ok"] is True
    assert rows["door-7"]["protocol"] == "mqtt"
    assert rows["door-7"]["checks"]["door.open"] is True
    assert rows["door-7"]["checks"]["power.ac"] is False
    assert rows["door-7"]["checks"]["mqtt.online"] is True
    assert rows["door-8"]["error"] == "broker.unreachable"
    assert not (tmp_path / "outbox.sqlite").exists()


class IngestStub:
    """Stands in for the server API: accepts every batch and keeps its samples."""

    def __init__(self) -> None:
        self.samples: list[Sample] = []
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path == "/api/v1/inventory":
                    reply = b'{"registered": 1, "updated": 0}'
                else:
                    batch = IngestBatch.model_validate_json(gzip.decompress(body))
                    with stub.lock:
                        stub.samples += batch.samples
                    reply = b'{"accepted": 1, "duplicates": 0}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def received(self) -> list[Sample]:
        with self.lock:
            return list(self.samples)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def run_agent_until(
    cfg: AgentConfig, done: Callable[[], bool], *, within: float = 30
) -> None:
    stop = asyncio.Event()

    async def watch() -> None:
        while not stop.is_set():
            if done():
                stop.set()
            await asyncio.sleep(0.05)  # the stub fills `received` from its own thread

    watcher = asyncio.create_task(watch())
    await asyncio.wait_for(
        run_agent(cfg, stop=stop, metrics_registry=CollectorRegistry(), signals=(), rng=NoJitter()),
        timeout=within,
    )
    await watcher


async def test_agent_restart_loses_no_event_published_while_it_was_down(
    broker: MosquittoServer,
    publisher: paho.Client,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SECMON_TEST_TOKEN", "t")
    stub = IngestStub()
    topic = unique_topic()
    path = tmp_path / "agent.yaml"
    path.write_text(
        f"""\
site: restart-{uuid.uuid4().hex[:8]}
server: {{url: {stub.url}, token: {{env: SECMON_TEST_TOKEN}}}}
agent: {{outbox_path: outbox.sqlite, batch_max_age: 0.05}}
devices:
  - {{id: door-7, name: Door 7, class: access_controller, subsystem: access, protocol: mqtt,
     address: 127.0.0.1, port: {broker.port}, interval: 5, timeout: 3,
     mqtt: {{template: access_controller, topic: {topic}}}}}
""",
        encoding="utf-8",
    )
    cfg = load_config(path)
    try:
        await run_agent_until(cfg, lambda: len(stub.received()) >= 1)
        for i in range(20):
            publish(publisher, f"{topic}/event", {"type": "tamper", "n": i})

        def all_events() -> list[Event]:
            return [e for s in stub.received() for e in s.events]

        await run_agent_until(cfg, lambda: len(all_events()) >= 20)
        assert [e.data["payload"]["n"] for e in all_events()] == list(range(20))
        assert {e.kind for e in all_events()} == {"tamper"}
    finally:
        stub.close()


async def test_with_an_event_sink_events_go_there_at_once_and_not_into_polls(
    broker: MosquittoServer, publisher: paho.Client
) -> None:
    got: asyncio.Queue[tuple[str, Event]] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def sink(device_id: str, event: Event, stored: Callable[[], None]) -> None:
        assert asyncio.get_running_loop() is loop  # called on the event loop, not paho's thread
        got.put_nowait((device_id, event))
        stored()

    probe = MqttProbe(on_event=sink)
    topic = unique_topic()
    device = mqtt_device(broker.port, topic)
    try:
        await poll_until(probe, device, lambda s: s.error is None)
        publish(publisher, f"{topic}/event", {"type": "door_forced"})
        device_id, event = await asyncio.wait_for(got.get(), timeout=5)
        assert (device_id, event.kind) == ("door-7", "door.forced")
        _, events = await poll_until(probe, device, lambda s: s.error is None)
        assert events == []  # not reported a second time with the next poll
    finally:
        await asyncio.to_thread(probe.close)


async def test_an_event_the_sink_did_not_store_comes_back_after_a_restart_a_stored_one_not(
    broker: MosquittoServer, publisher: paho.Client
) -> None:
    """Manual acknowledgement: the broker keeps a QoS 1 event until the sink says stored."""
    session = Session(client_id=f"secmon-test-{uuid.uuid4().hex[:8]}", persistent=True)
    topic = unique_topic()
    device = mqtt_device(broker.port, topic)
    got: asyncio.Queue[tuple[int, Callable[[], None]]] = asyncio.Queue()

    def sink(device_id: str, event: Event, stored: Callable[[], None]) -> None:
        got.put_nowait((event.data["payload"]["n"], stored))

    async def started() -> MqttProbe:
        probe = MqttProbe(session, devices=[device], on_event=sink)
        probe.start()
        await poll_until(probe, device, lambda s: s.error is None)
        return probe

    first = await started()
    try:
        publish(publisher, f"{topic}/event", {"type": "door_forced", "n": 1})
        publish(publisher, f"{topic}/event", {"type": "door_forced", "n": 2})
        one, stored_one = await asyncio.wait_for(got.get(), timeout=5)
        two, _ = await asyncio.wait_for(got.get(), timeout=5)
        assert (one, two) == (1, 2)
        stored_one()  # the agent "crashes" before storing 2
    finally:
        await asyncio.to_thread(first.close)
    second = await started()
    try:
        again, stored_again = await asyncio.wait_for(got.get(), timeout=5)
        assert again == 2
        stored_again()
        await asyncio.sleep(0.5)
        assert got.empty()  # 1 was acknowledged and is not sent again
    finally:
        await asyncio.to_thread(second.close)
    third = await started()
    try:
        await asyncio.sleep(0.5)
        assert got.empty()  # 2 was acknowledged on its second delivery
    finally:
        await asyncio.to_thread(third.close)


async def test_devices_given_up_front_are_subscribed_before_their_first_poll(
    broker: MosquittoServer, publisher: paho.Client
) -> None:
    """The agent passes its device list, so a message for a device not yet polled (its first
    poll is spread over the interval) is not lost."""
    first = mqtt_device(broker.port, unique_topic())
    later = mqtt_device(broker.port, unique_topic()).model_copy(update={"id": "door-8"})
    probe = MqttProbe(devices=[first, later])
    try:
        assert (await poll_device(probe, first)).sample.error is None
        assert later.mqtt is not None
        publish(publisher, f"{later.mqtt.topic}/event", {"type": "door_forced"})
        _, events = await poll_until(probe, later, lambda s: bool(s.events))
        assert [e.kind for e in events] == ["door.forced"]
    finally:
        await asyncio.to_thread(probe.close)


def test_persistent_client_id_is_stable_and_distinct_per_broker() -> None:
    loop = asyncio.new_event_loop()

    def client_id(port: int, keepalive: int = 30) -> str:
        key = BrokerKey(
            host="127.0.0.1", port=port, username=None, password=None, keepalive=keepalive
        )
        return BrokerLink(key, Session.for_agent("hq"), loop=loop, now=utc_now).client_id()

    try:
        assert client_id(1883) == client_id(1883)
        assert client_id(1883).startswith("secmon-agent-hq-")
        assert len({client_id(1883), client_id(1884), client_id(1883, keepalive=60)}) == 3
    finally:
        loop.close()


async def test_messages_received_counts_good_and_bad_messages(
    broker: MosquittoServer, publisher: paho.Client, probe: MqttProbe
) -> None:
    topic = unique_topic()
    device = mqtt_device(broker.port, topic)
    assert (await poll_device(probe, device)).sample.error is None
    publish(publisher, f"{topic}/state", {"door": "open"})
    publish(publisher, f"{topic}/state", b"garbage")
    await poll_until(probe, device, lambda s: s.error is not None)
    assert probe.messages_received() == 2
