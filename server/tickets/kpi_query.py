"""Ticket facts for the KPIs, read from tickets, their audit events, records and surveys."""

from collections import defaultdict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import RepairRecord, Ticket, TicketEvent, TicketSurvey
from server.tenancy import Scope
from server.tickets.kpis import TicketFacts
from server.tickets.states import TicketKind, TicketState


def _complete(record: RepairRecord | None) -> bool | None:
    if record is None:
        return None
    return bool(
        record.diagnosis.strip()
        and record.cause_class
        and record.actions.strip()
        and record.technician_signed_at
        and record.client_signed_name
        and record.client_signed_at
    )


def ticket_facts(
    *,
    session: Session,
    since: datetime,
    until: datetime,
    scope: Scope | None = None,
) -> list[TicketFacts]:
    """Facts of tickets created in [since, until), of the sites `scope` reaches (None: all).
    Preventive tickets (forecasts) are not faults and have no response clock: left out."""
    query = select(Ticket).where(
        Ticket.created_at >= since,
        Ticket.created_at < until,
        Ticket.kind != TicketKind.PREVENTIVE.value,
    )
    if scope is not None:
        query = scope.where_ticket(query, Ticket.site_id, Ticket.assignee_id)
    tickets = list(session.scalars(query.order_by(Ticket.id)))
    if not tickets:
        return []
    ids = [t.id for t in tickets]
    moves: dict[int, list[TicketEvent]] = defaultdict(list)
    for event in session.scalars(
        select(TicketEvent)
        .where(TicketEvent.ticket_id.in_(ids), TicketEvent.kind == "transition")
        .order_by(TicketEvent.id)
    ):
        moves[event.ticket_id].append(event)
    records = {
        r.ticket_id: r
        for r in session.scalars(select(RepairRecord).where(RepairRecord.ticket_id.in_(ids)))
    }
    ratings = {
        s.ticket_id: s.rating
        for s in session.scalars(select(TicketSurvey).where(TicketSurvey.ticket_id.in_(ids)))
    }
    facts = []
    for t in tickets:
        events = moves[t.id]
        resolved = [e.at for e in events if e.to_state == TicketState.RESOLVED]
        acted = any(e.actor_id is not None for e in events)
        facts.append(
            TicketFacts(
                id=t.id,
                client_id=t.client_id,
                site_id=t.site_id,
                technician_id=t.assignee_id,
                created_at=t.created_at,
                first_failure_at=t.first_failure_at,
                cancelled=t.state == TicketState.CANCELLED,
                closed=t.state == TicketState.CLOSED,
                respond_by=t.respond_by,
                on_site_by=t.on_site_by,
                acknowledged_at=t.acknowledged_at,
                dispatched_at=t.dispatched_at,
                on_site_at=t.on_site_at,
                first_resolved_at=min(resolved) if resolved else None,
                reopened_at=tuple(e.at for e in events if e.to_state == TicketState.REOPENED),
                recovered_unattended=not acted
                and any(e.to_state == TicketState.RECOVERED for e in events),
                record_complete=_complete(records.get(t.id)),
                rating=ratings.get(t.id),
            )
        )
    return facts
