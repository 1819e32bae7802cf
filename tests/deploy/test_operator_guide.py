"""docs/operator-guide.md says only what exists: its device examples load as agent config, its
environment table names real settings, its `secmon …` commands and options exist, and the files
it points at are in the repository."""

import re
import shlex
from pathlib import Path

import pytest
import typer
import yaml
from typer.core import TyperGroup

from agent.config import load_config
from cli.main import app
from server.settings import Settings
from simulate.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs/operator-guide.md").read_text(encoding="utf-8")


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", GUIDE, flags=re.DOTALL)


def test_scenario_examples_load_as_scenarios(tmp_path: Path) -> None:
    scenarios = [block for block in blocks("yaml") if isinstance(yaml.safe_load(block), dict)]
    assert scenarios
    for i, block in enumerate(scenarios):
        (tmp_path / f"{i}.yaml").write_text(block)
        assert load_scenario(tmp_path / f"{i}.yaml").timeline


def test_device_examples_load_as_agent_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lists = [yaml.safe_load(block) for block in blocks("yaml")]
    devices = [device for found in lists if isinstance(found, list) for device in found]
    assert {d["protocol"] for d in devices} == {"tcp", "snmp"}
    for secret in ("ups-01.auth", "ups-01.priv"):
        path = tmp_path / "secrets" / secret
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"{secret}-key-material\n")
        path.chmod(0o600)
    monkeypatch.setenv("SECMON_AGENT_TOKEN", "guide-test-token-1")
    config = tmp_path / "agent.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "site": "hq",
                "server": {
                    "url": "https://secmon.example.com",
                    "token": {"env": "SECMON_AGENT_TOKEN"},
                },
                "devices": devices,
            }
        )
    )
    loaded = load_config(config, private_secrets=True)
    assert [d.id for d in loaded.devices] == [d["id"] for d in devices]


def test_environment_table_names_real_settings() -> None:
    fields = {f"SECMON_{name.upper()}" for name in Settings.model_fields} | {"DATABASE_URL"}
    rows = re.findall(r"^\| (`[A-Z_`/ ,]+) \|", GUIDE, flags=re.MULTILINE)
    named = {v for row in rows for v in re.findall(r"`([A-Z_]+)`", row)}
    assert len(named) >= 10
    assert named <= fields, sorted(named - fields)


def secmon_lines() -> list[list[str]]:
    lines = [line for block in blocks("sh") for line in block.replace("\\\n", " ").splitlines()]
    found = []
    for line in lines:
        for part in re.split(r"&&|;", line):
            if not re.search(r"(^|[\s/])secmon\s", part):
                continue
            words = shlex.split(part, comments=True)
            for i, word in enumerate(words):
                # The command, not the user or group of that name (useradd, install -o).
                program = word == "secmon" and (i == 0 or words[i - 1] == "migrate")
                if (program or word.endswith("/bin/secmon")) and i + 1 < len(words):
                    found.append(words[i + 1 :])
                    break
    return found


def test_every_secmon_command_and_option_in_the_guide_exists() -> None:
    root = typer.main.get_command(app)
    lines = secmon_lines()
    assert len(lines) >= 12
    for words in lines:
        line = f"secmon {shlex.join(words)}"
        command = root
        rest = list(words)
        while isinstance(command, TyperGroup) and rest:
            sub = command.commands.get(rest[0])
            if sub is None:
                break
            rest.pop(0)
            command = sub
        assert not isinstance(command, TyperGroup), (
            f"incomplete command: secmon {shlex.join(words)}"
        )
        options = {opt for param in command.params for opt in getattr(param, "opts", [])}
        for word in rest:
            if word.startswith("-"):
                assert word.split("=")[0] in options, f"{line}: {word}"


def test_files_the_guide_points_at_exist() -> None:
    paths = set(re.findall(r"`((?:deploy|configs|docs|tests|server|agent)/[\w./-]+)`", GUIDE))
    assert len(paths) >= 10
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert not missing, missing
