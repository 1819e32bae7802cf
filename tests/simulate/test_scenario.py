"""Scenarios are data: the shipped ones load, a bad file is refused naming file, line and
field, the tour reads the timeline's notes, and a cue for no running simulator or an unknown
cue is refused before anything is queued."""

from pathlib import Path

import pytest

from simulate.cues import CUES_DIR, KNOWN_CUES, CueError, announce, known_cues, send_cue
from simulate.runner import tour
from simulate.scenario import SHIPPED, ConfigError, load_scenario, parse_clock
from simulate.snmprec import INTEGER, STRING, Record, render

HEAD = """\
name: broken
devices:
  - {id: sw-01, name: Switch, kind: poe_switch}
  - {id: cam-01, name: Camera, kind: camera, parent: sw-01}
  - {id: ups-01, name: UPS, kind: ups}
  - {id: env-01, name: Monitor, kind: site_monitor, contacts: [smoke]}
"""


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_scenario(path)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenarios_load_by_name(name: str) -> None:
    scenario = load_scenario(name)
    assert scenario.name == name
    assert scenario.timeline or scenario.cues


def test_demo_scenario_breaks_a_switch_with_cameras_behind_it_and_recovers_it() -> None:
    demo = load_scenario("demo")
    down = [s for s in demo.timeline if s.action == "down" and s.device == "sw-01"]
    up = [s for s in demo.timeline if s.action == "up" and s.device == "sw-01"]
    assert down
    assert up
    assert down[0].at < up[0].at <= 120
    assert demo.children("sw-01"), "cameras behind the switch"


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        ("timeline:\n  - {at: '00:10', device: cam-09, action: down}\n",
         "scenario.yaml:8 timeline[0].device: unknown device 'cam-09'"),
        ("timeline:\n  - {at: '00:10', device: cam-01, action: on_battery}\n",
         "scenario.yaml:8 timeline[0].action: on_battery is for ups, not camera"),
        ("timeline:\n  - {at: '0:75', device: cam-01, action: down}\n",
         'scenario.yaml:8 timeline[0].at: must be "MM:SS" or seconds'),
        ("timeline:\n  - {at: 5, device: env-01, action: alarm, contact: flood}\n",
         "scenario.yaml:8 timeline[0].contact: must be one of env-01's contacts: ['smoke']"),
        ("timeline:\n  - {at: 5, device: cam-01, action: flap}\n",
         "scenario.yaml:8 timeline[0].action: flap needs period: and until:"),
        ("timeline:\n  - at: 5\n    device: cam-01\n    action: dwn\n",
         "scenario.yaml:10 timeline[0].action: Input should be"),
        ("cues:\n  cut:\n    - {device: ups-01, action: alarm, contact: smoke}\n",
         "scenario.yaml:9 cues.cut[0].action: alarm is for site_monitor, not ups"),
    ],
)  # fmt: skip
def test_a_bad_step_names_file_line_and_field(tmp_path: Path, tail: str, expected: str) -> None:
    found = problems(tmp_path, HEAD + tail)
    assert any(expected in p for p in found), found


def test_a_parent_must_be_a_poe_switch(tmp_path: Path) -> None:
    text = HEAD.replace("parent: sw-01", "parent: ups-01")
    found = problems(tmp_path, text)
    assert found == [
        f"{tmp_path / 'scenario.yaml'}:4 devices[1].parent: "
        "only a camera has a parent, and it is a poe_switch"
    ]


def test_duplicate_keys_and_unknown_fields_are_refused(tmp_path: Path) -> None:
    assert "scenario.yaml:7 devices: duplicate key" in problems(tmp_path, HEAD + "devices: []\n")[0]
    found = problems(tmp_path, HEAD.replace("kind: ups}", "kind: ups, colour: red}"))
    assert "scenario.yaml:5 devices[2].colour: Extra inputs are not permitted" in found[0]


def test_clock_reads_minutes_and_seconds() -> None:
    assert parse_clock("01:30") == 90
    assert parse_clock(90) == 90  # YAML reads an unquoted 1:30 as 90 already
    with pytest.raises(ValueError, match="MM:SS"):
        parse_clock("1:2:3")


def test_tour_lists_the_timeline_at_its_time_scale() -> None:
    lines = tour(load_scenario("demo"), time_scale=0.5)
    assert "  00:05  smoke in the server room: an EMERGENCY ticket" in lines


def test_a_cue_needs_a_running_simulator_and_a_known_name(tmp_path: Path) -> None:
    with pytest.raises(CueError, match="no simulator has started"):
        send_cue(tmp_path, "smoke")
    (tmp_path / KNOWN_CUES).write_text('[{"name": "smoke", "description": ""}]')
    with pytest.raises(CueError, match="unknown cue 'fire'; this scenario's cues: smoke"):
        send_cue(tmp_path, "fire")
    assert not (tmp_path / CUES_DIR).exists()
    path = send_cue(tmp_path, "smoke", now=lambda: 12.5)
    assert path.read_text() == "smoke\n"
    assert path.name == "12.500000.cue"


def test_the_simulator_announces_its_cues_with_their_notes(tmp_path: Path) -> None:
    announce(tmp_path, load_scenario("training").cues)
    cues = {cue.name: cue.description for cue in known_cues(tmp_path)}
    assert cues["smoke"] == "smoke in the server room"
    assert set(cues) == set(load_scenario("training").cues)
    assert list(cues) == sorted(cues)


def test_snmprec_is_written_in_oid_order() -> None:
    text = render(
        [
            Record("1.3.6.1.2.1.33.1.4.1.0", INTEGER, 3),
            Record("1.3.6.1.2.1.1.10.0", STRING, "b"),
            Record("1.3.6.1.2.1.1.9.0", STRING, "a"),
        ]
    )
    assert text.splitlines() == [
        "1.3.6.1.2.1.1.9.0|4|a",
        "1.3.6.1.2.1.1.10.0|4|b",
        "1.3.6.1.2.1.33.1.4.1.0|2|3",
    ]


def test_a_step_must_fit_the_cameras_engine(tmp_path: Path) -> None:
    text = HEAD.replace("parent: sw-01}", "parent: sw-01, engine: ipycam}")
    found = problems(tmp_path, text + "timeline:\n  - {at: 5, device: cam-01, action: tamper}\n")
    assert found[0].endswith(
        "scenario.yaml:8 timeline[0].action: "
        "tamper needs engine onvif_fake (ipycam sends no events)"
    )
