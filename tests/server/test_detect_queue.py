"""The detection queue: ingest queues each batch in its own transaction, a later drain detects
the site's queued batches as one, and batches another replica took are left to it."""

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.agent_tokens import AgentPrincipal
from server.db import write_session
from server.detector import Detector, drain
from server.faults.queue import ClaimLostError, peek, take
from server.ingest import store_batch
from server.models import detect_queue
from tests.server.faultkit import T0, Kit, make_kit
from wire.enums import DeviceClass
from wire.ids import uuid7
from wire.schema import IngestBatch


@pytest.fixture
def kit(database_url: str) -> Iterator[Kit]:
    kit = make_kit(database_url)
    kit.add_devices([("nvr-1", DeviceClass.NVR, None), ("cam-1", DeviceClass.CAMERA, None)])
    yield kit
    kit.engine.dispose()


def store_down(kit: Kit, seconds: float) -> None:
    """One failing poll of the NVR through ingest, without detection."""
    ts = T0 + timedelta(seconds=seconds)
    sample = {
        "id": str(uuid7()),
        "device_id": "nvr-1",
        "ts": ts.isoformat(),
        "probe": "tcp",
        "reachable": False,
        "error": {"code": "device.unreachable", "message": "refused"},
    }
    principal = AgentPrincipal(token_id=0, site_id=kit.tenant.site_id, prefix="test")
    batch = IngestBatch.model_validate({"samples": [sample]})
    store_batch(engine=kit.engine, principal=principal, batch=batch, now=ts)


def queued(kit: Kit) -> int:
    with Session(kit.engine) as session:
        return int(session.scalar(select(func.count()).select_from(detect_queue)) or 0)


def test_batches_wait_in_the_queue_and_one_drain_detects_them_together(kit: Kit) -> None:
    store_down(kit, 0)
    store_down(kit, 10)
    assert queued(kit) == 2
    assert kit.tickets() == []  # nothing detected at the ingest answer
    out = drain(engine=kit.engine, settings=kit.settings, now=T0 + timedelta(seconds=10))
    assert queued(kit) == 0
    (ticket,) = kit.tickets()
    assert out.tickets_created == [ticket.id]
    assert ticket.first_failure_at == T0  # both batches' polls, in order, in one detection


def test_a_duplicate_batch_queues_nothing(kit: Kit) -> None:
    sample = {
        "id": str(uuid7()),
        "device_id": "cam-1",
        "ts": T0.isoformat(),
        "probe": "tcp",
        "reachable": True,
    }
    principal = AgentPrincipal(token_id=0, site_id=kit.tenant.site_id, prefix="test")
    batch = IngestBatch.model_validate({"samples": [sample]})
    store_batch(engine=kit.engine, principal=principal, batch=batch, now=T0)
    store_batch(engine=kit.engine, principal=principal, batch=batch, now=T0)
    assert queued(kit) == 1


def test_batches_another_replica_took_are_left_to_it(kit: Kit) -> None:
    store_down(kit, 0)
    with kit.engine.connect() as conn:
        work = peek(conn, kit.tenant.site_id)
    assert work is not None
    drain(engine=kit.engine, settings=kit.settings, now=T0)  # the other replica
    with pytest.raises(ClaimLostError), write_session(kit.engine) as session:
        take(session, work)
    assert queued(kit) == 0


async def test_the_detector_is_woken_by_the_ingest_commit_not_by_its_poll(kit: Kit) -> None:
    """With the fallback poll an hour away, only the wake-up can make the detector drain."""
    detector = Detector(kit.engine, kit.settings, sweep_seconds=3600, poll_seconds=3600)
    task = asyncio.create_task(detector.run(), name="detector")
    await asyncio.sleep(0)  # the task starts and waits for a wake-up

    def ingest() -> None:  # as the ingest route does, in a worker thread
        store_down(kit, 0)
        store_down(kit, 10)
        assert queued(kit) == 2
        detector.wake()

    try:
        await asyncio.to_thread(ingest)
        assert await asyncio.to_thread(detector.wait_drained, 30)
        assert queued(kit) == 0
        assert len(kit.tickets()) == 1
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
