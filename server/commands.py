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
from server.db import make_engine, write_session
from server.errors import DomainError
from server.faults.config import describe, load_fault_settings
from server.faults.engine import FaultSettings
from server.notify.config import NotifyConfigError
from server.retention import prune_samples
from server.settings import Settings
from server.status.query import rotate_link
from server.tenancy import client_by_name, site_by_name
from server.tenancy import create_client as add_client
from server.tenancy import create_site as add_site
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
