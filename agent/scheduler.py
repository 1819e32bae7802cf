"""Owns timing: one poll loop per device, a site-wide concurrency bound, backoff for unreachable
devices, and a clean stop (in-flight polls finish and are stored, nothing new starts)."""

import asyncio
import logging
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from agent.backoff import POLLS_BEFORE_BACKOFF, initial_jitter, next_poll_at, poll_delay
from agent.config import DeviceConfig
from agent.inventory import InventoryBook
from agent.metrics import AgentMetrics
from agent.outbox import AsyncOutbox
from agent.probes.registry import ProbeRegistry
from agent.sampling import Poll, poll_device
from agent.transitions import OK, StatusTracker
from wire.schema import Sample

log = logging.getLogger(__name__)


@dataclass
class _Clock:
    """A device's next poll (monotonic seconds) and its unreachable polls in a row."""

    due: float
    failures: int = 0


class Scheduler:
    """Polls every device at its interval and writes each result to the outbox."""

    def __init__(
        self,
        *,
        devices: Sequence[DeviceConfig],
        registry: ProbeRegistry,
        outbox: AsyncOutbox,
        concurrency: int,
        inventory: InventoryBook,
        metrics: AgentMetrics | None = None,
        on_sample: Callable[[bool], None] = lambda urgent: None,
        on_inventory_change: Callable[[], None] = lambda: None,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wait: Callable[[asyncio.Event, float], Awaitable[bool]] | None = None,
    ) -> None:
        self._devices = list(devices)
        self._by_id = {d.id: d for d in self._devices}
        self._registry = registry
        self._outbox = outbox
        self._semaphore = asyncio.Semaphore(concurrency)
        self._inventory = inventory
        self._metrics = metrics
        self._on_sample = on_sample
        self._on_inventory_change = on_inventory_change
        self._rng = rng or random.Random()
        self._monotonic = monotonic
        self._wait = wait or stopped_within
        self._tracker = StatusTracker()
        self._clocks: dict[str, _Clock] = {}
        self.tasks: list[asyncio.Task[None]] = []

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set; returns once every in-flight poll has been stored."""
        async with asyncio.TaskGroup() as group:
            self.tasks = [
                group.create_task(self._device_loop(device, stop), name=f"poll:{device.id}")
                for device in self._devices
            ]

    async def _device_loop(self, device: DeviceConfig, stop: asyncio.Event) -> None:
        probe = self._registry.probe_for(device.protocol)
        clock = self._clocks[device.id] = _Clock(
            due=self._monotonic() + initial_jitter(device.interval, self._rng)
        )
        while not await self._wait_until_due(clock, stop):
            async with self._semaphore:
                if stop.is_set():
                    return
                started = self._monotonic()
                poll = await poll_device(probe, device, monotonic=self._monotonic)
            await self._record(device, poll, recheck=0 < clock.failures < POLLS_BEFORE_BACKOFF)
            clock.failures = 0 if poll.sample.reachable else clock.failures + 1
            clock.due = next_poll_at(
                started_at=started,
                now=self._monotonic(),
                delay=poll_delay(device.interval, clock.failures),
            )

    async def _wait_until_due(self, clock: _Clock, stop: asyncio.Event) -> bool:
        """Wait for the device's next poll, longer if a poll made elsewhere moved it; True if
        `stop` was set meanwhile."""
        due = clock.due
        if await self._wait(stop, due - self._monotonic()):
            return True
        while clock.due > due:
            due = clock.due
            if await self._wait(stop, due - self._monotonic()):
                return True
        return stop.is_set()

    def polled_elsewhere(self, samples: Iterable[Sample]) -> None:
        """Count polls made outside the schedule (an MQTT device's urgent liveness report) as
        the devices' own: each one's next poll is timed from it, as after a scheduled poll.

        Otherwise a scheduled poll due a moment after an LWT "offline" report would be a second
        failing look at the same instant, and the server would confirm the fault at once: the
        re-check a quarter interval later is what lets a blip pass without a ticket. A poll is
        only ever pushed later here, never brought forward."""
        now = self._monotonic()
        for sample in samples:
            if sample.events_only:
                continue
            clock = self._clocks.get(sample.device_id)
            device = self._by_id.get(sample.device_id)
            if clock is None or device is None:
                continue
            clock.failures = 0 if sample.reachable else clock.failures + 1
            delay = poll_delay(device.interval, clock.failures)
            clock.due = max(clock.due, next_poll_at(started_at=now, now=now, delay=delay))

    async def _record(self, device: DeviceConfig, poll: Poll, *, recheck: bool) -> None:
        """Store the poll; `on_sample(urgent)` is urgent when the poll changed the device's
        status or is the re-check of a change (the look that confirms or dismisses it): the
        server's fault opens on those, so they go out at once, as traps do."""
        sample = poll.sample
        message = self._tracker.observe(sample, self._monotonic())
        try:
            await self._outbox.put([sample])
        except sqlite3.Error:
            # Disk full or a broken file: say so; the loop keeps polling (and logging) so the
            # state is visible on /metrics and in the log rather than the agent dying.
            log.exception("cannot store sample in outbox", extra={"device": device.id})
        else:
            self._on_sample(message is not None or recheck)
        if self._metrics is not None:
            labels = (device.protocol.value, device.device_class.value)
            self._metrics.probe_duration.labels(*labels).observe(poll.duration_s)
            if sample.error is not None:
                self._metrics.probe_errors.labels(*labels, sample.error.code.value).inc()
            self._metrics.observe_coverage(device.id, labels, sample.unmonitored is not None)
        if message is not None:
            level = logging.INFO if sample.error is None else logging.WARNING
            log.log(level, message, extra={"device": device.id, "status": _status(poll)})
        if poll.identity is not None and self._inventory.learn(device.id, poll.identity):
            log.info("learned device identity", extra={"device": device.id})
            self._on_inventory_change()


def _status(poll: Poll) -> str:
    return OK if poll.sample.error is None else poll.sample.error.code.value


async def stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    """Wait up to `seconds`; True if `stop` was set meanwhile."""
    if stop.is_set():
        return True
    try:
        async with asyncio.timeout(max(0.0, seconds)):
            await stop.wait()
    except TimeoutError:
        return False
    return True
