"""Builders of wire samples and batches for the server tests."""

import gzip
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from wire.ids import uuid7


def sample(
    device_id: str,
    *,
    ts: datetime | None = None,
    reachable: bool = True,
    checks: dict[str, Any] | None = None,
    error: dict[str, str] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(uuid7()),
        "device_id": device_id,
        "ts": (ts or datetime.now(UTC)).isoformat(),
        "probe": "onvif",
        "reachable": reachable,
        "latency_ms": 4.5 if reachable else None,
        "checks": checks if checks is not None else {"stream_ok": reachable},
    }
    if error is not None:
        body["error"] = error
    return body


def batch(*samples: dict[str, Any]) -> dict[str, Any]:
    return {"samples": list(samples)}


def series(device_id: str, count: int, *, start: datetime | None = None) -> list[dict[str, Any]]:
    start = start or datetime.now(UTC) - timedelta(minutes=count)
    return [sample(device_id, ts=start + timedelta(seconds=i)) for i in range(count)]


def gzip_json(body: Any) -> bytes:
    return gzip.compress(json.dumps(body).encode())
