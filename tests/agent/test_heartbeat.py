"""The heartbeat never raises and logs an outage once, however many beats fail."""

import asyncio
import logging
from pathlib import Path

import httpx
import pytest

from agent.heartbeat import Heartbeat
from agent.outbox import AsyncOutbox, Outbox
from simulate.peers.net import free_port


async def test_unreachable_server_is_logged_once_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = AsyncOutbox(Outbox(tmp_path / "outbox.sqlite", max_bytes=1 << 20))
    try:
        async with httpx.AsyncClient() as client:
            beat = Heartbeat(
                client=client,
                server_url=f"http://127.0.0.1:{free_port()}",
                token="smt_x_y",
                outbox=outbox,
                agent_version="0.1.0",
                interval=0.01,
                call_timeout=1,
            )
            with caplog.at_level(logging.WARNING, logger="agent.heartbeat"):
                assert await beat.beat() is False
                stop = asyncio.Event()
                task = asyncio.create_task(beat.run(stop))
                await asyncio.sleep(0.1)
                stop.set()
                await task
        warnings = [r for r in caplog.records if "did not take" in r.getMessage()]
        assert len(warnings) == 1
    finally:
        await outbox.close()
