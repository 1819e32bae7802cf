"""A PostgreSQL for tests: the machine's on 127.0.0.1:5432 (trust auth), or a throwaway
cluster made with initdb in a temp dir. Each test gets its own fresh database."""

import contextlib
import glob
import itertools
import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

from simulate.peers.net import free_port, wait_for_port

SYSTEM_HOST, SYSTEM_PORT, SUPERUSER = "127.0.0.1", 5432, "postgres"


class PostgresUnavailableError(RuntimeError):
    pass


def _reachable(port: int) -> bool:
    try:
        with psycopg.connect(
            host=SYSTEM_HOST, port=port, user=SUPERUSER, dbname="postgres", connect_timeout=2
        ):
            return True
    except psycopg.Error:
        return False


class PostgresServer:
    """Hands out fresh databases; `close()` drops them and stops a cluster it started."""

    def __init__(self) -> None:
        self.port = SYSTEM_PORT
        self.how = "system server on 127.0.0.1:5432"
        self._tmp: Path | None = None
        self._bin: Path | None = None
        self._databases: list[str] = []
        # Random per process: parallel test workers (and other checkouts) share the server.
        self._run_id = secrets.token_hex(3)
        self._numbers = itertools.count()  # never reused, even after a drop
        # SECMON_TEST_POSTGRES=cluster forces the initdb path (to test it, or to stay off a
        # shared server).
        if os.environ.get("SECMON_TEST_POSTGRES") == "cluster" or not _reachable(SYSTEM_PORT):
            self._start_cluster()

    # -- throwaway cluster -------------------------------------------------------------------
    def _as_postgres(self, *args: str) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", SUPERUSER, "--", *args]
        return list(args)

    def _start_cluster(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            raise PostgresUnavailableError(
                "no PostgreSQL on 127.0.0.1:5432 and no initdb under /usr/lib/postgresql/*/bin "
                "(apt-get install postgresql)"
            )
        self._bin = Path(found[-1]).parent
        self._tmp = Path(tempfile.mkdtemp(prefix="secmon-pg-"))
        data = self._tmp / "data"
        if os.geteuid() == 0:
            shutil.chown(self._tmp, user=SUPERUSER)
        os.chmod(self._tmp, 0o755)
        self.port = free_port()
        try:
            subprocess.run(
                self._as_postgres(
                    str(self._bin / "initdb"), "-D", str(data), "-U", SUPERUSER,
                    "--auth=trust", "-E", "UTF8", "--no-sync",
                ),
                check=True, capture_output=True, timeout=120,
            )  # fmt: skip
            subprocess.run(
                self._as_postgres(
                    str(self._bin / "pg_ctl"), "-D", str(data), "-l", str(self._tmp / "log"),
                    "-o", f"-p {self.port} -k {self._tmp} -c listen_addresses=127.0.0.1 "
                    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off",
                    "-w", "start",
                ),
                check=True, capture_output=True, timeout=60,
            )  # fmt: skip
        except (subprocess.SubprocessError, OSError) as err:
            detail = getattr(err, "stderr", b"") or b""
            raise PostgresUnavailableError(
                f"could not start a throwaway cluster: {err} {detail.decode(errors='replace')}"
            ) from err
        if not wait_for_port(self.port, timeout=30):
            raise PostgresUnavailableError("throwaway cluster did not open its port")
        self.how = f"throwaway cluster in {self._tmp} on port {self.port}"

    @property
    def cluster_dir(self) -> Path | None:
        """The throwaway cluster's folder; None when the machine's server is used."""
        return self._tmp

    # -- databases --------------------------------------------------------------------------
    def _admin(self) -> psycopg.Connection:
        return psycopg.connect(
            host=SYSTEM_HOST, port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True
        )

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@{SYSTEM_HOST}:{self.port}/{dbname}"

    def create_database(self) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        name = f"secmon_test_{self._run_id}_{next(self._numbers)}"
        with self._admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self._databases.append(name)
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with self._admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        with contextlib.suppress(ValueError):
            self._databases.remove(name)

    def close(self) -> None:
        for name in list(self._databases):
            with contextlib.suppress(psycopg.Error):
                self.drop_database(self.url(name))
        if self._tmp is not None and self._bin is not None:
            subprocess.run(
                self._as_postgres(
                    str(self._bin / "pg_ctl"), "-D", str(self._tmp / "data"), "-m", "immediate",
                    "stop",
                ),
                check=False, capture_output=True, timeout=60,
            )  # fmt: skip
            shutil.rmtree(self._tmp, ignore_errors=True)
