"""Runs detection inside the server process: after each ingest commit, and the periodic sweep.

A failing evaluation is logged and never fails the ingest (the samples are committed already);
the tracks skip samples they have seen, so the next batch or a retried one carries on.
"""

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from server.faults.engine import FaultSettings, evaluate_batch, sweep
from wire.schema import Sample

log = logging.getLogger(__name__)
# How often the sweep lets escalation look at open tickets' SLA clocks (near-breach, breach).
TICK_EVERY = timedelta(seconds=30)


class FaultRunner:
    def __init__(self, engine: Engine, settings: FaultSettings, *, sweep_seconds: float) -> None:
        self.engine = engine
        self.settings = settings
        self.sweep_seconds = sweep_seconds
        self._last_tick: datetime | None = None

    def after_ingest(self, site_id: int, samples_by_device: Mapping[int, list[Sample]]) -> None:
        try:
            evaluate_batch(
                engine=self.engine,
                site_id=site_id,
                samples_by_device=samples_by_device,
                now=datetime.now(UTC),
                settings=self.settings,
            )
        except Exception:  # detection must never fail an already-stored batch
            # An error here would answer 500 for committed samples and the agent would resend
            # the batch for ever; the tracks skip seen samples, so later batches carry on.
            log.exception("faults: evaluation of a batch for site %s failed", site_id)

    def sweep_once(self) -> None:
        now = datetime.now(UTC)
        tick = self._last_tick is None or now - self._last_tick >= TICK_EVERY
        try:
            sweep(engine=self.engine, now=now, settings=self.settings, tick=tick)
            if tick:
                self._last_tick = now
        except Exception:  # the sweep loop must outlive one bad round
            log.exception("faults: sweep failed, will retry next interval")

    async def sweep_periodically(self) -> None:
        while True:
            await asyncio.to_thread(self.sweep_once)
            await asyncio.sleep(self.sweep_seconds)
