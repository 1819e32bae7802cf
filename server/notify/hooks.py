"""The entry point for the ticket layer: call after every ticket change and from the SLA sweep.

    from server.notify.hooks import on_ticket_event
    from server.notify.escalation import TicketFacts
    from server.sla import ticket_clocks

    clocks = ticket_clocks(policy, t.severity, site.zone, t.started_at, calendar, now,
                           acknowledged_at=..., on_site_at=..., resolved_at=...)
    facts = TicketFacts(ticket_id=t.id, client_id=..., site_id=..., severity=t.severity,
                        title="camera-12: device.unreachable", state=t.state,
                        assignee=t.assignee, cycle=t.reopen_count,
                        clocks={"respond": clocks.respond, "on_site": clocks.on_site,
                                "resolve": clocks.resolve}, timezone=site.timezone)
    on_ticket_event(session, t.id, "opened", facts=facts)      # inside the ticket's transaction

Event kinds: opened, acknowledged, dispatched, on_site, resolved, closed, reopened, cancelled,
recovered, and `tick` for the periodic sweep of open tickets (near-breach and breach are found
from the clocks on any event, so the sweep only has to call `tick`). Rows go into the caller's
transaction: a rolled-back ticket change queues nothing, and the unique dedupe key makes a
repeated call (or a second replica) queue nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from server.notify.config import NotifyConfig, load_notify_config_cached
from server.notify.escalation import TicketEvent, TicketFacts, decide
from server.notify.queue import enqueue
from server.settings import Settings

EMPTY_CONFIG = NotifyConfig()

ConfigSource = Callable[[], NotifyConfig]


def from_path(path: Path | None) -> ConfigSource:
    """The config in `path` (re-read when the file changes), or empty without a path."""

    def source() -> NotifyConfig:
        return load_notify_config_cached(path) if path is not None else EMPTY_CONFIG

    return source


class _Installed:
    """Where ticket events take their config: settled once, not per event, because building
    `Settings()` from the environment cost about as much as the rest of opening a ticket."""

    source: ConfigSource | None = None


def use_config(source: ConfigSource | None) -> None:
    """Install the config source of this process (a command, from the settings it has).
    None forgets it: the next event reads SECMON_NOTIFY_CONFIG again (tests that change it)."""
    _Installed.source = source


def configured() -> NotifyConfig:
    """The installed config; without one, the file SECMON_NOTIFY_CONFIG names (looked up once)."""
    if _Installed.source is None:
        _Installed.source = from_path(Settings().notify_config)
    return _Installed.source()


def on_ticket_event(
    session: Session,
    ticket_id: int,
    event_kind: str,
    *,
    facts: TicketFacts,
    config: NotifyConfig | None = None,
    now: datetime | None = None,
) -> int:
    """Queue the notifications this event calls for; returns how many rows were new."""
    if facts.ticket_id != ticket_id:
        raise ValueError(f"facts are for ticket {facts.ticket_id}, not {ticket_id}")
    try:
        event = TicketEvent(event_kind)
    except ValueError as err:
        kinds = ", ".join(e.value for e in TicketEvent)
        raise ValueError(f"unknown ticket event {event_kind!r} (one of {kinds})") from err
    config = config if config is not None else configured()
    now = now or datetime.now(UTC)
    intents = decide(facts, event, config, now)
    if not intents:
        return 0
    return enqueue(session, intents, now=now, max_attempts=config.delivery.max_attempts)
