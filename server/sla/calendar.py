"""Business calendars: when an SLA clock runs, and business-time arithmetic over them.

A calendar is a set of open intervals: per local date, the weekday's working periods, none on a
public holiday, the make-up periods on a make-up working day (调休上班). Local times are turned into
UTC with the site's IANA zone, so daylight-saving days are 23 or 25 hours long and working hours
stay put in local time. All inputs and outputs are aware datetimes; results are in UTC.

The only I/O here is `load_holiday_file`, which reads a small text file of dates.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from server.sla.transitions import offset_changes

MINUTES_PER_DAY = 24 * 60
# A calendar with no working time for this many consecutive days is treated as broken, so that
# adding business time can never loop for ever (two whole years of holidays is an error).
MAX_CLOSED_DAYS = 732

HOLIDAYS_DIR = Path(__file__).with_name("holidays")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class SlaCalendarError(ValueError):
    """A calendar or holiday file is malformed, or has no working time at all."""


@dataclass(frozen=True, order=True)
class WorkingPeriod:
    """One working period of a local day, in minutes after local midnight; end may be 24:00."""

    start_minute: int
    end_minute: int

    def __post_init__(self) -> None:
        if not 0 <= self.start_minute < self.end_minute <= MINUTES_PER_DAY:
            raise SlaCalendarError(
                f"working period {self.start_minute}-{self.end_minute} min is not within one day"
            )

    @classmethod
    def parse(cls, text: str) -> WorkingPeriod:
        """`"08:30-17:30"` → period; `"00:00-24:00"` is the whole day."""
        match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", text)
        if match is None:
            raise SlaCalendarError(f"working period {text!r}: expected HH:MM-HH:MM")
        h0, m0, h1, m1 = (int(g) for g in match.groups())
        if m0 >= 60 or m1 >= 60 or h0 > 23 or h1 > 24 or (h1 == 24 and m1 != 0):
            raise SlaCalendarError(f"working period {text!r}: not a valid time of day")
        return cls(h0 * 60 + m0, h1 * 60 + m1)

    def __str__(self) -> str:
        return (
            f"{self.start_minute // 60:02d}:{self.start_minute % 60:02d}-"
            f"{self.end_minute // 60:02d}:{self.end_minute % 60:02d}"
        )


Day = tuple[WorkingPeriod, ...]
FULL_DAY: Day = (WorkingPeriod(0, MINUTES_PER_DAY),)
OFFICE_DAY: Day = (WorkingPeriod.parse("08:30-17:30"),)  # 002 篇8: 「上班時間:早8:30——17:30」


def _normalise_day(periods: Iterable[WorkingPeriod]) -> Day:
    ordered = sorted(periods)
    for earlier, later in itertools.pairwise(ordered):
        if later.start_minute < earlier.end_minute:
            raise SlaCalendarError(f"working periods {earlier} and {later} overlap")
    return tuple(ordered)


@dataclass(frozen=True)
class HolidayList:
    """Public holidays (closed) and make-up working days (open although a weekend)."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        both = self.holidays & self.workdays
        if both:
            raise SlaCalendarError(f"dates both holiday and make-up workday: {sorted(both)}")

    def merged(self, other: HolidayList) -> HolidayList:
        return HolidayList(self.holidays | other.holidays, self.workdays | other.workdays)


_LINE = re.compile(
    r"(?P<start>\d{4}-\d{2}-\d{2})(?:\s*\.\.\s*(?P<end>\d{4}-\d{2}-\d{2}))?"
    r"\s+(?P<kind>holiday|workday)\b(?P<note>.*)"
)


def parse_holidays(text: str, *, source: str = "<text>") -> HolidayList:
    """Parse the holiday-file format (see `load_holiday_file`); errors name source and line."""
    holidays: set[date] = set()
    workdays: set[date] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _LINE.fullmatch(line)
        if match is None:
            raise SlaCalendarError(
                f"{source}:{number}: expected 'YYYY-MM-DD[..YYYY-MM-DD] holiday|workday [note]',"
                f" got {raw.strip()!r}"
            )
        try:
            first = date.fromisoformat(match["start"])
            last = date.fromisoformat(match["end"]) if match["end"] else first
        except ValueError as err:
            raise SlaCalendarError(f"{source}:{number}: {err}") from err
        if last < first:
            raise SlaCalendarError(f"{source}:{number}: range ends before it starts")
        if (last - first).days > 366:
            raise SlaCalendarError(f"{source}:{number}: range longer than a year")
        target = holidays if match["kind"] == "holiday" else workdays
        day = first
        while day <= last:
            if day in holidays or day in workdays:
                raise SlaCalendarError(f"{source}:{number}: {day} listed twice")
            target.add(day)
            day += timedelta(days=1)
    return HolidayList(frozenset(holidays), frozenset(workdays))


def load_holiday_file(path: str | Path) -> HolidayList:
    """Read a holiday file: one entry a line, `#` starts a comment.

        2026-01-01..2026-01-03 holiday  New Year's Day
        2026-01-04 workday              make-up working day

    `holiday` closes the dates; `workday` opens them with the calendar's make-up hours.
    A bare name such as `"cn-2026"` loads the file shipped in `server/sla/holidays/`.
    """
    candidate = Path(path)
    if not candidate.suffix and not candidate.exists() and candidate.parent == Path("."):
        candidate = HOLIDAYS_DIR / f"{candidate.name}.txt"
    try:
        text = candidate.read_text(encoding="utf-8")
    except OSError as err:
        raise SlaCalendarError(f"holiday file {candidate}: {err.strerror or err}") from err
    return parse_holidays(text, source=str(candidate))


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise SlaCalendarError(f"unknown IANA timezone {name!r}") from err


def _require_aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {value!r}")
    return value.astimezone(UTC)


Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class BusinessCalendar:
    """Working time of a site: IANA zone, periods per weekday (0 = Monday), holidays, make-up days.

    `makeup` is the working time of a make-up working day; it defaults to Monday's periods.
    """

    timezone: str = "Asia/Shanghai"
    week: Mapping[int, Day] = field(
        default_factory=lambda: {d: OFFICE_DAY if d < 5 else () for d in range(7)}
    )
    holidays: HolidayList = HolidayList()
    makeup: Day | None = None

    def __post_init__(self) -> None:
        _zone(self.timezone)
        unknown = set(self.week) - set(range(7))
        if unknown:
            raise SlaCalendarError(f"weekday keys must be 0 (Monday) .. 6, got {sorted(unknown)}")
        week = {d: _normalise_day(self.week.get(d, ())) for d in range(7)}
        object.__setattr__(self, "week", week)
        if self.makeup is not None:
            object.__setattr__(self, "makeup", _normalise_day(self.makeup))
        if not any(week.values()) and not self.holidays.workdays:
            raise SlaCalendarError("calendar has no working time on any weekday")

    def __hash__(self) -> int:  # `week` is a dict, so the generated hash would fail
        return hash((self.timezone, tuple(self.week.items()), self.holidays, self.makeup))

    @classmethod
    def always(cls, timezone: str = "UTC") -> BusinessCalendar:
        """The 7x24 calendar: every instant counts (emergencies)."""
        return cls(timezone=timezone, week=dict.fromkeys(range(7), FULL_DAY))

    @classmethod
    def office(
        cls,
        timezone: str = "Asia/Shanghai",
        *,
        hours: str | Sequence[str] = "08:30-17:30",
        weekdays: Iterable[int] = range(5),
        holidays: HolidayList | None = None,
    ) -> BusinessCalendar:
        """Same hours on each of `weekdays` (Mon-Fri by default), closed otherwise."""
        day = _normalise_day(
            WorkingPeriod.parse(h) for h in ([hours] if isinstance(hours, str) else hours)
        )
        open_days = set(weekdays)
        return cls(
            timezone=timezone,
            week={d: day if d in open_days else () for d in range(7)},
            holidays=holidays or HolidayList(),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (e.g. a site's calendar column); inverse of `from_dict`."""
        data: dict[str, Any] = {
            "timezone": self.timezone,
            "week": {WEEKDAYS[d]: [str(p) for p in self.week[d]] for d in range(7)},
            "holidays": [d.isoformat() for d in sorted(self.holidays.holidays)],
            "workdays": [d.isoformat() for d in sorted(self.holidays.workdays)],
        }
        if self.makeup is not None:
            data["makeup"] = [str(p) for p in self.makeup]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "calendar") -> BusinessCalendar:
        """From `{timezone, week: {mon: ["08:30-17:30"], ...}, holiday_files: ["cn-2026"],
        holidays: [dates], workdays: [dates], makeup: [periods]}`; weekdays left out are closed,
        a missing `week` means Monday to Friday 08:30-17:30. Errors name the field."""
        unknown = set(data) - {
            "timezone",
            "week",
            "holiday_files",
            "holidays",
            "workdays",
            "makeup",
        }
        if unknown:
            raise SlaCalendarError(f"{where}: unknown fields {sorted(unknown)}")

        def periods(value: Any, field_name: str) -> Day:
            if not isinstance(value, list | tuple):
                raise SlaCalendarError(f"{where}.{field_name}: expected a list of HH:MM-HH:MM")
            try:
                return _normalise_day(WorkingPeriod.parse(str(v)) for v in value)
            except SlaCalendarError as err:
                raise SlaCalendarError(f"{where}.{field_name}: {err}") from err

        def dates(key: str) -> frozenset[date]:
            try:
                return frozenset(date.fromisoformat(str(v)) for v in data.get(key, []))
            except ValueError as err:
                raise SlaCalendarError(f"{where}.{key}: {err}") from err

        week: dict[int, Day] = {d: OFFICE_DAY if d < 5 else () for d in range(7)}
        if "week" in data:
            raw_week = data["week"]
            if not isinstance(raw_week, Mapping):
                raise SlaCalendarError(f"{where}.week: expected a mapping of weekday to periods")
            bad = set(raw_week) - set(WEEKDAYS)
            if bad:
                raise SlaCalendarError(f"{where}.week: unknown days {sorted(bad)} (use {WEEKDAYS})")
            week = {
                d: periods(raw_week.get(WEEKDAYS[d], []), f"week.{WEEKDAYS[d]}") for d in range(7)
            }
        holidays = HolidayList(dates("holidays"), dates("workdays"))
        for name in data.get("holiday_files", []):
            holidays = holidays.merged(load_holiday_file(str(name)))
        makeup = periods(data["makeup"], "makeup") if "makeup" in data else None
        return cls(
            timezone=str(data.get("timezone", "Asia/Shanghai")),
            week=week,
            holidays=holidays,
            makeup=makeup,
        )

    def with_holidays(self, extra: HolidayList) -> BusinessCalendar:
        return BusinessCalendar(
            timezone=self.timezone,
            week=self.week,
            holidays=self.holidays.merged(extra),
            makeup=self.makeup,
        )

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.timezone)

    @functools.cached_property
    def _listed_days(self) -> tuple[date, ...]:
        return tuple(sorted(self.holidays.holidays | self.holidays.workdays))

    def working_time(self, first: date, stop: date) -> timedelta:
        """Working time of the local dates [first, stop) in O(listed days + offset changes):
        whole weeks count at their nominal length; only holidays, make-up days and the days
        around a change of the zone's UTC offset are turned into intervals."""
        return _working_time(self, first, stop)

    def _working_time(self, first: date, stop: date) -> timedelta:
        if stop <= first:
            return timedelta(0)
        nominal = [sum(p.end_minute - p.start_minute for p in self.week[d]) for d in range(7)]
        weeks, rest = divmod((stop - first).days, 7)
        minutes = weeks * sum(nominal)
        minutes += sum(nominal[(first.weekday() + i) % 7] for i in range(rest))
        total = timedelta(minutes=minutes)
        for day in self._irregular_days(first, stop):
            actual = sum(
                (b - a for a, b in _day_intervals(self.timezone, day, self.periods_on(day))),
                timedelta(0),
            )
            total += actual - timedelta(minutes=nominal[day.weekday()])
        return total

    def _irregular_days(self, first: date, stop: date) -> list[date]:
        """Dates in [first, stop) whose working time may differ from their weekday's nominal:
        listed holidays and make-up days, and the days next to a change of UTC offset."""
        listed = self._listed_days
        days = set(listed[bisect.bisect_left(listed, first) : bisect.bisect_left(listed, stop)])
        zone = self.zone
        window_start = _local_midnight(first - timedelta(days=1), zone)
        window_end = _local_midnight(min(stop + timedelta(days=1), date.max), zone)
        for change in offset_changes(self.timezone, window_start, window_end):
            local = change.astimezone(zone).date()
            for near in (local - timedelta(days=1), local, local + timedelta(days=1)):
                if first <= near < stop:
                    days.add(near)
        return sorted(days)

    def periods_on(self, day: date) -> Day:
        """Working periods of one local date, after holidays and make-up days."""
        if day in self.holidays.holidays:
            return ()
        if day in self.holidays.workdays:
            return self.makeup if self.makeup is not None else self.week[0]
        return self.week[day.weekday()]

    def is_working(self, instant: datetime) -> bool:
        instant = _require_aware(instant, "instant")
        first_start, _ = next(self.intervals(instant))
        return first_start == instant

    def intervals(self, start: datetime) -> Iterator[Interval]:
        """Open intervals in UTC, ascending and disjoint, clipped to begin no earlier than `start`.

        An instant is open when its wall-clock reading in the site's zone lies inside a working
        period of its local date; daylight-saving days are therefore 23 or 25 hours long.
        """
        start = _require_aware(start, "start")
        zone = self.zone
        day = start.astimezone(zone).date() - timedelta(days=1)
        closed_days = 0
        while True:
            periods = self.periods_on(day)
            closed_days = 0 if periods else closed_days + 1
            if closed_days > MAX_CLOSED_DAYS:
                since = day - timedelta(days=closed_days)
                raise SlaCalendarError(f"no working time for {MAX_CLOSED_DAYS} days after {since}")
            if periods:
                for a, b in _day_intervals(self.timezone, day, periods):
                    if b > start:
                        yield (max(a, start), b)
            day += timedelta(days=1)


@functools.lru_cache(maxsize=1024)
def _working_time(calendar: BusinessCalendar, first: date, stop: date) -> timedelta:
    """Memoised: a ticket's three clocks measure the same long spans."""
    return calendar._working_time(first, stop)


@functools.lru_cache(maxsize=16384)
def _day_intervals(timezone: str, day: date, periods: Day) -> tuple[Interval, ...]:
    """UTC intervals of one local date: the instants whose local wall reading is inside a
    period. A period reaching into a daylight-saving gap shrinks; one spanning the repeated
    hour of a fall-back covers it twice, as the wall clock does. Memoised: a pure function of
    its arguments, and sweeps over open tickets ask for the same days again and again."""
    zone = _zone(timezone)
    lo = _local_midnight(day, zone)
    hi = _local_midnight(day + timedelta(days=1), zone)
    midnight_utc = datetime.combine(day, time(0), tzinfo=UTC)
    out: list[Interval] = []
    for seg_start, seg_end, offset in _constant_offset_segments(lo, hi, zone):
        base = midnight_utc - offset  # the instant that reads 00:00 under this offset
        for period in periods:
            a = max(seg_start, base + timedelta(minutes=period.start_minute))
            b = min(seg_end, base + timedelta(minutes=period.end_minute))
            if a < b:
                out.append((a, b))
    return tuple(merge_intervals(out))


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of a local date (a midnight inside a gap resolves past the gap)."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _offset(instant: datetime, zone: ZoneInfo) -> timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None  # ZoneInfo always answers for an aware instant
    return offset


# Offsets are sampled this often within a day; zones change offset at most once in such a span.
_SAMPLE_STEP = timedelta(hours=3)


def _first_second_with_new_offset(
    before: datetime, after: datetime, old: timedelta, zone: ZoneInfo
) -> datetime:
    """Binary search in whole seconds: `before` has offset `old`, `after` does not."""
    low = math.floor(before.timestamp())
    high = math.ceil(after.timestamp())
    while high - low > 1:
        mid = (low + high) // 2
        if _offset(datetime.fromtimestamp(mid, UTC), zone) == old:
            low = mid
        else:
            high = mid
    return datetime.fromtimestamp(high, UTC)


def _constant_offset_segments(
    lo: datetime, hi: datetime, zone: ZoneInfo
) -> list[tuple[datetime, datetime, timedelta]]:
    """Split [lo, hi) where the zone's UTC offset changes (found to the second)."""
    segments: list[tuple[datetime, datetime, timedelta]] = []
    seg_start, seg_offset = lo, _offset(lo, zone)
    probe = lo
    while probe < hi:
        nxt = min(probe + _SAMPLE_STEP, hi - timedelta(microseconds=1))
        if nxt <= probe:
            break
        nxt_offset = _offset(nxt, zone)
        if nxt_offset != seg_offset:
            change = _first_second_with_new_offset(probe, nxt, seg_offset, zone)
            segments.append((seg_start, change, seg_offset))
            seg_start, seg_offset = change, _offset(change, zone)
        probe = nxt
    segments.append((seg_start, hi, seg_offset))
    return [(a, b, o) for a, b, o in segments if b > a]


def merge_intervals(intervals: Iterable[Interval]) -> list[Interval]:
    """Sort and merge overlapping or touching intervals; empty ones are dropped."""
    merged: list[Interval] = []
    for a, b in sorted((x, y) for x, y in intervals if y > x):
        if merged and a <= merged[-1][1]:
            if b > merged[-1][1]:
                merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


def running_intervals(
    calendar: BusinessCalendar, start: datetime, pauses: Sequence[Interval] = ()
) -> Iterator[Interval]:
    """When a clock started at `start` runs: the calendar's open time minus the pauses. A pause
    is jumped, not walked: the calendar resumes at its end, however long it lasted."""
    holes = merge_intervals(
        (_require_aware(a, "pause start"), _require_aware(b, "pause end")) for a, b in pauses
    )
    cursor = _require_aware(start, "start")
    for hole_start, hole_end in holes:
        if hole_end <= cursor:
            continue
        if hole_start > cursor:
            for a, b in calendar.intervals(cursor):
                if a >= hole_start:
                    break
                yield (a, min(b, hole_start))
        cursor = hole_end
    yield from calendar.intervals(cursor)


def add_business_time(
    calendar: BusinessCalendar,
    start: datetime,
    duration: timedelta,
    pauses: Sequence[Interval] = (),
) -> datetime:
    """The instant at which `duration` of running time has passed since `start` (UTC).

    A zero duration is `start` itself; a deadline that lands exactly on the end of a working
    period is that end, not the next morning.
    """
    start = _require_aware(start, "start")
    if duration < timedelta(0):
        raise ValueError(f"duration must not be negative, got {duration}")
    if duration == timedelta(0):
        return start
    remaining = duration
    for a, b in running_intervals(calendar, start, pauses):
        if b - a >= remaining:
            return a + remaining
        remaining -= b - a
    raise AssertionError("running_intervals is unbounded")  # pragma: no cover


def business_time_between(
    calendar: BusinessCalendar,
    start: datetime,
    end: datetime,
    pauses: Sequence[Interval] = (),
) -> timedelta:
    """Running time in [start, end); negative (the same measure) when end is before start.

    The calendar's open time in the span less its open time inside each pause; each is counted
    by `_open_time`, so the cost does not grow with the span's length."""
    start = _require_aware(start, "start")
    end = _require_aware(end, "end")
    if end < start:
        return -business_time_between(calendar, end, start, pauses)
    total = _open_time(calendar, start, end)
    holes = merge_intervals(
        (_require_aware(a, "pause start"), _require_aware(b, "pause end")) for a, b in pauses
    )
    for a, b in holes:
        lo, hi = max(a, start), min(b, end)
        if lo < hi:
            total -= _open_time(calendar, lo, hi)
    return total


# Spans covering fewer whole local days than this are walked day by day.
_WALK_DAYS = 7


def _walk(calendar: BusinessCalendar, start: datetime, end: datetime) -> timedelta:
    total = timedelta(0)
    for a, b in calendar.intervals(start):
        if a >= end:
            break
        total += min(b, end) - a
    return total


def _open_time(calendar: BusinessCalendar, start: datetime, end: datetime) -> timedelta:
    """The calendar's open time in [start, end): the partial first and last local days walked,
    the whole days between counted by `BusinessCalendar.working_time`."""
    zone = calendar.zone
    first_whole = start.astimezone(zone).date() + timedelta(days=1)
    last_partial = end.astimezone(zone).date()
    if (last_partial - first_whole).days < _WALK_DAYS:
        return _walk(calendar, start, end)
    middle_start = _local_midnight(first_whole, zone)
    middle_end = _local_midnight(last_partial, zone)
    return (
        _walk(calendar, start, middle_start)
        + calendar.working_time(first_whole, last_partial)
        + _walk(calendar, middle_end, end)
    )
