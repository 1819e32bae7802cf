"""MQTT ingest: how fast the agent receives and maps device messages, vs `mosquitto_sub`.

Live: a publisher process sends ~150-byte JSON status messages at QoS 1 over 1,000 device
topics into a Mosquitto on a free 127.0.0.1 port; the agent's MQTT probe (one broker link,
1,000 devices on the generic_json template) and `mosquitto_sub` (the broker's own client, the
practical ceiling) subscribe to the same stream at the same time. Each rate is messages over
the time from the first publish until that subscriber has all of them; ours also includes one
poll of every device with the samples committed to an outbox (state messages coalesce into
each device's view; the outbox gets one sample per device per poll, not one per message).
Backlog: both subscribers hold persistent sessions, go away, 100,000 messages are queued, and
each comes back: time from reconnect until all are received (ours: and one poll committed).
Run: `.venv/bin/python bench/mqtt_ingest.py [--live N] [--backlog N]`. Ends with JSON lines.
"""

import argparse
import asyncio
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.config import DeviceConfig
from agent.outbox import Outbox
from agent.probes.mqtt.link import Session
from agent.probes.mqtt.probe import MqttProbe
from agent.sampling import poll_device
from simulate.peers.mosquitto import MosquittoServer

DEVICES = 1000
PAYLOAD_BYTES = 150
SUB_TOPIC = "bench/+/state"


def device_topic(i: int) -> str:
    return f"bench/dev-{i:04d}"


def payload(seq: int) -> bytes:
    body = {"status": "ok", "fault": False, "seq": seq, "uptime": 86400 + seq, "pad": ""}
    raw = json.dumps(body)
    body["pad"] = "x" * max(0, PAYLOAD_BYTES - len(raw))
    return json.dumps(body).encode()


def publish_main(port: int, count: int) -> None:
    """Child process: wait for a line on stdin, publish `count` QoS 1 messages, wait for acks."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    acked = 0

    def on_publish(client: paho.Client, userdata: object, mid: int, rc: object, p: object) -> None:
        nonlocal acked
        acked += 1

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-publisher")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    sys.stdin.readline()
    for seq in range(count):
        # paho numbers queued messages with 16-bit packet ids: more than 65,535 unacknowledged
        # at once collide and some are never acknowledged, so keep the queue well below that.
        while seq - acked > 20_000:
            time.sleep(0.001)
        client.publish(f"{device_topic(seq % DEVICES)}/state", payload(seq), qos=1)
    while acked < count:
        time.sleep(0.01)
    client.disconnect()
    client.loop_stop()


class Publisher:
    def __init__(self, port: int, count: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--publish", str(port), str(count)],
            stdin=subprocess.PIPE,
            text=True,
        )
        time.sleep(0.5)  # let it connect

    def go(self) -> float:
        assert self.process.stdin is not None
        started = time.monotonic()
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        return started

    def wait(self) -> None:
        if self.process.wait(timeout=600) != 0:
            raise RuntimeError("publisher failed")


def devices(port: int) -> list[DeviceConfig]:
    return [
        DeviceConfig.model_validate(
            {
                "id": f"dev-{i:04d}",
                "name": f"Device {i}",
                "class": "sensor",
                "subsystem": "access",
                "protocol": "mqtt",
                "address": "127.0.0.1",
                "port": port,
                "interval": 60,
                "timeout": 30,
                "mqtt": {"template": "generic_json", "topic": device_topic(i)},
            }
        )
        for i in range(DEVICES)
    ]


async def wait_received(probe: MqttProbe, count: int, within: float) -> None:
    deadline = time.monotonic() + within
    while probe.messages_received() < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"ours got {probe.messages_received()} of {count} messages")
        await asyncio.sleep(0.005)


async def poll_all_into(probe: MqttProbe, devs: list[DeviceConfig], outbox: Outbox) -> None:
    samples = [(await poll_device(probe, d)).sample for d in devs]
    errors = [s for s in samples if s.error is not None]
    if errors:
        raise RuntimeError(f"{len(errors)} polls failed, e.g. {errors[0].error}")
    outbox.put(samples)


def sub_command(port: int, *, count: int, client_id: str | None = None) -> list[str]:
    mosquitto_sub = shutil.which("mosquitto_sub")
    if mosquitto_sub is None:
        raise FileNotFoundError("mosquitto_sub is not installed (mosquitto-clients)")
    cmd = [mosquitto_sub, "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-t", SUB_TOPIC]
    cmd += ["-C", str(count)]
    if client_id is not None:
        cmd += ["-i", client_id, "-c"]
    return cmd


async def live(port: int, count: int, outbox: Outbox) -> tuple[float, float]:
    devs = devices(port)
    probe = MqttProbe(devices=devs)
    try:
        await poll_device(probe, devs[0])  # connect and subscribe all 1,000 devices
        await poll_all_into(probe, devs, outbox)
        peer = await asyncio.to_thread(
            subprocess.Popen, sub_command(port, count=count), stdout=subprocess.DEVNULL
        )
        publisher = await asyncio.to_thread(
            Publisher, port, count
        )  # its 0.5 s start also lets mosquitto_sub subscribe
        base = probe.messages_received()
        started = publisher.go()
        await wait_received(probe, base + count, within=600)
        await poll_all_into(probe, devs, outbox)
        ours = count / (time.monotonic() - started)
        await asyncio.to_thread(peer.wait, 600)
        peer_rate = count / (time.monotonic() - started)
        await asyncio.to_thread(publisher.wait)
        return ours, peer_rate
    finally:
        await asyncio.to_thread(probe.close)


async def backlog(port: int, count: int, outbox: Outbox) -> tuple[float, float]:
    devs = devices(port)
    session = Session(client_id="bench-agent", persistent=True)
    first = MqttProbe(session, devices=devs)
    await poll_all_into(first, devs, outbox)  # session with its subscriptions
    await asyncio.to_thread(first.close)
    # mosquitto_sub's persistent session: subscribe once, take one message, leave.
    await asyncio.to_thread(queue_backlog, port, count)

    started = time.monotonic()
    second = MqttProbe(session, devices=devs)
    try:
        await poll_device(second, devs[0])  # connects; the backlog starts flowing
        await wait_received(second, count, within=600)
        await poll_all_into(second, devs, outbox)
        ours = count / (time.monotonic() - started)
    finally:
        await asyncio.to_thread(second.close)

    peer_rate = await asyncio.to_thread(drain_with_mosquitto_sub, port, count)
    return ours, peer_rate


def queue_backlog(port: int, count: int) -> None:
    """Give mosquitto_sub a persistent session (subscribe, take one message, leave), then
    publish `count` messages: they are queued for it and for the agent's session."""
    peer_setup = subprocess.Popen(
        sub_command(port, count=1, client_id="bench-sub"), stdout=subprocess.DEVNULL
    )
    time.sleep(0.5)
    warm = Publisher(port, 1)
    warm.go()
    warm.wait()
    peer_setup.wait(timeout=30)
    publisher = Publisher(port, count)
    publisher.go()
    publisher.wait()


def drain_with_mosquitto_sub(port: int, count: int) -> float:
    started = time.monotonic()
    subprocess.run(
        sub_command(port, count=count, client_id="bench-sub"),
        stdout=subprocess.DEVNULL,
        check=True,
        timeout=600,
    )
    return count / (time.monotonic() - started)


def result(name: str, summary: str, ours: float, peer: float) -> dict[str, object]:
    """One run's JSON record, after its human line (`summary` and the rates) on stderr."""
    print(
        f"{summary}: ours {ours:,.0f} msg/s, mosquitto_sub {peer:,.0f} msg/s, "
        f"ratio {ours / peer:.2f}, none lost",
        file=sys.stderr,
    )
    return {
        "bench": name,
        "metric": "messages_per_second",
        "unit": "msg/s",
        "ours": round(ours),
        "peer": "mosquitto_sub",
        "peer_value": round(peer),
        "ratio": round(ours / peer, 3),
        "better": "higher",
    }


async def run(live_count: int, backlog_count: int) -> list[dict[str, object]]:
    results = []
    with tempfile.TemporaryDirectory(prefix="secmon-bench-") as tmp:
        outbox = Outbox(Path(tmp) / "outbox.sqlite", max_bytes=1024**3)
        broker = MosquittoServer().start()
        try:
            ours, peer = await live(broker.port, live_count, outbox)
            summary = f"live: {live_count:,} QoS 1 messages over {DEVICES} topics"
            results.append(result("mqtt-live-qos1", summary, ours, peer))
            ours, peer = await backlog(broker.port, backlog_count, outbox)
            summary = f"backlog: {backlog_count:,} queued QoS 1 messages drained"
            results.append(result("mqtt-backlog-qos1", summary, ours, peer))
        finally:
            broker.close()
            outbox.close()
    return results


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--publish":
        publish_main(int(sys.argv[2]), int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--live", type=int, default=30_000, help="messages in the live stream")
    parser.add_argument("--backlog", type=int, default=100_000, help="messages queued")
    args = parser.parse_args()
    print(
        f"machine: {platform.node()} {platform.machine()} python {platform.python_version()}",
        file=sys.stderr,
    )
    for line in asyncio.run(run(args.live, args.backlog)):
        print(json.dumps(line))


if __name__ == "__main__":
    main()
