"""How long to wait before trying again: pure functions, so timing is tested without sleeping."""

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# An unreachable device is retried less often, but still at least every this many intervals.
MAX_POLL_BACKOFF_FACTOR = 5.0


# The server confirms a fault on its second failing poll (server/faults/defaults.py): the
# first failure is re-checked soon (a quarter interval, like a monitoring system's retry
# interval), so a real outage is confirmed in about one interval and a blip shorter than the
# re-check is not; backing off only starts after that.
RECHECK_FRACTION = 0.25
POLLS_BEFORE_BACKOFF = 2


def poll_delay(interval: float, consecutive_failures: int) -> float:
    """Seconds until the next poll: the interval; a quarter of it after a first failure; then
    doubled per further failure, capped at 5x."""
    if consecutive_failures <= 0:
        return interval
    if consecutive_failures < POLLS_BEFORE_BACKOFF:
        return interval * RECHECK_FRACTION
    doublings = min(consecutive_failures - POLLS_BEFORE_BACKOFF + 1, 32)
    return interval * min(2.0**doublings, MAX_POLL_BACKOFF_FACTOR)


def next_poll_at(*, started_at: float, now: float, delay: float) -> float:
    """Fixed-rate schedule from the poll's start; a late poll is not followed by a burst."""
    due = started_at + delay
    return due if due > now else now


def initial_jitter(interval: float, rng: random.Random) -> float:
    """Spread the first polls over one interval so devices are not all hit at once."""
    return rng.uniform(0.0, interval)


def full_jitter(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    ceiling = min(cap, base * 2.0 ** min(max(attempt, 0), 32))
    return rng.uniform(0.0, ceiling)


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent/garbled."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
