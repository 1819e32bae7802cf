"""Faults from device events (traps, ONVIF events, MQTT messages) and from table checks: the
pure verdicts, the track they move, and the shipped rules against what the agent really sends."""

from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from agent.probes.onvif.topics import RULES as ONVIF_TOPICS
from agent.probes.snmp_options import ContactKind
from server.faults.defaults import DEFAULT_RULE_DATA, default_rules
from server.faults.episodes import Change, Track, advance
from server.faults.rules import (
    AnyOf,
    CheckAbove,
    CheckIn,
    ErrorIs,
    EventMatch,
    Observation,
    Reported,
    Rule,
    Unreachable,
    compiled,
    condition_result,
    event_verdict,
    load_rules,
)
from wire.enums import ProbeErrorCode

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def poll(
    seconds: float, checks: dict[str, Any] | None = None, reachable: bool = True
) -> Observation:
    error = None if reachable else "device.unreachable"
    return Observation(ts=at(seconds), reachable=reachable, error_code=error, checks=checks or {})


def event(seconds: float, kind: str, **data: Any) -> Reported:
    return Reported(ts=at(seconds), kind=kind, data=data)


def run(
    rule: Rule, items: list[Observation | Reported], track: Track | None = None
) -> tuple[Track, list[tuple[Change, datetime | None]]]:
    track = track or Track()
    changes = []
    for item in items:
        result = advance(track, rule, item)
        track = result.track
        if result.change is not None:
            changes.append((result.change, result.at))
    return track, changes


# -- verdicts ---------------------------------------------------------------------------------


def test_an_event_says_failing_unless_it_carries_its_own_verdict_or_is_a_clear() -> None:
    match = EventMatch(
        kinds=("video.loss",),
        clear_kinds=("video.ok",),
        state=("active", "action"),
        key=("channel",),
    )
    started = event_verdict(match, "video.loss", {"action": "Start", "channel": 3})
    assert started is not None
    assert started.failing
    assert started.part == "3"
    assert started.stated
    stopped = event_verdict(match, "video.loss", {"action": "Stop", "channel": 3})
    assert stopped is not None
    assert not stopped.failing
    assert stopped.part == "3"
    onvif = event_verdict(match, "video.loss", {"active": False})
    assert onvif is not None
    assert not onvif.failing
    assert onvif.part is None
    bare = event_verdict(match, "video.loss", {"action": "garbled"})
    assert bare is not None
    assert bare.failing
    assert not bare.stated  # no verdict: a report
    cleared = event_verdict(match, "video.ok", {})
    assert cleared is not None
    assert not cleared.failing
    assert event_verdict(match, "door.opened", {"active": True}) is None


def test_state_items_are_found_by_dotted_path_and_garbage_is_no_verdict() -> None:
    match = EventMatch(kinds=("zone.fault",), state=("payload.state",), key=("payload.zone",))
    said = event_verdict(match, "zone.fault", {"payload": {"state": "restored", "zone": 7}})
    assert said is not None
    assert not said.failing
    assert said.part == "7"
    odd = event_verdict(match, "zone.fault", {"payload": "not a mapping"})
    assert odd is not None
    assert odd.failing
    assert odd.part is None


def test_a_star_watches_every_row_of_a_table() -> None:
    disks = CheckIn(check="hr_disk.*.status", values=("down",))
    running = {"hr_disk.disk1.status": "running", "hr_disk.disk2.status": "running"}
    assert condition_result(disks, poll(0, running)) is False
    assert condition_result(disks, poll(0, {**running, "hr_disk.disk3.status": "down"})) is True
    assert condition_result(disks, poll(0, {"hr_disk.disk1.capacity_gib": 900})) is None
    assert condition_result(disks, poll(0, {"hr_disk.disk1.status": None})) is None
    hot = CheckAbove(check="*.celsius", limit=55)
    assert (
        condition_result(hot, poll(0, {"sensor.cpu.celsius": 71.5, "sensor.psu.celsius": 40}))
        is True
    )
    assert condition_result(hot, poll(0, {"sensor.cpu.celsius": "n/a"})) is None


def test_any_of_fails_on_one_and_passes_only_when_one_could_tell() -> None:
    power = CheckIn(check="syno.power_failed", values=(True,))
    cond = AnyOf(conditions=(power, CheckIn(check="axis.power.*.status", values=("failure",))))
    assert condition_result(cond, poll(0, {"syno.power_failed": False})) is False
    assert (
        condition_result(
            cond, poll(0, {"syno.power_failed": False, "axis.power.psu1.status": "failure"})
        )
        is True
    )
    assert condition_result(cond, poll(0, {"other": 1})) is None
    assert condition_result(cond, poll(0, {"syno.power_failed": True}, reachable=False)) is None


def test_a_rule_needs_something_to_watch() -> None:
    with pytest.raises(ValidationError, match="condition, events, or both"):
        load_rules([{"code": "camera.tamper"}])
    with pytest.raises(ValidationError, match="kinds"):
        load_rules([{"code": "camera.tamper", "events": {"kinds": []}}])


# -- the track --------------------------------------------------------------------------------

TAMPER = Rule.model_validate({
    "code": "camera.tamper", "classes": ["camera"],
    "events": {"kinds": ["camera.tamper"], "state": ["active"], "quiet_seconds": 600},
})  # fmt: skip


def test_a_reported_fault_opens_at_once_and_its_clear_recovers_it_after_the_recovery_polls() -> (
    None
):
    track, changes = run(TAMPER, [poll(0), event(5, "camera.tamper", active=True)])
    assert changes == [(Change.OPENED, at(5))]
    assert track.open
    assert track.parts == ("",)
    track, changes = run(
        TAMPER, [poll(10), poll(20), event(25, "camera.tamper", active=False)], track
    )
    assert changes == []  # still failing on the polls: nobody said it was over
    track, changes = run(TAMPER, [poll(30), poll(40)], track)
    assert changes == [(Change.RECOVERED, at(25))]  # the clear and two polls: recover_after 3
    assert not track.open
    assert track.parts == ()


def test_tamper_again_inside_the_recovery_window_is_one_episode() -> None:
    on, off = "camera.tamper", "camera.tamper"
    items: list[Observation | Reported] = [
        event(5, on, active=True), event(8, off, active=False), poll(10),
        event(12, on, active=True), event(14, off, active=False), poll(20), poll(30),
    ]  # fmt: skip
    track, changes = run(TAMPER, items)
    assert [c for c, _ in changes] == [Change.OPENED, Change.RECURRED, Change.RECOVERED]
    assert not track.open


def test_a_report_without_verdict_ends_after_quiet_at_an_answered_poll() -> None:
    track, changes = run(TAMPER, [event(0, "camera.tamper"), poll(300), poll(599)])
    assert changes == [(Change.OPENED, at(0))]
    track, changes = run(TAMPER, [poll(610, reachable=False), poll(620)], track)
    assert changes == []  # an unanswered poll says nothing; the first answered one starts recovery
    track, changes = run(TAMPER, [poll(630), poll(640)], track)
    assert changes == [(Change.RECOVERED, at(620))]


def test_a_report_again_restarts_the_quiet_time() -> None:
    track, _ = run(TAMPER, [event(0, "camera.tamper"), event(500, "camera.tamper")])
    track, changes = run(TAMPER, [poll(700), poll(710), poll(720)], track)
    assert changes == []
    assert track.open


PORTS = Rule.model_validate({
    "code": "network.port_down", "classes": ["switch"],
    "events": {"kinds": ["link.down"], "clear_kinds": ["link.up"], "key": ["if_index"]},
})  # fmt: skip


def test_each_part_clears_on_its_own() -> None:
    track, changes = run(
        PORTS, [event(0, "link.down", if_index=3), event(1, "link.down", if_index=7)]
    )
    assert changes == [(Change.OPENED, at(0))]
    assert track.parts == ("3", "7")
    track, changes = run(
        PORTS, [event(2, "link.up", if_index=3), poll(10), poll(20), poll(30)], track
    )
    assert changes == []  # port 7 is still down
    track, changes = run(PORTS, [event(40, "link.up", if_index=7), poll(50), poll(60)], track)
    assert changes == [(Change.RECOVERED, at(40))]


def test_a_stale_event_moves_nothing() -> None:
    track, _ = run(PORTS, [event(100, "link.up", if_index=1)])
    before = track
    track, changes = run(PORTS, [event(50, "link.down", if_index=1)], track)
    assert changes == []
    assert track == before


UPS_AC = next(r for r in default_rules().for_class("ups") if r.code == "power.ac_lost")


def test_a_trap_opens_at_once_and_the_polled_check_closes_it() -> None:
    track, changes = run(UPS_AC, [poll(0, {"ups.on_battery": False}), event(3, "ups.on_battery")])
    assert changes == [(Change.OPENED, at(3))]
    # The UPS-MIB has no "back on mains" trap: the polls' own check ends it.
    mains = {"ups.on_battery": False}
    track, changes = run(UPS_AC, [poll(10, mains), poll(20, mains), poll(30, mains)], track)
    assert changes == [(Change.RECOVERED, at(10))]


def test_old_tracks_without_event_memory_still_load() -> None:
    data = Track(open=True, started_at=T0, occurrences=1, last_ts=T0).to_json()
    del data["parts"], data["quiet_from"]
    assert Track.from_json(data) == Track(open=True, started_at=T0, occurrences=1, last_ts=T0)


# -- the shipped rules read what the agent sends ----------------------------------------------

ONVIF_CHECKS = {"stream.ok", "camera.image_abnormal", "camera.clock_drift", "recording.ok"}


def _yaml(pattern: str) -> list[dict[str, Any]]:
    return [yaml.safe_load(p.read_text()) for p in sorted(ROOT.glob(pattern))]


def _emitted_checks() -> set[str]:
    """Check names the agent's SNMP profiles and MQTT templates produce (a row as `row1`)."""
    names = set(ONVIF_CHECKS)
    for profile in _yaml("agent/profiles/snmp/*.yaml"):
        names.update(s["name"] for s in profile.get("scalars", []))
        names.update(f"{s['name']}_over_limit" for s in profile.get("scalars", []) if "limit" in s)
        for table in profile.get("tables", []):
            names.update(f"{table['name']}.row1.{c['name']}" for c in table["columns"])
            names.update(
                f"{table['name']}.row1.{c['name']}_over_limit"
                for c in table["columns"]
                if "limit" in c
            )
            if "contact" in table:  # contact.<kind>.<label>.…, the kind from config or name
                names.update(
                    f"contact.{kind.value}.row1.{leaf}"
                    for kind in ContactKind
                    for leaf in ("closed", "abnormal")
                )
    for template in _yaml("agent/probes/mqtt/templates/*.yaml"):
        for topic in template.get("state", []):
            names.update(topic["checks"])
    return names


def _emitted_kinds() -> set[str]:
    kinds = {t.kind for t in ONVIF_TOPICS}
    for profile in _yaml("agent/profiles/snmp/*.yaml"):
        kinds.update(t["kind"] for t in profile.get("traps", []))
    for template in _yaml("agent/probes/mqtt/templates/*.yaml"):
        for topic in template.get("events", []):
            kinds.update(k["kind"] for k in topic["kinds"].values())
    return kinds


def _checks_of(condition: Any) -> list[str]:
    if isinstance(condition, AnyOf):
        return [c.check for c in condition.conditions]
    if isinstance(condition, CheckIn | CheckAbove):
        return [condition.check]
    return []


@pytest.mark.parametrize("rule", default_rules().rules, ids=lambda r: f"{r.code}@{r.classes}")
def test_every_shipped_rule_reads_a_check_or_event_the_agent_sends(rule: Rule) -> None:
    emitted = _emitted_checks()
    for check in _checks_of(rule.condition):
        probe = Observation(ts=T0, reachable=True, checks=dict.fromkeys(emitted, 0))
        single = CheckAbove(check=check, limit=-1)
        assert condition_result(single, probe) is True, f"{rule.code}: nothing sends {check}"
    if rule.events is not None:
        kinds = _emitted_kinds()
        assert set(rule.events.kinds) <= kinds, f"{rule.code}: {set(rule.events.kinds) - kinds}"
        assert set(rule.events.clear_kinds) <= kinds


def test_traps_onvif_and_mqtt_events_each_open_some_shipped_fault() -> None:
    watched = {k for r in DEFAULT_RULE_DATA if "events" in r for k in r["events"]["kinds"]}
    assert {"video.tamper", "camera.tamper", "link.down", "ups.on_battery", "zone.fault",
            "reader.fault", "storage.failed", "storage.disk_failed"} <= watched  # fmt: skip


# -- the compiled tests give condition_result's verdicts --------------------------------------

NAMES = ["ups.on_battery", "hr_disk.d1.status", "hr_disk.d2.status", "sensor.cpu.celsius",
         "syno.temperature_c", "a.b", "x"]  # fmt: skip
PATTERNS = [*NAMES, "hr_disk.*.status", "*.celsius", "*.temperature_c", "*", "a*b*", "hr_disk.*"]
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(-100, 100),
                   st.sampled_from(["down", "running", "low", "1"]))  # fmt: skip
LEAVES = st.one_of(
    st.builds(CheckIn, check=st.sampled_from(PATTERNS),
              values=st.lists(VALUES.filter(lambda v: v is not None), min_size=1, max_size=3)
              .map(tuple)),
    st.builds(CheckAbove, check=st.sampled_from(PATTERNS), limit=st.floats(-50, 50),
              absolute=st.booleans()),
)  # fmt: skip
CONDITIONS = st.one_of(
    LEAVES,
    st.builds(AnyOf, conditions=st.lists(LEAVES, min_size=1, max_size=3).map(tuple)),
    st.just(Unreachable()),
    st.builds(ErrorIs, code=st.sampled_from(list(ProbeErrorCode))),
)
OBSERVATIONS = st.builds(
    Observation,
    ts=st.just(T0),
    reachable=st.booleans(),
    error_code=st.one_of(st.none(), st.sampled_from([c.value for c in ProbeErrorCode])),
    checks=st.dictionaries(st.sampled_from(NAMES), VALUES, max_size=5),
)


@given(condition=CONDITIONS, obs=OBSERVATIONS)
def test_the_compiled_test_agrees_with_condition_result(condition: Any, obs: Observation) -> None:
    assert compiled(condition)(obs) == condition_result(condition, obs)


def _naive(condition: Any, obs: Observation) -> bool | None:
    """The rule's meaning written plainly: fnmatch over every name, any fails, some told."""
    if isinstance(condition, Unreachable | ErrorIs) or obs.error_code == "broker.unreachable":
        return condition_result(condition, obs)
    if not obs.reachable:
        return None
    parts = condition.conditions if isinstance(condition, AnyOf) else (condition,)
    verdicts = []
    for part in parts:
        for name, value in obs.checks.items():
            if value is None or not fnmatchcase(name, part.check):
                continue
            if isinstance(part, CheckIn):
                verdicts.append(any(type(value) is type(v) and value == v for v in part.values))
            elif isinstance(value, int | float) and not isinstance(value, bool):
                verdicts.append((abs(value) if part.absolute else value) > part.limit)
    return True if any(verdicts) else (False if verdicts else None)


@given(condition=CONDITIONS, obs=OBSERVATIONS)
def test_patterns_mean_what_fnmatch_means(condition: Any, obs: Observation) -> None:
    assert condition_result(condition, obs) == _naive(condition, obs)
