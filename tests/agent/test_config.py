"""Config validation: every error names file, line and field path; the example config loads."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.commands import EXIT_CONFIG, check
from agent.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "configs" / "agent.example.yaml"
SECMON = Path(sys.executable).parent / "secmon"

# Line numbers matter: tests below point at them.
GOOD = """\
site: hq-main
server:
  url: http://127.0.0.1:8000
  token: {env: SECMON_TEST_TOKEN}
agent:
  outbox_path: outbox.sqlite
devices:
  - id: sw-01
    name: Switch
    class: switch
    subsystem: network
    protocol: tcp
    address: 127.0.0.1
    port: 22
    interval: 30
    timeout: 3
  - id: cam-01
    name: Camera
    class: camera
    subsystem: video
    protocol: tcp
    address: 127.0.0.1
    port: 80
    parent: sw-01
    interval: 60
    timeout: 5
"""


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECMON_TEST_TOKEN", "s3cret")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


def test_good_config_loads_with_resolved_token_and_paths_relative_to_the_file(
    tmp_path: Path,
) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.server.token.reveal() == "s3cret"
    assert cfg.agent.outbox_path == tmp_path / "outbox.sqlite"
    assert [d.id for d in cfg.devices] == ["sw-01", "cam-01"]
    assert cfg.devices[1].parent == "sw-01"
    assert "s3cret" not in repr(cfg)


def test_example_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECMON_AGENT_TOKEN", "t")
    monkeypatch.setenv("SECMON_CAM_PASSWORD", "p")
    cfg = load_config(EXAMPLE)
    assert cfg.site == "hq-main"
    assert cfg.agent.metrics_address() == ("127.0.0.1", 9108)
    cam = next(d for d in cfg.devices if d.id == "cam-01")
    assert cam.credentials.password is not None
    assert cam.credentials.password.reveal() == "p"
    assert cam.onvif is not None
    assert (cam.onvif.recording_interval, cam.onvif.picture.black_fraction) == (600, 0.95)
    assert cfg.agent.state_path() == Path("/var/lib/secmon")


def test_state_dir_defaults_to_the_outbox_directory_and_resolves_relative(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, GOOD)).agent.state_path() == tmp_path
    text = GOOD.replace(
        "  outbox_path: outbox.sqlite\n", "  outbox_path: /o/x.sqlite\n  state_dir: st\n"
    )
    assert load_config(write(tmp_path, text)).agent.state_path() == tmp_path / "st"


def test_bad_picture_threshold_names_the_camera_field(tmp_path: Path) -> None:
    camera = GOOD.replace(
        "protocol: tcp\n    address: 127.0.0.1\n    port: 80",
        "protocol: onvif\n    address: 127.0.0.1\n    port: 80",
    )
    path = write(tmp_path, camera + "    onvif:\n      picture:\n        blur_ratio: 1.5\n")
    assert f"{path}:29 devices[1].onvif.picture.blur_ratio:" in error_of(path)


def test_trap_listener_is_off_unless_set(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, GOOD)).agent.trap_address() is None
    path = write(
        tmp_path, GOOD.replace("  outbox_path:", "  snmp_trap_listen: 0.0.0.0:1162\n  outbox_path:")
    )
    assert load_config(path).agent.trap_address() == ("0.0.0.0", 1162)


@pytest.mark.parametrize("value", ["162", "0.0.0.0:", "0.0.0.0:70000", ":162", "host:trap"])
def test_bad_trap_listener_names_line_and_field(tmp_path: Path, value: str) -> None:
    path = write(
        tmp_path, GOOD.replace("  outbox_path:", f"  snmp_trap_listen: '{value}'\n  outbox_path:")
    )
    assert error_of(path) == (
        f"{path}:6 agent.snmp_trap_listen: must be host:port, e.g. 127.0.0.1:9108"
    )


def test_push_backoff_cap_defaults_to_a_minute_and_is_bounded(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, GOOD)).agent.push_backoff_max == 60.0
    path = write(tmp_path, GOOD.replace("  outbox_path:", "  push_backoff_max: 0\n  outbox_path:"))
    assert error_of(path).startswith(f"{path}:6 agent.push_backoff_max: ")


def test_interval_below_floor_names_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("interval: 60", "interval: 3"))
    assert error_of(path) == f"{path}:25 devices[1].interval: must be ≥ 5 s"


def test_timeout_not_below_interval(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("timeout: 3", "timeout: 30"))
    assert error_of(path) == f"{path}:16 devices[0].timeout: must be < interval (30.0 s)"


def test_unknown_key_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("    port: 80\n", "    port: 80\n    colour: red\n"))
    assert error_of(path) == f"{path}:24 devices[1].colour: Extra inputs are not permitted"


def test_missing_field_points_at_the_enclosing_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("    name: Camera\n", ""))
    assert error_of(path) == f"{path}:17 devices[1].name: Field required"


def test_bad_enum_value(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("class: camera", "class: toaster"))
    assert error_of(path).startswith(f"{path}:19 devices[1].class: Input should be 'camera'")


def test_duplicate_device_ids(tmp_path: Path) -> None:
    path = write(
        tmp_path, GOOD.replace("id: cam-01", "id: sw-01").replace("    parent: sw-01\n", "")
    )
    assert error_of(path) == (
        f"{path}:17 devices[1].id: duplicate device id 'sw-01' (also devices[0])"
    )


def test_parent_must_be_a_known_device(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("parent: sw-01", "parent: nvr-09"))
    assert error_of(path) == f"{path}:24 devices[1].parent: unknown device 'nvr-09'"


def test_missing_env_secret_names_the_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SECMON_TEST_TOKEN")
    path = write(tmp_path, GOOD)
    assert error_of(path) == (
        f"{path}:4 server.token: environment variable SECMON_TEST_TOKEN is not set"
    )


def test_file_secret_is_read_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "token.txt").write_text("from-file\n")
    cfg = load_config(
        write(tmp_path, GOOD.replace("{env: SECMON_TEST_TOKEN}", "{file: token.txt}"))
    )
    assert cfg.server.token.reveal() == "from-file"


def test_unreadable_secret_file_names_the_field(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("{env: SECMON_TEST_TOKEN}", "{file: nope.txt}"))
    message = error_of(path)
    assert message.startswith(f"{path}:4 server.token: cannot read secret file ")
    assert "nope.txt" in message


def test_inline_secret_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("{env: SECMON_TEST_TOKEN}", "hunter2"))
    assert error_of(path).startswith(f"{path}:4 server.token: ")


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("    port: 80\n", "    port: [80\n"))
    assert error_of(path).startswith(f"{path}:24 YAML syntax: ")


def test_duplicate_yaml_key_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("    port: 80\n", "    port: 80\n    port: 81\n"))
    assert error_of(path) == f"{path}:24 devices[1].port: duplicate key"


def test_every_problem_is_reported(tmp_path: Path) -> None:
    text = GOOD.replace("interval: 60", "interval: 1").replace("port: 22", "port: 0")
    lines = error_of(write(tmp_path, text)).splitlines()
    assert len(lines) == 2


def test_check_command_exits_2_and_prints_to_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, GOOD.replace("interval: 60", "interval: 3"))
    assert check(path, as_json=False) == EXIT_CONFIG
    captured = capsys.readouterr()
    assert captured.err.strip() == f"{path}:25 devices[1].interval: must be ≥ 5 s"
    assert captured.out == ""


@pytest.mark.parametrize("command", ["check", "run"])
def test_real_cli_exits_2_with_file_line_field(tmp_path: Path, command: str) -> None:
    path = write(tmp_path, GOOD.replace("interval: 60", "interval: 3"))
    result = subprocess.run(
        [str(SECMON), "agent", command, "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SECMON_TEST_TOKEN": "x"},
        check=False,
    )
    assert result.returncode == 2
    assert f"{path}:25 devices[1].interval: must be ≥ 5 s" in result.stderr


def test_osd_mask_mode_is_validated_with_line_and_field(tmp_path: Path) -> None:
    camera = "    protocol: tcp\n    address: 127.0.0.1\n    port: 80\n"
    onvif = "    protocol: onvif\n    address: 127.0.0.1\n    port: 80\n"
    block = "    onvif:\n      picture:\n        osd_mask: {}\n"
    text = GOOD.replace(camera, onvif + block.format("learn"))
    assert load_config(write(tmp_path, text)).devices[1].onvif is not None

    path = write(tmp_path, GOOD.replace(camera, onvif + block.format("maybe")))
    assert error_of(path) == (
        f"{path}:26 devices[1].onvif.picture.osd_mask: Input should be 'learn' or 'off'"
    )
