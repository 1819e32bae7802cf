"""Fault rules as data: conditions, which rules watch which class, severity, bad input."""

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from server.faults.defaults import DEFAULT_RULE_DATA, DEFAULT_SEVERITY, default_rules
from server.faults.rules import (
    CheckAbove,
    CheckIn,
    ErrorIs,
    FaultCode,
    Observation,
    Unreachable,
    condition_result,
    load_rules,
    severity_for,
    validate_severity_map,
)
from server.sla import Severity
from wire.enums import ProbeErrorCode
from wire.schema import CheckValue

TS = datetime(2026, 11, 23, tzinfo=UTC)


def obs(
    reachable: bool = True, error: str | None = None, checks: dict[str, CheckValue] | None = None
) -> Observation:
    return Observation(ts=TS, reachable=reachable, error_code=error, checks=checks or {})


def test_unreachable_condition_ignores_a_refused_login() -> None:
    cond = Unreachable()
    assert condition_result(cond, obs()) is False
    assert condition_result(cond, obs(False, "device.unreachable")) is True
    assert condition_result(cond, obs(False, "probe.timeout")) is True
    assert condition_result(cond, obs(False, "device.auth_failed")) is False


def test_error_condition_is_unknown_while_the_device_is_silent() -> None:
    cond = ErrorIs(code=ProbeErrorCode.AUTH_FAILED)
    assert condition_result(cond, obs(False, "device.auth_failed")) is True
    assert condition_result(cond, obs(True)) is False
    assert condition_result(cond, obs(False, "device.unreachable")) is None


def test_check_conditions_need_the_check_and_an_answer() -> None:
    on_battery = CheckIn(check="ups.on_battery", values=(True,))
    assert condition_result(on_battery, obs(checks={"ups.on_battery": True})) is True
    assert condition_result(on_battery, obs(checks={"ups.on_battery": False})) is False
    assert condition_result(on_battery, obs()) is None  # not reported
    assert condition_result(on_battery, obs(False, "device.unreachable")) is None
    # 1 is not True: a numeric check does not match a flag rule by accident.
    assert condition_result(on_battery, obs(checks={"ups.on_battery": 1})) is False
    drift = CheckAbove(check="clock.offset_s", limit=60, absolute=True)
    assert condition_result(drift, obs(checks={"clock.offset_s": -90.0})) is True
    assert condition_result(drift, obs(checks={"clock.offset_s": 12})) is False
    assert condition_result(drift, obs(checks={"clock.offset_s": "n/a"})) is None
    assert condition_result(drift, obs(checks={"clock.offset_s": True})) is None


def test_alarm_panels_get_their_own_offline_code_not_the_generic_one() -> None:
    rules = default_rules()
    panel = {r.code for r in rules.for_class("alarm_panel")}
    assert FaultCode.ALARM_PANEL_OFFLINE in panel
    assert FaultCode.DEVICE_UNREACHABLE not in panel
    camera = {r.code for r in rules.for_class("camera")}
    assert FaultCode.DEVICE_UNREACHABLE in camera
    assert FaultCode.CAMERA_STREAM_DOWN in camera
    assert FaultCode.STORAGE_RECORDING_STOPPED not in camera


def test_severity_follows_the_seeds_and_client_overrides_win() -> None:
    rules = default_rules()

    def sev(code: str, cls: str | None, overrides: dict[str, Severity] | None = None) -> Severity:
        return severity_for(
            code, cls, rules=rules, defaults=DEFAULT_SEVERITY, overrides=overrides or {}
        )

    assert sev("device.unreachable", "camera") is Severity.GENERAL
    assert sev("device.unreachable", "nvr") is Severity.EMERGENCY  # recorder down: paralysed
    assert sev("alarm.panel_offline", "alarm_panel") is Severity.EMERGENCY
    assert sev("access.controller_offline", "access_controller") is Severity.GENERAL
    assert sev("site.system_paralysed", None) is Severity.EMERGENCY
    assert (
        sev("device.unreachable", "camera", {"device.unreachable@camera": Severity.EMERGENCY})
        is Severity.EMERGENCY
    )
    assert (
        sev("device.unreachable", "nvr", {"device.unreachable": Severity.GENERAL})
        is Severity.GENERAL
    )


def test_a_bad_rule_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError, match=r"rules\.0\.confirm_after"):
        load_rules(
            [
                {
                    "code": "device.unreachable",
                    "condition": {"kind": "unreachable"},
                    "confirm_after": 0,
                }
            ]
        )
    with pytest.raises(ValidationError, match="condition"):
        load_rules([{"code": "device.unreachable", "condition": {"kind": "telepathy"}}])
    with pytest.raises(ValidationError, match=r"two rules for device\.unreachable on camera"):
        load_rules(
            [
                *DEFAULT_RULE_DATA,
                {
                    "code": "device.unreachable",
                    "classes": ["camera"],
                    "condition": {"kind": "unreachable"},
                },
            ]
        )


def test_severity_map_input_is_checked() -> None:
    codes = [c.value for c in FaultCode]
    assert validate_severity_map({"device.unreachable@ups": "emergency"}, known_codes=codes) == {
        "device.unreachable@ups": Severity.EMERGENCY
    }
    with pytest.raises(ValueError, match="unknown fault code"):
        validate_severity_map({"device.melted": "general"}, known_codes=codes)
    with pytest.raises(ValueError, match="unknown device class"):
        validate_severity_map({"device.unreachable@toaster": "general"}, known_codes=codes)
    with pytest.raises(ValueError, match="severity must be one of"):
        validate_severity_map({"device.unreachable": "apocalyptic"}, known_codes=codes)


@pytest.mark.parametrize(
    ("code", "device_class", "checks", "verdict"),
    [
        ("env.contact_abnormal", "sensor", {"contact.door.server_room_door.abnormal": True}, True),
        ("env.contact_abnormal", "ups", {"contact.generic.input_1.abnormal": False}, False),
        ("env.smoke_alarm", "sensor", {"contact.smoke.smoke_detector.abnormal": True}, True),
        ("env.flood_alarm", "sensor", {"contact.flood.water_leak.abnormal": True}, True),
        ("device.tamper", "sensor", {"contact.tamper.cover.abnormal": True}, True),
        ("power.input_lost", "switch", {"power_input.pwr_b_dc_input.ok": False}, True),
        ("env.temperature_high", "nvr", {"qnap.cpu.degrees_c_over_limit": True}, True),
        ("env.temperature_high", "nvr", {"qnap.cpu.degrees_c": 61}, None),  # not *.celsius
        ("storage.disk_failed", "nvr", {"syno.disk.disk_3.health_status": "failing"}, True),
        ("storage.disk_failed", "nvr", {"syno.raid.storage_pool_1.status": "degraded"}, True),
        ("storage.disk_failed", "nvr", {"qnap.disk.hdd2.status": "rw_error"}, True),
    ],
)
def test_field_device_rules_read_what_the_new_profiles_send(
    code: str, device_class: str, checks: dict[str, CheckValue], verdict: bool | None
) -> None:
    rule = next(r for r in default_rules().for_class(device_class) if r.code == code)
    assert rule.verdict(obs(checks=checks)) is verdict


def test_smoke_and_flood_contacts_are_emergencies_doors_are_not() -> None:
    severities = {d["code"]: d.get("severity", "general") for d in DEFAULT_RULE_DATA}
    assert severities["env.smoke_alarm"] == severities["env.flood_alarm"] == "emergency"
    assert severities["env.contact_abnormal"] == "general"
