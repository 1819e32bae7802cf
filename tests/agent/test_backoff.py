"""Timing math of polls and pushes, checked without sleeping."""

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.backoff import (
    MAX_POLL_BACKOFF_FACTOR,
    RECHECK_FRACTION,
    full_jitter,
    initial_jitter,
    next_poll_at,
    parse_retry_after,
    poll_delay,
)


def test_poll_delay_rechecks_soon_then_doubles_per_failure_and_caps_at_five_intervals() -> None:
    # The first failure is re-checked after a quarter interval: the server confirms on the
    # second failing poll, so an outage is confirmed in about one interval.
    assert [poll_delay(10, n) for n in range(7)] == [10, 2.5, 20, 40, 50, 50, 50]


@given(interval=st.floats(5, 86400), failures=st.integers(0, 10_000))
def test_unreachable_device_is_still_polled_every_five_intervals(
    interval: float, failures: int
) -> None:
    delay = poll_delay(interval, failures)
    assert interval * RECHECK_FRACTION <= delay <= interval * MAX_POLL_BACKOFF_FACTOR


def test_next_poll_is_fixed_rate_from_the_start_of_the_last() -> None:
    assert next_poll_at(started_at=100.0, now=101.5, delay=30.0) == 130.0


def test_late_poll_is_followed_by_one_poll_now_not_a_burst() -> None:
    assert next_poll_at(started_at=100.0, now=200.0, delay=30.0) == 200.0


def test_initial_jitter_spreads_within_one_interval() -> None:
    rng = random.Random(7)
    values = [initial_jitter(60.0, rng) for _ in range(200)]
    assert all(0.0 <= v <= 60.0 for v in values)
    assert max(values) - min(values) > 30.0  # actually spread, not a constant


@given(attempt=st.integers(-3, 100), seed=st.integers(0, 2**32))
def test_full_jitter_stays_within_exponential_ceiling(attempt: int, seed: int) -> None:
    delay = full_jitter(attempt, base=1.0, cap=60.0, rng=random.Random(seed))
    assert 0.0 <= delay <= min(60.0, 2.0 ** max(attempt, 0))


def test_full_jitter_grows_with_attempts() -> None:
    rng = random.Random(1)
    early = max(full_jitter(0, base=1.0, cap=60.0, rng=rng) for _ in range(100))
    late = max(full_jitter(6, base=1.0, cap=60.0, rng=rng) for _ in range(100))
    assert early <= 1.0 < late


NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        (format_datetime(NOW - timedelta(seconds=90), usegmt=True), 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_seconds_or_http_date(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == expected
