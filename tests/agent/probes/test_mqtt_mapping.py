"""Payload mapping: every shipped template, every way a payload can be wrong."""

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.probes.mqtt.mapping import (
    Availability,
    AvailabilityRule,
    CheckRule,
    EventReading,
    Malformation,
    MalformedPayload,
    StateRule,
    StateUpdate,
    builtin_templates,
    read,
    template,
    template_names,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "mqtt"
LIMIT = 64 * 1024


def load_fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return data


def test_every_template_has_a_fixture_and_binds_its_topics() -> None:
    assert set(template_names()) == {
        "access_controller",
        "alarm_panel",
        "generic_json",
        "tasmota",
        "zigbee2mqtt",
    }
    for name in template_names():
        fixture = load_fixture(name)
        bound = template(name).bind(fixture["topic"])
        for message in fixture["messages"]:
            assert message["topic"] in bound.routes, (name, message["topic"])
        assert all("{topic}" not in t for t in bound.routes)


@pytest.mark.parametrize("name", sorted(builtin_templates()))
def test_template_fixture_maps_to_expected_checks_and_events(name: str) -> None:
    fixture = load_fixture(name)
    bound = template(name).bind(fixture["topic"])
    checks: dict[str, Any] = {}
    kinds: list[tuple[str, bool]] = []
    online: bool | None = None
    for message in fixture["messages"]:
        payload = message["payload"]
        raw = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        reading = read(bound.routes[message["topic"]], raw, max_bytes=LIMIT)
        if isinstance(reading, StateUpdate):
            checks.update(reading.checks)
        elif isinstance(reading, Availability):
            online = reading.online
        elif isinstance(reading, EventReading):
            kinds.append((reading.kind, reading.maintenance))
    assert checks == fixture["expected_checks"]
    assert online is True
    assert kinds == [tuple(k) for k in fixture.get("expected_events", [])]


DOOR = template("access_controller").bind("site/a/door-1")
STATE = DOOR.routes["site/a/door-1/state"]
STATUS = DOOR.routes["site/a/door-1/status"]
EVENT = DOOR.routes["site/a/door-1/event"]


def test_state_reads_nested_paths_and_maps_words() -> None:
    payload = (
        b'{"door": "closed", "lock": "locked", "power": {"ac": false}, "battery": {"voltage": 12}}'
    )
    assert read(STATE, payload, max_bytes=LIMIT) == StateUpdate(
        {"door.open": False, "door.locked": True, "power.ac": False, "battery.voltage": 12.0}
    )


def test_missing_and_unknown_fields_are_left_out() -> None:
    reading = read(STATE, b'{"tamper": true, "vendor_extra": {"x": 1}}', max_bytes=LIMIT)
    assert reading == StateUpdate({"tamper": True})


def test_null_value_is_kept_as_unknown() -> None:
    assert read(STATE, b'{"tamper": null}', max_bytes=LIMIT) == StateUpdate({"tamper": None})


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        (b"\xff\xfe", Malformation.NOT_UTF8),
        (b"door open", Malformation.NOT_JSON),
        (b'{"door": "open"', Malformation.NOT_JSON),
        (b'{"battery": {"voltage": NaN}}', Malformation.NOT_JSON),
        (b'{"battery": {"voltage": Infinity}}', Malformation.NOT_JSON),
        (b"[1, 2]", Malformation.NOT_OBJECT),
        (b"42", Malformation.NOT_OBJECT),
        (b'{"tamper": "yes"}', Malformation.WRONG_TYPE),
        (b'{"tamper": 1}', Malformation.WRONG_TYPE),
        (b'{"battery": {"voltage": "12.1"}}', Malformation.WRONG_TYPE),
        (b'{"battery": {"voltage": true}}', Malformation.WRONG_TYPE),
        (b'{"door": "ajar"}', Malformation.UNKNOWN_VALUE),
        (b'{"door": 1}', Malformation.UNKNOWN_VALUE),
    ],
)
def test_bad_state_payload_is_malformed(payload: bytes, kind: Malformation) -> None:
    with pytest.raises(MalformedPayload) as info:
        read(STATE, payload, max_bytes=LIMIT)
    assert info.value.kind is kind


def test_payload_over_the_limit_is_refused_before_decoding() -> None:
    with pytest.raises(MalformedPayload) as info:
        read(STATE, b"{" + b" " * 100 + b"}", max_bytes=64)
    assert info.value.kind is Malformation.TOO_LARGE
    assert "102 bytes" in str(info.value)


def test_empty_payload_is_a_cleared_topic() -> None:
    assert read(STATE, b"", max_bytes=LIMIT) is None
    assert read(STATUS, b"", max_bytes=LIMIT) is None


@pytest.mark.parametrize(
    ("payload", "online"),
    [
        (b"online", True),
        (b"offline", False),
        (b" online\n", True),
        (b'{"state": "offline"}', False),
        (b'{"state": "online", "since": 5}', True),
    ],
)
def test_availability_as_word_or_json(payload: bytes, online: bool) -> None:
    reading = read(STATUS, payload, max_bytes=LIMIT)
    assert isinstance(reading, Availability)
    assert reading.online is online


@pytest.mark.parametrize("payload", [b"maybe", b'{"state": "sleeping"}', b'{"up": true}', b"{"])
def test_unknown_availability_is_malformed(payload: bytes) -> None:
    with pytest.raises(MalformedPayload):
        read(STATUS, payload, max_bytes=LIMIT)


def test_availability_words_are_configurable() -> None:
    rule = AvailabilityRule(topic="t", online=["1"], offline=["0"])
    assert read(rule, b"0", max_bytes=LIMIT) == Availability(online=False, word="0")


def test_event_maps_kind_and_maintenance_flag() -> None:
    reading = read(EVENT, b'{"type": "door_forced", "door": 2}', max_bytes=LIMIT)
    assert reading == EventReading(
        kind="door.forced", maintenance=False, data={"type": "door_forced", "door": 2}
    )
    fault = read(EVENT, b'{"type": "tamper"}', max_bytes=LIMIT)
    assert isinstance(fault, EventReading)
    assert fault.maintenance is True


def test_unknown_event_type_is_kept_not_dropped() -> None:
    reading = read(EVENT, b'{"type": "firmware_says_hi"}', max_bytes=LIMIT)
    assert isinstance(reading, EventReading)
    assert reading.kind == "unknown"
    assert reading.data == {"type": "firmware_says_hi"}


@pytest.mark.parametrize("payload", [b'{"kind": "door_forced"}', b'{"type": 3}'])
def test_event_without_type_is_malformed(payload: bytes) -> None:
    with pytest.raises(MalformedPayload) as info:
        read(EVENT, payload, max_bytes=LIMIT)
    assert info.value.kind is Malformation.WRONG_TYPE


def test_text_state_reads_the_whole_payload() -> None:
    rule = StateRule(
        topic="t",
        format="text",
        checks={"relay.on": CheckRule(values={"ON": True, "OFF": False})},
    )
    assert read(rule, b"ON\n", max_bytes=LIMIT) == StateUpdate({"relay.on": True})
    with pytest.raises(MalformedPayload):
        read(rule, b"HALF", max_bytes=LIMIT)


def test_long_text_check_is_truncated() -> None:
    rule = StateRule(topic="t", checks={"status": CheckRule(path="s")})
    reading = read(rule, json.dumps({"s": "x" * 1000}).encode(), max_bytes=LIMIT)
    assert isinstance(reading, StateUpdate)
    assert reading.checks["status"] == "x" * 200


ALL_RULES = [rule for t in builtin_templates().values() for rule in t.bind("d").routes.values()]


@given(payload=st.binary(max_size=300), index=st.integers(0, len(ALL_RULES) - 1))
def test_any_bytes_give_a_reading_or_a_malformed_payload(payload: bytes, index: int) -> None:
    with contextlib.suppress(MalformedPayload):
        read(ALL_RULES[index], payload, max_bytes=LIMIT)


KEYS = st.sampled_from(
    ["door", "tamper", "battery", "power", "state", "type", "armed", "low", "ac"]
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False)
    | st.sampled_from(["open", "closed", "online", "away", "door_forced", "ON", ""]),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=6,
)


@given(
    doc=st.dictionaries(KEYS, json_values, max_size=4),
    index=st.integers(0, len(ALL_RULES) - 1),
)
def test_any_json_object_gives_a_reading_or_a_malformed_payload(
    doc: dict[str, Any], index: int
) -> None:
    with contextlib.suppress(MalformedPayload):
        read(ALL_RULES[index], json.dumps(doc).encode(), max_bytes=LIMIT)
