"""Uptime arithmetic (DESIGN.md §3 "Uptime"): pure, so the rules can be tested to the second.

A device's time splits into up, down, unknown (no data because its site agent was offline),
maintenance (a declared window: excluded, but shown) and no data (before it was watched, or in
the future). Availability is up ÷ (up + down): unknown time is reported beside it and never
counted as up.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from server.sla.calendar import merge_intervals


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open time interval [start, end); `end` None means still going on."""

    start: datetime
    end: datetime | None = None


@dataclass(frozen=True, slots=True)
class DayFigures:
    """Seconds of each kind of time in one day (or a sum over days or devices)."""

    up: int = 0
    down: int = 0
    unknown: int = 0
    maintenance: int = 0
    nodata: int = 0

    def __add__(self, other: "DayFigures") -> "DayFigures":
        return DayFigures(
            up=self.up + other.up,
            down=self.down + other.down,
            unknown=self.unknown + other.unknown,
            maintenance=self.maintenance + other.maintenance,
            nodata=self.nodata + other.nodata,
        )

    @property
    def known(self) -> int:
        return self.up + self.down

    @property
    def availability(self) -> float | None:
        """Up ÷ (up + down); None when no time was known at all."""
        return self.up / self.known if self.known else None

    @property
    def unknown_share(self) -> float:
        """Unknown ÷ all watched time (maintenance excluded), to show beside availability."""
        watched = self.up + self.down + self.unknown
        return self.unknown / watched if watched else 0.0


def total(figures: Iterable[DayFigures]) -> DayFigures:
    items = list(figures)
    return DayFigures(
        up=sum(f.up for f in items),
        down=sum(f.down for f in items),
        unknown=sum(f.unknown for f in items),
        maintenance=sum(f.maintenance for f in items),
        nodata=sum(f.nodata for f in items),
    )


def _clip(spans: Iterable[Span], start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    out = []
    for span in spans:
        lo = max(span.start, start)
        hi = min(span.end or end, end)
        if hi > lo:
            out.append((lo, hi))
    return sorted(out)


def _minus(
    parts: list[tuple[datetime, datetime]], cut: list[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    out = []
    for lo, hi in parts:
        pieces = [(lo, hi)]
        for clo, chi in cut:
            nxt = []
            for plo, phi in pieces:
                if chi <= plo or clo >= phi:
                    nxt.append((plo, phi))
                    continue
                if clo > plo:
                    nxt.append((plo, clo))
                if chi < phi:
                    nxt.append((chi, phi))
            pieces = nxt
        out.extend(pieces)
    return out


def _intersect(
    parts: list[tuple[datetime, datetime]], other: list[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    return _minus(parts, _minus(parts, other))


def _seconds(parts: Iterable[tuple[datetime, datetime]]) -> int:
    return round(sum((hi - lo).total_seconds() for lo, hi in parts))


def split_period(
    start: datetime,
    end: datetime,
    *,
    watched: Span,
    down: Sequence[Span] = (),
    unknown: Sequence[Span] = (),
    maintenance: Sequence[Span] = (),
    now: datetime,
) -> DayFigures:
    """How one device spent [start, end).

    Precedence, highest first: no data (outside `watched` or after `now`), maintenance, unknown,
    down, up. So a device that was down while its agent was offline counts as unknown: nobody
    could see it, and saying "down" would be as much a guess as saying "up".
    """
    if end <= start:
        return DayFigures()
    whole = [(start, end)]
    seen = _clip([Span(watched.start, min(watched.end or now, now))], start, end)
    nodata = _minus(whole, seen)
    maint = _intersect(seen, merge_intervals(_clip(maintenance, start, end)))
    rest = _minus(seen, maint)
    unk = _intersect(rest, merge_intervals(_clip(unknown, start, end)))
    rest = _minus(rest, unk)
    dwn = _intersect(rest, merge_intervals(_clip(down, start, end)))
    up = _minus(rest, dwn)
    return DayFigures(
        up=_seconds(up),
        down=_seconds(dwn),
        unknown=_seconds(unk),
        maintenance=_seconds(maint),
        nodata=_seconds(nodata),
    )


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """A local calendar day as an aware interval (23 or 25 hours long across DST changes)."""
    # In UTC: Python subtracts two datetimes of one zone as wall time, hiding the DST hour.
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end


def days_back(today: date, count: int) -> list[date]:
    """The `count` calendar days ending with `today`, oldest first."""
    return [today - timedelta(days=count - 1 - i) for i in range(count)]


class DayColour(StrEnum):
    """How a day's bar is drawn; `nodata` and `unknown` are shown as such, never as green."""

    GOOD = "good"
    MINOR = "minor"
    MAJOR = "major"
    BAD = "bad"
    UNKNOWN = "unknown"
    NODATA = "nodata"


def day_colour(figures: DayFigures) -> DayColour:
    watched = figures.up + figures.down + figures.unknown
    if watched == 0:
        return DayColour.NODATA
    if figures.unknown * 2 > watched:
        return DayColour.UNKNOWN
    availability = figures.availability
    if availability is None:
        return DayColour.UNKNOWN
    if availability >= 0.999:
        return DayColour.GOOD
    if availability >= 0.99:
        return DayColour.MINOR
    if availability >= 0.95:
        return DayColour.MAJOR
    return DayColour.BAD
