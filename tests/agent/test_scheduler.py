"""The scheduler polls every device, bounds concurrency, survives broken probes, stops cleanly."""

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from agent.config import DeviceConfig
from agent.inventory import InventoryBook
from agent.metrics import AgentMetrics
from agent.outbox import AsyncOutbox, Outbox
from agent.probes.base import DeviceUnreachable, ProbeResult
from agent.probes.registry import ProbeFactory, ProbeRegistry
from agent.scheduler import Scheduler
from peers.devices import make_device
from tests.agent.factories import NoJitter
from wire.enums import ProbeErrorCode, ProbeKind
from wire.schema import DeviceIdentity, Sample


class ByDevice:
    """A probe whose behaviour is chosen per device id by the test."""

    def __init__(self) -> None:
        self.active = 0
        self.max_active = 0
        self.release = asyncio.Event()
        self.release.set()
        self.started = asyncio.Event()

    async def poll(self, device: DeviceConfig) -> ProbeResult:
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        self.started.set()
        try:
            await asyncio.sleep(0.01)
            await self.release.wait()
            if device.id.startswith("raise"):
                raise RuntimeError("firmware said something odd")
            if device.id.startswith("garbage"):
                return "<html>500</html>"  # type: ignore[return-value]  # garbage on purpose
            if device.id.startswith("hang"):
                await asyncio.Event().wait()
            identity = DeviceIdentity(vendor="Axis") if device.id.startswith("axis") else None
            return ProbeResult(checks={"tcp.open": True}, latency_ms=1.0, identity=identity)
        finally:
            self.active -= 1


class Rig:
    def __init__(self, tmp_path: Path, devices: list[DeviceConfig], concurrency: int = 8) -> None:
        self.outbox = Outbox(tmp_path / "o.sqlite", max_bytes=10_000_000)
        self.probe = ByDevice()
        self.stop = asyncio.Event()
        self.expected = len(devices)
        self.samples_seen = 0
        self.inventory_changes = 0
        self.metrics = AgentMetrics(CollectorRegistry())
        factory: ProbeFactory = lambda: self.probe  # noqa: E731 - one shared instance
        self.scheduler = Scheduler(
            devices=devices,
            registry=ProbeRegistry({ProbeKind.TCP: factory}),
            outbox=AsyncOutbox(self.outbox),
            concurrency=concurrency,
            inventory=InventoryBook(devices, agent_version="t"),
            metrics=self.metrics,
            on_sample=self._on_sample,
            on_inventory_change=self._on_inventory_change,
            rng=NoJitter(),
        )

    def _on_sample(self, urgent: bool) -> None:
        self.samples_seen += 1
        if self.samples_seen >= self.expected:
            self.stop.set()

    def _on_inventory_change(self) -> None:
        self.inventory_changes += 1

    async def run(self) -> dict[str, Sample]:
        await asyncio.wait_for(self.scheduler.run(self.stop), timeout=30)
        samples = [Sample.model_validate_json(p.body) for p in self.outbox.peek(1000)]
        assert len(samples) == len({s.device_id for s in samples}), "one sample per poll"
        return {s.device_id: s for s in samples}


async def test_every_device_is_polled_once_per_interval_into_the_outbox(tmp_path: Path) -> None:
    rig = Rig(tmp_path, [make_device(id="cam-01"), make_device(id="cam-02")])
    samples = await rig.run()
    assert set(samples) == {"cam-01", "cam-02"}
    assert all(s.reachable and s.error is None for s in samples.values())
    assert [t.get_name() for t in rig.scheduler.tasks] == ["poll:cam-01", "poll:cam-02"]


async def test_broken_probes_become_error_samples_and_the_agent_keeps_running(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    devices = [
        make_device(id="raise-01"),
        make_device(id="garbage-01"),
        make_device(id="hang-01", timeout=0.05),
        make_device(id="ok-01"),
    ]
    rig = Rig(tmp_path, devices)
    samples = await rig.run()
    codes = {d: (s.error.code if s.error else None) for d, s in samples.items()}
    assert codes == {
        "raise-01": ProbeErrorCode.PROTOCOL_ERROR,
        "garbage-01": ProbeErrorCode.PROTOCOL_ERROR,
        "hang-01": ProbeErrorCode.TIMEOUT,
        "ok-01": None,
    }
    assert "hang-01: timeout" in caplog.text
    assert "raise-01: protocol_error: RuntimeError: firmware said something odd" in caplog.text
    errors = rig.metrics.probe_errors.labels("tcp", "camera", "probe.protocol_error")
    assert errors._value.get() == 2


async def test_concurrency_is_bounded_site_wide(tmp_path: Path) -> None:
    rig = Rig(tmp_path, [make_device(id=f"cam-{i}") for i in range(6)], concurrency=2)
    await rig.run()
    assert rig.probe.max_active == 2


async def test_stop_lets_the_in_flight_poll_finish_and_stores_it(tmp_path: Path) -> None:
    rig = Rig(tmp_path, [make_device(id="cam-01")])
    rig.probe.release.clear()
    task = asyncio.create_task(rig.scheduler.run(rig.stop))
    await asyncio.wait_for(rig.probe.started.wait(), timeout=30)
    rig.stop.set()
    await asyncio.sleep(0.02)
    assert not task.done()  # still waiting for the probe, not cancelled
    rig.probe.release.set()
    await asyncio.wait_for(task, timeout=30)
    assert rig.outbox.depth() == 1


async def test_learned_identity_triggers_inventory_change(tmp_path: Path) -> None:
    rig = Rig(tmp_path, [make_device(id="axis-01"), make_device(id="cam-01")])
    await rig.run()
    assert rig.inventory_changes == 1


async def test_unreachable_device_backs_off_then_returns_to_its_interval(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outcomes = [False, False, False, False, True, True]  # reachable?
    waits: list[float] = []
    stop = asyncio.Event()

    class Flaky:
        async def poll(self, device: DeviceConfig) -> ProbeResult:
            if not outcomes.pop(0):
                raise DeviceUnreachable("refused")
            return ProbeResult()

    async def record_wait(event: asyncio.Event, seconds: float) -> bool:
        waits.append(seconds)
        return not outcomes

    caplog.set_level(logging.INFO, logger="agent.scheduler")
    clock = [0.0]
    scheduler = one_device(tmp_path, Flaky, clock, record_wait)
    await asyncio.wait_for(scheduler.run(stop), timeout=30)
    assert waits == [0.0, 1.25, 10.0, 20.0, 25.0, 5.0, 5.0]
    lines = [r.getMessage() for r in caplog.records if r.name == "agent.scheduler"]
    assert lines == ["cam-01: unreachable: refused", "cam-01: back after 0s"]


async def test_polls_that_change_a_status_or_recheck_a_change_are_pushed_at_once(
    tmp_path: Path,
) -> None:
    """The first failing poll and its re-check (the look that confirms the fault) go out at
    once, as does the poll that sees the device back; steady polls wait for the batch."""
    outcomes = [True, False, False, False, True, True]  # reachable?
    urgent: list[bool] = []

    class Flaky:
        async def poll(self, device: DeviceConfig) -> ProbeResult:
            if not outcomes.pop(0):
                raise DeviceUnreachable("refused")
            return ProbeResult()

    async def no_wait(event: asyncio.Event, seconds: float) -> bool:
        return not outcomes

    stop = asyncio.Event()
    scheduler = one_device(tmp_path, Flaky, [0.0], no_wait, on_sample=urgent.append)
    await asyncio.wait_for(scheduler.run(stop), timeout=30)
    assert urgent == [False, True, True, False, True, False]


def one_device(
    tmp_path: Path,
    probe: ProbeFactory,
    clock: list[float],
    wait: Callable[[asyncio.Event, float], Awaitable[bool]],
    on_sample: Callable[[bool], None] = lambda urgent: None,
) -> Scheduler:
    """One TCP camera polled every 5 s, on a fake clock and a test's own wait."""
    return Scheduler(
        devices=[make_device(interval=5)],
        registry=ProbeRegistry({ProbeKind.TCP: probe}),
        outbox=AsyncOutbox(Outbox(tmp_path / "o.sqlite", max_bytes=1_000_000)),
        concurrency=1,
        inventory=InventoryBook([], agent_version="t"),
        rng=NoJitter(),
        monotonic=lambda: clock[0],
        wait=wait,
        on_sample=on_sample,
    )


def _sample(device_id: str, *, reachable: bool, events_only: bool = False) -> Sample:
    return Sample(
        id=uuid.uuid4(),
        device_id=device_id,
        ts=datetime.now(UTC),
        probe=ProbeKind.MQTT,
        reachable=reachable,
        events_only=events_only,
    )


@pytest.mark.parametrize(
    ("report_at", "reachable", "next_poll_at"),
    [
        (4.9, False, 4.9 + 1.25),  # an LWT "offline" just before the poll: the re-check, later
        (3.0, True, 3.0 + 5.0),  # an "online" report: a whole interval from it
        (1.0, False, 5.0),  # the re-check would come before the poll already due: unchanged
    ],
)
async def test_a_poll_made_elsewhere_times_the_next_scheduled_poll(
    tmp_path: Path, report_at: float, reachable: bool, next_poll_at: float
) -> None:
    """An MQTT device's urgent liveness report is its poll: a scheduled poll due a moment after
    an "offline" report waits for the re-check, so two looks at one instant are not two failing
    polls (which the server would take as a confirmed fault)."""
    clock = [0.0]
    polled_at: list[float] = []
    stop = asyncio.Event()
    scheduler: Scheduler | None = None

    class Recorder:
        async def poll(self, device: DeviceConfig) -> ProbeResult:
            polled_at.append(clock[0])
            if len(polled_at) == 2:
                stop.set()
            return ProbeResult()

    async def advance(event: asyncio.Event, seconds: float) -> bool:
        target = clock[0] + max(0.0, seconds)
        if len(polled_at) == 1 and clock[0] < report_at <= target:
            clock[0] = report_at
            assert scheduler is not None
            scheduler.polled_elsewhere(
                [
                    _sample("other-device", reachable=False),  # not this scheduler's: ignored
                    _sample("cam-01", reachable=False, events_only=True),  # no poll: ignored
                    _sample("cam-01", reachable=reachable),
                ]
            )
        clock[0] = target
        return event.is_set()

    scheduler = one_device(tmp_path, Recorder, clock, advance)
    await asyncio.wait_for(scheduler.run(stop), timeout=30)
    assert polled_at == [0.0, pytest.approx(next_poll_at)]


async def test_the_next_poll_after_a_failing_report_counts_as_the_second_failure(
    tmp_path: Path,
) -> None:
    """A failing report, then a failing scheduled poll: two failures, so backoff starts."""
    clock = [0.0]
    polled_at: list[float] = []
    stop = asyncio.Event()
    scheduler: Scheduler | None = None

    class Down:
        async def poll(self, device: DeviceConfig) -> ProbeResult:
            polled_at.append(clock[0])
            if len(polled_at) == 2:
                stop.set()
            raise DeviceUnreachable("device reported 'offline' (LWT)")

    reported: list[bool] = []

    async def advance(event: asyncio.Event, seconds: float) -> bool:
        if not reported:  # the report comes as the first poll falls due
            reported.append(True)
            assert scheduler is not None
            scheduler.polled_elsewhere([_sample("cam-01", reachable=False)])
        clock[0] += max(0.0, seconds)
        return event.is_set()

    scheduler = one_device(tmp_path, Down, clock, advance)
    await asyncio.wait_for(scheduler.run(stop), timeout=30)
    # The first scheduled poll is the re-check (1.25 s) and the second failure: then 2 x 5 s.
    assert polled_at == [1.25, 11.25]
