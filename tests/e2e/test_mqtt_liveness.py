"""Liveness end to end: a device's client (its own process) is killed or hangs, Mosquitto
publishes its will, and the server's read API says the device is down: within keepalive x 1.5 +
2 s of the kill (the promised bound), and within 2 s of the will for a hung client, whose will
timing is the broker's. The device is polled every 10 min and batches age 60 s, so only the
urgent liveness report explains it. A broker that goes down makes devices unknown, not down."""

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from peers.server import add_user
from peers.site import AgentProcess, wait_for
from simulate.peers.mosquitto import MOSQUITTO, MosquittoServer, start_device
from tests.e2e.test_mqtt_events import Setup, setup  # noqa: F401  # fixture
from wire.enums import Role

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(MOSQUITTO is None, reason="mosquitto is not installed"),
]

DEVICE_KEEPALIVE_S = 2
BOUND_S = DEVICE_KEEPALIVE_S * 1.5 + 2
PASSWORD = "liveness test password"


@dataclass
class ReadApi:
    """A manager's view of the site through the read API."""

    client: httpx.Client
    site_id: int

    def state(self, device: str) -> dict[str, Any] | None:
        rows = self.client.get(f"/api/v1/sites/{self.site_id}/devices").json()
        for row in rows:
            if row["ext_id"] == device:
                return dict(row["state"])
        return None

    def status(self, device: str) -> str | None:
        state = self.state(device)
        return None if state is None else str(state["status"])


@pytest.fixture
def api(setup: Setup, sqlite_url: str) -> Iterator[ReadApi]:  # noqa: F811  # fixture
    add_user(sqlite_url, username="boss", password=PASSWORD, role=Role.MANAGER)
    token = httpx.post(
        f"{setup.server_url}/api/v1/auth/token", data={"username": "boss", "password": PASSWORD}
    ).json()["access_token"]
    with httpx.Client(
        base_url=setup.server_url, headers={"Authorization": f"Bearer {token}"}, timeout=5
    ) as client:
        yield ReadApi(client, setup.site_id)


class WillWatch:
    """A second client on the broker: notes when the device's will ("offline") is published,
    and publishes 10 messages a second meanwhile, as a site's other devices do.

    Measured pitfall (Mosquitto 2.0.11): keep-alive expiry is checked in whole-second buckets
    when the broker's loop wakes, and the will of a hung client came up to 1.5 x keepalive +
    4.5 s after the hang (+ 2.5-4 s more on an otherwise idle broker, which sleeps up to 5 s).
    So for a hung client the broker alone can use up the bound's 2 s of slack; what the agent
    and server add is measured from the will, and the whole bound is asserted for a killed
    client (socket closed: the will is immediate)."""

    def __init__(self, server: MosquittoServer, topic: str) -> None:
        self.offline_at: float | None = None
        self._client = paho.Client(CallbackAPIVersion.VERSION2)
        self._client.on_message = self._on_message
        self._client.connect("127.0.0.1", server.port)
        self._client.subscribe(f"{topic}/status", qos=1)
        self._client.loop_start()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, name="other-traffic")
        self._thread.start()

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        if b"offline" in msg.payload and self.offline_at is None:
            self.offline_at = time.monotonic()

    def _tick(self) -> None:
        while not self._stop.wait(0.1):
            self._client.publish("site/other/heartbeat", b"1", qos=0)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._client.disconnect()
        self._client.loop_stop()


def seconds_until(check: Callable[[], bool], *, limit: float) -> float:
    """Time until `check()` holds (polled every 20 ms); fails after `limit`."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > limit:
            raise AssertionError(f"not within {limit} s")
        time.sleep(0.02)
    return time.monotonic() - started


@pytest.fixture
def agent(setup: Setup) -> Iterator[AgentProcess]:  # noqa: F811  # fixture
    process = AgentProcess(setup.config).start()
    try:
        yield process
    finally:
        if process.proc is not None and process.proc.poll() is None:
            process.kill()


@pytest.mark.parametrize("how", ["SIGKILL", "SIGSTOP"])
def test_device_whose_client_dies_or_hangs_is_down_at_the_server_within_the_bound(
    how: str,
    setup: Setup,  # noqa: F811  # fixture
    broker: MosquittoServer,
    agent: AgentProcess,
    api: ReadApi,
) -> None:
    device = start_device(broker.port, setup.topic, keepalive=DEVICE_KEEPALIVE_S)
    with contextlib.ExitStack() as stack:
        stack.callback(device.wait, 5)
        stack.callback(device.kill)
        watch = WillWatch(broker, setup.topic)
        stack.callback(watch.close)
        # Up at the server long before its first poll: the first status heard is reported.
        wait_for("the device up at the server", lambda: api.status("door-7") == "up", timeout=30)
        killed_at = time.monotonic()
        os.kill(device.pid, getattr(signal, how))
        seconds_until(lambda: api.status("door-7") == "down", limit=BOUND_S + 15)
        down_at = time.monotonic()
        state = api.state("door-7")
        assert state is not None
        assert state["error_code"] == "device.unreachable"
        assert "offline" in state["error_message"]
        assert watch.offline_at is not None
        broker_s, ours_s = watch.offline_at - killed_at, down_at - watch.offline_at
        print(
            f"\n{how}: will after {broker_s:.2f} s, down at the server {ours_s:.2f} s later "
            f"(total {down_at - killed_at:.2f} s, bound {BOUND_S:g} s)"
        )
        assert ours_s <= 2.0, agent.log()  # the agent's and server's share of the bound
        if how == "SIGKILL":
            assert down_at - killed_at <= BOUND_S, agent.log()
        else:
            # It waited for keep-alive expiry (1.5 x keepalive after the device's last packet,
            # which is at most one keepalive before the hang), not for a closed socket.
            assert broker_s >= 0.5 * DEVICE_KEEPALIVE_S

    # A new client brings it back just as fast.
    device = start_device(broker.port, setup.topic, keepalive=DEVICE_KEEPALIVE_S)
    try:
        wait_for("the device up again", lambda: api.status("door-7") == "up", timeout=10)
    finally:
        device.kill()
        device.wait(5)
    assert agent.stop() == 0, agent.log()


def test_broker_down_makes_its_devices_unknown_not_down_and_they_return_with_it(
    setup: Setup,  # noqa: F811  # fixture
    broker: MosquittoServer,
    agent: AgentProcess,
    api: ReadApi,
) -> None:
    device = start_device(broker.port, setup.topic, keepalive=DEVICE_KEEPALIVE_S)
    try:
        wait_for("the device up at the server", lambda: api.status("door-7") == "up", timeout=30)
        broker.stop()
        wait_for("the device unknown", lambda: api.status("door-7") == "unknown", timeout=10)
        state = api.state("door-7")
        assert state is not None
        assert state["error_code"] == "broker.unreachable"
        assert f"broker 127.0.0.1:{broker.port}" in state["error_message"]
        assert state["reachable"] is False
        assert "broker" in agent.log()

        broker.start()  # the agent reconnects (backoff ≤ 30 s); the device's client too
        device.kill()
        device.wait(5)
        device = start_device(broker.port, setup.topic, keepalive=DEVICE_KEEPALIVE_S)
        wait_for("the device up again", lambda: api.status("door-7") == "up", timeout=45)
    finally:
        device.kill()
        device.wait(5)
    assert agent.stop() == 0, agent.log()
