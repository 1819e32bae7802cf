"""The `mqtt:` device block: validated at start, with the file line and field path of a
mistake; the probe it selects is registered."""

from pathlib import Path

import pytest

from agent.config import AgentConfig, ConfigError, load_config
from agent.probes.mqtt.probe import MqttProbe
from agent.probes.registry import ProbeRegistry
from wire.enums import ProbeKind

CONFIG = """\
site: hq
server:
  url: http://127.0.0.1:8000
  token: {{env: SECMON_TEST_TOKEN}}
devices:
  - id: door-7
    name: Door 7
    class: access_controller
    subsystem: access
    protocol: {protocol}
    address: 127.0.0.1
    port: 18830
{block}"""

GOOD_BLOCK = """\
    mqtt:
      template: access_controller
      topic: site/hq/acs/door-7
      silence_timeout: 180
"""


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECMON_TEST_TOKEN", "t0ken")


def load(tmp_path: Path, *, protocol: str = "mqtt", block: str = GOOD_BLOCK) -> AgentConfig:
    path = tmp_path / "agent.yaml"
    path.write_text(CONFIG.format(protocol=protocol, block=block), encoding="utf-8")
    return load_config(path)


def problems(tmp_path: Path, **kwargs: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, **kwargs)
    return [f"{p.line} {p.path}: {p.message}" for p in info.value.problems]


def test_mqtt_device_loads_with_its_options(tmp_path: Path) -> None:
    cfg = load(tmp_path)
    options = cfg.devices[0].mqtt
    assert options is not None
    assert (options.template, options.topic, options.silence_timeout) == (
        "access_controller",
        "site/hq/acs/door-7",
        180.0,
    )
    assert options.max_payload_bytes == 64 * 1024


def test_mqtt_device_without_block_is_refused(tmp_path: Path) -> None:
    assert problems(tmp_path, block="") == ["6 devices[0].mqtt: is required for protocol mqtt"]


def test_block_on_another_protocol_is_refused(tmp_path: Path) -> None:
    assert problems(tmp_path, protocol="tcp") == ["13 devices[0].mqtt: is only for protocol mqtt"]


def test_unknown_template_names_the_known_ones(tmp_path: Path) -> None:
    block = GOOD_BLOCK.replace("access_controller", "acme_9000")
    [problem] = problems(tmp_path, block=block)
    assert problem.startswith("14 devices[0].mqtt.template: unknown template; known: ")
    assert "alarm_panel" in problem
    assert "zigbee2mqtt" in problem


@pytest.mark.parametrize("topic", ["site/+/door", "site/#"])
def test_wildcard_topic_is_refused(tmp_path: Path, topic: str) -> None:
    block = GOOD_BLOCK.replace("site/hq/acs/door-7", topic)
    assert problems(tmp_path, block=block) == [
        "15 devices[0].mqtt.topic: must not contain +, # or NUL"
    ]


def test_unknown_option_is_refused(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, block=GOOD_BLOCK + "      qos: 2\n")
    assert problem.startswith("17 devices[0].mqtt.qos:")


def test_mqtt_probe_is_registered() -> None:
    assert isinstance(ProbeRegistry().probe_for(ProbeKind.MQTT), MqttProbe)


def test_silence_limit_is_the_timeout_or_n_report_intervals(tmp_path: Path) -> None:
    options = load(tmp_path).devices[0].mqtt
    assert options is not None
    assert options.silence_limit() == 180
    block = GOOD_BLOCK.replace("silence_timeout: 180", "report_interval: 300")
    options = load(tmp_path, block=block).devices[0].mqtt
    assert options is not None
    assert options.silence_limit() == 900  # 3 x 300 s by default
    options = load(tmp_path, block=block + "      silence_intervals: 2\n").devices[0].mqtt
    assert options is not None
    assert options.silence_limit() == 600
    block = GOOD_BLOCK.replace("      silence_timeout: 180\n", "")
    options = load(tmp_path, block=block).devices[0].mqtt
    assert options is not None
    assert options.silence_limit() is None  # LWT only


def test_silence_timeout_and_report_interval_together_are_refused(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, block=GOOD_BLOCK + "      report_interval: 60\n")
    assert "give silence_timeout or report_interval, not both" in problem
    assert problem.startswith("13 devices[0].mqtt")


def test_tls_files_are_relative_to_the_config_and_must_be_readable(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    block = GOOD_BLOCK + "      tls: {ca_file: ca.pem}\n"
    options = load(tmp_path, block=block).devices[0].mqtt
    assert options is not None
    assert options.tls is not None
    assert options.tls.ca_file == tmp_path / "ca.pem"
    [problem] = problems(tmp_path, block=GOOD_BLOCK + "      tls: {ca_file: nope.pem}\n")
    assert problem.startswith("17 devices[0].mqtt.tls.ca_file: cannot read ")
    assert "nope.pem" in problem
    [problem] = problems(tmp_path, block=GOOD_BLOCK + "      tls: {key_file: ca.pem}\n")
    assert "key_file needs cert_file" in problem
