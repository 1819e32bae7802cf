"""Liveness changes reported at once: when a device's LWT says offline (or online again), its
broker is lost or back, or it has been silent for its limit (and when it speaks again after), the
device is polled straight away (the poll only reads what the broker
link already knows) and the sample is stored for an urgent push. Waiting for the device's next
poll could take its whole interval; the server must see "unreachable" within seconds."""

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Sequence

from agent.config import DeviceConfig
from agent.outbox import AsyncOutbox
from agent.probes.base import Probe
from agent.sampling import poll_device
from wire.schema import Sample

log = logging.getLogger(__name__)


class LivenessReporter:
    """The broker links' liveness sink (runs on the event loop). Changes that come in while a
    report is being written are coalesced into the next one, one outbox write per round."""

    def __init__(
        self,
        *,
        devices: Sequence[DeviceConfig],
        outbox: AsyncOutbox,
        wake: Callable[[], None],
    ) -> None:
        self._devices = {d.id: d for d in devices}
        self._outbox = outbox
        self._wake = wake
        self._probe: Probe | None = None
        self._due: dict[str, None] = {}  # ordered set
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        self._after_store: Callable[[list[Sample]], None] = lambda samples: None

    def attach(self, probe: Probe) -> None:
        """The probe whose view the reports read (the one the scheduler polls too)."""
        self._probe = probe

    def after_store(self, sink: Callable[[list[Sample]], None]) -> None:
        """Hand each stored round's samples to `sink` too: they are the devices' polls, and
        the scheduler times their next ones from them."""
        self._after_store = sink

    def __call__(self, device_ids: list[str]) -> None:
        if self._stopped or self._probe is None:
            return
        for device_id in device_ids:
            if device_id in self._devices:
                self._due[device_id] = None
        if self._due and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._report(), name="mqtt-liveness")

    async def _report(self) -> None:
        assert self._probe is not None
        probe = self._probe
        while self._due and not self._stopped:
            devices = [self._devices[d] for d in self._due]
            self._due.clear()
            polls = await asyncio.gather(*(poll_device(probe, d) for d in devices))
            samples = [p.sample for p in polls]
            try:
                await self._outbox.put(samples)
            except sqlite3.Error:
                log.exception(
                    "cannot store %d liveness sample(s) in outbox",
                    len(samples),
                    extra={"devices": [d.id for d in devices]},
                )
                continue
            for sample in samples:
                status = "ok" if sample.error is None else sample.error.code.value
                log.info("liveness changed: %s", status, extra={"device": sample.device_id})
            self._after_store(samples)
            self._wake()

    async def watch_silence(
        self, newly_silent: Callable[[], list[str]], stop: asyncio.Event, *, every: float = 1.0
    ) -> None:
        """Until `stop`: report devices whose silence limit has just passed (a device without
        LWT that stops publishing), instead of leaving it to their next poll."""
        while not stop.is_set():
            due = newly_silent()
            if due:
                self(due)
            try:
                async with asyncio.timeout(every):
                    await stop.wait()
            except TimeoutError:
                pass

    def stop(self) -> None:
        """Report nothing new (at shutdown, before the outbox closes)."""
        self._stopped = True

    async def drain(self) -> None:
        """Wait for the report being written, if any."""
        if self._task is not None:
            await self._task
