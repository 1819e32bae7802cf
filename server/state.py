"""Current device state, moved forward by samples: a pure function, no I/O.

A sample is applied only if its (ts, id) is not older than the state's last one, so applying a
set of samples in any order, or twice, gives the same state, and a late retry never moves the
state backwards.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from wire.schema import CheckValue, Sample


class DeviceStatus(StrEnum):
    UP = "up"
    DOWN = "down"
    UNKNOWN = "unknown"  # no sample yet


@dataclass(frozen=True, slots=True)
class CheckState:
    value: CheckValue
    changed_at: datetime  # ts of the first sample that reported the current value
    updated_at: datetime  # ts of the latest sample that reported the check


@dataclass(frozen=True, slots=True)
class CurrentState:
    status: DeviceStatus = DeviceStatus.UNKNOWN
    status_changed_at: datetime | None = None
    reachable: bool | None = None
    last_sample_at: datetime | None = None
    last_sample_id: UUID | None = None
    last_seen_at: datetime | None = None  # ts of the latest sample where it answered
    latency_ms: float | None = None
    error_code: str | None = None
    error_message: str | None = None
    checks: Mapping[str, CheckState] = field(default_factory=dict)


def _same_value(a: CheckValue, b: CheckValue) -> bool:
    # True == 1 == 1.0 in Python; a check going from true to 1 is still a change.
    return type(a) is type(b) and a == b


def apply_sample(state: CurrentState, sample: Sample) -> CurrentState:
    """The state after `sample`, or `state` itself if the sample is older than it."""
    ts = sample.ts.astimezone(UTC)
    if (
        state.last_sample_at is not None
        and state.last_sample_id is not None
        and (ts, sample.id) < (state.last_sample_at, state.last_sample_id)
    ):
        return state
    status = DeviceStatus.UP if sample.reachable else DeviceStatus.DOWN
    checks = dict(state.checks)
    for name, value in sample.checks.items():
        previous = checks.get(name)
        if previous is not None and _same_value(previous.value, value):
            checks[name] = replace(previous, updated_at=ts)
        else:
            checks[name] = CheckState(value=value, changed_at=ts, updated_at=ts)
    return CurrentState(
        status=status,
        status_changed_at=state.status_changed_at if status == state.status else ts,
        reachable=sample.reachable,
        last_sample_at=ts,
        last_sample_id=sample.id,
        last_seen_at=ts if sample.reachable else state.last_seen_at,
        latency_ms=sample.latency_ms,
        error_code=sample.error.code.value if sample.error else None,
        error_message=sample.error.message if sample.error else None,
        checks=checks,
    )


def apply_samples(state: CurrentState, samples: Iterable[Sample]) -> CurrentState:
    """Apply samples oldest first, so their arrival order within a batch does not matter."""
    for sample in sorted(samples, key=lambda s: (s.ts, s.id)):
        state = apply_sample(state, sample)
    return state


def checks_to_json(checks: Mapping[str, CheckState]) -> dict[str, Any]:
    return {
        name: {
            "value": check.value,
            "changed_at": check.changed_at.isoformat(),
            "updated_at": check.updated_at.isoformat(),
        }
        for name, check in checks.items()
    }


def checks_from_json(data: Mapping[str, Any]) -> dict[str, CheckState]:
    return {
        name: CheckState(
            value=entry["value"],
            changed_at=datetime.fromisoformat(entry["changed_at"]),
            updated_at=datetime.fromisoformat(entry["updated_at"]),
        )
        for name, entry in data.items()
    }
