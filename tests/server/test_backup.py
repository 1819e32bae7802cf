"""`secmon backup`: an online copy of a live SQLite database that a server keeps writing to,
readable on its own; PostgreSQL URLs get the pg_dump line instead (password never shown)."""

import json
import os
import sqlite3
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
from alembic.script import ScriptDirectory

from peers.server import SECMON, ServerProcess, provision
from server import migrate
from server.backup import pg_dump_command
from server.models import SampleRow
from tests.server.samples import batch, series


def run_backup(database_url: str, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SECMON), "backup", "--out", str(out)],
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def head_revision(database_url: str) -> str:
    script = ScriptDirectory.from_config(migrate.alembic_config(database_url))
    head = script.get_current_head()
    assert head is not None
    return head


def test_backup_of_a_live_database_while_the_server_writes(
    sqlite_url: str, tmp_path: Path, server_factory: Callable[..., ServerProcess]
) -> None:
    server = server_factory(sqlite_url)
    tenant = provision(sqlite_url, devices=["cam-1"])
    url = f"{server.base_url}/api/v1/ingest"
    first = batch(*series("cam-1", 200))
    before = [s["id"] for s in first["samples"]]
    answer = httpx.post(url, content=json.dumps(first), headers=tenant.agent_headers, timeout=30)
    assert answer.json()["accepted"] == 200

    stop = threading.Event()
    written: list[int] = []

    def keep_writing() -> None:
        with httpx.Client(headers=tenant.agent_headers, timeout=30) as client:
            while not stop.is_set():
                body = json.dumps(batch(*series("cam-1", 100)))
                written.append(client.post(url, content=body).json()["accepted"])

    writer = threading.Thread(target=keep_writing, name="ingest-during-backup")
    writer.start()
    try:
        out = tmp_path / "copy.db"
        done = run_backup(sqlite_url, out)
    finally:
        stop.set()
        writer.join(timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"backup: {out}," in done.stdout
    assert f"schema revision {head_revision(sqlite_url)}" in done.stdout
    assert written, "the server took no writes while the backup ran"

    copy = sqlite3.connect(out)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        ids = {row[0] for row in copy.execute(f"SELECT id FROM {SampleRow.__tablename__}")}
        names = copy.execute("SELECT name FROM sites").fetchall()
    finally:
        copy.close()
    assert {s.replace("-", "") for s in before} <= {str(i).replace("-", "") for i in ids}
    assert names == [(tenant.site_name,)]
    assert not out.with_name(out.name + ".partial").exists()

    # A copy is never overwritten: the second run refuses and leaves the first intact.
    size = out.stat().st_size
    again = run_backup(sqlite_url, out)
    assert again.returncode == 1
    assert f"{out} exists" in again.stderr
    assert out.stat().st_size == size


def test_backup_of_a_missing_database_says_so(tmp_path: Path) -> None:
    done = run_backup(f"sqlite:///{tmp_path / 'nothing.db'}", tmp_path / "copy.db")
    assert done.returncode == 1
    assert f"no database at {tmp_path / 'nothing.db'}" in done.stderr
    assert not (tmp_path / "copy.db").exists()


def test_postgresql_is_pointed_at_pg_dump_without_the_password(tmp_path: Path) -> None:
    database_url = "postgresql+psycopg://secmon:hunter2@db.example:5432/secmon"
    out = tmp_path / "secmon.dump"
    done = run_backup(database_url, out)
    assert done.returncode == 2
    expected = f"pg_dump --format=custom --file {out} 'postgresql://secmon@db.example:5432/secmon'"
    assert expected in done.stderr
    assert "hunter2" not in done.stderr + done.stdout
    assert not out.exists()


def test_pg_dump_command_keeps_a_passwordless_url() -> None:
    assert pg_dump_command("postgresql://secmon@127.0.0.1/secmon", Path("x.dump")) == (
        "pg_dump --format=custom --file x.dump 'postgresql://secmon@127.0.0.1/secmon'"
    )
