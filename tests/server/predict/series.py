"""Sample series for the prediction tests: one value per day (or several), UTC days; raw
sample rows for the database tests."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from server.predict.rollup import DAY_S, Sample

DAY0 = 20_000  # 2024-10-04


def daily(values: Sequence[float], *, start: int = DAY0, part: str | None = None) -> list[Sample]:
    """One sample at noon of each day from `start`."""
    return [Sample((start + i) * DAY_S + 43_200, float(v), part) for i, v in enumerate(values)]


def last_day(values: Sequence[float], start: int = DAY0) -> int:
    return start + len(values) - 1


def sample(device_id: int, ts: datetime, checks: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "device_id": device_id,
        "ts": ts,
        "received_at": ts,
        "probe": "host",
        "reachable": True,
        "latency_ms": None,
        "error_code": None,
        "error_message": None,
        "checks": checks,
        "events": None,
        "events_only": False,
    }
