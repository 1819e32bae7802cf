"""State changes are logged once; steady states log nothing."""

from datetime import UTC, datetime

import pytest

from agent.transitions import StatusTracker, format_duration
from wire.enums import ProbeErrorCode, ProbeKind
from wire.ids import uuid7
from wire.schema import ProbeError, Sample


def sample(code: ProbeErrorCode | None = None, message: str = "") -> Sample:
    return Sample(
        id=uuid7(),
        device_id="cam-01",
        ts=datetime(2026, 11, 23, tzinfo=UTC),
        probe=ProbeKind.TCP,
        reachable=code is None,
        error=None if code is None else ProbeError(code=code, message=message),
    )


def test_unreachable_then_back_logs_two_lines_only() -> None:
    tracker = StatusTracker()
    seen = [
        tracker.observe(sample(), 0),
        tracker.observe(sample(), 60),
        tracker.observe(sample(ProbeErrorCode.UNREACHABLE), 120),
        tracker.observe(sample(ProbeErrorCode.UNREACHABLE), 180),
        tracker.observe(sample(ProbeErrorCode.UNREACHABLE), 240),
        tracker.observe(sample(), 360),
        tracker.observe(sample(), 420),
    ]
    assert seen == [None, None, "cam-01: unreachable", None, None, "cam-01: back after 4m", None]


def test_first_observation_failing_is_logged_with_detail() -> None:
    message = StatusTracker().observe(sample(ProbeErrorCode.AUTH_FAILED, "401 from ONVIF"), 0)
    assert message == "cam-01: auth_failed: 401 from ONVIF"


def test_change_between_failures_names_both() -> None:
    tracker = StatusTracker()
    tracker.observe(sample(ProbeErrorCode.UNREACHABLE), 0)
    assert (
        tracker.observe(sample(ProbeErrorCode.TIMEOUT), 10) == "cam-01: timeout (was unreachable)"
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (35, "35s"), (240, "4m"), (3900, "1h05m"), (2 * 86400 + 3 * 3600, "2d03h")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
