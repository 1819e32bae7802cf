"""Cleaning raw samples and folding them into days."""

import math

from hypothesis import given
from hypothesis import strategies as st

from server.predict.rollup import (
    DAY_S,
    SENTINELS,
    DayRollup,
    Rejected,
    Sample,
    clean,
    date_of,
    day_of,
    roll_up,
)
from tests.server.predict.series import DAY0


def at(day: int, hour: float, value: float, part: str | None = None) -> Sample:
    return Sample(day * DAY_S + hour * 3600, value, part)


def test_clean_counts_each_kind_of_bad_sample() -> None:
    samples = [
        at(DAY0, 0, math.nan),
        at(DAY0, 1, 65535),
        at(DAY0, 2, -273),
        at(DAY0, 3, -1),
        at(DAY0, 4, -5),
        at(DAY0, 5, 1e300),
        at(DAY0, 6, 3),
    ]
    cleaned = clean(samples, counter=True)
    assert [s.value for s in cleaned.samples] == [3.0]
    assert cleaned.rejected == {
        Rejected.NOT_A_NUMBER: 1,
        Rejected.SENTINEL: 3,
        Rejected.NEGATIVE_COUNTER: 1,
        Rejected.OUT_OF_RANGE: 1,
    }


def test_negative_gauge_values_are_kept() -> None:
    cleaned = clean([at(DAY0, 1, -20.5)], counter=False)
    assert [s.value for s in cleaned.samples] == [-20.5]
    assert cleaned.rejected == {}


def test_clean_sorts_out_of_order_samples_and_says_so() -> None:
    cleaned = clean([at(DAY0, 3, 2), at(DAY0, 1, 1), at(DAY0, 2, 1.5)], counter=False)
    assert [s.value for s in cleaned.samples] == [1.0, 1.5, 2.0]
    assert cleaned.reordered


def test_identical_duplicates_collapse_conflicting_ones_are_dropped() -> None:
    samples = [at(DAY0, 1, 5), at(DAY0, 1, 5), at(DAY0, 2, 6), at(DAY0, 2, 7), at(DAY0, 3, 8)]
    cleaned = clean(samples, counter=False)
    assert [s.value for s in cleaned.samples] == [5.0, 8.0]
    assert cleaned.rejected == {Rejected.CONFLICTING_DUPLICATE: 2}


def test_counter_spike_that_comes_back_is_a_glitch_but_a_rise_that_stays_is_not() -> None:
    spike = clean([at(DAY0, 0, 3), at(DAY0, 6, 4003), at(DAY0, 12, 3)], counter=True)
    assert [s.value for s in spike.samples] == [3.0, 3.0]
    assert spike.rejected == {Rejected.GLITCH: 1}
    rise = clean([at(DAY0, 0, 3), at(DAY0, 6, 9), at(DAY0, 12, 9)], counter=True)
    assert [s.value for s in rise.samples] == [3.0, 9.0, 9.0]


def test_rollup_figures_of_a_gauge_day() -> None:
    rows = roll_up(
        [at(DAY0, 0, 30), at(DAY0, 6, 40), at(DAY0, 12, 35), at(DAY0 + 1, 0, 31)], counter=False
    )
    assert rows[0] == DayRollup(DAY0, None, 3, 30.0, 40.0, 35.0, 35.0)
    assert rows[1].day == DAY0 + 1
    assert rows[1].count == 1


def test_counter_delta_counts_from_previous_day_and_treats_decrease_as_reset() -> None:
    samples = [at(DAY0, 0, 10), at(DAY0, 12, 12), at(DAY0 + 1, 0, 15), at(DAY0 + 1, 12, 2)]
    rows = roll_up(samples, counter=True)
    assert (rows[0].delta, rows[0].resets) == (2.0, 0)
    # +3 from yesterday's 12, then a reset whose new value 2 counts as its increase from zero.
    assert (rows[1].delta, rows[1].resets) == (5.0, 1)


def test_a_new_part_starts_a_new_row_without_delta_from_the_old_one() -> None:
    samples = [at(DAY0, 0, 50, "A"), at(DAY0, 12, 0, "B"), at(DAY0 + 1, 0, 1, "B")]
    rows = roll_up(samples, counter=True)
    assert [(r.day, r.part, r.delta, r.resets) for r in rows] == [
        (DAY0, "A", 0.0, 0),
        (DAY0, "B", 0.0, 0),
        (DAY0 + 1, "B", 1.0, 0),
    ]


def test_days_are_utc_calendar_days() -> None:
    assert day_of(DAY0 * DAY_S) == DAY0
    assert day_of(DAY0 * DAY_S - 1) == DAY0 - 1
    assert date_of(0).isoformat() == "1970-01-01"


values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 1e13]),
    st.sampled_from(sorted(SENTINELS)),
    st.integers(-10, 10).map(float),
)
raw = st.lists(
    st.builds(
        Sample,
        st.floats(DAY0 * DAY_S, (DAY0 + 5) * DAY_S, allow_nan=False),
        values,
        st.sampled_from([None, "A", "B"]),
    ),
    max_size=40,
)


@given(raw, st.booleans())
def test_any_samples_clean_and_roll_up_without_bad_values(
    samples: list[Sample], counter: bool
) -> None:
    cleaned = clean(samples, counter=counter)
    rows = roll_up(cleaned.samples, counter=counter)
    assert sum(r.count for r in rows) == len(cleaned.samples)
    assert len(cleaned.samples) + sum(cleaned.rejected.values()) <= len(samples)
    for row in rows:
        for figure in (row.min, row.max, row.last):  # real readings (a mean may be -1)
            assert math.isfinite(figure)
            assert figure not in SENTINELS
            assert not (counter and figure < 0)
        assert row.min <= row.mean <= row.max
        assert row.delta >= 0
    assert [r.day for r in rows] == sorted(r.day for r in rows)
