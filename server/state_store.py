"""Reading and writing `device_states` rows at the driver level, for ingest's hot path.

Through SQLAlchemy's per-value type processing a 100-device state read and upsert cost ~9 ms
per batch; as plain DB-API calls they cost ~0.5 ms. The encodings match the ORM's (UtcDateTime
text and hex UUIDs on SQLite, native types on PostgreSQL), so the read API sees the same rows.
"""

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection

from server.models import device_states, sqlite_text
from server.state import CurrentState, DeviceStatus, checks_from_json, checks_to_json

COLUMNS = (
    "device_id",
    "status",
    "status_changed_at",
    "reachable",
    "last_sample_at",
    "last_sample_id",
    "last_seen_at",
    "latency_ms",
    "error_code",
    "error_message",
    "checks",
    "updated_at",
)
assert set(COLUMNS) == {c.name for c in device_states.columns}, "device_states changed"


def _sqlite_time(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


def _sqlite_time_out(value: datetime | None) -> str | None:
    return None if value is None else sqlite_text(value)


def _state(row: Sequence[Any], *, sqlite: bool) -> CurrentState:
    (_, status, changed, reachable, last_at, last_id, seen, latency, code, message, checks, _) = row
    if sqlite:
        changed, last_at, seen = _sqlite_time(changed), _sqlite_time(last_at), _sqlite_time(seen)
        last_id = UUID(hex=last_id) if last_id is not None else None
        reachable = None if reachable is None else bool(reachable)
        checks = json.loads(checks) if checks else {}
    return CurrentState(
        status=DeviceStatus(status),
        status_changed_at=changed,
        reachable=reachable,
        last_sample_at=last_at,
        last_sample_id=last_id,
        last_seen_at=seen,
        latency_ms=latency,
        error_code=code,
        error_message=message,
        checks=checks_from_json(checks or {}),
    )


def load_states(conn: Connection, device_ids: Iterable[int]) -> dict[int, CurrentState]:
    """Current state of these devices; on PostgreSQL the rows stay locked until commit."""
    ids = sorted(device_ids)
    columns = ", ".join(COLUMNS)
    if conn.dialect.name == "sqlite":
        marks = ",".join("?" * len(ids))
        sql = f"SELECT {columns} FROM device_states WHERE device_id IN ({marks})"
        rows = conn.exec_driver_sql(sql, tuple(ids)).fetchall()
        return {row[0]: _state(row, sqlite=True) for row in rows}
    # Concurrent batches for the same devices queue here; sorted ids avoid deadlocks.
    sql = (
        f"SELECT {columns} FROM device_states WHERE device_id = ANY(%s) "
        "ORDER BY device_id FOR UPDATE"
    )
    rows = conn.exec_driver_sql(sql, (ids,)).fetchall()
    return {row[0]: _state(row, sqlite=False) for row in rows}


def save_states(
    conn: Connection, states: Mapping[int, CurrentState], *, updated_at: datetime
) -> None:
    """Upsert one row per device (executemany)."""
    if not states:
        return
    sqlite = conn.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    sql = (
        f"INSERT INTO device_states ({', '.join(COLUMNS)}) "
        f"VALUES ({', '.join([mark] * len(COLUMNS))}) "
        "ON CONFLICT (device_id) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[1:])
    )
    params: list[tuple[Any, ...]] = []
    for device_id, s in states.items():
        checks = json.dumps(checks_to_json(s.checks), separators=(",", ":"))
        if sqlite:
            params.append(
                (
                    device_id,
                    s.status.value,
                    _sqlite_time_out(s.status_changed_at),
                    s.reachable,
                    _sqlite_time_out(s.last_sample_at),
                    s.last_sample_id.hex if s.last_sample_id else None,
                    _sqlite_time_out(s.last_seen_at),
                    s.latency_ms,
                    s.error_code,
                    s.error_message,
                    checks,
                    sqlite_text(updated_at),
                )
            )
        else:
            params.append(
                (
                    device_id,
                    s.status.value,
                    s.status_changed_at,
                    s.reachable,
                    s.last_sample_at,
                    s.last_sample_id,
                    s.last_seen_at,
                    s.latency_ms,
                    s.error_code,
                    s.error_message,
                    checks,
                    updated_at,
                )
            )
    conn.exec_driver_sql(sql, params)
