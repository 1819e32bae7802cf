"""Pure reading of one ONVIF poll: drift threshold, identity change events, profile choice."""

from datetime import UTC, datetime

import pytest

from agent.probes.onvif.client import ClockReading, DeviceInfo, MediaProfile, NtpSettings
from agent.probes.onvif.readings import (
    FIRMWARE_CHANGED,
    REPLACED,
    choose_profile,
    clock_checks,
    identity_events,
    ntp_checks,
)

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CAM = DeviceInfo(
    manufacturer="Axis", model="P3245", firmware="10.12", serial="ACCC8E000001", hardware_id=None
)


def _clock(offset: float) -> ClockReading:
    return ClockReading(camera_utc=AT, offset_s=offset, source="NTP", round_trip_ms=3.0)


@pytest.mark.parametrize(
    ("offset", "drift"), [(0.4, False), (-5.0, False), (5.1, True), (-86400.0, True)]
)
def test_drift_is_past_the_threshold_either_way(offset: float, drift: bool) -> None:
    checks = clock_checks(_clock(offset), threshold_s=5.0)
    assert checks["camera.clock_drift"] is drift
    assert checks["clock.offset_s"] == round(offset, 1)
    assert checks["clock.source"] == "NTP"


def test_first_poll_only_learns_the_identity() -> None:
    assert identity_events(None, CAM, AT) == []
    assert identity_events(CAM, CAM, AT) == []


def test_new_serial_is_a_replaced_device() -> None:
    other = DeviceInfo("Axis", "P3265", "11.1", "ACCC8E000002", None)
    (event,) = identity_events(CAM, other, AT)
    assert event.kind == REPLACED
    assert event.data["previous_serial"] == "ACCC8E000001"
    assert event.data["serial"] == "ACCC8E000002"
    assert event.ts == AT


def test_new_firmware_on_the_same_device_is_an_update() -> None:
    updated = DeviceInfo("Axis", "P3245", "11.1", "ACCC8E000001", None)
    (event,) = identity_events(CAM, updated, AT)
    assert event.kind == FIRMWARE_CHANGED
    assert event.data == {"previous": "10.12", "firmware": "11.1", "serial": "ACCC8E000001"}


def test_missing_serial_is_no_replacement() -> None:
    blank = DeviceInfo("Axis", "P3245", "10.12", None, None)
    assert identity_events(CAM, blank, AT) == []


def test_profile_choice() -> None:
    audio = MediaProfile("audio", None, None, None, None)
    main = MediaProfile("main", "Main", "H264", 1920, 1080)
    sub = MediaProfile("sub", "Sub", "H264", 640, 360)
    assert choose_profile([audio, main, sub], None) == main
    assert choose_profile([audio, main, sub], "sub") == sub
    assert choose_profile([audio, main], "missing") is None
    assert choose_profile([audio], None) == audio
    assert choose_profile([], None) is None


def test_ntp_servers_in_use() -> None:
    assert ntp_checks(NtpSettings(from_dhcp=True, servers=("10.0.0.1",))) == {
        "clock.ntp_servers": "10.0.0.1",
        "clock.ntp_from_dhcp": True,
    }
    assert ntp_checks(NtpSettings(from_dhcp=None, servers=()))["clock.ntp_servers"] == ""
