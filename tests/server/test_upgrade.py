"""`secmon db upgrade` from the previous migration head: rows written at head-1 survive the
upgrade and read back through today's models, on SQLite and PostgreSQL."""

import os
import subprocess
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from sqlalchemy import select
from sqlalchemy.orm import Session

from peers.server import SECMON
from server import migrate
from server.db import make_engine
from server.models import Client, Device, SampleRow, Site, Ticket
from wire.ids import uuid7

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def filler(column: sa.Column[Any]) -> Any:
    """A value for a NOT NULL column the test does not set (one a later migration may add)."""
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.Integer | sa.Float | sa.Numeric):
        return 0
    if isinstance(kind, sa.DateTime):
        return NOW
    if isinstance(kind, sa.Date):
        return date(2026, 3, 2)
    if isinstance(kind, sa.JSON):
        return {}
    if isinstance(kind, sa.Uuid):
        return uuid7()
    return "x"


def insert(conn: sa.Connection, table: sa.Table, **values: Any) -> None:
    for column in table.columns:
        needs_value = not column.nullable and column.server_default is None
        if column.name not in values and needs_value and column.autoincrement is not True:
            values[column.name] = filler(column)
    conn.execute(table.insert().values(**values))


def previous_head(database_url: str) -> str:
    script = ScriptDirectory.from_config(migrate.alembic_config(database_url))
    head = script.get_revision("head")
    assert head is not None
    assert isinstance(head.down_revision, str), "head must have one parent"
    return head.down_revision


def test_db_upgrade_keeps_rows_written_at_the_previous_head(database_url: str) -> None:
    before = previous_head(database_url)
    migrate.upgrade(database_url=database_url, revision=before)
    sample_id: UUID = uuid7()
    engine = make_engine(database_url)
    try:
        tables = sa.MetaData()
        tables.reflect(engine)
        with engine.begin() as conn:
            assert conn.scalar(sa.text("SELECT version_num FROM alembic_version")) == before
            insert(conn, tables.tables["clients"], id=1, name="ACME Security", created_at=NOW)
            insert(
                conn, tables.tables["sites"], id=1, client_id=1, name="hq", zone="default",
                timezone="Europe/Paris", created_at=NOW,
            )  # fmt: skip
            insert(
                conn, tables.tables["devices"], id=1, site_id=1, ext_id="cam-07",
                name="Gate camera", device_class="camera", subsystem="video", protocol="onvif",
                first_registered_at=NOW, last_registered_at=NOW,
            )  # fmt: skip
            insert(
                conn, tables.tables["samples"], id=sa.literal(sample_id, sa.Uuid()),
                device_id=1, ts=NOW, received_at=NOW, probe="onvif", reachable=False,
                checks={"stream_ok": False}, events_only=False,
            )  # fmt: skip
            insert(
                conn, tables.tables["tickets"], id=1, kind="fault", state="acknowledged",
                severity="emergency", client_id=1, site_id=1, device_id=1, code="unreachable",
                title="Gate camera unreachable", symptom="no answer", channel="monitoring",
                reporter="secmon", first_failure_at=NOW, created_at=NOW, updated_at=NOW,
            )  # fmt: skip
    finally:
        engine.dispose()

    done = subprocess.run(
        [str(SECMON), "db", "upgrade"],
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            head = conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
        with Session(engine) as session:
            client = session.scalars(select(Client)).one()
            site = session.scalars(select(Site)).one()
            device = session.scalars(select(Device)).one()
            sample = session.scalars(select(SampleRow)).one()
            ticket = session.scalars(select(Ticket)).one()
            assert (client.id, client.name) == (1, "ACME Security")
            assert (site.client_id, site.name, site.timezone) == (1, "hq", "Europe/Paris")
            assert (device.site_id, device.ext_id, device.name) == (1, "cam-07", "Gate camera")
            assert (sample.id, sample.reachable, sample.checks) == (
                sample_id,
                False,
                {"stream_ok": False},
            )
            assert sample.ts == NOW
            assert (ticket.state, ticket.severity, ticket.device_id) == (
                "acknowledged",
                "emergency",
                1,
            )
    finally:
        engine.dispose()
    assert head != before
    assert (
        head == ScriptDirectory.from_config(migrate.alembic_config(database_url)).get_current_head()
    )
