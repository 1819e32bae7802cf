"""Every signal reads check names the agent really emits: the names are derived from the shipped
SNMP profiles, the host probe's parsers on recorded smartctl output, and the check-name literals
of the probes' code; a pattern that matches none of them fails."""

import ast
import json
import re
from collections.abc import Iterator
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

from agent.probes import smart
from agent.probes.snmp_profiles import builtin_profiles
from server.predict.signals import CATALOGUE, Signal, spec_for

ROOT = Path(__file__).resolve().parents[3]
PROBES = ROOT / "agent" / "probes"
SMARTCTL = ROOT / "tests" / "fixtures" / "smartctl"
CHECK_NAME = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)+")
ROW = "row1"  # a table row's label: any segment


def _profile_checks() -> Iterator[tuple[str, bool]]:
    """(name, is a flag) of every scalar and table column of the shipped profiles."""
    for profile in builtin_profiles().profiles.values():
        for value in profile.scalars:
            yield value.name, value.kind == "flag"
        for table in profile.tables:
            for column in table.columns:
                yield f"{table.name}.{ROW}.{column.name}", column.kind == "flag"


def _host_checks() -> Iterator[tuple[str, bool]]:
    """The host probe's names, from its parsers on the recorded smartctl outputs."""
    for path in sorted(SMARTCTL.glob("*.json")):
        doc = json.loads(path.read_text())
        for name, value in smart.parse_smart(doc, "sda").items():
            yield name, isinstance(value, bool)
    for name in smart.filesystem_checks("/", 100, 40):
        yield name, False
    sensor = smart.hwmon_check("coretemp", "temp1", "41000")
    assert sensor is not None
    yield sensor[0], False


def _literal_checks() -> Iterator[tuple[str, bool]]:
    """String literals the probes use as check names: dict keys and `checks[...]` targets."""
    for path in sorted(PROBES.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            keys: list[ast.expr | None] = []
            if isinstance(node, ast.Dict):
                keys = list(node.keys)
            elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
                keys = [node.slice] if node.value.id == "checks" else []
            for key in keys:
                if (
                    isinstance(key, ast.Constant)
                    and isinstance(key.value, str)
                    and CHECK_NAME.fullmatch(key.value)
                ):
                    yield key.value, False


def emitted() -> dict[str, bool]:
    """Every check name the agent can emit (table rows as `row1`), and whether it is a flag."""
    found: dict[str, bool] = {}
    for name, flag in (*_profile_checks(), *_host_checks(), *_literal_checks()):
        found[name] = found.get(name, False) or flag
    return found


EMITTED = emitted()


def test_the_derivation_sees_each_source() -> None:
    # One name from each source: a profile table, a profile scalar, smartctl, a code literal.
    for name in (
        "hr_storage.row1.used_percent",
        "ups.battery.minutes_remaining",
        "host.disk.sda.reallocated_sectors",
        "host.disk.sda.media_errors",
        "picture.sharpness",
        "clock.offset_s",
        "system.uptime_s",
    ):
        assert name in EMITTED, name


@pytest.mark.parametrize(
    ("spec", "pattern"),
    [(spec, pattern) for spec in CATALOGUE for pattern in spec.patterns],
    ids=lambda v: v if isinstance(v, str) else v.signal.value,
)
def test_every_pattern_matches_a_check_the_agent_emits(spec: object, pattern: str) -> None:
    matched = [name for name in EMITTED if fnmatchcase(name, pattern)]
    assert matched, f"{pattern}: no probe or profile emits a check of this name"
    # … and at least one of them reaches this signal (an earlier pattern may take them all).
    assert any(spec_for(name) is spec for name in matched), pattern


def test_every_signal_is_fed_by_an_emitted_check() -> None:
    fed = {s.signal for name in EMITTED if (s := spec_for(name)) is not None}
    assert fed == set(Signal)


def test_flag_signals_read_flags_and_number_signals_numbers() -> None:
    for name, flag in EMITTED.items():
        spec = spec_for(name)
        if spec is not None:
            assert spec.flag == flag, name


@pytest.mark.parametrize(
    ("check", "signal"),
    [
        ("ups.battery.temperature_c", Signal.BATTERY_TEMPERATURE),  # not the 65 °C of devices
        ("syno.temperature_c", Signal.TEMPERATURE),
        ("ups.battery.replace", Signal.BATTERY_REPLACE),
        ("if.row1.in_errors_per_s", Signal.INTERFACE_ERRORS),
        ("if.row1.out_errors_per_s", Signal.INTERFACE_ERRORS),
        ("clock.offset_s", Signal.CLOCK_DRIFT),
        ("recording.retention_days", Signal.RETENTION),
        ("qnap.fan.row1.rpm", Signal.FAN),
        ("ups.self_test.failed", Signal.SELF_TEST),  # RFC 1628 and APC profiles
        ("onvif.reconnects", Signal.RECONNECTS),
        ("mqtt.reconnects", Signal.RECONNECTS),
        ("picture.night_luma_mean", Signal.NIGHT_BRIGHTNESS),
    ],
)
def test_emitted_checks_feed_the_right_signal(check: str, signal: Signal) -> None:
    assert check in EMITTED
    spec = spec_for(check)
    assert spec is not None
    assert spec.signal is signal


def test_checks_that_are_not_trends_feed_nothing() -> None:
    for check in (
        "ucd.mem.used_percent",
        "picture.ok",
        "system.rebooted",
        "if.row1.oper_up",
        "ups.self_test.result",  # the enum's words: the flag beside it is what is judged
        "picture.luma_mean",  # day and night mixed: only the night one is a trend
    ):
        assert spec_for(check) is None, check
