"""The real secmon server as a subprocess, plus direct set-up of tenants, tokens and users.

server = ServerProcess(database_url, workdir=tmp_path)   # migrates, picks a free port
server.start()            # runs `secmon server run`, waits for /healthz
tenant = provision(database_url, devices=["cam-1"])      # client, site, token, devices
httpx.post(f"{server.base_url}/api/v1/ingest", headers=tenant.agent_headers, ...)
server.restart()          # SIGTERM, then start again on the same port and database
server.stop()
"""

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import httpx
from sqlalchemy import select

from server import migrate
from server.agent_tokens import create_agent_token
from server.db import make_engine, write_session
from server.models import Device
from server.tenancy import create_client, create_site, register_inventory
from server.users import create_user
from simulate.peers.net import free_port
from wire.enums import DeviceClass, ProbeKind, Role, Subsystem
from wire.schema import Inventory, InventoryDevice

SECMON = Path(sys.executable).with_name("secmon")
TEST_SECRET_KEY = "test-secret-key-not-for-production-0123456789"
# Server env: the fault sweep (held faults, recovered tickets, silent agents) every second.
FAST_SWEEP = {"SECMON_FAULT_SWEEP_SECONDS": "1"}


class ServerProcess:
    """`secmon server run` on 127.0.0.1 against `database_url` (migrated on construction)."""

    def __init__(
        self,
        database_url: str,
        *,
        workdir: Path,
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        migrate_first: bool = True,
    ) -> None:
        self.database_url = database_url
        self.workdir = workdir
        self.port = port or free_port()
        self.extra_env = dict(env or {})
        self.log_path = workdir / f"server-{self.port}.log"
        self._proc: subprocess.Popen[bytes] | None = None
        if migrate_first:
            migrate.upgrade(database_url=database_url)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "DATABASE_URL": self.database_url,
                "SECMON_SECRET_KEY": TEST_SECRET_KEY,
                "SECMON_ENVIRONMENT": "development",
            }
        )
        env.update(self.extra_env)
        return env

    def start(self, *, timeout: float = 90.0) -> "ServerProcess":
        if self.running:
            return self
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [str(SECMON), "server", "run", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=self.workdir,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"server exited with {self._proc.returncode}: {self.log()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"server not healthy after {timeout}s: {self.log()}")

    def stop(self, *, timeout: float = 15.0) -> int | None:
        """SIGTERM (uvicorn shuts down cleanly), SIGKILL after `timeout`; returns the exit code."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    def restart(self) -> "ServerProcess":
        self.stop()
        return self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.stop()


@dataclass(frozen=True)
class Tenant:
    """What `provision` made: ids, the agent token (plain), and the devices' database ids."""

    client_id: int
    client_name: str
    site_id: int
    site_name: str
    token: str
    token_prefix: str
    device_pks: dict[str, int] = field(default_factory=dict)

    @property
    def agent_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def provision(
    database_url: str,
    *,
    client: str | None = None,
    site: str = "hq",
    devices: Iterable[str] = (),
    zone: str = "default",
    timezone: str = "UTC",
) -> Tenant:
    """Create a client, a site, an agent token and (optionally) devices, straight in the DB."""
    client = client or f"client-{secrets.token_hex(3)}"
    now = datetime.now(UTC)
    engine = make_engine(database_url)
    try:
        with write_session(engine) as session:
            c = create_client(session=session, name=client, now=now)
            s = create_site(
                session=session, client_id=c.id, name=site, zone=zone, timezone=timezone, now=now
            )
            issued = create_agent_token(session=session, site_id=s.id, now=now)
            ids = (c.id, s.id)
        tenant = Tenant(
            client_id=ids[0],
            client_name=client,
            site_id=ids[1],
            site_name=site,
            token=issued.token,
            token_prefix=issued.prefix,
        )
    finally:
        engine.dispose()
    device_ids = list(devices)
    if device_ids:
        tenant.device_pks.update(register_devices(database_url, tenant.site_id, device_ids))
    return tenant


def register_devices(database_url: str, site_id: int, device_ids: Iterable[str]) -> dict[str, int]:
    """Register cameras under a site as an agent's inventory would; returns ext id → pk."""
    inventory = Inventory(
        agent_version="test",
        devices=[
            InventoryDevice(
                id=ext_id,
                name=ext_id,
                device_class=DeviceClass.CAMERA,
                subsystem=Subsystem.VIDEO,
                protocol=ProbeKind.ONVIF,
            )
            for ext_id in device_ids
        ],
    )
    engine = make_engine(database_url)
    try:
        with write_session(engine) as session:
            register_inventory(
                session=session, site_id=site_id, inventory=inventory, now=datetime.now(UTC)
            )
            rows = session.execute(
                select(Device.ext_id, Device.id).where(Device.site_id == site_id)
            ).all()
            return {row.ext_id: row.id for row in rows}
    finally:
        engine.dispose()


def add_user(
    database_url: str,
    *,
    username: str,
    password: str,
    role: Role,
    client_id: int | None = None,
) -> int:
    engine = make_engine(database_url)
    try:
        with write_session(engine) as session:
            user = create_user(
                session=session,
                username=username,
                password=password,
                role=role,
                client_id=client_id,
                now=datetime.now(UTC),
            )
            return user.id
    finally:
        engine.dispose()
