"""Tells the server, about once a minute, that this agent lives and how its outbox is doing.

Separate from the pusher on purpose: an agent with an empty outbox still reports, and a
heartbeat that fails is only logged (once per outage) — samples never wait for it.
"""

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from agent.outbox import AsyncOutbox
from wire.schema import AgentHeartbeat

log = logging.getLogger(__name__)
PATH = "/api/v1/heartbeat"


class Heartbeat:
    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        server_url: str,
        token: str,
        outbox: AsyncOutbox,
        agent_version: str,
        interval: float = 60.0,
        call_timeout: float = 10.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._url = server_url + PATH
        self._headers = {"Authorization": f"Bearer {token}"}
        self._outbox = outbox
        self._version = agent_version
        self._interval = interval
        self._timeout = call_timeout
        self._clock = clock
        self._failing = False

    async def beat(self) -> bool:
        """One report; True if the server took it."""
        stats = await self._outbox.stats()
        body = AgentHeartbeat(
            agent_version=self._version,
            sent_at=self._clock(),
            outbox_depth=stats.depth,
            outbox_bytes=stats.bytes,
            outbox_oldest_age_s=stats.oldest_age,
            outbox_dropped_total=stats.dropped_total,
            outbox_rejected_total=stats.rejected_total,
        )
        try:
            async with asyncio.timeout(self._timeout):
                response = await self._client.post(
                    self._url, content=body.model_dump_json(), headers={
                        **self._headers, "Content-Type": "application/json"
                    },
                )  # fmt: skip
            ok = response.status_code == 204
            reason = f"HTTP {response.status_code}"
        except (httpx.HTTPError, TimeoutError) as err:
            ok, reason = False, type(err).__name__
        if ok and self._failing:
            log.info("heartbeat: server takes reports again")
        elif not ok and not self._failing:
            log.warning("heartbeat: server did not take the report (%s)", reason)
        self._failing = not ok
        return ok

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.beat()
            try:
                async with asyncio.timeout(self._interval):
                    await stop.wait()
            except TimeoutError:
                pass
