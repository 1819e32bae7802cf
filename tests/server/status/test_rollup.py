"""Daily rollups on a real database: episodes and windows become per-day seconds, per device
and per subsystem, in the site's own calendar days."""

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from peers.server import provision
from server import migrate
from server.db import make_engine, session_factory, write_session
from server.models import Device, FaultEpisode, MaintenanceWindow, SubsystemDay, UptimeDay
from server.status.rollup import days_to_roll, rollup_all

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
H = timedelta(hours=1)


def _episode(
    site_id: int, device_id: int | None, code: str, start: datetime, end: datetime | None
) -> dict[str, object]:
    key = f"{device_id}:{code}:{start.isoformat()}"
    return {
        "key": key,
        "open_key": key if end is None else None,
        "site_id": site_id,
        "device_id": device_id,
        "code": code,
        "severity": "general",
        "started_at": start,
        "confirmed_at": start,
        "recovered_at": end,
        "last_failing_at": end or start,
        "occurrences": 1,
        "flapping": False,
    }


def test_rollup_splits_episodes_into_local_days(database_url: str) -> None:
    migrate.upgrade(database_url=database_url)
    tenant = provision(database_url, devices=["cam-1", "cam-2", "nvr-1"], timezone="Asia/Shanghai")
    cam1, cam2, nvr = (tenant.device_pks[n] for n in ("cam-1", "cam-2", "nvr-1"))
    # Shanghai is UTC+8: the local day 2026-11-20 runs from 11-19 16:00 to 11-20 16:00 UTC.
    day_start = datetime(2026, 11, 19, 16, 0, tzinfo=UTC)
    engine = make_engine(database_url)
    try:
        with write_session(engine) as session:
            session.execute(
                update(Device)
                .where(Device.site_id == tenant.site_id)
                .values(first_registered_at=day_start, subsystem="video")
            )
            session.execute(
                insert(FaultEpisode),
                [
                    # cam-1 down 2 h, of which 1 h while the agent was offline (→ unknown)
                    _episode(
                        tenant.site_id,
                        cam1,
                        "device.unreachable",
                        day_start + 2 * H,
                        day_start + 4 * H,
                    ),
                    _episode(
                        tenant.site_id,
                        None,
                        "site.agent_offline",
                        day_start + 3 * H,
                        day_start + 5 * H,
                    ),
                    # cam-2: a clock drift is not downtime
                    _episode(
                        tenant.site_id, cam2, "camera.clock_drift", day_start, day_start + 10 * H
                    ),
                    # nvr: still down since the evening, across midnight
                    _episode(tenant.site_id, nvr, "device.unreachable", day_start + 22 * H, None),
                ],
            )
            session.execute(
                insert(MaintenanceWindow),
                [
                    {
                        "site_id": tenant.site_id,
                        "starts_at": day_start + 6 * H,
                        "ends_at": day_start + 7 * H,
                        "title": "lens cleaning",
                        "created_at": day_start,
                    }
                ],
            )
        now = day_start + 30 * H  # 06:00 local on the 21st
        with session_factory(engine)() as session:
            assert rollup_all(session=session, now=now) == 6
        with Session(engine) as session:
            rows = {
                (r.device_id, r.day): (r.up_s, r.down_s, r.unknown_s, r.maintenance_s, r.nodata_s)
                for r in session.scalars(select(UptimeDay))
            }
            sub = session.scalars(select(SubsystemDay).order_by(SubsystemDay.day)).all()
        d20, d21 = date(2026, 11, 20), date(2026, 11, 21)
        assert rows[(cam1, d20)] == (20 * 3600, 3600, 2 * 3600, 3600, 0)
        assert rows[(cam2, d20)] == (21 * 3600, 0, 2 * 3600, 3600, 0)
        assert rows[(nvr, d20)] == (19 * 3600, 2 * 3600, 2 * 3600, 3600, 0)
        assert rows[(nvr, d21)] == (0, 6 * 3600, 0, 0, 18 * 3600)
        assert [(s.day, s.devices, s.down_s) for s in sub] == [
            (d20, 3, 3 * 3600),
            (d21, 3, 6 * 3600),
        ]
        # A second round recomputes from the last stored day, not from scratch, and agrees.
        with session_factory(engine)() as session:
            assert rollup_all(session=session, now=now + H) == 3
        with Session(engine) as session:
            nvr21 = session.get(UptimeDay, (nvr, d21))
            assert nvr21 is not None
            assert nvr21.down_s == 7 * 3600
    finally:
        engine.dispose()


def test_days_to_roll_resumes_at_the_last_stored_day() -> None:
    today = date(2026, 11, 23)
    assert days_to_roll(
        last_stored=date(2026, 11, 22), first_day=date(2026, 1, 1), today=today
    ) == [
        date(2026, 11, 22),
        today,
    ]
    assert len(days_to_roll(last_stored=None, first_day=date(2020, 1, 1), today=today)) == 400
    assert days_to_roll(last_stored=None, first_day=today, today=today) == [today]
