"""The wire contract refuses what the server could not store faithfully."""

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from wire.ids import Uuid7Factory, uuid7
from wire.schema import Sample


def body(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": str(uuid7()),
        "device_id": "cam-01",
        "ts": "2026-11-23T12:00:00+08:00",
        "probe": "tcp",
        "reachable": True,
        "checks": {"temp_c": 41.5},
    }
    return {**base, **changes}


def test_timestamps_are_kept_in_utc() -> None:
    sample = Sample.model_validate(body())
    assert sample.ts.tzinfo is UTC
    assert sample.ts == datetime(2026, 11, 23, 4, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"ts": "2026-11-23T12:00:00"}, "ts"),  # no zone: ambiguous
        ({"checks": {"temp_c": float("nan")}}, "checks"),
        ({"checks": {"Bad Name": 1}}, "checks"),
        ({"device_id": "../etc"}, "device_id"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_refused_values_name_their_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        Sample.model_validate(body(**changes))
    assert err.value.errors()[0]["loc"][0] == field


def test_counter64_fits_and_larger_numbers_become_floats() -> None:
    assert Sample.model_validate(body(checks={"octets": 2**64 - 1})).checks["octets"] == 2**64 - 1
    # Beyond 64 bits no integer column or fast JSON encoder keeps it exactly: a float does.
    raw = json.dumps(body(checks={})).replace('"checks": {}', f'"checks": {{"octets": {2**64}}}')
    huge = Sample.model_validate_json(raw).checks["octets"]
    assert isinstance(huge, float)


def test_uuid7_ids_sort_by_time_and_stay_unique_within_a_millisecond() -> None:
    now = [1_700_000_000_000_000_000]
    make = Uuid7Factory(clock_ns=lambda: now[0])
    same_ms = [make() for _ in range(5000)]
    now[0] += 1_000_000
    later = make()
    assert all(u.version == 7 for u in same_ms)
    assert same_ms == sorted(same_ms)
    assert len(set(same_ms)) == len(same_ms)
    assert later > same_ms[-1]
    now[0] -= 10_000_000  # the clock steps back: ids still go up
    assert make() > later


def test_other_zones_compare_equal_after_normalising() -> None:
    plus8 = timezone(timedelta(hours=8))
    a = Sample.model_validate(body(ts=datetime(2026, 11, 23, 12, tzinfo=plus8).isoformat()))
    b = Sample.model_validate(body(ts="2026-11-23T04:00:00Z"))
    assert a.ts == b.ts
