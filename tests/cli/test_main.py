"""The `secmon` shell: a missing extra is named, not shown as a traceback."""

import builtins
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import EXIT_MISSING_EXTRA, app


@pytest.fixture
def without_fastapi(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `import fastapi` fail as on a gateway that has only the agent extra."""
    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "fastapi" or name.startswith("fastapi."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    for mod in [m for m in sys.modules if m == "fastapi" or m.startswith(("fastapi.", "server"))]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setattr(builtins, "__import__", fake_import)


@pytest.mark.usefixtures("without_fastapi")
def test_server_command_without_server_extra_names_the_extra() -> None:
    result = CliRunner().invoke(app, ["server", "run", "--port", "1"])
    assert result.exit_code == EXIT_MISSING_EXTRA
    assert "pip install 'secmon[server]'" in result.output
    assert "fastapi is not installed" in result.output


def test_help_lists_every_side() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for group in ("agent", "server", "db", "admin", "demo"):
        assert group in result.output


def test_agent_relearn_reports_an_unknown_config_as_a_config_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["agent", "relearn", "--config", str(tmp_path / "missing.yaml"), "cam-1"]
    )
    assert result.exit_code == 2
    assert "missing.yaml:0 cannot read" in result.output  # the agent's config error, not usage
