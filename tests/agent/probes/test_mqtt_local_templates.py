"""`agent.mqtt_templates_dir`: the operator's MQTT payload templates beside the shipped ones,
refused at start with file, line and field, a local one replacing a shipped one of its name,
and used by the probe against a real Mosquitto."""

import asyncio
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from agent.config import ConfigError, load_config
from agent.probes.mqtt.mapping import TemplateError, builtin_templates, load_templates
from agent.probes.mqtt.probe import MqttProbe
from agent.sampling import poll_device
from simulate.peers.mosquitto import MosquittoServer
from tests.agent.probes.test_mqtt import (
    LIVENESS,
    broker,
    mqtt_device,
    poll_until,
    publish,
    publisher,
    unique_topic,
)

__all__ = ["broker", "publisher"]  # fixtures used by name

GATE = """\
# A gate controller of a vendor we do not ship: JSON state on <topic>/state.
name: gate_controller
description: barrier gates (the docs' example)
state:
  - topic: "{topic}/state"
    checks:
      gate.closed: {path: barrier, values: {down: true, up: false}}
      gate.motor_fault: {path: fault, type: bool}
"""

CONFIG = """\
site: hq
server:
  url: http://127.0.0.1:8000
  token: {{env: SECMON_TEST_TOKEN}}
agent: {{mqtt_templates_dir: templates}}
devices:
  - id: gate-1
    name: Gate 1
    class: access_controller
    subsystem: access
    protocol: mqtt
    address: 127.0.0.1
    mqtt: {{template: {template}, topic: site/hq/gate-1}}
"""


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECMON_TEST_TOKEN", "t0ken")


def write(tmp_path: Path, template: str = "gate_controller", **files: str) -> Path:
    folder = tmp_path / "templates"
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    path = tmp_path / "agent.yaml"
    path.write_text(CONFIG.format(template=template), encoding="utf-8")
    return path


def test_a_local_template_loads_beside_the_shipped_ones_and_a_device_may_name_it(
    tmp_path: Path,
) -> None:
    config = load_config(write(tmp_path, gate=GATE))
    assert config.agent.mqtt_templates_dir == tmp_path / "templates"
    templates = load_templates(config.agent.mqtt_templates_dir)
    assert "gate_controller" in templates
    assert set(builtin_templates()) < set(templates)  # the shipped ones stay


def test_a_local_template_replaces_the_shipped_one_of_the_same_name(tmp_path: Path) -> None:
    mine = GATE.replace("name: gate_controller", "name: tasmota")
    write(tmp_path, template="tasmota", tasmota=mine)
    templates = load_templates(tmp_path / "templates")
    assert set(templates["tasmota"].state[0].checks) == {"gate.closed", "gate.motor_fault"}
    assert builtin_templates()["tasmota"].availability is not None  # shipped one untouched


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (GATE.replace("description:", "colour: red\ndescription:"), ":3 colour"),
        (GATE.replace("type: bool", "type: boolean"), ":8 state[0].checks.gate.motor_fault.type"),
        (GATE.replace("  - topic:", "  - topik:"), ":5 state[0]"),
        ("name: [a\n", ":2 YAML syntax"),
    ],
)
def test_a_bad_local_template_is_refused_with_file_line_and_field(
    tmp_path: Path, text: str, where: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, gate=text))
    message = str(info.value)
    assert isinstance(info.value, TemplateError)
    assert f"gate.yaml{where}" in message, message


def test_two_local_templates_of_one_name_are_refused(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match=r"b\.yaml:2 name: duplicate template name"):
        load_config(write(tmp_path, a=GATE, b=GATE))


def test_a_missing_templates_dir_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(CONFIG.format(template="tasmota"), encoding="utf-8")
    with pytest.raises(TemplateError, match="mqtt_templates_dir is not a directory"):
        load_config(path)


def test_a_device_naming_no_known_template_lists_the_local_ones_too(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, template="acme_9000", gate=GATE))
    [problem] = info.value.problems
    assert (problem.line, problem.path) == (13, "devices[0].mqtt.template")
    assert "gate_controller" in problem.message
    assert "tasmota" in problem.message


async def test_the_probe_reads_a_device_through_a_local_template(
    tmp_path: Path, broker: MosquittoServer, publisher: paho.Client
) -> None:
    write(tmp_path, gate=GATE)
    templates = load_templates(tmp_path / "templates")
    probe = MqttProbe(templates=templates)
    topic = unique_topic()
    device = mqtt_device(broker.port, topic, template="gate_controller")
    try:
        first = (await poll_device(probe, device)).sample
        assert first.error is None, first.error
        publish(publisher, f"{topic}/state", {"barrier": "down", "fault": True})
        sample, _ = await poll_until(
            probe, device, lambda s: {k for k in s.checks if k not in LIVENESS} != set()
        )
        assert sample.checks["gate.closed"] is True
        assert sample.checks["gate.motor_fault"] is True
    finally:
        await asyncio.to_thread(probe.close)


async def test_a_probe_without_the_template_fails_the_poll_not_the_agent(
    broker: MosquittoServer,
) -> None:
    probe = MqttProbe()  # the shipped templates only
    device = mqtt_device(broker.port, unique_topic(), template="gate_controller")
    try:
        sample = (await poll_device(probe, device)).sample
        assert sample.error is not None
        assert "unknown MQTT template 'gate_controller'" in sample.error.message
    finally:
        await asyncio.to_thread(probe.close)
