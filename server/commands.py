"""What `secmon server|db|admin …` runs: serve, migrate, prune, and the admin commands.

Admin commands print one clear line and exit 1 on a refusal (unknown client, duplicate name…).
"""

import gc
import getpass
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import typer
import uvicorn
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from configfile import ConfigError
from server import migrate
from server.agent_tokens import create_agent_token as issue_agent_token
from server.agent_tokens import revoke_agent_token as revoke_token
from server.app import create_app
from server.backup import BackupError, backup_sqlite, pg_dump_command
from server.db import is_sqlite, make_engine, write_session
from server.errors import ConflictError, DomainError
from server.faults.config import describe, load_fault_settings
from server.faults.engine import FaultSettings
from server.notify.config import NotifyConfigError
from server.retention import prune_samples
from server.secret_key import SecretKeyMissingError, load_secret_key
from server.settings import Settings
from server.sla import CalendarMode, SlaCalendarError
from server.sla.statutory import COUNTRY_OF_ZONE, coverage
from server.status.query import rotate_link
from server.tenancy import client_by_name, site_by_name
from server.tenancy import create_client as add_client
from server.tenancy import create_site as add_site
from server.tickets.policy import holiday_lists, load_holiday_year, set_sla_preset
from server.users import create_user as add_user
from wire.enums import Role

T = TypeVar("T")


def _now() -> datetime:
    return datetime.now(UTC)


@contextmanager
def _engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _admin(action: Callable[[Session], T]) -> T:
    """Run `action` in one write transaction; a domain refusal exits 1 with its reason."""
    settings = Settings()
    try:
        with _engine(settings) as engine, write_session(engine) as session:
            return action(session)
    except DomainError as err:
        typer.echo(f"secmon: {err}", err=True)
        raise typer.Exit(1) from err


def serve(*, host: str, port: int) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = Settings()
    try:
        load_secret_key(settings)  # before the database is touched: a weak key stops here
    except SecretKeyMissingError as err:
        typer.echo(f"secmon: secret key: {err}", err=True)
        raise typer.Exit(2) from err
    migrate.upgrade(database_url=settings.database_url)
    try:
        app = create_app(settings)
    except NotifyConfigError as err:
        typer.echo(f"secmon: notify config: {err}", err=True)
        raise typer.Exit(2) from err
    except ConfigError as err:
        typer.echo(f"secmon: fault rules:\n{err}", err=True)
        raise typer.Exit(2) from err
    tune_gc()
    uvicorn.run(app, host=host, port=port, log_level="info")


def show_rules(*, file: Path | None) -> None:
    """The shipped rules with the file's changes, one per line; a bad file exits 2."""
    path = file or Settings().fault_rules
    settings = FaultSettings()
    if path is not None:
        try:
            settings = load_fault_settings(path, settings)
        except ConfigError as err:
            typer.echo(f"secmon: fault rules:\n{err}", err=True)
            raise typer.Exit(2) from err
    typer.echo(f"ok: {len(settings.rules.rules)} rules" + (f" ({path})" if path else " (shipped)"))
    for rule in sorted(settings.rules.rules, key=lambda r: r.code.value):
        typer.echo(describe(rule))
    overrides = {k: v.value for k, v in settings.severity_defaults.items()}
    typer.echo("severity: " + ", ".join(f"{k}={v}" for k, v in sorted(overrides.items())))


# Ingest allocates ~50,000 short-lived objects per batch of 500, next to none in cycles: at the
# default threshold of 700 that is dozens of young collections a batch, and every full one
# rescans the objects start-up made. Measured in-process: ~15 % more samples/s.
GC_THRESHOLDS = (20_000, 50, 100)


def tune_gc() -> None:
    """Freeze what start-up made (never garbage) and collect young objects less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def db_upgrade(*, revision: str) -> None:
    migrate.upgrade(database_url=Settings().database_url, revision=revision)


def backup(*, out: Path) -> None:
    """SQLite: an online copy to `out`; PostgreSQL: exit 2 with the pg_dump line to run."""
    database_url = Settings().database_url
    if not is_sqlite(database_url):
        typer.echo(
            "secmon: backup copies SQLite databases; for PostgreSQL run pg_dump "
            "(docs/operator-guide.md, Backups):\n  " + pg_dump_command(database_url, out),
            err=True,
        )
        raise typer.Exit(2)
    try:
        result = backup_sqlite(database_url=database_url, out=out)
    except BackupError as err:
        typer.echo(f"secmon: {err}", err=True)
        raise typer.Exit(1) from err
    typer.echo(f"backup: {result.path}, {result.bytes} bytes, schema revision {result.revision}")


def db_prune() -> None:
    settings = Settings()
    with _engine(settings) as engine:
        deleted = prune_samples(
            engine=engine, retention=timedelta(days=settings.retention_days), now=_now()
        )
    typer.echo(f"deleted {deleted} samples older than {settings.retention_days} days")


def create_client(*, name: str, sla_preset: str | None) -> None:
    client = _admin(lambda s: add_client(session=s, name=name, now=_now(), sla_preset=sla_preset))
    typer.echo(f"client {client.name!r} created (id {client.id})")


def create_site(*, client: str, name: str, zone: str, timezone: str) -> None:
    def action(session: Session) -> int:
        owner = client_by_name(session=session, name=client)
        site = add_site(
            session=session, client_id=owner.id, name=name, zone=zone, timezone=timezone, now=_now()
        )
        return site.id

    site_id = _admin(action)
    typer.echo(f"site {name!r} created for client {client!r} (id {site_id})")


def set_policy(*, client: str, preset: str, general_calendar: CalendarMode | None) -> None:
    def action(session: Session) -> str:
        owner = client_by_name(session=session, name=client)
        policy = set_sla_preset(
            session=session,
            client_id=owner.id,
            preset=preset,
            general_calendar=general_calendar,
            now=_now(),
        )
        modes = sorted({f"{sev.value} {t.calendar.value}" for (sev, _), t in policy.cells.items()})
        return ", ".join(modes)

    modes = _admin(action)
    typer.echo(f"client {client!r} now follows SLA preset {preset} ({modes})")


def load_holidays(*, file: Path, country: str) -> None:
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as err:
        typer.echo(f"secmon: {file}: {err.strerror or err}", err=True)
        raise typer.Exit(1) from err
    year = _admin(
        lambda s: load_holiday_year(
            session=s, text=text, country=country, source=file.name, now=_now()
        )
    )
    typer.echo(
        f"{year.country} {year.year}: {len(year.holidays.holidays)} holidays and "
        f"{len(year.holidays.workdays)} make-up working days loaded from {file.name}"
    )


def show_holidays() -> None:
    """The statutory holiday years per country; a missing expected year is flagged."""

    def action(session: Session) -> list[str]:
        try:
            lists = holiday_lists(session=session)
        except SlaCalendarError as err:
            raise ConflictError(f"a loaded holiday list is unreadable: {err}") from err
        lines = []
        for cover in coverage(lists, this_year=_now().year):
            zones = ", ".join(z for z, c in sorted(COUNTRY_OF_ZONE.items()) if c == cover.country)
            have = ", ".join(str(y) for y in cover.years) or "none"
            lines.append(f"{cover.country} (sites in {zones or 'no known zone'}): {have}")
            if cover.missing:
                missing = ", ".join(str(y) for y in cover.missing)
                lines.append(
                    f"  MISSING {missing}: no list published or loaded; those years count no "
                    f"public holidays until `secmon admin load-holidays` loads one"
                )
        return lines

    for line in _admin(action):
        typer.echo(line)


def create_agent_token(*, site: str, client: str | None) -> None:
    def action(session: Session) -> str:
        found = site_by_name(session=session, name=site, client_name=client)
        return issue_agent_token(session=session, site_id=found.id, now=_now()).token

    token = _admin(action)
    typer.echo("agent token (shown once, store it in the agent's config):", err=True)
    typer.echo(token)


def status_link(*, client: str) -> None:
    def action(session: Session) -> str:
        found = client_by_name(session=session, name=client)
        return rotate_link(session=session, client_id=found.id, now=_now())

    token = _admin(action)
    typer.echo("status page link (the previous one stops working):", err=True)
    typer.echo(f"/status/{token}")


def revoke_agent_token(*, prefix: str) -> None:
    _admin(lambda s: revoke_token(session=s, prefix=prefix, now=_now()))
    typer.echo(f"agent token {prefix} revoked")


def create_user(*, username: str, role: Role, client: str | None, password_env: str | None) -> None:
    if password_env is not None:
        password = os.environ.get(password_env, "")
        if not password:
            typer.echo(f"secmon: environment variable {password_env} is empty or unset", err=True)
            raise typer.Exit(1)
    else:
        password = getpass.getpass(f"password for {username}: ")
        if password != getpass.getpass("again: "):
            typer.echo("secmon: passwords differ", err=True)
            raise typer.Exit(1)
    if not password:
        typer.echo("secmon: empty password", err=True)
        raise typer.Exit(1)

    def action(session: Session) -> int:
        client_id = client_by_name(session=session, name=client).id if client else None
        user = add_user(
            session=session,
            username=username,
            password=password,
            role=role,
            client_id=client_id,
            now=_now(),
        )
        return user.id

    user_id = _admin(action)
    typer.echo(f"user {username!r} created with role {role.value} (id {user_id})")
