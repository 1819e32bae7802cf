"""Daily check rollups in the database: raw samples → `check_days`, incremental, replica-safe.

Runs periodically in every replica. A site is rolled up under a transaction-scoped advisory lock
on PostgreSQL (try-lock: a replica that finds it taken skips the site this round). Each run
recomputes, per device, its last stored UTC day and everything after it, so a day is final once
the next one has been rolled up; rows older than `history_days` are deleted. Raw samples are
kept 30 days, so a device is never rolled up further back than its oldest sample.
"""

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from server.models import CheckDay, Device, SampleRow, Site
from server.predict.rollup import Sample, clean, date_of, day_of, roll_up
from server.predict.signals import spec_for

log = logging.getLogger(__name__)

PREDICT_LOCK_NAMESPACE = 0x5EC2  # pg_try_advisory_xact_lock(namespace, site id)
HISTORY_DAYS = 400
EPOCH = date(1970, 1, 1)


# Flags rolled up as 0/1 for a report, not a forecast: a day's mean times count is the true ones
# (the inspection's share of good snapshots).
TALLIED_FLAGS = frozenset({"picture.ok"})


def numeric_checks(checks: Mapping[str, Any]) -> Iterator[tuple[str, float]]:
    """The checks of a sample that carry a number, and the flags a signal or a report reads as
    0/1 (other flags and text are not trends)."""
    for name, value in checks.items():
        if isinstance(value, bool):
            spec = spec_for(name)
            if (spec is not None and spec.flag) or name in TALLIED_FLAGS:
                yield name, float(value)
        elif isinstance(value, int | float):
            yield name, float(value)


def _try_lock(session: Session, site_id: int) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(
        session.scalar(select(func.pg_try_advisory_xact_lock(PREDICT_LOCK_NAMESPACE, site_id)))
    )


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def rollup_device(
    *, session: Session, device_id: int, part: str | None, now: datetime, history_days: int
) -> int:
    """Recompute the device's days from its last stored day (or oldest sample) to today."""
    today = now.astimezone(UTC).date()
    oldest_kept = today - timedelta(days=history_days - 1)
    last = session.scalar(select(func.max(CheckDay.day)).where(CheckDay.device_id == device_id))
    if last is None:
        first_ts = session.scalar(
            select(func.min(SampleRow.ts)).where(SampleRow.device_id == device_id)
        )
        if first_ts is None:
            return 0
        last = first_ts.astimezone(UTC).date()
    start = max(last, oldest_kept)
    before: dict[str, Sample] = {}
    for row in session.scalars(
        select(CheckDay)
        .where(
            CheckDay.device_id == device_id,
            CheckDay.day < start,
            CheckDay.day >= start - timedelta(days=31),
        )
        .order_by(CheckDay.day, CheckDay.last_ts)
    ):
        before[row.check] = Sample(row.last_ts.timestamp(), row.last, row.part or None)
    series: dict[str, list[Sample]] = defaultdict(list)
    for ts, checks in session.execute(
        select(SampleRow.ts, SampleRow.checks)
        .where(
            SampleRow.device_id == device_id,
            SampleRow.ts >= _midnight(start),
            SampleRow.ts <= now,
        )
        .order_by(SampleRow.ts)
    ):
        for name, value in numeric_checks(checks or {}):
            series[name].append(Sample(ts.timestamp(), value, part))
    rows: list[dict[str, Any]] = []
    for check, samples in series.items():
        spec = spec_for(check)
        counter = spec is not None and spec.counter
        cleaned = clean(samples, counter=counter)
        raw_per_day = Counter(day_of(s.ts) for s in samples)
        kept_per_day = Counter(day_of(s.ts) for s in cleaned.samples)
        last_ts = {day_of(s.ts): s.ts for s in cleaned.samples}
        for day in roll_up(cleaned.samples, counter=counter, before=before.get(check)):
            rows.append(
                {
                    "device_id": device_id,
                    "check": check,
                    "day": date_of(day.day),
                    "part": day.part or "",
                    "count": day.count,
                    "min": day.min,
                    "max": day.max,
                    "mean": day.mean,
                    "last": day.last,
                    "last_ts": datetime.fromtimestamp(last_ts[day.day], UTC),
                    "delta": day.delta,
                    "resets": day.resets,
                    "rejected": raw_per_day[day.day] - kept_per_day[day.day],
                }
            )
    session.execute(delete(CheckDay).where(CheckDay.device_id == device_id, CheckDay.day >= start))
    session.execute(
        delete(CheckDay).where(CheckDay.device_id == device_id, CheckDay.day < oldest_kept)
    )
    if rows:
        session.execute(insert(CheckDay), rows)
    return len(rows)


SiteHook = Callable[[Session, int, list[int]], object]


def rollup_all_checks(
    *,
    session: Session,
    now: datetime,
    history_days: int = HISTORY_DAYS,
    after_site: SiteHook | None = None,
) -> dict[int, int]:
    """One round over every site, each committed on its own; device id → rows written.
    `after_site(session, site id, changed device ids)` runs in the site's transaction, under its
    lock (the forecast job: only devices with new rollups are re-evaluated)."""
    written: dict[int, int] = {}
    site_ids = session.scalars(select(Site.id).order_by(Site.id)).all()
    session.rollback()
    for site_id in site_ids:
        with session.begin():
            if not _try_lock(session, site_id):
                continue
            devices = session.execute(
                select(Device.id, Device.serial).where(Device.site_id == site_id)
            ).all()
            changed = []
            for device_id, serial in devices:
                count = rollup_device(
                    session=session,
                    device_id=device_id,
                    part=serial,
                    now=now,
                    history_days=history_days,
                )
                if count:
                    written[device_id] = count
                    changed.append(device_id)
            if after_site is not None and changed:
                after_site(session, site_id, changed)
    return written


def load_rows(*, session: Session, device_id: int, check: str) -> list[CheckDay]:
    """A check's stored days, oldest first (what the models read)."""
    return list(
        session.scalars(
            select(CheckDay)
            .where(CheckDay.device_id == device_id, CheckDay.check == check)
            .order_by(CheckDay.day, CheckDay.last_ts)
        )
    )


def day_number(day: date) -> int:
    return (day - EPOCH).days
