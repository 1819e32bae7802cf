"""ONVIF notification → event mapping and the lease arithmetic (pure)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from agent.probes.onvif.events import read_notification
from agent.probes.onvif.topics import (
    RAW_KIND,
    Notification,
    ignores_relative_time,
    lease_end,
    renew_due,
    termination_request,
    to_event,
    topic_path,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def note(topic: str, data: dict[str, str], **kw: object) -> Notification:
    return Notification(topic=topic, data=data, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("topic", "data", "kind", "active", "reason"),
    [
        (
            "tns1:VideoSource/GlobalSceneChange/ImagingService",
            {"State": "true"},
            "camera.tamper",
            True,
            None,
        ),
        (
            "tns1:VideoSource/GlobalSceneChange/AnalyticsService",
            {"State": "false"},
            "camera.tamper",
            False,
            None,
        ),
        (
            "tns1:RuleEngine/TamperDetector/Tamper",
            {"IsTamper": "true"},
            "camera.tamper",
            True,
            None,
        ),
        ("tns1:VideoSource/SignalLoss", {"State": "true"}, "camera.video_loss", True, None),
        (
            "tns1:VideoSource/ImageTooBlurry/ImagingService",
            {"State": "true"},
            "camera.image_abnormal",
            True,
            "blurred",
        ),
        (
            "tns1:VideoSource/ImageTooDark/AnalyticsService",
            {"State": "1"},
            "camera.image_abnormal",
            True,
            "dark",
        ),
        (
            "tns1:VideoSource/ImageTooBright/RecordingService",
            {"State": "0"},
            "camera.image_abnormal",
            False,
            "bright",
        ),
        (
            "tns1:Device/HardwareFailure/StorageFailure",
            {"Failed": "true"},
            "storage.disk_failed",
            True,
            None,
        ),
        ("tns1:Device/Trigger/DigitalInput", {"LogicalState": "true"}, "alarm.input", True, None),
        (
            "tns1:Device/HardwareFailure/TemperatureCritical",
            {"Critical": "true"},
            "env.temperature_high",
            True,
            None,
        ),
    ],
)
def test_known_topics_become_our_event_kinds(
    topic: str, data: dict[str, str], kind: str, active: bool, reason: str | None
) -> None:
    event = to_event(note(topic, data, operation="Changed", source={"Source": "vs0"}), received=NOW)
    assert event is not None
    assert event.kind == kind
    assert event.data["active"] is active
    assert event.data.get("reason") == reason
    assert event.data["topic"] == topic
    assert event.data["source"] == {"Source": "vs0"}
    assert event.ts == NOW  # our clock, not the camera's


def test_vendor_prefixes_do_not_matter() -> None:
    assert topic_path(" ns5:VideoSource/tnsaxis:SignalLoss ") == "VideoSource/SignalLoss"
    event = to_event(note("ns5:VideoSource/SignalLoss", {"State": "true"}), received=NOW)
    assert event is not None
    assert event.kind == "camera.video_loss"


def test_a_topic_that_only_starts_like_a_known_one_is_not_it() -> None:
    event = to_event(note("tns1:VideoSource/SignalLossy", {"State": "true"}), received=NOW)
    assert event is not None
    assert event.kind == RAW_KIND


def test_unknown_topic_is_kept_raw_with_its_items() -> None:
    event = to_event(
        note("tns1:Monitoring/ProcessorUsage", {"Value": "97.5"}, operation="Changed"),
        received=NOW,
    )
    assert event is not None
    assert event.kind == RAW_KIND
    assert event.data == {
        "topic": "tns1:Monitoring/ProcessorUsage",
        "operation": "Changed",
        "data": {"Value": "97.5"},
    }


def test_property_dump_of_unknown_topics_after_subscribing_is_dropped() -> None:
    initial = note("tns1:Monitoring/ProcessorUsage", {"Value": "3"}, operation="Initialized")
    assert to_event(initial, received=NOW) is None


def test_initial_state_of_a_known_topic_is_kept_and_marked() -> None:
    event = to_event(
        note("tns1:VideoSource/SignalLoss", {"State": "true"}, operation="Initialized"),
        received=NOW,
    )
    assert event is not None
    assert event.data["initial"] is True
    assert event.data["active"] is True


def test_motion_is_not_a_maintenance_event() -> None:
    assert to_event(note("tns1:VideoSource/MotionAlarm", {"State": "true"}), received=NOW) is None
    motion = note("tns1:RuleEngine/CellMotionDetector/Motion", {"IsMotion": "true"})
    assert to_event(motion, received=NOW) is None


def test_state_that_cannot_be_read_is_none_and_the_rest_is_kept() -> None:
    event = to_event(
        note("tns1:VideoSource/SignalLoss", {"State": "maybe", "Extra": "x"}), received=NOW
    )
    assert event is not None
    assert event.data["active"] is None
    missing = to_event(note("tns1:VideoSource/SignalLoss", {"Extra": "x"}), received=NOW)
    assert missing is not None
    assert missing.data["active"] is None
    assert missing.data["data"] == {"Extra": "x"}


def test_device_time_is_kept_as_evidence() -> None:
    camera_time = NOW - timedelta(hours=1)
    event = to_event(
        note("tns1:VideoSource/SignalLoss", {"State": "true"}, utc_time=camera_time), received=NOW
    )
    assert event is not None
    assert event.data["device_time"] == camera_time.isoformat()


@given(
    topic=st.text(min_size=1, max_size=600),
    items=st.dictionaries(st.text(max_size=100), st.text(max_size=2000), max_size=50),
)
def test_any_notification_becomes_a_valid_event_or_nothing(
    topic: str, items: dict[str, str]
) -> None:
    event = to_event(note(topic, items, source=items), received=NOW)
    if event is not None:
        assert len(event.data["topic"]) <= 256
        assert len(event.data.get("data", {})) <= 16
        assert all(len(v) <= 256 for v in event.data.get("source", {}).values())


# -- reading the library's objects ----------------------------------------------------------


def test_vendor_message_zeep_left_as_raw_xml_is_read() -> None:
    xml = (
        '<tt:Message xmlns:tt="http://www.onvif.org/ver10/schema" UtcTime="2026-11-23T11:00:00Z"'
        ' PropertyOperation="Changed"><tt:Source><tt:SimpleItem Name="InputToken" Value="DI1"/>'
        '</tt:Source><tt:Data><tt:SimpleItem Name="LogicalState" Value="true"/></tt:Data>'
        "</tt:Message>"
    )

    class Part:
        def __init__(self, value: object) -> None:
            self._value_1 = value

    class Message:
        Topic = Part("tns1:Device/Trigger/DigitalInput")
        Message = Part(etree.fromstring(xml))

    read = read_notification(Message())
    assert read == Notification(
        topic="tns1:Device/Trigger/DigitalInput",
        operation="Changed",
        utc_time=datetime(2026, 11, 23, 11, 0, tzinfo=UTC),
        source={"InputToken": "DI1"},
        data={"LogicalState": "true"},
    )


def test_message_without_topic_is_skipped() -> None:
    class Message:
        Topic = None
        Message = None

    assert read_notification(Message()) is None


# -- the lease --------------------------------------------------------------------------------


def test_lease_uses_the_cameras_own_times_so_its_skew_does_not_matter() -> None:
    camera_now = NOW + timedelta(hours=3)  # a camera three hours off
    ends = lease_end(
        current=camera_now,
        termination=camera_now + timedelta(seconds=300),
        received_at=1000.0,
        requested_s=60,
    )
    assert ends == 1300.0


def test_lease_without_times_assumes_the_request_was_granted() -> None:
    assert lease_end(current=None, termination=None, received_at=50.0, requested_s=60) == 110.0


def test_renew_only_when_the_next_pull_could_outlast_the_lease() -> None:
    # 300 s lease, pulls of 10 s, 10 s margin: renew from 280 s on, not before.
    assert not renew_due(now=279.0, ends_at=300.0, pull_timeout_s=10, margin_s=10)
    assert renew_due(now=280.0, ends_at=300.0, pull_timeout_s=10, margin_s=10)


def test_pulls_in_a_whole_lease_cause_one_renewal() -> None:
    """Simulated: a camera answering every pull after its full timeout, for one hour."""
    ends, renews, now = 300.0, 0, 0.0
    while now < 3600:
        if renew_due(now=now, ends_at=ends, pull_timeout_s=10, margin_s=10):
            renews += 1
            ends = now + 300
        now += 10  # one pull
    assert renews == 3600 // 280  # 12: one per 280 s, not 360 (one per pull)


def test_termination_request_relative_or_in_the_cameras_clock() -> None:
    assert termination_request(300, absolute=False) == "PT300S"
    camera_now = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    assert termination_request(60, absolute=True, camera_now=camera_now) == "2026-01-01T10:01:00Z"


def test_broken_relative_time_is_detected() -> None:
    assert ignores_relative_time(granted_s=0.0, requested_s=300)
    assert not ignores_relative_time(granted_s=299.0, requested_s=300)


# -- error translation at the probe boundary ----------------------------------------------------


def test_library_errors_become_our_few_failures() -> None:
    import aiohttp
    from onvif.exceptions import ONVIFAuthError, ONVIFError
    from zeep.exceptions import Fault, TransportError

    from agent.probes.base import AuthFailed, DeviceUnreachable, ProtocolError
    from agent.probes.onvif.events import translate

    # zeep's exception constructors carry no annotations.
    fault: Any = Fault
    transport: Any = TransportError
    not_authorized = fault("Sender not authorized", subcodes=["ter:NotAuthorized"])
    assert isinstance(translate(not_authorized, "x"), AuthFailed)
    assert isinstance(translate(fault("Action not supported"), "x"), ProtocolError)
    assert isinstance(translate(transport(status_code=401), "x"), AuthFailed)
    assert isinstance(translate(transport(status_code=500), "x"), ProtocolError)
    assert isinstance(translate(TimeoutError(), "x"), DeviceUnreachable)
    assert isinstance(translate(aiohttp.ClientConnectionError("refused"), "x"), DeviceUnreachable)
    assert isinstance(translate(ONVIFAuthError("no"), "x"), AuthFailed)
    wrapped = ONVIFError("connection reset")
    wrapped.__cause__ = ConnectionResetError("reset")
    assert isinstance(translate(wrapped, "x"), DeviceUnreachable)
    failure = translate(ValueError("bad date"), "PullMessages")
    assert isinstance(failure, ProtocolError)
    assert str(failure) == "PullMessages: ValueError: bad date"
