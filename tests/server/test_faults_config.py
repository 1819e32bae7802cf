"""An operator's fault rules file: changes merged into the shipped rules, and every mistake
named by file, line and field (also by `secmon server rules` and at server start)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from configfile import ConfigError
from server.faults.config import load_fault_settings
from server.faults.defaults import DEFAULT_SEVERITY
from server.faults.engine import FaultSettings
from server.faults.rules import severity_for
from server.sla import Severity

GOOD = """\
rules:
  - code: camera.stream_down
    classes: [camera]
    condition: {kind: check_in, check: stream.ok, values: [false]}
    confirm_after: 4
  - code: power.ac_lost
    classes: [ups]
    condition: {kind: check_in, check: ups.output_source, values: [battery]}
    events: {kinds: [ups.on_battery], clear_kinds: [ups.power_restored]}
    severity: emergency
disable: [camera.clock_drift]
severity:
  camera.tamper: emergency
"""
# A second file rule for a code and class the first already covers.
TWICE = "  - {code: camera.stream_down, classes: [camera], condition: {kind: unreachable}}\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_file_rules_replace_the_shipped_ones_they_cover_and_nothing_else(tmp_path: Path) -> None:
    settings = load_fault_settings(write(tmp_path, GOOD), FaultSettings())
    camera = {r.code.value: r for r in settings.rules.for_class("camera")}
    assert camera["camera.stream_down"].confirm_after == 4
    assert "camera.clock_drift" not in camera
    assert "camera.tamper" in camera  # untouched
    ups = {r.code.value: r for r in settings.rules.for_class("ups")}
    assert ups["power.ac_lost"].severity is Severity.EMERGENCY
    # The panels' own AC rule is not the UPS one: it stays as shipped.
    panel = {r.code.value: r for r in settings.rules.for_class("alarm_panel")}
    assert (
        panel["power.ac_lost"].condition
        == FaultSettings().rules.by_code("power.ac_lost")[1].condition
    )
    tamper = severity_for("camera.tamper", "camera", rules=settings.rules,
                          defaults=settings.severity_defaults, overrides={})  # fmt: skip
    assert tamper is Severity.EMERGENCY
    assert DEFAULT_SEVERITY.get("camera.tamper") is None  # the shipped map was not changed


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (GOOD.replace("confirm_after: 4", "confirm_after: 0"), ":5 rules[0].confirm_after: "),
        (GOOD.replace("code: camera.stream_down", "code: camera.exploded"), ":2 rules[0].code: "),
        (GOOD.replace("disable: [camera.clock_drift]", "disable: [nope]"), ":11 disable[0]: "),
        (GOOD.replace("camera.tamper: emergency", "camera.tamper: whenever"),
         ":13 severity.camera.tamper: "),
        (GOOD.replace("values: [battery]}", "values: [battery]}\n    colour: red"),
         ":9 rules[1].colour: "),
        ("rules:\n  - code: camera.tamper\n    classes: [camera]\n", ":2 rules[0]: "),
        (GOOD.replace("disable:", TWICE + "disable:"), ":1 rules: Value error, two rules"),
        (GOOD.replace("disable:", "severity: {}\ndisable:"), ":13 severity: duplicate key"),
        ("rules: [\n", ":2 : YAML syntax"),
        ("- just a list\n", ":1 : must be a YAML mapping"),
    ],
)  # fmt: skip
def test_mistakes_name_file_line_and_field(tmp_path: Path, text: str, where: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_fault_settings(path, FaultSettings())
    message = str(caught.value).replace(" : ", " ")
    assert f"{path}{where}".replace(" : ", " ") in message, message


def test_the_rules_command_lists_the_rules_in_force_and_refuses_a_bad_file(
    tmp_path: Path,
) -> None:
    good = write(tmp_path, GOOD)
    result = CliRunner().invoke(app, ["server", "rules", "--file", str(good)])
    assert result.exit_code == 0, result.output
    assert "camera.stream_down [camera] general, confirm 4" in result.output
    assert "camera.clock_drift" not in result.output
    assert "camera.tamper=emergency" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("confirm_after: 4", "confirm_after: -1"), encoding="utf-8")
    refused = CliRunner().invoke(app, ["server", "rules", "--file", str(bad)])
    assert refused.exit_code == 2
    assert f"{bad}:5 rules[0].confirm_after" in refused.output


def test_the_server_refuses_to_start_on_a_bad_rules_file(tmp_path: Path) -> None:
    bad = write(tmp_path, GOOD.replace("camera.tamper: emergency", "camera.tamper: soon"))
    env = {**os.environ, "SECMON_FAULT_RULES": str(bad),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'secmon.db'}"}  # fmt: skip
    run = subprocess.run(
        [sys.executable, "-m", "cli.main", "server", "run", "--port", "1"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert f"{bad}:13 severity.camera.tamper" in run.stderr
