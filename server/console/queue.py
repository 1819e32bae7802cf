"""The ticket queue's order and countdowns: pure, so "most urgent first" is tested exactly."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

SEVERITY_RANK = {"emergency": 0, "general": 1}


class Clock(StrEnum):
    RESPOND = "respond"
    ON_SITE = "on_site"
    RESOLVE = "resolve"


@dataclass(frozen=True, slots=True)
class QueueTicket:
    id: int
    state: str
    severity: str
    created_at: datetime
    acknowledged_at: datetime | None
    on_site_at: datetime | None
    resolved_at: datetime | None
    respond_by: datetime | None
    on_site_by: datetime | None
    resolve_by: datetime | None

    @property
    def without_deadlines(self) -> bool:
        """No SLA deadline at all: the client's policy has no cell for the site's zone and
        severity, so no clock can ever breach; the queue shows it as a problem, on top."""
        return self.respond_by is None and self.on_site_by is None and self.resolve_by is None


@dataclass(frozen=True, slots=True)
class Countdown:
    clock: Clock
    deadline: datetime
    remaining: timedelta

    @property
    def breached(self) -> bool:
        return self.remaining < timedelta(0)


def next_deadline(ticket: QueueTicket, now: datetime) -> Countdown | None:
    """The first clock still running: respond until acknowledged, then on site, then resolve."""
    for clock, deadline, met in (
        (Clock.RESPOND, ticket.respond_by, ticket.acknowledged_at),
        (Clock.ON_SITE, ticket.on_site_by, ticket.on_site_at),
        (Clock.RESOLVE, ticket.resolve_by, ticket.resolved_at),
    ):
        if met is None and deadline is not None:
            return Countdown(clock=clock, deadline=deadline, remaining=deadline - now)
    return None


def urgency_order(tickets: Sequence[QueueTicket], now: datetime) -> list[QueueTicket]:
    """Tickets without any deadline first (an SLA set-up problem nobody's clock will flag),
    then breached (most overdue on top), then by time left, emergencies before general at a
    tie; tickets with no running clock left last, oldest first."""

    def key(ticket: QueueTicket) -> tuple[int, float, int, float]:
        countdown = next_deadline(ticket, now)
        rank = SEVERITY_RANK.get(ticket.severity, 2)
        if ticket.without_deadlines:
            return (-1, 0.0, rank, ticket.created_at.timestamp())
        if countdown is None:
            return (1, 0.0, rank, ticket.created_at.timestamp())
        return (0, countdown.remaining.total_seconds(), rank, ticket.created_at.timestamp())

    return sorted(tickets, key=key)


def format_remaining(remaining: timedelta) -> str:
    """ "1 h 05 min", "-12 min" (overdue): short enough for a phone's queue row."""
    seconds = int(remaining.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{sign}{days} d {hours} h"
    if hours:
        return f"{sign}{hours} h {minutes:02d} min"
    return f"{sign}{minutes} min"
