"""Placeholder secrets (copied from an example instead of the real value) are refused at start,
with the file, line and field, wherever a secret is referenced."""

from pathlib import Path

import pytest

from agent.config import ConfigError, is_placeholder, load_config

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
