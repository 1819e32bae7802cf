"""Current device state, moved forward by samples: a pure function, no I/O.

A sample is applied only if its (ts, id) is not older than the state's last one, so applying a
set of samples in any order, or twice, gives the same state, and a late retry never moves the
state backwards.
"""

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any, NamedTuple
from uuid import UUID

from wire.enums import ProbeErrorCode
from wire.schema import CheckValue, Sample


class DeviceStatus(StrEnum):
    UP = "up"
    DOWN = "down"
    UNKNOWN = "unknown"  # no sample yet, or no way to tell (its MQTT broker is down)
    # It answers, but nothing beyond reachability is read from it (no profile fits): not a
    # green light. The reason is kept as the state's message.
    UNMONITORED = "unmonitored"


# NamedTuples, not frozen dataclasses: ingest builds a few thousand per batch and a frozen
# dataclass's __init__ (object.__setattr__ per field) costs three times as much.
class CheckState(NamedTuple):
    value: CheckValue
    changed_at: datetime  # ts of the first sample that reported the current value
    updated_at: datetime  # ts of the latest sample that reported the check


_NO_CHECKS: Mapping[str, "CheckState"] = MappingProxyType({})


class CurrentState(NamedTuple):
    status: DeviceStatus = DeviceStatus.UNKNOWN
    status_changed_at: datetime | None = None
    reachable: bool | None = None
    last_sample_at: datetime | None = None
    last_sample_id: UUID | None = None
    last_seen_at: datetime | None = None  # ts of the latest sample where it answered
    latency_ms: float | None = None
    error_code: str | None = None
    error_message: str | None = None
    checks: Mapping[str, CheckState] = _NO_CHECKS


def _key(sample: Sample) -> tuple[datetime, UUID]:
    return (sample.ts, sample.id)


def apply_samples(state: CurrentState, samples: Iterable[Sample]) -> CurrentState:
    """Apply samples oldest first (by ts, then id), skipping those not newer than `state`.

    Events-only samples (traps) are skipped too: they are no poll, so they must not flip the
    status or clear a poll's error, and must not raise the (ts, id) floor either — a poll that
    started before the trap arrives after it and must still apply.

    Returns `state` itself when nothing applies (a resent batch), so callers can skip the
    write with an identity check. The hot path of ingest: mutable locals, one result built.
    """
    ordered = sorted((s for s in samples if not s.events_only), key=_key)
    if state.last_sample_at is not None and state.last_sample_id is not None:
        # The sample equal to the floor is the one already applied last (ids are unique).
        floor = (state.last_sample_at, state.last_sample_id)
        ordered = [s for s in ordered if _key(s) > floor]
    if not ordered:
        return state
    status = state.status
    status_changed_at = state.status_changed_at
    last_seen_at = state.last_seen_at
    # name -> [value, changed_at, updated_at]; one CheckState per check is built at the end
    work: dict[str, list[Any]] = {name: list(check) for name, check in state.checks.items()}
    for sample in ordered:
        ts = sample.ts
        if ts.tzinfo is not UTC:
            ts = ts.astimezone(UTC)
        if sample.reachable:
            new_status = DeviceStatus.UP if sample.unmonitored is None else DeviceStatus.UNMONITORED
        elif sample.error is not None and sample.error.code is ProbeErrorCode.BROKER_UNREACHABLE:
            new_status = DeviceStatus.UNKNOWN  # its broker is down, not the device
        else:
            new_status = DeviceStatus.DOWN
        if new_status is not status:
            status, status_changed_at = new_status, ts
        if sample.reachable:
            last_seen_at = ts
        for name, value in sample.checks.items():
            entry = work.get(name)
            # True == 1 == 1.0 in Python; a check going from true to 1 is still a change.
            if entry is not None and type(entry[0]) is type(value) and entry[0] == value:
                entry[2] = ts
            else:
                work[name] = [value, ts, ts]
    checks = {name: CheckState(*entry) for name, entry in work.items()}
    last = ordered[-1]
    error = last.error
    return CurrentState(
        status,
        status_changed_at,
        last.reachable,
        ordered[-1].ts.astimezone(UTC),
        last.id,
        last_seen_at,
        last.latency_ms,
        error.code.value if error else None,
        error.message if error else last.unmonitored,
        MappingProxyType(checks),
    )


def apply_sample(state: CurrentState, sample: Sample) -> CurrentState:
    """The state after one sample, or `state` itself if the sample is older than it."""
    return apply_samples(state, (sample,))


def checks_to_json(checks: Mapping[str, CheckState]) -> dict[str, Any]:
    """JSON form (ISO 8601 times); the checks of one sample share times, so format each once."""
    text: dict[datetime, str] = {}
    out = {}
    for name, check in checks.items():
        changed = text.get(check.changed_at) or text.setdefault(
            check.changed_at, check.changed_at.isoformat()
        )
        updated = text.get(check.updated_at) or text.setdefault(
            check.updated_at, check.updated_at.isoformat()
        )
        out[name] = {"value": check.value, "changed_at": changed, "updated_at": updated}
    return out


def checks_from_json(data: Mapping[str, Any]) -> dict[str, CheckState]:
    times: dict[str, datetime] = {}
    out = {}
    for name, entry in data.items():
        changed, updated = entry["changed_at"], entry["updated_at"]
        out[name] = CheckState(
            value=entry["value"],
            changed_at=times.get(changed)
            or times.setdefault(changed, datetime.fromisoformat(changed)),
            updated_at=times.get(updated)
            or times.setdefault(updated, datetime.fromisoformat(updated)),
        )
    return out
