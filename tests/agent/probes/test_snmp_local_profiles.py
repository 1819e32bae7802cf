"""`agent.profiles_dir`: the operator's SNMP profiles beside the shipped ones, checked at start
with the file, line and field, and used by the probe."""

from pathlib import Path

import pytest

from agent.config import ConfigError, load_config
from agent.probes.snmp_profiles import load_profiles

INTERCOM = """\
name: intercom
description: door intercoms of a vendor we do not ship
match:
  enterprises: [99999]
  sentinels:
    - {oid: 1.3.6.1.4.1.99999.77.1.1.0, type: text}
scalars:
  - {name: intercom.model, oid: 1.3.6.1.4.1.99999.77.1.1.0, kind: text}
"""


def write_config(tmp_path: Path, profile: str = "intercom") -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(
        "site: s1\n"
        "server: {url: http://127.0.0.1:9, token: {env: SECMON_TEST_TOKEN}}\n"
        "agent: {profiles_dir: profiles}\n"
        "devices:\n"
        "  - {id: gate, name: Gate, class: access_controller, subsystem: access,\n"
        f"     protocol: snmp, address: 127.0.0.1, snmp: {{profile: {profile}}}}}\n"
    )
    return path


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECMON_TEST_TOKEN", "t" * 32)


def test_a_local_profile_loads_and_a_device_may_name_it(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "intercom.yaml").write_text(INTERCOM)
    config = load_config(write_config(tmp_path))
    assert config.agent.profiles_dir == tmp_path / "profiles"
    book = load_profiles(config.agent.profiles_dir)
    assert "intercom" in book.profiles
    assert book.local == frozenset({"intercom"})
    assert "ups" in book.profiles  # the shipped ones stay


def test_a_local_profile_replaces_the_shipped_one_of_the_same_name(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "my-ups.yaml").write_text(
        "name: ups\nlayer: standard\nscalars: [{name: ups.mine, oid: 1.3.6.1.2.1.33.1.1.1.0}]\n"
    )
    book = load_profiles(tmp_path / "profiles")
    assert [v.name for v in book.profiles["ups"].scalars] == ["ups.mine"]


def test_a_device_naming_a_profile_nobody_has_is_refused_with_the_field(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path, profile="nowhere"))
    assert "agent.yaml:6 devices[0].snmp.profile: unknown profile 'nowhere'" in str(info.value)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (INTERCOM + "colour: red\n", "intercom.yaml:9 colour: Extra inputs are not permitted"),
        (INTERCOM.replace("1.3.6.1.4.1.99999.77.1.1.0, kind", "iso.9, kind"), "intercom.yaml:8"),
        (INTERCOM + "  - {name: intercom.model, oid: 1.3.6.1.4.1.9}\n", "duplicate check name"),
        (
            INTERCOM + "  - {name: t, oid: 1.3.6.1.4.1.9, kind: number_in_text, unit: parsec}\n",
            "intercom.yaml:9 scalars[1]: Value error, unknown unit 'parsec'",
        ),
        ("name: intercom\nname: again\n", "intercom.yaml:2 name: duplicate key"),
        ("name: [unclosed\n", "intercom.yaml:"),
    ],
)
def test_a_bad_local_profile_stops_the_agent_with_file_and_line(
    tmp_path: Path, text: str, where: str
) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "intercom.yaml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path))
    assert where in str(info.value)
    assert str(tmp_path / "profiles") in str(info.value)


def test_a_profiles_dir_that_is_not_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path))
    assert "profiles_dir is not a directory" in str(info.value)
