"""Business-time arithmetic: properties, a minute-by-minute oracle, DST and holiday edges."""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.sla import (
    FULL_DAY,
    BusinessCalendar,
    HolidayList,
    SlaCalendarError,
    WorkingPeriod,
    add_business_time,
    business_time_between,
    load_holiday_file,
    parse_holidays,
)
from server.sla.calendar import merge_intervals

CN_2026 = load_holiday_file("cn-2026")
SHANGHAI = BusinessCalendar.office("Asia/Shanghai", holidays=CN_2026)
BERLIN = BusinessCalendar.office("Europe/Berlin")
NEW_YORK = BusinessCalendar.office("America/New_York", hours=["09:00-12:00", "13:00-18:00"])
DST_ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Shanghai"]
# Days on which these zones change their offset in 2026 (the oracle test centres on them).
DST_DAYS = [
    datetime(2026, 3, 8, tzinfo=UTC),  # New York forward
    datetime(2026, 3, 29, tzinfo=UTC),  # Berlin forward
    datetime(2026, 4, 5, tzinfo=UTC),  # Lord Howe back (30 min)
    datetime(2026, 10, 4, tzinfo=UTC),  # Lord Howe forward
    datetime(2026, 10, 25, tzinfo=UTC),  # Berlin back
    datetime(2026, 11, 1, tzinfo=UTC),  # New York back
]

instants = st.datetimes(
    min_value=datetime(2025, 10, 1), max_value=datetime(2027, 3, 1), timezones=st.just(UTC)
)
durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=20))


@st.composite
def periods(draw: st.DrawFn) -> tuple[WorkingPeriod, ...]:
    """Zero to three disjoint working periods on a 30-minute grid (so some start or end in a
    daylight-saving gap or the repeated hour)."""
    cuts = sorted(draw(st.sets(st.integers(0, 48), max_size=6)))
    pairs = list(zip(cuts[::2], cuts[1::2], strict=False))
    return tuple(WorkingPeriod(a * 30, b * 30) for a, b in pairs if a < b)


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    zone = draw(st.sampled_from(DST_ZONES))
    week = {d: draw(periods()) for d in range(7)}
    if not any(week.values()):
        week[0] = (WorkingPeriod.parse("08:30-17:30"),)
    extra = draw(st.sets(st.dates(date(2026, 1, 1), date(2026, 12, 31)), max_size=8))
    split = len(extra) // 2
    ordered = sorted(extra)
    holidays = HolidayList(frozenset(ordered[:split]), frozenset(ordered[split:]))
    makeup = draw(st.one_of(st.none(), periods().filter(bool)))
    return BusinessCalendar(timezone=zone, week=week, holidays=holidays, makeup=makeup)


any_calendar = st.one_of(
    calendars(), st.sampled_from([SHANGHAI, BERLIN, NEW_YORK, BusinessCalendar.always()])
)


def oracle_minutes(calendar: BusinessCalendar, start: datetime, end: datetime) -> int:
    """Working minutes in [start, end) by reading the wall clock of every UTC minute."""
    zone = ZoneInfo(calendar.timezone)
    count = 0
    minute = start
    while minute < end:
        local = minute.astimezone(zone)
        of_day = local.hour * 60 + local.minute
        if any(p.start_minute <= of_day < p.end_minute for p in calendar.periods_on(local.date())):
            count += 1
        minute += timedelta(minutes=1)
    return count


@settings(max_examples=60, deadline=None)
@given(
    calendar=calendars(),
    around=st.sampled_from(DST_DAYS),
    offset_min=st.integers(-36 * 60, 36 * 60),
    length_min=st.integers(0, 36 * 60),
)
def test_business_time_matches_a_minute_by_minute_wall_clock_oracle(
    calendar: BusinessCalendar, around: datetime, offset_min: int, length_min: int
) -> None:
    start = around + timedelta(minutes=offset_min)
    end = start + timedelta(minutes=length_min)
    measured = business_time_between(calendar, start, end)
    assert measured == timedelta(minutes=oracle_minutes(calendar, start, end))


@settings(deadline=None)
@given(calendar=any_calendar, start=instants, duration=durations)
def test_adding_then_measuring_gives_the_duration_back(
    calendar: BusinessCalendar, start: datetime, duration: timedelta
) -> None:
    deadline = add_business_time(calendar, start, duration)
    assert deadline >= start
    assert business_time_between(calendar, start, deadline) == duration


@settings(deadline=None)
@given(calendar=any_calendar, start=instants, d1=durations, d2=durations)
def test_deadline_is_monotonic_in_duration_and_additive(
    calendar: BusinessCalendar, start: datetime, d1: timedelta, d2: timedelta
) -> None:
    short, long = sorted((d1, d2))
    assert add_business_time(calendar, start, short) <= add_business_time(calendar, start, long)
    via = add_business_time(calendar, add_business_time(calendar, start, d1), d2)
    assert via == add_business_time(calendar, start, d1 + d2)


@settings(deadline=None)
@given(calendar=any_calendar, s1=instants, s2=instants, duration=durations)
def test_deadline_is_monotonic_in_start(
    calendar: BusinessCalendar, s1: datetime, s2: datetime, duration: timedelta
) -> None:
    early, late = sorted((s1, s2))
    assert add_business_time(calendar, early, duration) <= add_business_time(
        calendar, late, duration
    )


@settings(deadline=None)
@given(calendar=any_calendar, a=instants, b=instants, c=instants)
def test_measure_is_additive_and_antisymmetric(
    calendar: BusinessCalendar, a: datetime, b: datetime, c: datetime
) -> None:
    x, y, z = sorted((a, b, c))
    xy = business_time_between(calendar, x, y)
    assert xy >= timedelta(0)
    assert xy <= y - x
    assert business_time_between(calendar, x, z) == xy + business_time_between(calendar, y, z)
    assert business_time_between(calendar, y, x) == -xy


@st.composite
def pause_list(draw: st.DrawFn, start: datetime) -> list[tuple[datetime, datetime]]:
    out = []
    for _ in range(draw(st.integers(0, 4))):
        begin = start + draw(st.timedeltas(timedelta(hours=-12), timedelta(days=10)))
        out.append((begin, begin + draw(st.timedeltas(timedelta(0), timedelta(days=3)))))
    return out


@settings(deadline=None)
@given(calendar=any_calendar, start=instants, duration=durations, data=st.data())
def test_pauses_extend_the_deadline_by_exactly_the_paused_business_time(
    calendar: BusinessCalendar, start: datetime, duration: timedelta, data: st.DataObject
) -> None:
    pauses = data.draw(pause_list(start))
    plain = add_business_time(calendar, start, duration)
    paused = add_business_time(calendar, start, duration, pauses)
    assert paused >= plain
    # Paused business time inside [start, paused deadline), measured without pauses.
    lost = sum(
        (
            business_time_between(calendar, max(a, start), min(b, paused))
            for a, b in merge_intervals(pauses)
            if min(b, paused) > max(a, start)
        ),
        timedelta(0),
    )
    assert business_time_between(calendar, start, paused) == duration + lost
    assert business_time_between(calendar, start, paused, pauses) == duration


@settings(deadline=None)
@given(start=instants, duration=durations, zone=st.sampled_from(DST_ZONES))
def test_a_full_week_calendar_in_a_dst_zone_counts_real_elapsed_time(
    start: datetime, duration: timedelta, zone: str
) -> None:
    full = BusinessCalendar.always(zone)
    assert add_business_time(full, start, duration) == start + duration


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo("Europe/Berlin"))


def test_office_hours_survive_the_spring_forward_weekend() -> None:
    # Friday 27 March 2026 17:00 CET; DST starts Sunday 29 March.
    deadline = add_business_time(BERLIN, berlin(2026, 3, 27, 17, 0), timedelta(hours=1))
    assert deadline == berlin(2026, 3, 30, 9, 0)  # Monday 09:00 CEST
    assert deadline.utcoffset() != berlin(2026, 3, 27, 17, 0).utcoffset()
    monday = business_time_between(BERLIN, berlin(2026, 3, 30, 0, 0), berlin(2026, 3, 31, 0, 0))
    assert monday == timedelta(hours=9)


def test_a_night_shift_through_the_gap_is_short_and_through_the_repeated_hour_long() -> None:
    night = BusinessCalendar(
        timezone="Europe/Berlin",
        week=dict.fromkeys(range(7), (WorkingPeriod.parse("01:00-04:00"),)),
    )
    spring = business_time_between(night, berlin(2026, 3, 29, 0, 0), berlin(2026, 3, 29, 12, 0))
    autumn = business_time_between(night, berlin(2026, 10, 25, 0, 0), berlin(2026, 10, 25, 12, 0))
    assert spring == timedelta(hours=2)
    assert autumn == timedelta(hours=4)


def test_new_york_split_shift_across_the_november_change() -> None:
    ny = ZoneInfo("America/New_York")
    start = datetime(2026, 10, 30, 17, 0, tzinfo=ny)  # Friday, EDT
    deadline = add_business_time(NEW_YORK, start, timedelta(hours=4))
    # 1 h Friday, then Monday 2 November (EST) 09:00-12:00.
    assert deadline == datetime(2026, 11, 2, 12, 0, tzinfo=ny)


def shanghai(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo("Asia/Shanghai"))


def test_national_day_holidays_and_make_up_saturday() -> None:
    # Wednesday 30 September 16:30: 1 h left that day, then 1-7 October off, Thursday 8th.
    deadline = add_business_time(SHANGHAI, shanghai(2026, 9, 30, 16, 30), timedelta(hours=3))
    assert deadline == shanghai(2026, 10, 8, 10, 30)
    # Saturday 10 October is a make-up working day (调休上班); Sunday 11th is not.
    assert SHANGHAI.is_working(shanghai(2026, 10, 10, 10, 0))
    assert not SHANGHAI.is_working(shanghai(2026, 10, 11, 10, 0))
    friday = add_business_time(SHANGHAI, shanghai(2026, 10, 9, 17, 0), timedelta(hours=1))
    assert friday == shanghai(2026, 10, 10, 9, 0)


def test_spring_festival_week_is_closed() -> None:
    week = business_time_between(SHANGHAI, shanghai(2026, 2, 15), shanghai(2026, 2, 24))
    assert week == timedelta(0)
    assert business_time_between(
        SHANGHAI, shanghai(2026, 2, 14), shanghai(2026, 2, 15)
    ) == timedelta(hours=9)


def test_shipped_cn_2026_file_has_the_state_council_dates() -> None:
    assert len(CN_2026.holidays) == 3 + 9 + 3 + 5 + 3 + 3 + 7
    assert sorted(CN_2026.workdays) == [
        date(2026, 1, 4),
        date(2026, 2, 14),
        date(2026, 2, 28),
        date(2026, 5, 9),
        date(2026, 9, 20),
        date(2026, 10, 10),
    ]
    # Every make-up day is a weekend day, every working-day holiday is a listed date.
    assert all(d.weekday() >= 5 for d in CN_2026.workdays)


def test_holiday_file_errors_name_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("# fine\n2026-01-01 holiday ok\n2026-13-01 holiday nope\n", encoding="utf-8")
    with pytest.raises(SlaCalendarError, match=r"bad\.txt:3"):
        load_holiday_file(bad)
    with pytest.raises(SlaCalendarError, match=r"<text>:1: expected"):
        parse_holidays("January 1st holiday")
    with pytest.raises(SlaCalendarError, match="listed twice"):
        parse_holidays("2026-01-01..2026-01-03 holiday\n2026-01-02 workday")
    with pytest.raises(SlaCalendarError, match="ends before"):
        parse_holidays("2026-01-03..2026-01-01 holiday")
    with pytest.raises(SlaCalendarError, match=r"missing\.txt"):
        load_holiday_file(tmp_path / "missing.txt")


def test_bad_calendars_are_refused() -> None:
    with pytest.raises(SlaCalendarError, match="timezone"):
        BusinessCalendar(timezone="Mars/Olympus")
    with pytest.raises(SlaCalendarError, match="no working time"):
        BusinessCalendar(week={})
    with pytest.raises(SlaCalendarError, match="overlap"):
        BusinessCalendar(week={0: (WorkingPeriod.parse("08:00-12:00"), WorkingPeriod(600, 900))})
    with pytest.raises(SlaCalendarError, match="HH:MM"):
        WorkingPeriod.parse("8-17")
    with pytest.raises(SlaCalendarError, match="valid time"):
        WorkingPeriod.parse("08:00-24:30")
    with pytest.raises(ValueError, match="timezone-aware"):
        add_business_time(BERLIN, datetime(2026, 1, 1), timedelta(hours=1))
    with pytest.raises(ValueError, match="negative"):
        add_business_time(BERLIN, datetime(2026, 1, 1, tzinfo=UTC), timedelta(hours=-1))


def test_a_calendar_closed_for_two_years_fails_instead_of_looping() -> None:
    days = frozenset(date(2026, 1, 1) + timedelta(days=i) for i in range(800))
    cal = BusinessCalendar.office("UTC", weekdays=range(7), holidays=HolidayList(days))
    with pytest.raises(SlaCalendarError, match="no working time for"):
        add_business_time(cal, datetime(2026, 1, 1, tzinfo=UTC), timedelta(hours=1))


def test_full_day_period_is_the_whole_day() -> None:
    assert (WorkingPeriod.parse("00:00-24:00"),) == FULL_DAY


def test_calendars_are_values() -> None:
    again = BusinessCalendar.office("Asia/Shanghai", holidays=load_holiday_file("cn-2026"))
    assert again == SHANGHAI
    assert hash(again) == hash(SHANGHAI)
    assert again != BERLIN


@settings(deadline=None)
@given(calendar=any_calendar)
def test_calendar_round_trips_through_a_dict(calendar: BusinessCalendar) -> None:
    assert BusinessCalendar.from_dict(calendar.to_dict()) == calendar


def test_calendar_from_dict_with_a_holiday_file_and_clear_errors() -> None:
    site = BusinessCalendar.from_dict(
        {
            "timezone": "Asia/Shanghai",
            "week": {
                d: ["08:30-12:00", "13:30-17:30"] for d in ("mon", "tue", "wed", "thu", "fri")
            },
            "holiday_files": ["cn-2026"],
        }
    )
    assert site.with_holidays(HolidayList()).holidays == CN_2026
    assert not site.is_working(shanghai(2026, 3, 2, 12, 30))  # lunch
    assert site.is_working(shanghai(2026, 2, 14, 9, 0))  # make-up Saturday, Monday's hours
    assert BusinessCalendar.from_dict({}) == BusinessCalendar()
    with pytest.raises(SlaCalendarError, match=r"site\.week\.mon: .*HH:MM"):
        BusinessCalendar.from_dict({"week": {"mon": ["9-5"]}}, where="site")
    with pytest.raises(SlaCalendarError, match=r"calendar\.week: unknown days \['monday'\]"):
        BusinessCalendar.from_dict({"week": {"monday": []}})
    with pytest.raises(SlaCalendarError, match=r"calendar\.holidays: "):
        BusinessCalendar.from_dict({"holidays": ["2026-02-30"]})
    with pytest.raises(SlaCalendarError, match="unknown fields"):
        BusinessCalendar.from_dict({"tz": "UTC"})
    with pytest.raises(SlaCalendarError, match="both holiday and make-up"):
        BusinessCalendar.from_dict({"workdays": ["2026-10-01"], "holiday_files": ["cn-2026"]})
