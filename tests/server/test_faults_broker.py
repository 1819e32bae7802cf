"""A lost MQTT broker says nothing about the devices behind it: no device fault opens or closes."""

from datetime import UTC, datetime

from server.faults.rules import CheckIn, ErrorIs, Observation, Unreachable, condition_result
from wire.enums import ProbeErrorCode

TS = datetime(2026, 11, 23, tzinfo=UTC)
BROKER_DOWN = Observation(
    ts=TS, reachable=False, error_code=ProbeErrorCode.BROKER_UNREACHABLE.value, checks={}
)


def test_broker_down_is_neither_failing_nor_passing_for_any_condition() -> None:
    for condition in (
        Unreachable(),
        ErrorIs(code=ProbeErrorCode.AUTH_FAILED),
        CheckIn(check="door.forced", values=[True]),
    ):
        assert condition_result(condition, BROKER_DOWN) is None
    # while a plain timeout still counts as the device being unreachable
    timeout = Observation(ts=TS, reachable=False, error_code="device.unreachable", checks={})
    assert condition_result(Unreachable(), timeout) is True
