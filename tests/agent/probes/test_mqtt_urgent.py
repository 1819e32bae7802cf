"""The liveness reporter: devices whose liveness changed are polled at once, their samples
stored together in the outbox, and the pusher woken; nothing new after stop."""

import asyncio
from pathlib import Path

from agent.config import DeviceConfig
from agent.outbox import AsyncOutbox, Outbox
from agent.probes.base import DeviceUnreachable, ProbeResult
from agent.probes.mqtt.urgent import LivenessReporter
from peers.devices import make_device
from wire.schema import Sample


class SlowProbe:
    """Answers after a moment, offline for the devices in `down`; counts its polls."""

    def __init__(self, down: set[str]) -> None:
        self.down = down
        self.polled: list[str] = []

    async def poll(self, device: DeviceConfig) -> ProbeResult:
        self.polled.append(device.id)
        await asyncio.sleep(0.05)
        if device.id in self.down:
            raise DeviceUnreachable("device reported 'offline' (LWT)")
        return ProbeResult(checks={"mqtt.online": True})


def devices(*ids: str) -> list[DeviceConfig]:
    return [make_device(id=i, protocol="tcp", port=1) for i in ids]


async def test_changed_devices_are_polled_stored_and_pushed_urgently(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite", max_bytes=1 << 20)
    wakes: list[int] = []
    reporter = LivenessReporter(
        devices=devices("a", "b", "c"),
        outbox=AsyncOutbox(outbox),
        wake=lambda: wakes.append(1),
    )
    probe = SlowProbe(down={"a"})
    stored: list[list[str]] = []  # what the scheduler hears: these are the devices' polls
    reporter.after_store(lambda samples: stored.append([s.device_id for s in samples]))
    reporter(["a"])  # before attach: nothing to poll with, ignored
    reporter.attach(probe)
    reporter(["a", "b"])
    reporter(["a", "unknown-device"])  # before the round starts: merged into it
    await asyncio.sleep(0.01)
    reporter(["c"])  # while it runs: the next round
    await reporter.drain()
    pending = outbox.peek(10)
    samples = [Sample.model_validate_json(p.body) for p in pending]
    by_device = {s.device_id: s for s in samples}
    assert probe.polled == ["a", "b", "c"]
    assert by_device["a"].error is not None
    assert by_device["a"].error.code.value == "device.unreachable"
    assert by_device["b"].error is None
    assert len(wakes) == 2  # one per round
    assert len(samples) == 3
    assert stored == [["a", "b"], ["c"]]

    reporter.stop()
    reporter(["b"])
    await reporter.drain()
    assert outbox.depth() == 3
    assert len(stored) == 2
    outbox.close()


async def test_silence_watch_reports_newly_silent_devices_until_stopped(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite", max_bytes=1 << 20)
    reporter = LivenessReporter(
        devices=devices("a", "b"), outbox=AsyncOutbox(outbox), wake=lambda: None
    )
    probe = SlowProbe(down={"b"})
    reporter.attach(probe)
    answers = [[], ["b"], [], []]
    stop = asyncio.Event()

    def newly_silent() -> list[str]:
        if len(answers) == 1:
            stop.set()
        return answers.pop(0) if answers else []

    await asyncio.wait_for(reporter.watch_silence(newly_silent, stop, every=0.01), timeout=5)
    await reporter.drain()
    assert probe.polled == ["b"]
    [pending] = outbox.peek(10)
    sample = Sample.model_validate_json(pending.body)
    assert sample.device_id == "b"
    assert not sample.reachable
    outbox.close()
