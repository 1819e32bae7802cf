"""Time-based ticket work of the sweep: recovered tickets closed after their quiet period,
resolved tickets whose fault outlasted it reopened, and escalation's look at open tickets' SLA
clocks."""

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import FaultEpisode, Ticket
from server.tickets import service
from server.tickets.notify_link import notify
from server.tickets.service import SettingsLookup
from server.tickets.states import OPEN_STATES, TicketState


def tick_open(*, session: Session, now: datetime, lookup: SettingsLookup) -> None:
    """Let escalation look at every open ticket's clocks; its dedupe keys make repeats no-ops."""
    open_tickets = session.scalars(
        select(Ticket).where(Ticket.state.in_([s.value for s in OPEN_STATES])).order_by(Ticket.id)
    ).all()
    for ticket in open_tickets:
        notify(
            session=session, ticket=ticket, event="tick", settings=lookup(ticket.client_id), now=now
        )


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
