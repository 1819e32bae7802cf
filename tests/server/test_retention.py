"""Retention deletes raw samples older than the limit and keeps the current state."""

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from peers.server import provision
from server import migrate
from server.db import make_engine, write_transaction
from server.ingest import insert_samples, parse_batch, sample_rows
from server.models import DeviceState, SampleRow
from server.retention import prune_samples, uuid7_floor
from tests.server.samples import batch, sample
from wire.ids import Uuid7Factory


def _sample_at(moment: datetime) -> dict[str, object]:
    body = sample("cam-1", ts=moment)
    # ids are minted at sample time on the agent, so make them of that time too
    body["id"] = str(Uuid7Factory(clock_ns=lambda: int(moment.timestamp() * 1e9))())
    return body


def test_prune_deletes_only_samples_older_than_retention(database_url: str) -> None:
    migrate.upgrade(database_url=database_url)
    tenant = provision(database_url, devices=["cam-1"])
    now = datetime.now(UTC)
    ages = [timedelta(days=40), timedelta(days=31), timedelta(days=29), timedelta(hours=1)]
    parsed = parse_batch(json.dumps(batch(*(_sample_at(now - age) for age in ages))).encode())
    engine = make_engine(database_url)
    try:
        rows = sample_rows(parsed, tenant.device_pks, received_at=now)
        with write_transaction(engine) as conn:
            assert insert_samples(conn, rows) == 4
        deleted = prune_samples(engine=engine, retention=timedelta(days=30), now=now)
        assert deleted == 2
        assert prune_samples(engine=engine, retention=timedelta(days=30), now=now) == 0
        with engine.connect() as conn:
            kept = conn.scalars(select(SampleRow.ts).order_by(SampleRow.ts)).all()
            states = conn.scalar(select(func.count()).select_from(DeviceState))
        assert kept == sorted(now - age for age in ages[2:])
        assert states == 1
    finally:
        engine.dispose()


def test_uuid7_floor_sorts_below_ids_of_that_millisecond() -> None:
    moment = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    make = Uuid7Factory(clock_ns=lambda: int(moment.timestamp() * 1e9))
    earlier = Uuid7Factory(clock_ns=lambda: int(moment.timestamp() * 1e9) - 1_000_000)
    assert earlier() < uuid7_floor(moment) <= make()
