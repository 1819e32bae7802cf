"""Daily uptime rollups: fault episodes and maintenance windows → one row per device and day.

Runs periodically in every replica; a site is rolled up under a transaction-scoped advisory
lock on PostgreSQL (try-lock: a replica that finds it taken skips the site this round). Each run
recomputes the site's last stored day and everything after it, so a day is final once the next
one has been rolled up twice.
"""

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, func, insert, or_, select
from sqlalchemy.orm import Session

from server.faults.rules import FaultCode
from server.models import Device, FaultEpisode, MaintenanceWindow, Site, SubsystemDay, UptimeDay
from server.status.uptime import DayFigures, Span, day_bounds, split_period

log = logging.getLogger(__name__)

# A device counts as down while one of these is open: it no longer does its job.
SERVICE_AFFECTING: frozenset[str] = frozenset(
    {
        FaultCode.DEVICE_UNREACHABLE,
        FaultCode.CAMERA_STREAM_DOWN,
        FaultCode.CAMERA_VIDEO_LOSS,
        FaultCode.STORAGE_RECORDING_STOPPED,
        FaultCode.ALARM_PANEL_OFFLINE,
        FaultCode.ACCESS_CONTROLLER_OFFLINE,
    }
)
HISTORY_DAYS = 400
ROLLUP_LOCK_NAMESPACE = 0x5EC1  # pg_try_advisory_xact_lock(namespace, site id)


def site_zone(site: Site) -> ZoneInfo:
    """The site's zone; a name this machine does not know falls back to UTC, logged."""
    try:
        return ZoneInfo(site.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("site %s: unknown timezone %r, using UTC", site.id, site.timezone)
        return ZoneInfo("UTC")


@dataclass(frozen=True, slots=True)
class SiteSpans:
    """What the rollup needs to know of one site over a period."""

    down: dict[int, list[Span]]
    unknown: list[Span]
    maintenance: list[Span]


def load_spans(*, session: Session, site_id: int, start: datetime, end: datetime) -> SiteSpans:
    rows = session.execute(
        select(
            FaultEpisode.device_id,
            FaultEpisode.code,
            FaultEpisode.started_at,
            FaultEpisode.recovered_at,
        ).where(
            FaultEpisode.site_id == site_id,
            FaultEpisode.started_at < end,
            or_(FaultEpisode.recovered_at.is_(None), FaultEpisode.recovered_at > start),
            FaultEpisode.code.in_([*SERVICE_AFFECTING, FaultCode.SITE_AGENT_OFFLINE]),
        )
    ).all()
    down: dict[int, list[Span]] = defaultdict(list)
    unknown: list[Span] = []
    for device_id, code, started_at, recovered_at in rows:
        span = Span(started_at, recovered_at)
        if code == FaultCode.SITE_AGENT_OFFLINE:
            unknown.append(span)
        elif device_id is not None:
            down[device_id].append(span)
    windows = session.execute(
        select(MaintenanceWindow.starts_at, MaintenanceWindow.ends_at).where(
            MaintenanceWindow.site_id == site_id,
            MaintenanceWindow.starts_at < end,
            MaintenanceWindow.ends_at > start,
        )
    ).all()
    return SiteSpans(down=dict(down), unknown=unknown, maintenance=[Span(a, b) for a, b in windows])


def _try_lock(session: Session, site_id: int) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(
        session.scalar(select(func.pg_try_advisory_xact_lock(ROLLUP_LOCK_NAMESPACE, site_id)))
    )


def rollup_site(*, session: Session, site: Site, days: Sequence[date], now: datetime) -> int:
    """Recompute `days` (ascending, local to the site) for every device of the site."""
    if not days:
        return 0
    zone = site_zone(site)
    bounds = [day_bounds(day, zone) for day in days]
    spans = load_spans(session=session, site_id=site.id, start=bounds[0][0], end=bounds[-1][1])
    devices = session.execute(
        select(Device.id, Device.subsystem, Device.first_registered_at).where(
            Device.site_id == site.id
        )
    ).all()
    device_rows = []
    sums: dict[tuple[str, date], tuple[int, DayFigures]] = {}
    for device_id, subsystem, registered_at in devices:
        watched = Span(registered_at)
        down = spans.down.get(device_id, [])
        for day, (start, end) in zip(days, bounds, strict=True):
            figures = split_period(
                start,
                end,
                watched=watched,
                down=down,
                unknown=spans.unknown,
                maintenance=spans.maintenance,
                now=now,
            )
            device_rows.append(
                {
                    "device_id": device_id,
                    "day": day,
                    "up_s": figures.up,
                    "down_s": figures.down,
                    "unknown_s": figures.unknown,
                    "maintenance_s": figures.maintenance,
                    "nodata_s": figures.nodata,
                }
            )
            count, total = sums.get((subsystem, day), (0, DayFigures()))
            sums[(subsystem, day)] = (count + 1, total + figures)
    device_ids = [row[0] for row in devices]
    if device_ids:
        session.execute(
            delete(UptimeDay).where(UptimeDay.device_id.in_(device_ids), UptimeDay.day.in_(days))
        )
    session.execute(
        delete(SubsystemDay).where(SubsystemDay.site_id == site.id, SubsystemDay.day.in_(days))
    )
    if device_rows:
        session.execute(insert(UptimeDay), device_rows)
        session.execute(
            insert(SubsystemDay),
            [
                {
                    "site_id": site.id,
                    "subsystem": subsystem,
                    "day": day,
                    "devices": count,
                    "up_s": total.up,
                    "down_s": total.down,
                    "unknown_s": total.unknown,
                    "maintenance_s": total.maintenance,
                    "nodata_s": total.nodata,
                }
                for (subsystem, day), (count, total) in sums.items()
            ],
        )
    return len(device_rows)


def days_to_roll(*, last_stored: date | None, first_day: date, today: date) -> list[date]:
    """From the last stored day (it may have been partial) to today, at most HISTORY_DAYS."""
    start = max(first_day, today - timedelta(days=HISTORY_DAYS - 1))
    if last_stored is not None:
        start = max(start, last_stored)
    return [start + timedelta(days=i) for i in range((today - start).days + 1)]


def rollup_all(*, session: Session, now: datetime) -> int:
    """One round over every site; each site commits on its own so a lock is held briefly."""
    rows = 0
    site_ids = session.scalars(select(Site.id).order_by(Site.id)).all()
    session.rollback()
    for site_id in site_ids:
        with session.begin():
            site = session.get(Site, site_id)
            if site is None or not _try_lock(session, site_id):
                continue
            zone = site_zone(site)
            last = session.scalar(
                select(func.max(SubsystemDay.day)).where(SubsystemDay.site_id == site_id)
            )
            first = session.scalar(
                select(func.min(Device.first_registered_at)).where(Device.site_id == site_id)
            )
            if first is None:
                continue
            days = days_to_roll(
                last_stored=last,
                first_day=first.astimezone(zone).date(),
                today=now.astimezone(zone).date(),
            )
            rows += rollup_site(session=session, site=site, days=days, now=now)
    return rows
