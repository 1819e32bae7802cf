"""Where ticket events take their notify config: settled once per process, not per event."""

import os
from pathlib import Path

import pytest
import yaml

from server.notify import hooks


def write_config(path: Path, contact: str, *, mtime_ns: int | None = None) -> Path:
    data = {"contacts": {contact: {"channels": {"hook": "json://127.0.0.1:9/x"}}}}
    path.write_text(yaml.safe_dump(data))
    if mtime_ns is not None:  # a distinct time, whatever the file system's resolution
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def test_the_environment_is_read_once_until_forgotten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = write_config(tmp_path / "first.yaml", "alice")
    second = write_config(tmp_path / "second.yaml", "bob")
    monkeypatch.setenv("SECMON_NOTIFY_CONFIG", str(first))
    assert set(hooks.configured().contacts) == {"alice"}
    monkeypatch.setenv("SECMON_NOTIFY_CONFIG", str(second))
    assert set(hooks.configured().contacts) == {"alice"}
    hooks.use_config(None)
    assert set(hooks.configured().contacts) == {"bob"}
    monkeypatch.delenv("SECMON_NOTIFY_CONFIG")
    hooks.use_config(None)
    assert hooks.configured() is hooks.EMPTY_CONFIG


def test_an_edited_file_is_read_again(tmp_path: Path) -> None:
    path = write_config(tmp_path / "notify.yaml", "alice", mtime_ns=1_000_000_000)
    hooks.use_config(hooks.from_path(path))
    assert set(hooks.configured().contacts) == {"alice"}
    write_config(path, "carol", mtime_ns=2_000_000_000)
    assert set(hooks.configured().contacts) == {"carol"}
