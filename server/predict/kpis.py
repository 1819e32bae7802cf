"""Preventive tickets counted apart from the fault KPIs: a forecast has no response clock, so
it would only distort response timeliness and repair success if counted with faults."""

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Ticket
from server.tenancy import Scope
from server.tickets.states import OPEN_STATES, TicketKind, TicketState


@dataclass(frozen=True)
class PreventiveCounts:
    opened: int
    open: int
    closed: int
    recovered_before_action: int  # trend reversed or part replaced before anyone acted
    resolved_by_deadline: int
    resolved_late: int


def preventive_counts(*, session: Session, scope: Scope) -> PreventiveCounts:
    """Every preventive ticket of the sites `scope` sees: how many, how many still open, and
    whether the resolved ones were done before their deadline."""
    query = select(Ticket).where(Ticket.kind == TicketKind.PREVENTIVE.value)
    rows = session.scalars(scope.where_site(query, Ticket.site_id)).all()
    open_states = {s.value for s in OPEN_STATES}
    done = [(t.resolved_at, t.resolve_by) for t in rows]
    resolved = [(at, by) for at, by in done if at is not None and by is not None]
    on_time = sum(1 for at, by in resolved if at <= by)
    return PreventiveCounts(
        opened=len(rows),
        open=sum(1 for t in rows if t.state in open_states),
        closed=sum(1 for t in rows if t.state == TicketState.CLOSED.value),
        recovered_before_action=sum(1 for t in rows if t.recovered_at is not None),
        resolved_by_deadline=on_time,
        resolved_late=len(resolved) - on_time,
    )
