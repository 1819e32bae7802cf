"""Daily check rollups on a real database: incremental runs equal one run, counters keep their
deltas across runs, old days go, flags and text are not rolled up."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from peers.server import provision
from server import migrate
from server.db import make_engine, session_factory, write_session
from server.models import CheckDay, SampleRow
from server.predict.store import PREDICT_LOCK_NAMESPACE, rollup_all_checks
from tests.server.predict.series import sample

T0 = datetime(2026, 11, 20, tzinfo=UTC)
H = timedelta(hours=1)
SECTORS = "host.disk.sda.reallocated_sectors"


def rows(session: Session) -> list[tuple[Any, ...]]:
    return [
        (r.check, r.day, r.count, r.min, r.max, r.mean, r.last, r.delta, r.resets, r.rejected)
        for r in session.scalars(select(CheckDay).order_by(CheckDay.check, CheckDay.day))
    ]


def history(device_id: int) -> list[dict[str, Any]]:
    """Three days: sectors 0,0 | 2,5 | 5, reset to 1; a temperature, a sentinel; a flag; text."""
    return [
        sample(device_id, T0 + 6 * H, {SECTORS: 0, "host.disk.sda.celsius": 40.0, "ok": True}),
        sample(device_id, T0 + 18 * H, {SECTORS: 0, "host.disk.sda.celsius": 44.0, "fw": "v1"}),
        sample(device_id, T0 + 30 * H, {SECTORS: 2, "host.disk.sda.celsius": 41.0}),
        sample(device_id, T0 + 42 * H, {SECTORS: 5, "host.disk.sda.celsius": 43.0}),
        sample(device_id, T0 + 50 * H, {SECTORS: 5, "host.disk.sda.celsius": 65535}),
        sample(device_id, T0 + 54 * H, {SECTORS: 1}),
    ]


def test_incremental_rollups_equal_one_run(database_url: str) -> None:
    migrate.upgrade(database_url=database_url)
    tenant = provision(database_url, devices=["nvr-1"])
    device = tenant.device_pks["nvr-1"]
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    samples = history(device)
    try:
        # Run once after each sample arrives, as the periodic job would.
        for i, row in enumerate(samples):
            with write_session(engine) as session:
                session.execute(insert(SampleRow), [row])
            with sessions() as session:
                written = rollup_all_checks(session=session, now=row["ts"] + H)
            assert device in written, i
        with sessions() as session:
            incremental = rows(session)
            session.execute(text("DELETE FROM check_days"))
            session.commit()
            rollup_all_checks(session=session, now=T0 + 60 * H)
            once = rows(session)
        assert incremental == once
        day1, day2, day3 = date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 22)
        assert [r for r in once if r[0] == SECTORS] == [
            (SECTORS, day1, 2, 0.0, 0.0, 0.0, 0.0, 0.0, 0, 0),
            (SECTORS, day2, 2, 2.0, 5.0, 3.5, 5.0, 5.0, 0, 0),
            # 5 → 1 is a reset: the increase since zero is 1.
            (SECTORS, day3, 2, 1.0, 5.0, 3.0, 1.0, 1.0, 1, 0),
        ]
        temps = [r for r in once if r[0] == "host.disk.sda.celsius"]
        assert temps[0][2:7] == (2, 40.0, 44.0, 42.0, 44.0)
        # Day 3's only reading was a sentinel: no row, nothing invented.
        assert [r[1] for r in temps] == [day1, day2]
        assert {r[0] for r in once} == {SECTORS, "host.disk.sda.celsius"}
    finally:
        engine.dispose()


def test_days_past_the_history_are_deleted(database_url: str) -> None:
    migrate.upgrade(database_url=database_url)
    tenant = provision(database_url, devices=["nvr-1"])
    device = tenant.device_pks["nvr-1"]
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    try:
        with write_session(engine) as session:
            session.execute(insert(SampleRow), history(device))
        with sessions() as session:
            rollup_all_checks(session=session, now=T0 + 60 * H)
            assert {r.day for r in session.scalars(select(CheckDay))} == {
                date(2026, 11, 20),
                date(2026, 11, 21),
                date(2026, 11, 22),
            }
            # 40 days later with a 30-day history: the old days go.
            with write_session(engine) as writer:
                later = T0 + timedelta(days=40)
                writer.execute(insert(SampleRow), [sample(device, later, {SECTORS: 1})])
            rollup_all_checks(
                session=session, now=T0 + timedelta(days=40, hours=1), history_days=30
            )
            assert {r.day for r in session.scalars(select(CheckDay))} == {date(2026, 12, 30)}
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_a_site_locked_by_another_replica_is_skipped_this_round(postgres_url: str) -> None:
    migrate.upgrade(database_url=postgres_url)
    tenant = provision(postgres_url, devices=["nvr-1"])
    device = tenant.device_pks["nvr-1"]
    engine = make_engine(postgres_url)
    sessions = session_factory(engine)
    try:
        with write_session(engine) as session:
            session.execute(insert(SampleRow), history(device))
        with sessions() as other, other.begin():
            # Another replica is rolling this site up: it holds the site's transaction lock.
            assert other.scalar(
                select(func.pg_try_advisory_xact_lock(PREDICT_LOCK_NAMESPACE, tenant.site_id))
            )
            with sessions() as session:
                assert rollup_all_checks(session=session, now=T0 + 60 * H) == {}
        with sessions() as session:
            assert device in rollup_all_checks(session=session, now=T0 + 60 * H)
    finally:
        engine.dispose()
