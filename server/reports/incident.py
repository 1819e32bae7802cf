"""The fault analysis report of an emergency ticket (seed §3.3: after every emergency repair, a
written analysis): timeline, impact in device-hours, cause class, actions, prevention note.

Impact counts each affected device once per moment: the ticket's fault episodes and the
episodes held under them (cameras behind a dead switch), their intervals merged per device.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Client, Device, FaultEpisode, Site, Ticket, TicketEvent
from server.tickets.repair import CauseClass, current_record

Interval = tuple[datetime, datetime]

PREVENTION: dict[str, str] = {
    CauseClass.EQUIPMENT.value: (
        "Equipment failure: watch the device's forecasts and replace parts of the same batch "
        "or age before they fail; keep a spare on site."
    ),
    CauseClass.INSTALLATION.value: (
        "Installation fault: re-inspect cabling, connectors, earthing and power at this site "
        "in the next monthly inspection, and correct the installation standard."
    ),
    CauseClass.CLIENT_USE.value: (
        "Caused by use or operation: brief the client's operators and note it in the "
        "quarterly report."
    ),
    CauseClass.EXTERNAL.value: (
        "External cause (mains, lightning, third-party work): check surge protection and UPS "
        "runtime, and agree notice of third-party work with the client."
    ),
}


class IncidentError(ValueError):
    """The ticket has no fault analysis report (not an emergency); the message says why."""


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    who: str
    what: str


@dataclass(frozen=True)
class IncidentReport:
    ticket_id: int
    title: str
    client_name: str
    site_name: str
    device_name: str | None
    severity: str
    state: str
    symptom: str
    first_failure_at: datetime
    created_at: datetime
    resolved_at: datetime | None
    respond_by: datetime | None
    on_site_by: datetime | None
    resolve_by: datetime | None
    acknowledged_at: datetime | None
    on_site_at: datetime | None
    timeline: tuple[TimelineEntry, ...]
    devices_affected: int
    device_hours: float
    cause_class: str | None
    diagnosis: str | None
    actions: str | None
    parts: tuple[str, ...]
    prevention: str


def merged_seconds(intervals: Iterable[Interval]) -> float:
    """Seconds covered by the union of the intervals (overlaps counted once)."""
    total = 0.0
    end: datetime | None = None
    start: datetime | None = None
    for a, b in sorted(intervals):
        if end is None or a > end:
            if start is not None and end is not None:
                total += (end - start).total_seconds()
            start, end = a, b
        elif b > end:
            end = b
    if start is not None and end is not None:
        total += (end - start).total_seconds()
    return total


def device_hours(per_device: Mapping[int, Sequence[Interval]]) -> float:
    """Σ over devices of the time each was affected, in hours."""
    return sum(merged_seconds(spans) for spans in per_device.values()) / 3600


def _episode_line(e: FaultEpisode, names: Mapping[int, str]) -> str:
    on = names.get(e.device_id, f"device {e.device_id}") if e.device_id else "site"
    held = " (held under the ticket's fault)" if e.parent_episode_id else ""
    return f"{e.code} on {on}{held}"


def load_incident(*, session: Session, ticket: Ticket, now: datetime) -> IncidentReport:
    """The report's data from the ticket, its events, its fault episodes and repair record."""
    if ticket.severity != "emergency":
        raise IncidentError(
            f"ticket {ticket.id} is {ticket.severity}: the fault analysis report is for "
            "emergency tickets"
        )
    own = session.scalars(select(FaultEpisode).where(FaultEpisode.ticket_id == ticket.id)).all()
    ids = [e.id for e in own]
    held = (
        session.scalars(
            select(FaultEpisode).where(
                FaultEpisode.parent_episode_id.in_(ids), FaultEpisode.ticket_id.is_(None)
            )
        ).all()
        if ids
        else []
    )
    episodes = [*own, *held]
    device_ids = {e.device_id for e in episodes if e.device_id} | (
        {ticket.device_id} if ticket.device_id else set()
    )
    names = (
        dict(session.execute(select(Device.id, Device.name).where(Device.id.in_(device_ids))).all())
        if device_ids
        else {}
    )
    spans: dict[int, list[Interval]] = {}
    for e in episodes:
        if e.device_id:
            spans.setdefault(e.device_id, []).append((e.started_at, e.recovered_at or now))
    if not spans and ticket.device_id:
        # A reported fault with no monitoring episode: from first failure to resolution.
        until = ticket.resolved_at or ticket.recovered_at or now
        spans[ticket.device_id] = [(ticket.first_failure_at, until)]
    timeline = [
        TimelineEntry(
            ev.at,
            ev.actor,
            ev.kind
            + (f" {ev.from_state or ''} → {ev.to_state or ''}" if ev.to_state else "")
            + (f": {ev.note}" if ev.note else ""),
        )
        for ev in session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.at)
        )
    ]
    for e in episodes:
        timeline.append(
            TimelineEntry(e.started_at, "monitoring", f"fault {_episode_line(e, names)}")
        )
        if e.recovered_at:
            timeline.append(
                TimelineEntry(e.recovered_at, "monitoring", f"recovered {_episode_line(e, names)}")
            )
    timeline.sort(key=lambda t: t.at)
    record = current_record(session=session, ticket_id=ticket.id)
    site = session.get(Site, ticket.site_id)
    client = session.get(Client, ticket.client_id)
    parts = tuple(
        str(p.get("name", "?"))
        + (f" ({p['old_serial']} → {p['new_serial']})" if p.get("new_serial") else "")
        for p in (record.parts if record else [])
    )
    return IncidentReport(
        ticket_id=ticket.id,
        title=ticket.title,
        client_name=client.name if client else "",
        site_name=site.name if site else str(ticket.site_id),
        device_name=names.get(ticket.device_id) if ticket.device_id else None,
        severity=ticket.severity,
        state=ticket.state,
        symptom=ticket.symptom,
        first_failure_at=ticket.first_failure_at,
        created_at=ticket.created_at,
        resolved_at=ticket.resolved_at,
        respond_by=ticket.respond_by,
        on_site_by=ticket.on_site_by,
        resolve_by=ticket.resolve_by,
        acknowledged_at=ticket.acknowledged_at,
        on_site_at=ticket.on_site_at,
        timeline=tuple(timeline),
        devices_affected=len(spans),
        device_hours=device_hours(spans),
        cause_class=record.cause_class if record else None,
        diagnosis=record.diagnosis if record else None,
        actions=record.actions if record else None,
        parts=parts,
        prevention=(
            PREVENTION.get(record.cause_class, "")
            if record
            else "No repair record yet: the prevention note follows the cause found on site."
        ),
    )
