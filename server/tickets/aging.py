"""Time-based ticket work of the sweep: recovered tickets closed after their quiet period,
resolved tickets whose fault outlasted it reopened, and escalation's look at open tickets' SLA
clocks."""

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import FaultEpisode, Ticket, TicketEvent
from server.notify.escalation import Reroute, reroutes
from server.notify.hooks import configured, on_ticket_event
from server.tickets import service
from server.tickets.notify_link import ticket_facts, waiting_since
from server.tickets.service import Actor, SettingsLookup
from server.tickets.states import OPEN_STATES, TicketState

log = logging.getLogger(__name__)


def tick_open(*, session: Session, now: datetime, lookup: SettingsLookup) -> None:
    """Let escalation look at every open ticket's clocks; its dedupe keys make repeats no-ops.
    A ticket nobody has acted on is passed down the chain (`reroutes`), each step once in its
    audit trail and the log (the sweep runs on one replica at a time)."""
    open_tickets = session.scalars(
        select(Ticket).where(Ticket.state.in_([s.value for s in OPEN_STATES])).order_by(Ticket.id)
    ).all()
    config = configured()
    for ticket in open_tickets:
        session.flush()
        facts = ticket_facts(session=session, ticket=ticket, settings=lookup(ticket.client_id),
                             now=now)  # fmt: skip
        on_ticket_event(session, ticket.id, "tick", facts=facts, config=config, now=now)
        steps = reroutes(facts, config, now)
        if steps:
            _audit_reroutes(session=session, ticket=ticket, steps=steps, now=now)


def _audit_reroutes(
    *, session: Session, ticket: Ticket, steps: list[Reroute], now: datetime
) -> None:
    done = {
        (e.data or {}).get("step")
        for e in session.scalars(
            select(TicketEvent).where(
                TicketEvent.ticket_id == ticket.id,
                TicketEvent.kind == "rerouted",
                TicketEvent.at >= (waiting_since(ticket) or now),
            )
        )
    }
    for step in steps:
        if step.step in done:
            continue
        service.add_event(
            session=session, ticket=ticket, actor=Actor(service.SYSTEM), kind="rerouted", at=now,
            note=f"nobody acted yet: passed on to {step.contact} ({step.role.value})",
            data={"step": step.step, "contact": step.contact, "role": step.role.value},
        )  # fmt: skip
        log.info(
            "ticket %s: not acted on, rerouted to %s (step %s)", ticket.id, step.contact,
            step.step, extra={"ticket_id": ticket.id, "site_id": ticket.site_id},
        )  # fmt: skip


def close_quiet(*, session: Session, now: datetime, lookup: SettingsLookup) -> list[int]:
    """Recovered tickets with no recurrence for the client's quiet period; returns them."""
    closed = []
    recovered = session.scalars(
        select(Ticket).where(Ticket.state == TicketState.RECOVERED.value).order_by(Ticket.id)
    ).all()
    for ticket in recovered:
        quiet = lookup(ticket.client_id).recovered_quiet_minutes
        if ticket.recovered_at is not None and now - ticket.recovered_at >= timedelta(
            minutes=quiet
        ):
            service.close_quiet_recovered(
                session=session, ticket=ticket, now=now, quiet_minutes=quiet
            )
            closed.append(ticket.id)
    return closed


def reopen_still_down(*, session: Session, now: datetime, lookup: SettingsLookup) -> list[int]:
    """A ticket resolved while its fault was open comes back when monitoring still sees the
    fault once the client's confirmation (quiet) period after the resolve has passed; returns
    the tickets reopened."""
    reopened = []
    still_down = session.scalars(
        select(Ticket)
        .where(
            Ticket.state == TicketState.RESOLVED.value,
            Ticket.id.in_(
                select(FaultEpisode.ticket_id).where(
                    FaultEpisode.open_key.is_not(None), FaultEpisode.parent_episode_id.is_(None)
                )
            ),
        )
        .order_by(Ticket.id)
    ).all()
    for ticket in still_down:
        window = lookup(ticket.client_id).recovered_quiet_minutes
        if ticket.resolved_at is None or now - ticket.resolved_at < timedelta(minutes=window):
            continue
        codes = sorted({e.code for e in service.open_faults(session=session, ticket_id=ticket.id)})
        service.reopen_still_down(
            session=session,
            ticket=ticket,
            now=now,
            note=f"{', '.join(codes)} still open {window} min after the resolve",
        )
        reopened.append(ticket.id)
    return reopened
