"""Which inspection a site owes and which rows it has. Pure.

A period starts on the first day of its cycle in the site's own calendar (Monday for weekly,
the 1st for monthly, the 1st of January/April/July/October for quarterly) and the inspection
is due `due_days` after that start.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from server.inspections.template import Cycle, Item, Template

SITE = "site"


@dataclass(frozen=True)
class Period:
    cycle: Cycle
    start: date  # inclusive, local
    end: date  # exclusive, local
    starts_at: datetime  # UTC
    ends_at: datetime
    due_at: datetime


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def period_of(cycle: Cycle, local_day: date) -> tuple[date, date]:
    """The local [start, end) of the cycle period containing `local_day`."""
    if cycle is Cycle.WEEKLY:
        start = local_day - timedelta(days=local_day.weekday())
        return start, start + timedelta(days=7)
    if cycle is Cycle.MONTHLY:
        start = local_day.replace(day=1)
        return start, _add_months(start, 1)
    start = date(local_day.year, (local_day.month - 1) // 3 * 3 + 1, 1)
    return start, _add_months(start, 3)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


def current_period(template: Template, zone: ZoneInfo, now: datetime) -> Period:
    """The period the site is in at `now` (local calendar of `zone`)."""
    start, end = period_of(template.cycle, now.astimezone(zone).date())
    return Period(
        cycle=template.cycle,
        start=start,
        end=end,
        starts_at=_midnight(start, zone),
        ends_at=_midnight(end, zone),
        due_at=_midnight(start + timedelta(days=template.due_days), zone),
    )


@dataclass(frozen=True)
class DeviceRef:
    id: int
    name: str
    device_class: str


@dataclass(frozen=True)
class PlannedRow:
    item: Item
    subject: str  # SITE or d<device id>
    device: DeviceRef | None


def device_subject(device_id: int) -> str:
    return f"d{device_id}"


def plan_rows(template: Template, devices: Iterable[DeviceRef]) -> list[PlannedRow]:
    """Per item in template order: one row per device of its classes (by name), or one row for
    the site when the item names no classes. An item none of the site's devices fits has none."""
    ordered: Sequence[DeviceRef] = sorted(devices, key=lambda d: (d.name, d.id))
    rows: list[PlannedRow] = []
    for item in template.items:
        if not item.classes:
            rows.append(PlannedRow(item, SITE, None))
            continue
        classes = {c.value for c in item.classes}
        rows.extend(
            PlannedRow(item, device_subject(d.id), d) for d in ordered if d.device_class in classes
        )
    return rows
