"""What the console pages show, read from the database (no FastAPI here): the queue, a ticket
with its history and the device's telemetry around the fault, sites, devices, KPIs, agents."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.console.queue import (
    Countdown,
    QueueTicket,
    format_remaining,
    next_deadline,
    urgency_order,
)
from server.faults.picture import ReasonEvidence, ticket_evidence
from server.models import (
    AgentHeartbeatRow,
    AgentToken,
    ClientConsent,
    Device,
    DeviceState,
    FaultEpisode,
    RepairPlan,
    RepairRecord,
    SampleRow,
    Site,
    Ticket,
    TicketEvent,
    UptimeDay,
    User,
)
from server.sla import ClockState
from server.status.uptime import DayFigures, total
from server.tenancy import Assignee, Scope, TeamSites, site_staff
from server.tickets.notify_link import diagnosis_clock
from server.tickets.repair import records_of
from server.tickets.states import OPEN_STATES, WORK_STATES, TicketState

TELEMETRY_BEFORE = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class QueueRow:
    ticket: Ticket
    site: str
    device: str | None
    assignee: str | None
    countdown: Countdown | None
    remaining: str | None
    sla_problem: str | None = None  # why the ticket has no deadlines


@dataclass(frozen=True, slots=True)
class Filters:
    site_id: int | None = None
    severity: str | None = None
    state: TicketState | None = None  # None: the open work (`WORK_STATES`)
    assignee_id: int | None = None

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.site_id, self.severity, self.state,
                                             self.assignee_id))  # fmt: skip

    @property
    def heading(self) -> str:
        """What the queue lists, for its heading: "Open tickets", "Closed tickets", …"""
        if self.state is None:
            return "Open tickets"
        return f"{self.state.value.replace('_', ' ').capitalize()} tickets"


def _names(session: Session, model: Any, ids: set[int], column: Any) -> dict[int, str]:
    if not ids:
        return {}
    return dict(session.execute(select(model.id, column).where(model.id.in_(ids))).all())


def queue(*, session: Session, scope: Scope, filters: Filters, now: datetime) -> list[QueueRow]:
    states = [filters.state] if filters.state is not None else sorted(WORK_STATES)
    query = select(Ticket).where(Ticket.state.in_([s.value for s in states]))
    query = scope.where_ticket(query, Ticket.site_id, Ticket.assignee_id)
    if filters.site_id is not None:
        query = query.where(Ticket.site_id == filters.site_id)
    if filters.severity:
        query = query.where(Ticket.severity == filters.severity)
    if filters.assignee_id is not None:
        query = query.where(Ticket.assignee_id == filters.assignee_id)
    tickets = list(session.scalars(query.limit(1000)))
    by_id = {t.id: t for t in tickets}
    order = urgency_order(
        [
            QueueTicket(
                id=t.id,
                state=t.state,
                severity=t.severity,
                created_at=t.created_at,
                acknowledged_at=t.acknowledged_at,
                on_site_at=t.on_site_at,
                resolved_at=t.resolved_at,
                respond_by=t.respond_by,
                on_site_by=t.on_site_by,
                resolve_by=t.resolve_by,
            )
            for t in tickets
        ],
        now,
    )
    sites = _names(session, Site, {t.site_id for t in tickets}, Site.name)
    devices = _names(
        session, Device, {t.device_id for t in tickets if t.device_id is not None}, Device.name
    )
    users = _names(
        session, User, {t.assignee_id for t in tickets if t.assignee_id is not None}, User.username
    )
    problems = _sla_problems(session, [t.id for t in order if t.without_deadlines])
    rows = []
    for item in order:
        ticket = by_id[item.id]
        countdown = next_deadline(item, now)
        rows.append(
            QueueRow(
                ticket=ticket,
                site=sites.get(ticket.site_id, "?"),
                device=devices.get(ticket.device_id) if ticket.device_id is not None else None,
                assignee=users.get(ticket.assignee_id) if ticket.assignee_id else None,
                countdown=countdown,
                remaining=format_remaining(countdown.remaining) if countdown else None,
                sla_problem=problems.get(ticket.id, NO_DEADLINES)
                if item.without_deadlines
                else None,
            )
        )
    return rows


NO_DEADLINES = "no SLA deadlines: the client's SLA policy has no cell for this site's zone"


def _sla_problems(session: Session, ticket_ids: list[int]) -> dict[int, str]:
    """The reason recorded when each ticket got no deadlines (its `created` event)."""
    if not ticket_ids:
        return {}
    events = session.scalars(
        select(TicketEvent).where(
            TicketEvent.ticket_id.in_(ticket_ids), TicketEvent.kind == "created"
        )
    )
    return {
        e.ticket_id: f"no SLA deadlines: {e.data['sla_problem']}"
        for e in events
        if isinstance(e.data, dict) and e.data.get("sla_problem")
    }


@dataclass(frozen=True, slots=True)
class TicketPage:
    ticket: Ticket
    site: Site
    device: Device | None
    assignee: str | None
    events: Sequence[TicketEvent]
    samples: Sequence[SampleRow]
    countdown: Countdown | None
    remaining: str | None
    technicians: Sequence[Assignee]  # who may be assigned: staff covering the site
    plan: RepairPlan | None = None  # diagnosis and, for a complex fault, the repair plan
    consents: Sequence[ClientConsent] = ()
    repeated_by: Sequence[int] = ()  # later tickets repeating this one's fault
    records: Sequence[RepairRecord] = ()  # every version of the repair record, oldest first
    evidence: Sequence[ReasonEvidence] = ()  # a picture fault's reasons and measures
    evidence_at: datetime | None = None
    diagnosis: ClockState | None = None  # an emergency's initial-diagnosis clock (001: 1 h)


def ticket_page(
    *, session: Session, ticket_id: int, scope: Scope, now: datetime, team_sites: TeamSites
) -> TicketPage:
    ticket = session.get(Ticket, ticket_id)
    if ticket is None or not scope.allows_ticket(ticket.site_id, ticket.assignee_id):
        raise LookupError(ticket_id)
    site = session.get(Site, ticket.site_id)
    assert site is not None  # FK
    device = session.get(Device, ticket.device_id) if ticket.device_id is not None else None
    events = session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
    ).all()
    samples: Sequence[SampleRow] = []
    if device is not None:
        samples = session.scalars(
            select(SampleRow)
            .where(
                SampleRow.device_id == device.id,
                SampleRow.ts >= ticket.first_failure_at - TELEMETRY_BEFORE,
            )
            .order_by(SampleRow.ts.desc())
            .limit(40)
        ).all()
    item = QueueTicket(
        id=ticket.id,
        state=ticket.state,
        severity=ticket.severity,
        created_at=ticket.created_at,
        acknowledged_at=ticket.acknowledged_at,
        on_site_at=ticket.on_site_at,
        resolved_at=ticket.resolved_at,
        respond_by=ticket.respond_by,
        on_site_by=ticket.on_site_by,
        resolve_by=ticket.resolve_by,
    )
    countdown = next_deadline(item, now) if ticket.state in {s.value for s in OPEN_STATES} else None
    assignee = session.get(User, ticket.assignee_id) if ticket.assignee_id else None
    evidence_at, evidence = ticket_evidence(session=session, ticket=ticket)
    return TicketPage(
        ticket=ticket,
        site=site,
        device=device,
        assignee=assignee.username if assignee else None,
        events=events,
        samples=samples,
        countdown=countdown,
        remaining=format_remaining(countdown.remaining) if countdown else None,
        technicians=site_staff(session=session, site_id=site.id, team_sites=team_sites),
        plan=session.get(RepairPlan, ticket.id),
        consents=session.scalars(
            select(ClientConsent)
            .where(ClientConsent.ticket_id == ticket.id)
            .order_by(ClientConsent.id)
        ).all(),
        repeated_by=session.scalars(
            select(Ticket.id).where(Ticket.repeat_of_id == ticket.id).order_by(Ticket.id)
        ).all(),
        records=records_of(session=session, ticket_id=ticket.id),
        evidence=evidence,
        evidence_at=evidence_at,
        diagnosis=diagnosis_clock(session=session, ticket=ticket, now=now),
    )


@dataclass(frozen=True, slots=True)
class SiteRow:
    site: Site
    devices: int
    down: int
    open_tickets: int
    agent_last_seen: datetime | None
    agent_silent: bool
    heartbeat: AgentHeartbeatRow | None


def site_rows(
    *, session: Session, scope: Scope, now: datetime, silent_after: timedelta
) -> list[SiteRow]:
    query = scope.where_site(select(Site).order_by(Site.name), Site.id)
    sites = list(session.scalars(query))
    ids = [s.id for s in sites]
    devices = dict(
        session.execute(
            select(Device.site_id, func.count())
            .where(Device.site_id.in_(ids))
            .group_by(Device.site_id)
        ).all()
    )
    down = dict(
        session.execute(
            select(Device.site_id, func.count())
            .join(DeviceState, DeviceState.device_id == Device.id)
            .where(Device.site_id.in_(ids), DeviceState.status == "down")
            .group_by(Device.site_id)
        ).all()
    )
    tickets = dict(
        session.execute(
            select(Ticket.site_id, func.count())
            .where(Ticket.site_id.in_(ids), Ticket.state.in_([s.value for s in OPEN_STATES]))
            .group_by(Ticket.site_id)
        ).all()
    )
    seen = dict(
        session.execute(
            select(AgentToken.site_id, func.max(AgentToken.last_used_at))
            .where(AgentToken.site_id.in_(ids))
            .group_by(AgentToken.site_id)
        ).all()
    )
    beats: dict[int, AgentHeartbeatRow] = {}
    for beat in session.scalars(
        select(AgentHeartbeatRow)
        .where(AgentHeartbeatRow.site_id.in_(ids))
        .order_by(AgentHeartbeatRow.received_at)
    ):
        beats[beat.site_id] = beat  # the latest of the site's agents wins
    rows = []
    for s in sites:
        last: datetime | None = seen.get(s.id)
        rows.append(
            SiteRow(
                site=s,
                devices=devices.get(s.id, 0),
                down=down.get(s.id, 0),
                open_tickets=tickets.get(s.id, 0),
                agent_last_seen=last,
                agent_silent=last is None or now - last > silent_after,
                heartbeat=beats.get(s.id),
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class DeviceRow:
    device: Device
    state: DeviceState | None
    open_faults: Sequence[str]
    uptime_30: float | None


def device_rows(*, session: Session, site_id: int, now: datetime) -> list[DeviceRow]:
    devices = list(
        session.scalars(select(Device).where(Device.site_id == site_id).order_by(Device.name))
    )
    ids = [d.id for d in devices]
    states = {
        s.device_id: s
        for s in session.scalars(select(DeviceState).where(DeviceState.device_id.in_(ids)))
    }
    faults: dict[int, list[str]] = {}
    for device_id, code in session.execute(
        select(FaultEpisode.device_id, FaultEpisode.code).where(
            FaultEpisode.device_id.in_(ids), FaultEpisode.recovered_at.is_(None)
        )
    ):
        if device_id is not None:
            faults.setdefault(device_id, []).append(code)
    since = (now - timedelta(days=30)).date()
    figures: dict[int, list[DayFigures]] = {}
    for row in session.execute(
        select(
            UptimeDay.device_id,
            UptimeDay.up_s,
            UptimeDay.down_s,
            UptimeDay.unknown_s,
            UptimeDay.maintenance_s,
            UptimeDay.nodata_s,
        ).where(UptimeDay.device_id.in_(ids), UptimeDay.day >= since)
    ):
        figures.setdefault(row[0], []).append(DayFigures(*row[1:]))
    return [
        DeviceRow(
            device=d,
            state=states.get(d.id),
            open_faults=sorted(faults.get(d.id, [])),
            uptime_30=total(figures.get(d.id, [])).availability,
        )
        for d in devices
    ]


def recent_samples(*, session: Session, device_id: int, limit: int = 30) -> Sequence[SampleRow]:
    return session.scalars(
        select(SampleRow)
        .where(SampleRow.device_id == device_id)
        .order_by(SampleRow.ts.desc())
        .limit(limit)
    ).all()
