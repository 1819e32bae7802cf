"""deploy/systemd/secmon-agent.service: `systemd-analyze verify` accepts it with no warning, and
it keeps the hardening the operator's guide promises."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy/systemd/secmon-agent.service"
INSTALLED_SECMON = "/opt/secmon/bin/secmon"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze missing (apt systemd)"
)


def unit_for_this_machine(tmp_path: Path) -> Path:
    """The unit with ExecStart at this venv's secmon: verify checks the binary exists."""
    text = UNIT.read_text(encoding="utf-8")
    assert INSTALLED_SECMON in text
    local = tmp_path / UNIT.name
    local.write_text(text.replace(INSTALLED_SECMON, str(Path(sys.executable).with_name("secmon"))))
    return local


def service_section() -> dict[str, list[str]]:
    """[Service] keys with every value (systemd allows a key more than once)."""
    values: dict[str, list[str]] = {}
    section = ""
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "Service" and "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values.setdefault(key, []).append(value)
    return values


@needs_systemd_analyze
def test_systemd_analyze_verify_passes_without_warnings(tmp_path: Path) -> None:
    assert SYSTEMD_ANALYZE is not None
    local = unit_for_this_machine(tmp_path)
    done = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", str(local)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # verify exits 0 on unknown keys and bad values, only warning: any line about the unit fails.
    about_unit = [line for line in done.stderr.splitlines() if local.name in line]
    assert done.returncode == 0, done.stderr
    assert about_unit == [], "\n".join(about_unit)


@needs_systemd_analyze
def test_verify_would_catch_a_mistyped_hardening_key(tmp_path: Path) -> None:
    assert SYSTEMD_ANALYZE is not None
    local = unit_for_this_machine(tmp_path)
    local.write_text(local.read_text().replace("ProtectSystem=strict", "ProtectSystem=strictest"))
    done = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", str(local)], capture_output=True, text=True, timeout=60
    )
    assert "protect system value" in done.stderr


@needs_systemd_analyze
def test_offline_security_exposure_is_low(tmp_path: Path) -> None:
    assert SYSTEMD_ANALYZE is not None
    local = unit_for_this_machine(tmp_path)
    done = subprocess.run(
        [SYSTEMD_ANALYZE, "security", "--offline=yes", str(local)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout + done.stderr)
    assert found, done.stdout + done.stderr
    assert float(found.group(1)) <= 2.5, done.stdout


def test_unit_runs_as_a_dedicated_user_with_state_under_state_directory() -> None:
    service = service_section()
    assert service["User"] == ["secmon"]
    assert service["Restart"] == ["on-failure"]
    assert service["ProtectSystem"] == ["strict"]
    assert service["NoNewPrivileges"] == ["yes"]
    assert service["StateDirectory"] == ["secmon"]
    assert service["UMask"] == ["0077"]
    assert service["ExecStart"] == [f"{INSTALLED_SECMON} agent run --config /etc/secmon/agent.yaml"]
    # A bad config exits 2 (agent.commands.EXIT_CONFIG): systemd must not loop on it.
    assert service["RestartPreventExitStatus"] == ["2"]
    # ProtectSystem=strict leaves only the state directory writable: the outbox must live there.
    example = (ROOT / "configs/agent.example.yaml").read_text(encoding="utf-8")
    assert "outbox_path: /var/lib/secmon/" in example
