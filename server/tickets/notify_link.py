"""Tells the notification layer what happened to a ticket (`server.notify.hooks`).

Rows are queued in the ticket's own transaction (a rolled-back change notifies nobody) and
delivered later by the notify worker, so a failing channel never holds a ticket up.
"""

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import Device, Site, StatusPage, Ticket, TicketEvent, TicketPause, User
from server.notify.escalation import TicketFacts
from server.notify.hooks import configured, on_ticket_event
from server.notify.rota import choose_assignee
from server.sla import ClockState, Pause, SlaClock, SlaConfigError, clock_state, ticket_clocks
from server.status.view import Contact
from server.status.words import LANGUAGES, Words
from server.tickets.policy import ServiceSettings
from server.tickets.states import TicketKind, TicketState, ticket_clock_start

# `Ticket.sla_policy` of a ticket whose deadline came from the preventive cell.
PREVENTIVE_SLA = "preventive"


def _preventive_clocks(ticket: Ticket, now: datetime) -> dict[SlaClock, ClockState]:
    """A preventive ticket runs one clock, to its deadline from the preventive cell (set when
    the ticket opens); none without a projected date."""
    if ticket.sla_policy != PREVENTIVE_SLA or ticket.resolve_by is None:
        return {}
    started = min(ticket.created_at, ticket.resolve_by)
    return {
        SlaClock.RESOLVE: clock_state(ticket.resolve_by, started, now, met_at=ticket.resolved_at)
    }


def _client_contact(session: Session, client_id: int) -> dict[str, str]:
    """The service contact card as the client may see it: the phone only where the card says
    so (the same rule as the status page)."""
    page = session.get(StatusPage, client_id)
    card = Contact.of(page.contact if page is not None else {})
    found = {"name": card.name, "phone": card.phone, "email": card.email}
    return {key: value for key, value in found.items() if value}


def _client_titles(session: Session, ticket: Ticket) -> dict[str, str]:
    """The problem as the client's status page words it, in each of its languages."""
    device = session.get(Device, ticket.device_id) if ticket.device_id is not None else None
    name = device.name if device is not None else None
    return {lang: Words(lang).what(ticket.code, ticket.symptom, name) for lang in LANGUAGES}


def ticket_facts(
    *,
    session: Session,
    ticket: Ticket,
    settings: ServiceSettings,
    now: datetime,
    client_link: str = "",
) -> TicketFacts:
    site = session.get(Site, ticket.site_id)
    assert site is not None
    rows = session.scalars(select(TicketPause).where(TicketPause.ticket_id == ticket.id))
    pauses = [Pause(r.started_at, r.ended_at) for r in rows]
    preventive = ticket.kind == TicketKind.PREVENTIVE.value
    if preventive:
        states = _preventive_clocks(ticket, now)
    else:
        states = _fault_clocks(ticket, settings, site.zone, site.timezone, pauses, now)
    assignee = session.get(User, ticket.assignee_id) if ticket.assignee_id else None
    return TicketFacts(
        ticket_id=ticket.id,
        client_id=ticket.client_id,
        site_id=ticket.site_id,
        # The label of its messages; escalation routes an unknown label as general.
        severity=PREVENTIVE_SLA if preventive else ticket.severity,
        title=ticket.title,
        state=ticket.state,
        assignee=assignee.username if assignee else None,
        cycle=ticket.reopened_count,
        clocks=states,
        site_name=site.name,
        timezone=site.timezone,
        link=f"/api/v1/tickets/{ticket.id}",
        waiting_since=waiting_since(ticket),
        eta=ticket.eta,
        client_link=client_link,
        contact=_client_contact(session, ticket.client_id),
        client_titles=_client_titles(session, ticket),
        diagnosis=diagnosis_clock(session=session, ticket=ticket, now=now),
    )


def diagnosis_clock(*, session: Session, ticket: Ticket, now: datetime) -> ClockState | None:
    """An emergency's initial-diagnosis clock (001 「需在1小时内完成初步诊断」): wall time from the
    clock start to `diagnose_by`, stopped by the first diagnosis recorded (a later one replaces
    the plan's text, not the moment the engineer first answered); None without a deadline."""
    if ticket.diagnose_by is None:
        return None
    first = session.scalar(
        select(TicketEvent.at)
        .where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "diagnosed")
        .order_by(TicketEvent.at, TicketEvent.id)
        .limit(1)
    )
    return clock_state(ticket.diagnose_by, ticket_clock_start(ticket), now, met_at=first)


def waiting_since(ticket: Ticket) -> datetime | None:
    """Since when a ticket waits for someone to act on it: opened (or back to new after a
    recovery) or reopened, nobody has taken it up since."""
    if ticket.state == TicketState.NEW.value and ticket.acknowledged_at is None:
        return ticket.created_at
    if ticket.state == TicketState.REOPENED.value:
        return ticket.last_reopened_at
    return None


def _fault_clocks(
    ticket: Ticket,
    settings: ServiceSettings,
    zone: str,
    timezone: str,
    pauses: list[Pause],
    now: datetime,
) -> dict[SlaClock, ClockState]:
    try:
        clocks = ticket_clocks(
            settings.sla_policy,
            ticket.severity,
            zone,
            ticket_clock_start(ticket),
            settings.calendar(timezone),
            now,
            acknowledged_at=ticket.acknowledged_at,
            on_site_at=ticket.on_site_at,
            resolved_at=ticket.resolved_at,
            pauses=pauses,
        )
        return {
            SlaClock.RESPOND: clocks.respond,
            SlaClock.ON_SITE: clocks.on_site,
            SlaClock.RESOLVE: clocks.resolve,
        }
    except SlaConfigError:
        return {}


def notify(
    *,
    session: Session,
    ticket: Ticket,
    event: str,
    settings: ServiceSettings,
    now: datetime,
    client_link: str = "",
) -> int:
    """Queue what `event` calls for on this ticket; returns how many rows were new.
    `client_link` is the client's one-time page for this event (sign-off, survey)."""
    session.flush()
    facts = ticket_facts(
        session=session, ticket=ticket, settings=settings, now=now, client_link=client_link
    )
    return on_ticket_event(session, ticket.id, event, facts=facts, now=now)


def auto_assign(
    *, session: Session, ticket: Ticket, settings: ServiceSettings, now: datetime
) -> str | None:
    """Assign a new ticket from the site's team (notify config): round-robin in working hours,
    the on-call member off hours. Contacts are matched to users by username; returns the
    chosen contact (None when the site has no team or nobody matches)."""
    team = configured().team_for_site(ticket.site_id)
    if team is None:
        return None
    _, members = team
    site = session.get(Site, ticket.site_id)
    assert site is not None
    last = session.scalar(
        select(User.username)
        .join(Ticket, Ticket.assignee_id == User.id)
        .where(Ticket.site_id.in_(members.sites), Ticket.id != ticket.id)
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(1)
    )
    users = {
        u.username: u.id
        for u in session.scalars(select(User).where(User.username.in_(members.members)))
    }
    chosen = choose_assignee(
        members.members,
        last_assigned=last,
        at=now,
        off_hours=not settings.calendar(site.timezone).is_working(now),
        rota=members.rota.to_rota() if members.rota is not None else None,
        available=users,
    )
    if chosen is not None and chosen in users:
        ticket.assignee_id = users[chosen]
    return chosen
