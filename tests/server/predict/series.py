"""Sample series for the prediction tests: one value per day (or several), UTC days."""

from collections.abc import Sequence

from server.predict.rollup import DAY_S, Sample

DAY0 = 20_000  # 2024-10-04


def daily(values: Sequence[float], *, start: int = DAY0, part: str | None = None) -> list[Sample]:
    """One sample at noon of each day from `start`."""
    return [Sample((start + i) * DAY_S + 43_200, float(v), part) for i, v in enumerate(values)]


def last_day(values: Sequence[float], start: int = DAY0) -> int:
    return start + len(values) - 1
