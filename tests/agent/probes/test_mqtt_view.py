"""Per-device state and liveness rules: LWT, silence, malformed data, event hand-out."""

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.probes.base import DeviceUnreachable, ProtocolError
from agent.probes.mqtt.mapping import (
    Availability,
    EventReading,
    Malformation,
    MalformedPayload,
    StateUpdate,
)
from agent.probes.mqtt.view import MAX_PENDING_EVENTS, DeviceView, event_of
from wire.schema import MAX_EVENTS_PER_SAMPLE

TS = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
FORCED = EventReading(kind="door.forced", maintenance=False, data={"type": "door_forced"})


def test_state_updates_merge_and_report_liveness_checks() -> None:
    view = DeviceView()
    view.apply(Availability(online=True, word="online"), at=10.0, ts=TS)
    view.apply(StateUpdate({"door.open": False, "tamper": False}), at=11.0, ts=TS)
    view.apply(StateUpdate({"door.open": True}), at=12.0, ts=TS)
    result = view.take_result(now=15.0, watching_since=0.0, silence_timeout=60.0)
    assert result.checks == {
        "door.open": True,
        "tamper": False,
        "mqtt.online": True,
        "mqtt.silent_s": 3.0,
        "mqtt.malformed": 0,
        "mqtt.reconnects": 0,
    }
    assert result.events == []


def test_nothing_heard_yet_is_not_an_error_before_the_silence_timeout() -> None:
    result = DeviceView().take_result(now=5.0, watching_since=0.0, silence_timeout=60.0)
    assert result.checks == {
        "mqtt.online": None,
        "mqtt.silent_s": None,
        "mqtt.malformed": 0,
        "mqtt.reconnects": 0,
    }


def test_nothing_heard_for_the_silence_timeout_is_unreachable() -> None:
    with pytest.raises(DeviceUnreachable, match="no message for 60 s"):
        DeviceView().take_result(now=60.0, watching_since=0.0, silence_timeout=60.0)


def test_silence_after_messages_is_unreachable_and_a_message_brings_it_back() -> None:
    view = DeviceView()
    view.apply(StateUpdate({"tamper": False}), at=100.0, ts=TS)
    view.take_result(now=159.0, watching_since=0.0, silence_timeout=60.0)
    with pytest.raises(DeviceUnreachable, match=r"silent for 61 s \(limit 60 s\)"):
        view.take_result(now=161.0, watching_since=0.0, silence_timeout=60.0)
    view.apply(StateUpdate({"tamper": True}), at=170.0, ts=TS)
    result = view.take_result(now=171.0, watching_since=0.0, silence_timeout=60.0)
    assert result.checks["tamper"] is True


def test_without_a_silence_timeout_silence_is_never_unreachable() -> None:
    view = DeviceView()
    view.apply(StateUpdate({"tamper": False}), at=0.0, ts=TS)
    result = view.take_result(now=1e9, watching_since=0.0, silence_timeout=None)
    assert result.checks["mqtt.silent_s"] == 1e9


def test_lwt_offline_is_unreachable_until_online_again() -> None:
    view = DeviceView()
    view.apply(StateUpdate({"door.open": False}), at=1.0, ts=TS)
    view.apply(Availability(online=False, word="offline"), at=2.0, ts=TS)
    with pytest.raises(DeviceUnreachable, match="'offline' \\(LWT\\)") as info:
        view.take_result(now=3.0, watching_since=0.0, silence_timeout=None)
    assert not info.value.reachable
    view.apply(Availability(online=True, word="online"), at=4.0, ts=TS)
    assert view.take_result(now=5.0, watching_since=0.0, silence_timeout=None).checks["mqtt.online"]


def test_back_online_after_the_lwt_counts_a_reconnect_even_between_polls() -> None:
    view = DeviceView()
    view.apply(Availability(online=True, word="online"), at=1.0, ts=TS)  # retained: no reconnect
    view.apply(Availability(online=True, word="online"), at=2.0, ts=TS)  # re-sent on resubscribe
    assert (
        view.take_result(now=3.0, watching_since=0.0, silence_timeout=None).checks[
            "mqtt.reconnects"
        ]
        == 0
    )
    for at in (4.0, 6.0):  # two flaps before the next poll: the poll sees online both times
        view.apply(Availability(online=False, word="offline"), at=at, ts=TS)
        view.apply(Availability(online=True, word="online"), at=at + 1, ts=TS)
    result = view.take_result(now=8.0, watching_since=0.0, silence_timeout=None)
    assert result.checks["mqtt.online"] is True
    assert result.checks["mqtt.reconnects"] == 2


def test_offline_wins_over_a_recent_message() -> None:
    """An LWT is itself a message; silence math must not call the device fine because of it."""
    view = DeviceView()
    view.apply(Availability(online=False, word="offline"), at=100.0, ts=TS)
    with pytest.raises(DeviceUnreachable):
        view.take_result(now=100.0, watching_since=0.0, silence_timeout=60.0)


def test_malformed_message_fails_one_poll_then_counts() -> None:
    view = DeviceView()
    view.apply(StateUpdate({"tamper": False}), at=1.0, ts=TS)
    bad = MalformedPayload(Malformation.NOT_JSON, "not JSON")
    assert view.reject(bad, at=2.0, topic="d/state") is True
    assert view.reject(bad, at=3.0, topic="d/state") is False
    with pytest.raises(ProtocolError, match="2 malformed message") as info:
        view.take_result(now=4.0, watching_since=0.0, silence_timeout=60.0)
    assert info.value.reachable
    assert "d/state: not_json" in str(info.value)
    result = view.take_result(now=5.0, watching_since=0.0, silence_timeout=60.0)
    assert result.checks["tamper"] is False
    assert result.checks["mqtt.malformed"] == 2


def test_malformed_message_still_counts_as_heard() -> None:
    view = DeviceView()
    view.reject(MalformedPayload(Malformation.TOO_LARGE, "big"), at=50.0, topic="t")
    with pytest.raises(ProtocolError):
        view.take_result(now=60.0, watching_since=0.0, silence_timeout=30.0)


def test_events_are_handed_out_once_with_their_receipt_time() -> None:
    view = DeviceView()
    view.apply(FORCED, at=1.0, ts=TS)
    result = view.take_result(now=2.0, watching_since=0.0, silence_timeout=None)
    assert [(e.kind, e.ts, e.data["maintenance"]) for e in result.events] == [
        ("door.forced", TS, False)
    ]
    assert result.events[0].data["payload"] == {"type": "door_forced"}
    assert view.take_result(now=3.0, watching_since=0.0, silence_timeout=None).events == []


def test_failed_poll_keeps_events_for_the_next_one() -> None:
    view = DeviceView()
    view.apply(FORCED, at=1.0, ts=TS)
    view.apply(Availability(online=False, word="offline"), at=2.0, ts=TS)
    with pytest.raises(DeviceUnreachable):
        view.take_result(now=3.0, watching_since=0.0, silence_timeout=None)
    view.apply(Availability(online=True, word="online"), at=4.0, ts=TS)
    assert len(view.take_result(now=5.0, watching_since=0.0, silence_timeout=None).events) == 1


def test_events_beyond_one_sample_wait_for_the_next_poll() -> None:
    view = DeviceView()
    for i in range(MAX_EVENTS_PER_SAMPLE + 5):
        view.apply(EventReading(kind="k", maintenance=False, data={"i": i}), at=1.0, ts=TS)
    first = view.take_result(now=2.0, watching_since=0.0, silence_timeout=None)
    second = view.take_result(now=2.0, watching_since=0.0, silence_timeout=None)
    assert len(first.events) == MAX_EVENTS_PER_SAMPLE
    assert [e.data["payload"]["i"] for e in second.events] == list(
        range(MAX_EVENTS_PER_SAMPLE, MAX_EVENTS_PER_SAMPLE + 5)
    )


def test_pending_events_are_bounded_and_drops_are_counted() -> None:
    view = DeviceView()
    for _ in range(MAX_PENDING_EVENTS + 3):
        view.apply(FORCED, at=1.0, ts=TS)
    result = view.take_result(now=2.0, watching_since=0.0, silence_timeout=None)
    assert result.checks["mqtt.events_dropped"] == 3
    assert len(view.pending) == MAX_PENDING_EVENTS - MAX_EVENTS_PER_SAMPLE


@given(
    last=st.floats(0, 1e6),
    gap=st.floats(0, 1e6),
    timeout=st.floats(0.001, 1e6),
)
def test_unreachable_exactly_when_silence_reaches_the_timeout(
    last: float, gap: float, timeout: float
) -> None:
    view = DeviceView()
    view.apply(StateUpdate({}), at=last, ts=TS)
    now = last + gap
    try:
        view.take_result(now=now, watching_since=0.0, silence_timeout=timeout)
    except DeviceUnreachable:
        assert now - last >= timeout
    else:
        assert now - last < timeout


def test_event_of_keeps_receipt_time_kind_maintenance_flag_and_payload() -> None:
    event = event_of(FORCED, ts=TS)
    assert (event.ts, event.kind) == (TS, "door.forced")
    assert event.data == {"maintenance": False, "payload": {"type": "door_forced"}}


def test_an_event_handed_elsewhere_counts_as_heard_but_rides_on_no_poll() -> None:
    view = DeviceView()
    view.heard(at=100.0)
    result = view.take_result(now=130.0, watching_since=0.0, silence_timeout=60.0)
    assert result.events == []
    assert result.checks["mqtt.silent_s"] == 30.0
    assert view.messages == 1


def test_liveness_news_on_first_status_and_flips_only() -> None:
    view = DeviceView()
    online, offline = Availability(True, "online"), Availability(False, "offline")
    news = []
    readings: list[Availability | StateUpdate] = [
        online, online, StateUpdate({"x": 1}), offline, offline, online,
    ]  # fmt: skip
    for reading in readings:
        view.apply(reading, at=1.0, ts=TS)
        news.append(view.take_liveness_change())
    assert news == [True, False, False, True, False, True]


def test_a_message_after_a_reported_silence_is_liveness_news() -> None:
    view = DeviceView()
    view.apply(StateUpdate({"x": 1}), at=0.0, ts=TS)
    assert not view.take_liveness_change()  # no availability topic: a message is no news
    with pytest.raises(DeviceUnreachable):
        view.take_result(now=100.0, watching_since=0.0, silence_timeout=60.0)
    view.heard(at=101.0)  # an event handed elsewhere counts too
    assert view.take_liveness_change()
    assert not view.take_liveness_change()
    view.apply(StateUpdate({"x": 2}), at=102.0, ts=TS)
    assert not view.take_liveness_change()  # only the first message after the silence


def test_newly_silent_once_per_silence() -> None:
    view = DeviceView()
    assert not view.newly_silent(now=59.0, watching_since=0.0, limit=60.0)
    assert view.newly_silent(now=60.0, watching_since=0.0, limit=60.0)  # never heard
    assert not view.newly_silent(now=61.0, watching_since=0.0, limit=60.0)  # said once
    view.apply(StateUpdate({"x": 1}), at=70.0, ts=TS)
    assert not view.newly_silent(now=129.0, watching_since=0.0, limit=60.0)
    assert view.newly_silent(now=130.0, watching_since=0.0, limit=60.0)
    assert not DeviceView().newly_silent(now=1e9, watching_since=0.0, limit=None)
