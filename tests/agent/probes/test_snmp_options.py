"""The `snmp:` block of a device: checked once at start, with the file, line and field."""

from pathlib import Path

import pytest

from agent.config import ConfigError, load_config
from agent.probes.snmp_options import SnmpVersion


def write(tmp_path: Path, snmp_block: str) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(
        "site: s1\n"
        "server: {url: http://127.0.0.1:9, token: {env: SECMON_TEST_TOKEN}}\n"
        "devices:\n"
        "  - {id: ups-1, name: UPS, class: ups, subsystem: power, protocol: snmp,\n"
        "     address: 127.0.0.1,\n"
        f"     snmp: {snmp_block}}}\n"
    )
    return path


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECMON_TEST_TOKEN", "t" * 32)
    monkeypatch.setenv("SNMP_KEY", "a-long-enough-key")


def problem(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


def test_v3_block_with_secret_references_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "{version: '3', user: mon, auth_key: {env: SNMP_KEY}, priv_key: {env: SNMP_KEY},"
        " profile: ups}",
    )
    device = load_config(path).devices[0]
    assert device.snmp is not None
    assert device.snmp.version is SnmpVersion.V3
    assert device.snmp.auth_key is not None
    assert device.snmp.auth_key.reveal() == "a-long-enough-key"


@pytest.mark.parametrize(
    ("block", "fragment"),
    [
        ("{version: '3'}", "SNMPv3 needs user"),
        ("{version: '3', user: mon, priv_key: {env: SNMP_KEY}}", "needs auth_key"),
        ("{version: 2c, user: mon}", "need version: '3'"),
        ("{profile: no_such_profile}", "unknown profile 'no_such_profile'"),
        ("{version: '4'}", "devices[0].snmp.version"),
        ("{community: {env: UNSET_SNMP_COMMUNITY}}", "UNSET_SNMP_COMMUNITY is not set"),
        ("{community: public}", "devices[0].snmp.community"),  # secrets by reference only
        ("{trap_engine_id: 'xyz'}", "devices[0].snmp.trap_engine_id"),
    ],
)
def test_bad_snmp_blocks_name_the_field(tmp_path: Path, block: str, fragment: str) -> None:
    message = problem(write(tmp_path, block))
    assert fragment in message
    assert "agent.yaml:" in message
