"""Ticket facts for the KPIs, read from tickets, their audit events, records and surveys."""

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import RepairRecord, Site, Ticket, TicketEvent, TicketSurvey
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


# Staff moves that answer a report (000 「做出響應」): any of them is the response.
RESPONSES = frozenset(
    {TicketState.ACKNOWLEDGED, TicketState.DISPATCHED, TicketState.ON_SITE, TicketState.RESOLVED}
)
# Wider than any UTC offset: the UTC window that surely holds a span of local dates.
_ANY_OFFSET = timedelta(hours=15)


def ticket_facts(
    *,
    session: Session,
    since: date,
    until: date,
    scope: Scope | None = None,
) -> list[TicketFacts]:
    """Facts of tickets created on local dates [since, until) of their own site's time zone,
    of the sites `scope` reaches (None: all). Preventive tickets (forecasts) are not faults and
    have no response clock: left out."""
    query = (
        select(Ticket, Site.timezone)
        .join(Site, Site.id == Ticket.site_id)
        .where(
            Ticket.created_at >= datetime.combine(since, time(0), UTC) - _ANY_OFFSET,
            Ticket.created_at < datetime.combine(until, time(0), UTC) + _ANY_OFFSET,
            Ticket.kind != TicketKind.PREVENTIVE.value,
        )
    )
    if scope is not None:
        query = scope.where_ticket(query, Ticket.site_id, Ticket.assignee_id)
    zone_of: dict[int, str] = {}
    tickets = []
    for ticket, timezone in session.execute(query.order_by(Ticket.id)):
        if since <= ticket.created_at.astimezone(ZoneInfo(timezone)).date() < until:
            tickets.append(ticket)
            zone_of[ticket.id] = timezone
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
    records = {  # the current version: the one the ticket closed on
        r.ticket_id: r
        for r in session.scalars(
            select(RepairRecord).where(
                RepairRecord.ticket_id.in_(ids), RepairRecord.superseded_at.is_(None)
            )
        )
    }
    ratings = {
        s.ticket_id: s.rating
        for s in session.scalars(select(TicketSurvey).where(TicketSurvey.ticket_id.in_(ids)))
    }
    repeated = set(session.scalars(select(Ticket.repeat_of_id).where(Ticket.repeat_of_id.in_(ids))))
    facts = []
    for t in tickets:
        events = moves[t.id]
        resolved = [e.at for e in events if e.to_state == TicketState.RESOLVED]
        acted = any(e.actor_id is not None for e in events)
        answers = [e.at for e in events if e.actor_id is not None and e.to_state in RESPONSES]
        recovered = [e.at for e in events if e.to_state == TicketState.RECOVERED]
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
                signature_overridden=t.id in records and records[t.id].override_at is not None,
                rating=ratings.get(t.id),
                first_action_at=min(answers, default=None),
                recovered_at=min(recovered, default=None),
                timezone=zone_of[t.id],
                repeated=t.id in repeated,
            )
        )
    return facts
