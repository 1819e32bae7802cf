"""Online backup of the server's database while the server runs.

SQLite: the backup API copies a consistent snapshot page by page while replicas keep writing
(WAL lets readers and the copy proceed; a write during a step restarts only that step). The copy
is written beside the target, checked, and renamed into place, so a failed backup leaves no
half-written file under the target name. PostgreSQL: `pg_dump` is the tool, not this module.
"""

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from server.db import sqlite_path
from server.errors import DomainError

# Pages copied per step; between steps other connections may write.
PAGES_PER_STEP = 1024
BUSY_SLEEP_MS = 50


class BackupError(DomainError):
    code = "backup_failed"


@dataclass(frozen=True, kw_only=True)
class BackupResult:
    path: Path
    bytes: int
    revision: str | None  # the Alembic revision in the copy (None: not migrated)


def pg_dump_command(database_url: str, out: Path) -> str:
    """The `pg_dump` line an operator runs for a PostgreSQL URL (password never shown)."""
    url = make_url(database_url).set(drivername="postgresql")
    target = url.render_as_string(hide_password=True).replace(":***@", "@")
    return f"pg_dump --format=custom --file {out} '{target}'"


def backup_sqlite(*, database_url: str, out: Path) -> BackupResult:
    """Copy the SQLite database of `database_url` to `out` (refused if `out` exists)."""
    source = sqlite_path(database_url)
    if source is None:
        raise BackupError("not an SQLite database file: " + database_url)
    if not source.is_file():
        raise BackupError(f"no database at {source}")
    if out.exists():
        raise BackupError(f"{out} exists: choose a new file name")
    partial = out.with_name(out.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        src = sqlite3.connect(source)
        try:
            dst = sqlite3.connect(partial)
            try:
                src.backup(dst, pages=PAGES_PER_STEP, sleep=BUSY_SLEEP_MS / 1000)
                check = dst.execute("PRAGMA integrity_check").fetchone()[0]
                revision = _revision(dst)
            finally:
                dst.close()
        finally:
            src.close()
        if check != "ok":
            raise BackupError(f"the copy failed its integrity check: {check}")
        partial.replace(out)
    except sqlite3.Error as err:
        raise BackupError(f"backup of {source} failed: {err}") from err
    finally:
        partial.unlink(missing_ok=True)
    return BackupResult(path=out, bytes=out.stat().st_size, revision=revision)


def _revision(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None
    return None if row is None else str(row[0])
