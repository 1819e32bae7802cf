"""Tickets from what detection found and from the desk's calls: the one place tickets open.

Detection reports changes (`faults.changes`); `Intake.apply` decides what each means for
tickets: a new ticket, a recurrence on an open one, a child joining its parent's ticket (or
held back while the parent is failing), cameras merged into a site incident, a recovery.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import InvalidInputError, NotFoundError
from server.faults.changes import (
    AgentOffline,
    FaultChange,
    IncidentJoined,
    IncidentOpened,
    Opened,
    Recovered,
    Recurred,
)
from server.faults.engine import FaultSettings
from server.faults.records import (
    device_open_key,
    failing_unconfirmed,
    lock_site,
    open_outage,
    site_open_key,
    unseen_since,
)
from server.models import Device, FaultEpisode, Site, Ticket
from server.tenancy import Scope
from server.tickets import service
from server.tickets.notify_link import PREVENTIVE_SLA, auto_assign, notify
from server.tickets.policy import ServiceSettings
from server.tickets.repair_plan import diagnosis_due
from server.tickets.service import (
    CALL_CODE,
    MONITORING,
    Actor,
    SettingsLookup,
    add_event,
    apply_deadlines,
)
from server.tickets.states import (
    OPEN_STATES,
    Channel,
    TicketKind,
    TicketState,
    ticket_clock_start,
)
from wire.enums import DeviceClass

log = logging.getLogger(__name__)

ADOPT_SLACK = timedelta(minutes=2)
# A fault back within this long after its ticket closed is a repeat repair (counted against
# repair success, like a reopen within 30 days).
REPEAT_WINDOW = timedelta(days=30)
# A child's fault waits at most this long for its silent parent's next poll.
HOLD_MAX = timedelta(minutes=2)  # a child that failed just before its parent is its consequence
_OPEN = frozenset(s.value for s in OPEN_STATES)


@dataclass(frozen=True, slots=True)
class Opening:
    """What a new ticket says (the seed's intake fields)."""

    kind: TicketKind
    code: str | None
    open_key: str
    severity: str
    title: str
    symptom: str
    first_failure_at: datetime
    channel: Channel = Channel.MONITORING
    reporter: str = MONITORING
    reporter_contact: str | None = None
    system: str | None = None  # the device's subsystem unless given
    # A preventive ticket's deadline from its policy cell; it runs no fault clock.
    deadline: datetime | None = None


def open_ticket(
    *,
    session: Session,
    site: Site,
    device: Device | None,
    opening: Opening,
    settings: ServiceSettings,
    actor: Actor,
    now: datetime,
    episode: FaultEpisode | None = None,
) -> Ticket:
    """A ticket in state new with its SLA deadlines, assigned and announced; `episode` leads it."""
    ticket = Ticket(
        open_key=opening.open_key,
        kind=opening.kind.value,
        state=TicketState.NEW.value,
        severity=opening.severity,
        client_id=site.client_id,
        site_id=site.id,
        device_id=device.id if device else None,
        code=opening.code,
        system=opening.system or (device.subsystem if device else None),
        title=opening.title[:300],
        symptom=opening.symptom[:2000],
        channel=opening.channel.value,
        reporter=opening.reporter,
        reporter_contact=opening.reporter_contact,
        first_failure_at=opening.first_failure_at,
        created_at=now,
        updated_at=now,
        reopened_count=0,
        occurrences=episode.occurrences if episode is not None else 1,
    )
    problem = None
    if opening.kind is TicketKind.PREVENTIVE:
        ticket.resolve_by = opening.deadline
        ticket.sla_policy = PREVENTIVE_SLA
    else:
        problem = apply_deadlines(ticket=ticket, settings=settings, site=site)
        ticket.diagnose_by = diagnosis_due(ticket.severity, ticket_clock_start(ticket))
    ticket.repeat_of_id = _repeats(session=session, ticket=ticket, now=now)
    session.add(ticket)
    session.flush()
    if ticket.repeat_of_id is not None:
        _link_repeat(session=session, ticket=ticket, actor=actor, now=now)
    if episode is not None:
        episode.ticket_id = ticket.id
    add_event(
        session=session,
        ticket=ticket,
        actor=actor,
        kind="created",
        at=now,
        to_state=TicketState.NEW.value,
        note=opening.symptom[:2000],
        data={"sla_problem": problem} if problem else None,
    )
    auto_assign(session=session, ticket=ticket, settings=settings, now=now)
    notify(session=session, ticket=ticket, event="opened", settings=settings, now=now)
    return ticket


def _repeats(*, session: Session, ticket: Ticket, now: datetime) -> int | None:
    """The device's ticket for the same fault closed within `REPEAT_WINDOW` that this one
    repeats (004/H 「不允许同一问题重复修理的情况」); a client's call matches any fault of the
    device, as the client cannot name the code."""
    if ticket.device_id is None or ticket.kind == TicketKind.PREVENTIVE.value:
        return None
    query = select(Ticket.id).where(
        Ticket.device_id == ticket.device_id,
        Ticket.state == TicketState.CLOSED.value,
        Ticket.closed_at >= now - REPEAT_WINDOW,
        Ticket.kind != TicketKind.PREVENTIVE.value,
    )
    if ticket.code != CALL_CODE:
        query = query.where(Ticket.code.in_([ticket.code, CALL_CODE]))
    return session.scalar(query.order_by(Ticket.closed_at.desc(), Ticket.id.desc()).limit(1))


def _link_repeat(*, session: Session, ticket: Ticket, actor: Actor, now: datetime) -> None:
    """Both tickets say so in their audit trails."""
    earlier = session.get(Ticket, ticket.repeat_of_id)
    assert earlier is not None
    add_event(
        session=session,
        ticket=ticket,
        actor=actor,
        kind="repeat_of",
        at=now,
        note=f"the fault of ticket {earlier.id} is back",
        data={"ticket_id": earlier.id},
    )
    add_event(session=session, ticket=earlier, actor=actor, kind="repeated_by", at=now,
              note=f"came back as ticket {ticket.id}", data={"ticket_id": ticket.id})  # fmt: skip


class Intake:
    """One site's changes in one transaction (the detection's)."""

    def __init__(
        self,
        session: Session,
        *,
        site: Site,
        devices: dict[int, Device],
        settings: FaultSettings,
        lookup: SettingsLookup,
        now: datetime,
    ) -> None:
        self.s, self.site, self.devices, self.now = session, site, devices, now
        self.by_ext = {d.ext_id: d for d in devices.values()}
        self.offline = settings.offline_codes
        self.lookup = lookup
        self.tickets: dict[int, Ticket] = {}
        self.created: list[int] = []
        self.closed: list[int] = []
        # Camera outages decided after the whole batch: many of them may make one incident.
        self.pending: list[tuple[Device, FaultEpisode, bool]] = []

    def preload(self, episodes: Sequence[FaultEpisode]) -> None:
        """The open episodes' tickets in one query (held: the identity map keeps weak refs)."""
        ids = {e.ticket_id for e in episodes if e.ticket_id is not None}
        if ids:
            self.tickets = {
                t.id: t for t in self.s.scalars(select(Ticket).where(Ticket.id.in_(ids)))
            }

    def apply(self, change: FaultChange) -> None:
        match change:
            case Opened(episode, device, service_affecting, flapping):
                if service_affecting and self._suppressed(device, episode):
                    return
                if service_affecting and device.device_class == DeviceClass.CAMERA.value:
                    self.pending.append((device, episode, flapping))
                    return
                self._fault_ticket(device, episode, flapping=flapping, adopt=service_affecting)
            case Recurred(episode):
                ticket = self._ticket(episode.ticket_id)
                if ticket is not None and episode.parent_episode_id is None:
                    ticket.occurrences += 1
                    ticket.updated_at = self.now
            case Recovered(episode, at):
                recover(session=self.s, episode=episode, at=at, now=self.now)
            case IncidentOpened():
                self._incident(change)
            case IncidentJoined(incident, episode, device):
                self._attach(incident, episode, note=f"{device.name} down too")
            case AgentOffline():
                if ticket := agent_offline_ticket(
                    session=self.s, change=change, lookup=self.lookup, now=self.now
                ):
                    self.created.append(ticket.id)

    def unlinked_outages(self) -> list[tuple[Device, FaultEpisode]]:
        return [(d, e) for d, e, _ in self.pending]

    def finish(self) -> None:
        """Camera outages that no incident took get their own tickets."""
        for device, episode, flapping in self.pending:
            if episode.parent_episode_id is None and episode.ticket_id is None:
                self._fault_ticket(device, episode, flapping=flapping, adopt=True)
                if episode.open_key is None and episode.recovered_at is not None:
                    # Confirmed and recovered within one batch (a backlog from the outbox):
                    # the outage was real, so it gets its ticket, already recovered.
                    recover(session=self.s, episode=episode, at=episode.recovered_at, now=self.now)

    # -- one device's fault ------------------------------------------------------------------

    def _ticket(self, ticket_id: int | None) -> Ticket | None:
        if ticket_id is None:
            return None
        return self.tickets.get(ticket_id) or self.s.get(Ticket, ticket_id)

    def _fault_ticket(
        self, device: Device, episode: FaultEpisode, *, flapping: bool, adopt: bool
    ) -> None:
        ticket = service.open_ticket_for_device(
            session=self.s, device_id=device.id, code=episode.code
        )
        if ticket is not None:
            service.attach_episode(
                session=self.s,
                ticket=ticket,
                episode=episode,
                now=self.now,
                note=f"fault {episode.code} confirmed again",
            )
            service.fault_recurred(
                session=self.s, ticket=ticket, now=self.now, note=f"{episode.code} is back"
            )
        else:
            ticket = fault_ticket(
                session=self.s,
                site=self.site,
                device=device,
                episode=episode,
                flapping=flapping,
                lookup=self.lookup,
                now=self.now,
            )
            self.created.append(ticket.id)
        if adopt:
            self._adopt_children(device, episode, ticket)

    def _attach(self, parent: FaultEpisode, episode: FaultEpisode, *, note: str) -> bool:
        """Hang `episode` under `parent` and on its ticket, while that ticket is open."""
        ticket = self._ticket(parent.ticket_id)
        if ticket is None or ticket.state not in _OPEN:
            return False
        episode.parent_episode_id = parent.id
        service.attach_episode(
            session=self.s, ticket=ticket, episode=episode, now=self.now, note=note
        )
        return True

    def _suppressed(self, device: Device, episode: FaultEpisode) -> bool:
        """Attach to the parent's ticket (or hold) when the parent is down (dependency)."""
        parent = self.by_ext.get(device.parent_ext_id) if device.parent_ext_id else None
        if parent is None:
            return False
        parent_episode = open_outage(self.s, parent, self.offline)
        if parent_episode is not None:
            while parent_episode.parent_episode_id is not None:  # a chain: the root's ticket
                up = self.s.get(FaultEpisode, parent_episode.parent_episode_id)
                if up is None:
                    break
                parent_episode = up
            note = f"{device.name} behind {parent.name}: {episode.code}"
            if self._attach(parent_episode, episode, note=note):
                return True
        if failing_unconfirmed(self.s, parent, self.offline) or unseen_since(
            self.s, parent, episode.confirmed_at
        ):
            episode.held_for_device_id = parent.id
            return True
        return False

    def _adopt_children(self, parent: Device, episode: FaultEpisode, ticket: Ticket) -> None:
        """Children whose outage began with the parent's join its ticket (untouched ones merge)."""
        children = [d.id for d in self.devices.values() if d.parent_ext_id == parent.ext_id]
        if not children:
            return
        candidates = self.s.scalars(
            select(FaultEpisode).where(
                FaultEpisode.device_id.in_(children),
                FaultEpisode.open_key.is_not(None),
                FaultEpisode.code.in_(self.offline),
                FaultEpisode.started_at >= episode.started_at - ADOPT_SLACK,
            )
        ).all()
        for child in candidates:
            if child.parent_episode_id is not None and child.ticket_id == ticket.id:
                continue
            own = self._ticket(child.ticket_id)
            if own is not None and own.id != ticket.id:
                if own.state != TicketState.NEW.value:
                    continue  # someone is working on it: leave it be
                self._merge_away(own, ticket, why=f"{parent.name} is down")
            child.parent_episode_id = episode.id
            child.held_for_device_id = None
            service.attach_episode(
                session=self.s,
                ticket=ticket,
                episode=child,
                now=self.now,
                note=f"behind {parent.name}: {child.code}",
            )

    def _merge_away(self, own: Ticket, into: Ticket, *, why: str) -> None:
        service.cancel_as_merged(session=self.s, ticket=own, into=into, now=self.now, why=why)
        self.closed.append(own.id)

    # -- site-wide ---------------------------------------------------------------------------

    def _incident(self, change: IncidentOpened) -> None:
        incident, outages, cameras = change.incident, change.members, change.cameras
        names = sorted(self.devices[e.device_id].name for e in outages if e.device_id)
        opening = Opening(
            kind=TicketKind.INCIDENT,
            code=incident.code,
            open_key=incident.key,
            system="video",
            severity=incident.severity,
            first_failure_at=incident.started_at,
            title=f"{self.site.name}: system paralysed ({len(outages)} of {cameras} cameras down)",
            symptom=f"{len(outages)} of {cameras} cameras down at once: {', '.join(names)}",
        )
        ticket = open_ticket(
            session=self.s,
            site=self.site,
            device=None,
            opening=opening,
            settings=self.lookup(self.site.client_id),
            actor=Actor.monitoring(),
            now=self.now,
            episode=incident,
        )
        self.created.append(ticket.id)
        for member in outages:
            own = self._ticket(member.ticket_id)
            if own is not None and own.state == TicketState.NEW.value and own.id != ticket.id:
                self._merge_away(own, ticket, why="system paralysed")
            elif own is not None and own.state != TicketState.NEW.value:
                continue
            member.parent_episode_id = incident.id
            service.attach_episode(
                session=self.s,
                ticket=ticket,
                episode=member,
                now=self.now,
                note=f"{self.devices[member.device_id or 0].name} down",
            )


def agent_offline_ticket(
    *, session: Session, change: AgentOffline, lookup: SettingsLookup, now: datetime
) -> Ticket | None:
    """The site incident for a silent agent; None when its ticket is open already."""
    episode, site, last = change.episode, change.site, change.last_heard
    ticket = session.scalars(select(Ticket).where(Ticket.open_key == episode.key)).first()
    if ticket is not None:
        episode.ticket_id = ticket.id
        return None
    opening = Opening(
        kind=TicketKind.INCIDENT,
        code=episode.code,
        open_key=episode.key,
        severity=episode.severity,
        first_failure_at=last,
        title=f"{site.name}: site agent offline",
        symptom=f"no data from the site agent since {last.isoformat()}; "
        "its devices are unknown, not down",
    )
    return open_ticket(
        session=session,
        site=site,
        device=None,
        opening=opening,
        settings=lookup(site.client_id),
        actor=Actor.monitoring(),
        now=now,
        episode=episode,
    )


def fault_ticket(
    *,
    session: Session,
    site: Site,
    device: Device,
    episode: FaultEpisode,
    flapping: bool,
    lookup: SettingsLookup,
    now: datetime,
) -> Ticket:
    symptom = f"{device.name} ({device.device_class}): {episode.code}" + (
        f", flapping ({episode.occurrences} times)" if flapping else ""
    )
    opening = Opening(
        kind=TicketKind.FAULT,
        code=episode.code,
        severity=episode.severity,
        open_key=device_open_key(device.id, episode.code),
        title=f"{device.name}: {episode.code}",
        symptom=symptom,
        first_failure_at=episode.started_at,
    )
    return open_ticket(
        session=session,
        site=site,
        device=device,
        opening=opening,
        settings=lookup(site.client_id),
        actor=Actor.monitoring(),
        now=now,
        episode=episode,
    )


def recover(*, session: Session, episode: FaultEpisode, at: datetime, now: datetime) -> None:
    """The ticket an episode leads moves to recovered once none of its own is open."""
    if episode.ticket_id is None or episode.parent_episode_id is not None:
        return
    ticket = session.get(Ticket, episode.ticket_id)
    if ticket is None:
        return
    if not service.open_faults(session=session, ticket_id=ticket.id):
        service.fault_recovered(
            session=session,
            ticket=ticket,
            now=now,
            note=f"{episode.code} recovered at {at.isoformat()}",
        )


def release_held(
    *, session: Session, now: datetime, settings: FaultSettings, lookup: SettingsLookup
) -> list[int]:
    """Faults held for a failing parent that never confirmed get their own tickets; returns the
    tickets created."""
    created: list[int] = []
    held = session.scalars(
        select(FaultEpisode)
        .where(FaultEpisode.held_for_device_id.is_not(None), FaultEpisode.open_key.is_not(None))
        .order_by(FaultEpisode.site_id, FaultEpisode.id)
    ).all()
    offline = settings.offline_codes
    for episode in held:
        assert episode.held_for_device_id is not None
        assert episode.device_id is not None
        lock_site(session, episode.site_id)
        parent = session.get(Device, episode.held_for_device_id)
        if parent is not None and (
            open_outage(session, parent, offline) is not None
            or failing_unconfirmed(session, parent, offline)
            or (
                unseen_since(session, parent, episode.confirmed_at)
                and now - episode.confirmed_at < HOLD_MAX
            )
        ):
            continue
        episode.held_for_device_id = None
        ticket = service.open_ticket_for_device(
            session=session, device_id=episode.device_id, code=episode.code
        )
        if ticket is not None:
            episode.ticket_id = ticket.id
            continue
        device = session.get(Device, episode.device_id)
        site = session.get(Site, episode.site_id)
        assert device is not None
        assert site is not None
        ticket = fault_ticket(
            session=session,
            site=site,
            device=device,
            episode=episode,
            flapping=episode.flapping,
            lookup=lookup,
            now=now,
        )
        created.append(ticket.id)
    return created


# -- from the service desk -------------------------------------------------------------------


@dataclass(frozen=True)
class CallIn:
    """A client's call as the desk logs it (seed §3.2 intake fields)."""

    symptom: str
    reporter: str
    reporter_contact: str | None
    channel: Channel
    device_id: int | None = None
    site_id: int | None = None
    severity: str | None = None
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class CallResult:
    ticket: Ticket
    merged: bool


def log_call(
    *,
    session: Session,
    call: CallIn,
    settings_of: "SettingsLookup",
    actor: Actor,
    now: datetime,
    scope: Scope | None = None,
) -> CallResult:
    """A call about a device with an open ticket joins it (the client never calls twice)."""
    device: Device | None = None
    if call.device_id is not None:
        device = session.get(Device, call.device_id)
        if device is None:
            raise NotFoundError(f"no device {call.device_id}")
        site = session.get(Site, device.site_id)
    elif call.site_id is not None:
        site = session.get(Site, call.site_id)
    else:
        raise InvalidInputError("a call names a device or a site")
    if site is None or (scope is not None and not scope.allows(site.id)):
        if device is not None:
            raise NotFoundError(f"no device {call.device_id}")
        raise NotFoundError(f"no site {call.site_id}")
    if call.site_id is not None and site.id != call.site_id:
        raise InvalidInputError(f"device {call.device_id} is not on site {call.site_id}")
    open_key = (
        device_open_key(device.id, CALL_CODE) if device else site_open_key(site.id, CALL_CODE)
    )
    existing = (
        service.open_ticket_for_device(session=session, device_id=device.id)
        if device
        else session.scalars(select(Ticket).where(Ticket.open_key == open_key)).first()
    )
    note = (
        f"client call from {call.reporter}"
        + (f" ({call.reporter_contact})" if call.reporter_contact else "")
        + f": {call.symptom}"
    )
    if existing is not None:
        add_event(
            session=session,
            ticket=existing,
            actor=actor,
            kind="call_merged",
            at=now,
            note=note[:2000],
            data={"channel": call.channel.value, "reporter": call.reporter},
        )
        if existing.reporter == MONITORING:
            existing.reporter_contact = existing.reporter_contact or call.reporter_contact
        return CallResult(existing, merged=True)
    opening = Opening(
        kind=TicketKind.CALL,
        code=CALL_CODE,
        open_key=open_key,
        severity=call.severity or "general",
        title=f"{device.name if device else site.name}: {call.symptom}",
        symptom=call.symptom,
        first_failure_at=call.occurred_at or now,
        channel=call.channel,
        reporter=call.reporter,
        reporter_contact=call.reporter_contact,
    )
    ticket = open_ticket(
        session=session,
        site=site,
        device=device,
        opening=opening,
        settings=settings_of(site.client_id),
        actor=actor,
        now=now,
    )
    return CallResult(ticket, merged=False)
