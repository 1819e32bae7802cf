"""The delivery worker: an asyncio task in each server process that drains the queue.

Each claimed row is delivered in its own task, at most `concurrency` at once, each under the
sender's deadline, so a slow or dead channel holds one slot for one timeout and never the others.
Database calls run in threads; a database error is logged and retried on the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from server.notify.config import NotifyConfig, NotifyConfigError
from server.notify.metrics import NotifyMetrics
from server.notify.models import NotificationStatus
from server.notify.queue import Claimed, claim, mark_failed, mark_sent
from server.notify.sender import AppriseSender, DeliveryError, Sender

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:64]


class NotificationWorker:
    def __init__(
        self,
        engine: Engine,
        config: Callable[[], NotifyConfig],
        *,
        sender: Sender | None = None,
        worker_id: str | None = None,
        clock: Callable[[], datetime] = _utcnow,
        metrics: NotifyMetrics | None = None,
        shutdown_grace_seconds: float = 5.0,
    ) -> None:
        self.engine = engine
        self.config = config
        self.sender = sender or AppriseSender(timeout_seconds=config().delivery.timeout_seconds)
        self.worker_id = worker_id or default_worker_id()
        self.clock = clock
        self.metrics = metrics
        self.shutdown_grace_seconds = shutdown_grace_seconds
        self._inflight: set[asyncio.Task[None]] = set()
        self._last_config = config()
        self._config_broken = False
        self._db_broken = False

    def _config(self) -> NotifyConfig:
        """The current config; a broken edit keeps the last good one (logged once)."""
        try:
            current = self.config()
        except NotifyConfigError as err:
            if not self._config_broken:
                log.error("notify: config invalid, keeping the previous one: %s", err)
            self._config_broken = True
            return self._last_config
        if self._config_broken:
            log.info("notify: config valid again")
        self._config_broken = False
        self._last_config = current
        return current

    async def _claim(self, limit: int) -> list[Claimed]:
        delivery = self._config().delivery
        return await asyncio.to_thread(
            claim,
            self.engine,
            worker_id=self.worker_id,
            now=self.clock(),
            limit=limit,
            lease=timedelta(seconds=delivery.lease_seconds),
        )

    async def _deliver(self, item: Claimed) -> None:
        config = self._config()
        try:
            try:
                url = config.resolve_url(item.contact, item.channel)
            except NotifyConfigError as err:
                raise DeliveryError(str(err), permanent=True) from err
            await self.sender.send(url, item.title, item.body)
        except DeliveryError as err:
            status = await asyncio.to_thread(
                mark_failed,
                self.engine,
                item,
                worker_id=self.worker_id,
                now=self.clock(),
                error=str(err),
                permanent=err.permanent,
                backoff_base=config.delivery.backoff_base_seconds,
                backoff_max=config.delivery.backoff_max_seconds,
            )
            self._count("failed" if status is NotificationStatus.FAILED else "retry")
            log.warning(
                "notify: %s to %s/%s attempt %d failed (%s): %s",
                item.dedupe_key,
                item.contact,
                item.channel,
                item.attempt,
                status.value,
                err,
            )
            return
        self._count("sent")
        if not await asyncio.to_thread(
            mark_sent, self.engine, item, worker_id=self.worker_id, now=self.clock()
        ):
            log.warning("notify: %s sent after its lease ran out", item.dedupe_key)

    def _count(self, result: str) -> None:
        if self.metrics is not None:
            self.metrics.deliveries.labels(result=result).inc()

    async def _guarded(self, item: Claimed) -> None:
        try:
            await self._deliver(item)
        except SQLAlchemyError:
            # The row stays claimed; its lease runs out and it is delivered again (at least once).
            log.exception("notify: could not record the outcome of %s", item.dedupe_key)
        except Exception:
            log.exception("notify: unexpected error delivering %s", item.dedupe_key)

    def _spawn(self, items: list[Claimed]) -> None:
        for item in items:
            task = asyncio.create_task(self._guarded(item), name=f"secmon-notify-{item.id}")
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    async def run_once(self) -> int:
        """Claim what is due now, deliver it, wait for those deliveries; returns how many."""
        items = await self._claim(self._config().delivery.concurrency)
        await asyncio.gather(*(self._guarded(item) for item in items))
        return len(items)

    async def run(self) -> None:
        """Poll for due rows until cancelled. On cancel, deliveries under way get a short grace
        to finish and be recorded (a cut-off one would be sent again after its lease)."""
        try:
            while True:
                delivery = self._config().delivery
                free = delivery.concurrency - len(self._inflight)
                claimed = 0
                if free > 0:
                    try:
                        items = await self._claim(free)
                    except SQLAlchemyError as err:
                        if not self._db_broken:  # once per outage, not every poll
                            log.error("notify: cannot claim notifications, will retry: %s", err)
                        self._db_broken = True
                        items = []
                    else:
                        if self._db_broken:
                            log.info("notify: claiming notifications again")
                        self._db_broken = False
                    self._spawn(items)
                    claimed = len(items)
                if claimed < free or free <= 0:
                    # Nothing more due (or all slots busy): wait for a poll or a free slot.
                    waiting = set(self._inflight)
                    if waiting:
                        await asyncio.wait(
                            waiting,
                            timeout=delivery.poll_seconds,
                            return_when=asyncio.FIRST_COMPLETED,
                        )
                    else:
                        await asyncio.sleep(delivery.poll_seconds)
        finally:
            if self._inflight:
                await asyncio.wait(set(self._inflight), timeout=self.shutdown_grace_seconds)
            for task in list(self._inflight):
                task.cancel()
            for task in list(self._inflight):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
