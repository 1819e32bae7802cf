"""SLA arithmetic costs O(deadlines), not O(ticket age): a clock started centuries ago is read
with about as many calendar steps (local days turned into working intervals) as one started
yesterday. Work is counted, never timed."""

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.sla import (
    PRESETS,
    BusinessCalendar,
    CalendarMode,
    HolidayList,
    Pause,
    Severity,
    business_time_between,
    load_holiday_file,
    ticket_clocks,
)
from server.sla import calendar as calendar_module
from server.sla.transitions import offset_changes

SHANGHAI = BusinessCalendar.office("Asia/Shanghai", holidays=load_holiday_file("cn-2026"))
BERLIN = BusinessCalendar.office("Europe/Berlin")
NEW_YORK_NIGHTS = BusinessCalendar.office("America/New_York", hours=["00:00-03:30", "22:00-24:00"])
RING_OFFICE = PRESETS["ring_road"].with_calendar(Severity.GENERAL, CalendarMode.BUSINESS)
NOW = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)


@pytest.fixture
def steps() -> Callable[[], int]:
    """Calendar steps since the fixture started: local days turned into UTC intervals."""
    calendar_module._day_intervals.cache_clear()
    calendar_module._working_time.cache_clear()

    def count() -> int:
        info = calendar_module._day_intervals.cache_info()
        return info.hits + info.misses

    return count


def walk_between(calendar: BusinessCalendar, start: datetime, end: datetime) -> timedelta:
    """The oracle: every local day between the two instants, one after the other."""
    total = timedelta(0)
    for a, b in calendar.intervals(start):
        if a >= end:
            break
        total += min(b, end) - a
    return total


@pytest.mark.parametrize(
    ("started", "severity"),
    [
        (datetime(1526, 3, 1, 2, 0, tzinfo=UTC), Severity.GENERAL),
        (datetime(1926, 3, 1, 2, 0, tzinfo=UTC), Severity.GENERAL),
        (datetime(1526, 3, 1, 2, 0, tzinfo=UTC), Severity.EMERGENCY),
    ],
)
def test_reading_an_ancient_clock_costs_about_what_a_fresh_one_costs(
    steps: Callable[[], int], started: datetime, severity: Severity
) -> None:
    ticket_clocks(RING_OFFICE, severity, "ring_1", NOW - timedelta(days=1), SHANGHAI, NOW)
    fresh = steps()
    calendar_module._day_intervals.cache_clear()
    calendar_module._working_time.cache_clear()
    clocks = ticket_clocks(RING_OFFICE, severity, "ring_1", started, SHANGHAI, NOW)
    ancient = steps()
    assert clocks.resolve.status == "breached"
    # Centuries are 10^5 local days; the bound is the deadlines plus the days around the
    # zone's offset changes and the listed holidays (about 30 and 40 for Shanghai).
    assert ancient <= fresh + 300, (fresh, ancient)


def test_a_long_pause_is_jumped_not_walked(steps: Callable[[], int]) -> None:
    started = datetime(1926, 3, 1, 2, 0, tzinfo=UTC)
    pause = Pause(started + timedelta(hours=1), None)
    clocks = ticket_clocks(
        RING_OFFICE, Severity.GENERAL, "ring_1", started, SHANGHAI, NOW, pauses=[pause]
    )
    assert clocks.resolve.paused
    assert steps() <= 600


def test_offset_changes_of_a_zone_are_its_real_transitions() -> None:
    berlin_2026 = offset_changes(
        "Europe/Berlin", datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    )
    assert berlin_2026 == (
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
        datetime(2026, 10, 25, 1, 0, tzinfo=UTC),
    )
    assert offset_changes("UTC", datetime(1500, 1, 1, tzinfo=UTC), NOW) == ()
    # Shanghai: the switch from local mean time, the war years and 1986-1991 summer time.
    shanghai = offset_changes("Asia/Shanghai", datetime(1500, 1, 1, tzinfo=UTC), NOW)
    assert 20 <= len(shanghai) <= 40
    assert all(t.year < 1992 for t in shanghai)


LONG_SPANS = st.tuples(
    st.datetimes(min_value=datetime(1880, 1, 1), max_value=datetime(2030, 1, 1)),
    st.integers(0, 3000),
    st.integers(0, 24 * 60),
)


@settings(max_examples=40, deadline=None)
@given(
    span=LONG_SPANS,
    calendar=st.sampled_from([SHANGHAI, BERLIN, NEW_YORK_NIGHTS, BusinessCalendar.always()]),
    holidays=st.sets(st.dates(date(1880, 1, 1), date(2030, 1, 1)), max_size=20),
)
def test_the_jumping_measure_equals_the_day_by_day_walk(
    span: tuple[datetime, int, int], calendar: BusinessCalendar, holidays: set[date]
) -> None:
    start_naive, days, minutes = span
    start = start_naive.replace(tzinfo=UTC)
    end = start + timedelta(days=days, minutes=minutes)
    ordered = sorted(holidays)
    extra = HolidayList(
        frozenset(ordered[::2]) - calendar.holidays.workdays,
        frozenset(ordered[1::2]) - calendar.holidays.holidays,
    )
    cal = calendar.with_holidays(extra)
    assert business_time_between(cal, start, end) == walk_between(cal, start, end)


def test_lord_howe_half_hour_changes_inside_working_hours_are_counted() -> None:
    # Lord Howe moves its clocks at 02:00 by 30 minutes; a night shift covers the change.
    cal = BusinessCalendar.office("Australia/Lord_Howe", hours="00:00-06:00")
    start = datetime(1990, 1, 1, tzinfo=ZoneInfo("Australia/Lord_Howe"))
    end = datetime(2026, 6, 1, tzinfo=ZoneInfo("Australia/Lord_Howe"))
    assert business_time_between(cal, start, end) == walk_between(cal, start, end)


ZONES = sorted(
    z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/"))
)


@settings(max_examples=25, deadline=None)
@given(zone=st.sampled_from(ZONES), first_year=st.integers(1890, 2035))
def test_offset_changes_match_a_six_hourly_scan(zone: str, first_year: int) -> None:
    """The TZif table and the rule years against the oracle: the zone's offset read every six
    hours over three years; each change the scan sees is reported within that step."""
    lo = datetime(first_year, 1, 1, tzinfo=UTC)
    hi = datetime(first_year + 3, 1, 1, tzinfo=UTC)
    tz = ZoneInfo(zone)
    step = timedelta(hours=6)
    seen = []
    at, offset = lo, lo.astimezone(tz).utcoffset()
    while at + step < hi:
        nxt = at + step
        if (new := nxt.astimezone(tz).utcoffset()) != offset:
            seen.append((at, nxt))
            offset = new
        at = nxt
    found = offset_changes(zone, lo, hi)
    for start, end in seen:
        assert any(start < t <= end for t in found), (zone, start, found)
    for t in found:  # and each reported change is one
        assert (t - timedelta(seconds=1)).astimezone(tz).utcoffset() != t.astimezone(tz).utcoffset()
