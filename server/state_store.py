"""Reading and writing `device_states` rows at the driver level, for ingest's hot path.

Through SQLAlchemy's per-value type processing a 100-device state read and upsert cost ~9 ms
per batch; as plain DB-API calls they cost ~0.5 ms. The encodings match the ORM's (UtcDateTime
text and hex UUIDs on SQLite, native types on PostgreSQL), so the read API sees the same rows.
"""

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy import Connection

from server.models import device_states, sqlite_text
from server.state import CurrentState, DeviceStatus, checks_from_json, checks_to_json
from server.state_cache import StateCache

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
        checks = orjson.loads(checks) if checks else {}
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


def _select(conn: Connection, columns: str, ids: list[int], *, lock: bool) -> list[Any]:
    if conn.dialect.name == "sqlite":
        marks = ",".join("?" * len(ids))
        sql = f"SELECT {columns} FROM device_states WHERE device_id IN ({marks})"
        return list(conn.exec_driver_sql(sql, tuple(ids)).fetchall())
    # Concurrent batches for the same devices queue here; sorted ids avoid deadlocks.
    sql = f"SELECT {columns} FROM device_states WHERE device_id = ANY(%s) ORDER BY device_id"
    return list(conn.exec_driver_sql(sql + (" FOR UPDATE" if lock else ""), (ids,)).fetchall())


def load_states(
    conn: Connection, device_ids: Iterable[int], *, cache: StateCache | None = None
) -> dict[int, CurrentState]:
    """Current state of these devices; on PostgreSQL the rows stay locked until commit.

    With a cache, only the rows' versions are read, and only changed rows are decoded.
    """
    ids = sorted(device_ids)
    sqlite = conn.dialect.name == "sqlite"
    if cache is None:
        rows = _select(conn, ", ".join(COLUMNS), ids, lock=True)
        return {row[0]: _state(row, sqlite=sqlite) for row in rows}
    states: dict[int, CurrentState] = {}
    misses: list[int] = []
    for device_id, version in _select(conn, "device_id, last_sample_id", ids, lock=True):
        if sqlite and version is not None:
            version = UUID(hex=version)
        cached = cache.get(device_id, version)
        if cached is None:
            misses.append(device_id)
        else:
            states[device_id] = cached
    if misses:
        rows = _select(conn, ", ".join(COLUMNS), misses, lock=False)  # already locked
        states.update({row[0]: _state(row, sqlite=sqlite) for row in rows})
    return states


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
    updated_text = sqlite_text(updated_at)
    for device_id, s in states.items():
        # orjson: a seventh of json.dumps' time, and this runs once per device per batch.
        checks = orjson.dumps(checks_to_json(s.checks)).decode()
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
                    updated_text,
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
