"""`secmon notify …`: check the notify config, send a test message to a contact's channels."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import typer

from server.notify.config import NotifyConfig, NotifyConfigError, load_notify_config
from server.notify.sender import AppriseSender, DeliveryError
from server.settings import Settings


def _config(path: Path | None) -> NotifyConfig:
    path = path or Settings().notify_config
    if path is None:
        typer.echo("secmon: no notify config (give --config or set SECMON_NOTIFY_CONFIG)", err=True)
        raise typer.Exit(2)
    try:
        return load_notify_config(path)
    except NotifyConfigError as err:
        typer.echo(f"secmon: notify config: {err}", err=True)
        raise typer.Exit(2) from err


def check(*, config: Path | None) -> None:
    """Validate the file and say who is on call now."""
    loaded = _config(config)
    now = datetime.now(UTC)
    typer.echo(
        f"ok: {len(loaded.contacts)} contacts, {len(loaded.teams)} teams, "
        f"{len(loaded.clients)} clients with their own chain"
    )
    for name, team in loaded.teams.items():
        on_call = team.rota.to_rota().on_call(now) if team.rota is not None else "-"
        sites = ", ".join(str(s) for s in team.sites) or "none"
        typer.echo(
            f"team {name}: sites {sites}; members {', '.join(team.members)}; on call {on_call}"
        )


def send_test(*, contact: str, channel: str | None, config: Path | None) -> None:
    """Send one test message through each (or one) channel of a contact, right now."""
    loaded = _config(config)
    found = loaded.contacts.get(contact)
    if found is None:
        typer.echo(f"secmon: no contact {contact!r} in the notify config", err=True)
        raise typer.Exit(2)
    channels = [channel] if channel else list(found.channels)
    sender = AppriseSender(timeout_seconds=loaded.delivery.timeout_seconds)
    failed = 0
    for name in channels:
        try:
            url = loaded.resolve_url(contact, name)
            asyncio.run(
                sender.send(url, "secmon test message", f"Test message for {contact} ({name}).")
            )
        except (NotifyConfigError, DeliveryError) as err:
            failed += 1
            typer.echo(f"{contact}/{name}: FAILED: {err}")
        else:
            typer.echo(f"{contact}/{name}: sent")
    if failed:
        raise typer.Exit(1)
