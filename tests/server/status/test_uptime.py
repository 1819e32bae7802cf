"""Uptime arithmetic: every second lands in exactly one bucket, with the documented precedence."""

from datetime import UTC, date, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from server.status.uptime import (
    DayColour,
    DayFigures,
    Span,
    day_bounds,
    day_colour,
    days_back,
    split_period,
    total,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)
H = timedelta(hours=1)


def test_down_while_agent_offline_counts_as_unknown_not_down_or_up() -> None:
    figures = split_period(
        T0,
        T0 + 10 * H,
        watched=Span(T0),
        down=[Span(T0 + 2 * H, T0 + 6 * H)],
        unknown=[Span(T0 + 4 * H, T0 + 8 * H)],
        now=T0 + 24 * H,
    )
    assert figures == DayFigures(up=4 * 3600, down=2 * 3600, unknown=4 * 3600)
    assert figures.availability == 4 / 6


def test_maintenance_is_excluded_and_shown() -> None:
    figures = split_period(
        T0,
        T0 + 10 * H,
        watched=Span(T0),
        down=[Span(T0 + 1 * H, T0 + 3 * H)],
        maintenance=[Span(T0 + 2 * H, T0 + 5 * H)],
        now=T0 + 24 * H,
    )
    assert figures == DayFigures(up=6 * 3600, down=1 * 3600, maintenance=3 * 3600)


def test_time_before_watching_and_after_now_is_no_data() -> None:
    figures = split_period(
        T0, T0 + 24 * H, watched=Span(T0 + 6 * H), down=[Span(T0 + 7 * H)], now=T0 + 10 * H
    )
    assert figures == DayFigures(up=1 * 3600, down=3 * 3600, nodata=20 * 3600)
    assert day_colour(DayFigures(nodata=86400)) is DayColour.NODATA


def test_open_down_span_runs_until_now() -> None:
    figures = split_period(T0, T0 + 2 * H, watched=Span(T0), down=[Span(T0 + H)], now=T0 + 2 * H)
    assert figures.down == 3600
    assert figures.up == 3600


def test_day_colours() -> None:
    assert day_colour(DayFigures(up=86400)) is DayColour.GOOD
    assert day_colour(DayFigures(up=86000, down=400)) is DayColour.MINOR
    assert day_colour(DayFigures(up=83000, down=3400)) is DayColour.MAJOR
    assert day_colour(DayFigures(up=40000, down=46400)) is DayColour.BAD
    assert day_colour(DayFigures(up=10000, unknown=76400)) is DayColour.UNKNOWN
    assert day_colour(DayFigures(maintenance=86400)) is DayColour.NODATA


def test_local_days_across_daylight_saving_are_23_and_25_hours() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    start, end = day_bounds(date(2026, 3, 29), berlin)
    assert (end - start) == timedelta(hours=23)
    start, end = day_bounds(date(2026, 10, 25), berlin)
    assert (end - start) == timedelta(hours=25)
    assert days_back(date(2026, 3, 2), 3) == [date(2026, 2, 28), date(2026, 3, 1), date(2026, 3, 2)]


minutes = st.integers(min_value=0, max_value=24 * 60)


@st.composite
def spans(draw: st.DrawFn) -> list[Span]:
    out = []
    for _ in range(draw(st.integers(0, 4))):
        a, b = sorted((draw(minutes), draw(minutes)))
        open_ended = draw(st.booleans())
        out.append(
            Span(T0 + timedelta(minutes=a), None if open_ended else T0 + timedelta(minutes=b))
        )
    return out


@given(spans(), spans(), spans(), minutes, minutes, minutes)
def test_every_second_lands_in_one_bucket(
    down: list[Span], unknown: list[Span], maint: list[Span], w: int, n: int, cut: int
) -> None:
    end = T0 + 24 * H
    watched = Span(T0 + timedelta(minutes=w))
    now = T0 + timedelta(minutes=n)
    split = partial(split_period, watched=watched, unknown=unknown, maintenance=maint, now=now)
    whole = split(T0, end, down=down)
    assert whole.up + whole.down + whole.unknown + whole.maintenance + whole.nodata == 86400
    # Splitting the period anywhere gives the same sums: rollups per day add up.
    mid = T0 + timedelta(minutes=cut)
    assert total([split(T0, mid, down=down), split(mid, end, down=down)]) == whole
    # More down time never raises availability; unknown never counts as up.
    worse = split(T0, end, down=[*down, Span(T0)])
    assert worse.up == 0
    assert worse.unknown == whole.unknown
