"""Preventive work proposed for a site's inspection visit: the site's preventive tickets that
still wait for someone, each with the forecast behind it (its sentence and projected date).

Read when an inspection is generated or shown, not stored with it: what is proposed is what is
open at that moment, so a ticket closed since (part replaced, trend reversed) drops out.
"""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Device, Ticket, TicketEvent
from server.predict.job import CODE_PREFIX, FORECAST_EVENT
from server.tickets.states import WORK_STATES, TicketKind


@dataclass(frozen=True, slots=True)
class ProposedWork:
    ticket_id: int
    device_id: int | None
    device_name: str | None
    signal: str
    state: str
    resolve_by: datetime | None
    projected: date | None
    check: str | None
    en: str
    zh: str


def _projected(value: Any) -> date | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def proposed_work(*, session: Session, site_id: int) -> list[ProposedWork]:
    """The site's open preventive tickets, nearest projected date first (no date last)."""
    found = session.execute(
        select(Ticket, Device.name)
        .outerjoin(Device, Device.id == Ticket.device_id)
        .where(
            Ticket.site_id == site_id,
            Ticket.kind == TicketKind.PREVENTIVE.value,
            Ticket.state.in_([s.value for s in WORK_STATES]),
        )
        .order_by(Ticket.id)
    ).all()
    if not found:
        return []
    forecasts: dict[int, dict[str, Any]] = {}
    for event in session.scalars(
        select(TicketEvent)
        .where(
            TicketEvent.ticket_id.in_([ticket.id for ticket, _ in found]),
            TicketEvent.kind == FORECAST_EVENT,
        )
        .order_by(TicketEvent.id)
    ):
        forecasts[event.ticket_id] = dict(event.data or {})  # the latest wins
    out = []
    for ticket, device_name in found:
        facts = forecasts.get(ticket.id, {})
        code = ticket.code or ""
        out.append(
            ProposedWork(
                ticket_id=ticket.id,
                device_id=ticket.device_id,
                device_name=device_name,
                signal=code.removeprefix(CODE_PREFIX),
                state=ticket.state,
                resolve_by=ticket.resolve_by,
                projected=_projected(facts.get("projected")),
                check=facts.get("check"),
                # A ticket without a forecast event yet still says what it is.
                en=str(facts.get("en") or ticket.title),
                zh=str(facts.get("zh") or ticket.title),
            )
        )
    out.sort(key=lambda p: (p.projected is None, p.projected or date.min, p.ticket_id))
    return out
