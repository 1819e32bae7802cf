"""Placeholder secrets (copied from an example instead of the real value) are refused at start,
with the file, line and field, wherever a secret is referenced."""

import subprocess
import sys
from pathlib import Path

import pytest

from agent.config import ConfigError, is_placeholder, load_config

SECMON = Path(sys.executable).parent / "secmon"

CONFIG = """\
site: hq
server:
  url: http://127.0.0.1:8000
  token: {env: SECMON_TEST_TOKEN}
devices:
  - id: ups-1
    name: UPS
    class: ups
    subsystem: power
    protocol: snmp
    address: 127.0.0.1
    snmp:
      community: {file: community.txt}
"""


def problem(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


@pytest.mark.parametrize(
    "value",
    ["changeme", "CHANGE_ME", "change-me", "<token>", "<your token here>", "${TOKEN}",
     "{{ agent_token }}", "your-token-here", "XXXXXXXX", "TODO", "   "],
)  # fmt: skip
def test_placeholder_token_is_refused_with_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SECMON_TEST_TOKEN", value)
    (tmp_path / "community.txt").write_text("site-7-ro\n")
    path = tmp_path / "agent.yaml"
    path.write_text(CONFIG)
    message = problem(path)
    assert message.startswith(f"{path}:4 server.token: "), message
    assert "placeholder" in message or "empty" in message
    if value.strip():
        assert value not in message  # the message names the field, never echoes the value


def test_placeholder_in_a_secret_file_names_the_device_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECMON_TEST_TOKEN", "a-real-looking-token-123")
    (tmp_path / "community.txt").write_text("CHANGEME\n")
    path = tmp_path / "agent.yaml"
    path.write_text(CONFIG)
    assert problem(path) == (
        f"{path}:13 devices[0].snmp.community: the referenced secret is a placeholder, "
        "not a real secret: set the real value"
    )


def test_real_secrets_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECMON_TEST_TOKEN", "t0ken-9f2c")
    (tmp_path / "community.txt").write_text("public\n")  # a real (factory) community
    path = tmp_path / "agent.yaml"
    path.write_text(CONFIG)
    config = load_config(path)
    assert config.server.token.reveal() == "t0ken-9f2c"
    assert config.devices[0].snmp is not None
    assert config.devices[0].snmp.community is not None


@pytest.mark.parametrize("value", ["s3cret", "tok-abc", "secret-42", "my-changeme-is-long", "x"])
def test_values_that_merely_contain_a_placeholder_word_pass(value: str) -> None:
    assert not is_placeholder(value)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
def test_running_agent_refuses_a_secret_file_other_users_can_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: int
) -> None:
    monkeypatch.setenv("SECMON_TEST_TOKEN", "t0ken-9f2c")
    community = tmp_path / "community.txt"
    community.write_text("site-7-ro\n")
    community.chmod(mode)
    path = tmp_path / "agent.yaml"
    path.write_text(CONFIG)
    assert load_config(path).devices[0].snmp is not None  # `agent check` still reads it
    with pytest.raises(ConfigError) as info:
        load_config(path, private_secrets=True)
    assert str(info.value) == (
        f"{path}:13 devices[0].snmp.community: secret file {community} is open to other users "
        f"(mode {mode:04o}): run `chmod 600 {community}`"
    )
    assert "site-7-ro" not in str(info.value)


def test_running_agent_accepts_an_owner_only_secret_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECMON_TEST_TOKEN", "t0ken-9f2c")
    community = tmp_path / "community.txt"
    community.write_text("site-7-ro\n")
    community.chmod(0o600)
    path = tmp_path / "agent.yaml"
    path.write_text(CONFIG)
    snmp = load_config(path, private_secrets=True).devices[0].snmp
    assert snmp is not None
    assert snmp.community is not None
    assert snmp.community.reveal() == "site-7-ro"


def test_agent_run_exits_before_starting_with_the_chmod_to_run(tmp_path: Path) -> None:
    token = tmp_path / "agent-token"
    token.write_text("t0ken-9f2c\n")
    token.chmod(0o644)
    path = tmp_path / "agent.yaml"
    path.write_text(
        "site: hq\nserver:\n  url: http://127.0.0.1:9\n  token: {file: agent-token}\n"
        "agent: {outbox_path: outbox.sqlite}\n"
    )
    done = subprocess.run(
        [str(SECMON), "agent", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert f"{path}:4 server.token: secret file {token} is open to other users" in done.stderr
    assert f"run `chmod 600 {token}`" in done.stderr
    assert not (tmp_path / "outbox.sqlite").exists()  # refused before opening anything
