"""Ticket operations on the database: open from a fault or a call, move, merge, audit.

Every change goes through `_move` or `add_event`, so the audit trail is complete by
construction. Functions take keyword arguments and a session inside the caller's transaction;
they raise domain errors (NotFoundError, ConflictError, InvalidInputError) for the API.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import ConflictError, InvalidInputError, NotFoundError
from server.faults.records import device_open_key, site_open_key
from server.faults.rules import FaultCode
from server.models import FaultEpisode, RepairPlan, Site, Ticket, TicketEvent, TicketPause
from server.sla import Pause, SlaConfigError, compute_deadlines
from server.tenancy import Scope, TeamSites, check_assignee, no_teams
from server.tickets.notify_link import notify
from server.tickets.policy import ServiceSettings, service_settings
from server.tickets.states import (
    OPEN_STATES,
    RepairPath,
    TicketKind,
    TicketState,
    TransitionError,
    check_dispatch,
    check_transition,
    ticket_clock_start,
)

MONITORING = "monitoring"
SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did it: a user (id and name) or the system itself (id None)."""

    name: str
    id: int | None = None

    @classmethod
    def monitoring(cls) -> "Actor":
        return cls(MONITORING)


def add_event(
    *,
    session: Session,
    ticket: Ticket,
    actor: Actor,
    kind: str,
    at: datetime,
    note: str | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    data: dict[str, Any] | None = None,
) -> TicketEvent:
    event = TicketEvent(
        ticket_id=ticket.id,
        at=at,
        actor_id=actor.id,
        actor=actor.name,
        kind=kind,
        from_state=from_state,
        to_state=to_state,
        note=note,
        data=data,
    )
    session.add(event)
    ticket.updated_at = at
    return event


CALL_CODE = "call"
KNOWN_FAULT_CODES = tuple(c.value for c in FaultCode)


def apply_deadlines(
    *, ticket: Ticket, settings: ServiceSettings, site: Site, pauses: Sequence[Pause] = ()
) -> str | None:
    """Set the SLA deadlines from the clock's start; returns why not, when the policy can't."""
    try:
        deadlines = compute_deadlines(
            settings.sla_policy,
            ticket.severity,
            site.zone,
            ticket_clock_start(ticket),
            settings.calendar(site.timezone),
            pauses,
        )
    except SlaConfigError as err:
        ticket.respond_by = ticket.on_site_by = ticket.resolve_by = None
        ticket.sla_policy = settings.sla_policy.name
        return str(err)
    ticket.respond_by = deadlines.respond_by
    ticket.on_site_by = deadlines.on_site_by
    ticket.resolve_by = deadlines.resolve_by
    ticket.sla_policy = settings.sla_policy.name
    return None


def _move(
    *,
    session: Session,
    ticket: Ticket,
    target: TicketState,
    actor: Actor,
    at: datetime,
    note: str | None = None,
    data: dict[str, Any] | None = None,
    client_link: str = "",
) -> None:
    current = TicketState(ticket.state)
    try:
        check_transition(current, target)
    except TransitionError as err:
        raise ConflictError(str(err)) from err
    ticket.state = target.value
    stamp = {
        TicketState.ACKNOWLEDGED: "acknowledged_at",
        TicketState.DISPATCHED: "dispatched_at",
        TicketState.ON_SITE: "on_site_at",
        TicketState.RESOLVED: "resolved_at",
        TicketState.CLOSED: "closed_at",
        TicketState.CANCELLED: "cancelled_at",
        TicketState.RECOVERED: "recovered_at",
        TicketState.REOPENED: "last_reopened_at",
    }.get(target)
    # The SLA clocks stop at the first acknowledge / arrival / resolve; later ones keep it.
    if stamp is not None and (
        getattr(ticket, stamp) is None
        or target in (TicketState.REOPENED, TicketState.RECOVERED, TicketState.CLOSED)
        or (target is TicketState.RESOLVED and current is not TicketState.RESOLVED)
    ):
        setattr(ticket, stamp, at)
    if target is TicketState.REOPENED:
        ticket.reopened_count += 1
        ticket.closed_at = None
        ticket.resolved_at = None
    if target in (TicketState.CLOSED, TicketState.CANCELLED):
        ticket.open_key = None
    elif ticket.open_key is None:
        ticket.open_key = _reopen_key(session=session, ticket=ticket)
    add_event(
        session=session,
        ticket=ticket,
        actor=actor,
        kind="transition",
        at=at,
        from_state=current.value,
        to_state=target.value,
        note=note,
        data=data,
    )
    settings = _settings_of(session=session, ticket=ticket)
    event = "opened" if target is TicketState.NEW else target.value
    notify(
        session=session,
        ticket=ticket,
        event=event,
        settings=settings,
        now=at,
        client_link=client_link,
    )


def _reopen_key(*, session: Session, ticket: Ticket) -> str:
    """The open key a reopened ticket takes back; refused while another open ticket holds it."""
    if ticket.device_id is not None:
        key = device_open_key(ticket.device_id, ticket.code or CALL_CODE)
    else:
        key = site_open_key(ticket.site_id, ticket.code or CALL_CODE)
    holder = session.scalar(select(Ticket.id).where(Ticket.open_key == key))
    if holder is not None and holder != ticket.id:
        raise ConflictError(f"ticket {holder} is already open for this fault; reopen is refused")
    return key


def _settings_of(*, session: Session, ticket: Ticket) -> ServiceSettings:
    """The ticket's client's service settings, knowing every fault code monitoring raises."""
    return service_settings(
        session=session, client_id=ticket.client_id, known_codes=list(KNOWN_FAULT_CODES)
    )


def _site_of(*, session: Session, ticket: Ticket) -> Site:
    """The ticket's site; the foreign key guarantees it exists."""
    site = session.get(Site, ticket.site_id)
    assert site is not None
    return site


def transition(
    *,
    session: Session,
    ticket_id: int,
    target: TicketState,
    actor: Actor,
    now: datetime,
    note: str | None = None,
    eta: datetime | None = None,
    assignee_id: int | None = None,
    scope: Scope | None = None,
    team_sites: TeamSites = no_teams,
    client_link: str = "",
) -> Ticket:
    """A person moves a ticket; dispatch needs an ETA (seed §3.4: tell the client the ETA).
    An `assignee_id` must be staff covering the site (`team_sites`: whose teams serve which
    sites; without it only office staff qualify). A resolved ticket does not close here: only
    the client's signature or a manager's override closes it (`repair`)."""
    ticket = get_ticket(session=session, ticket_id=ticket_id, scope=scope, lock=True)
    if target is TicketState.CLOSED and ticket.state == TicketState.RESOLVED.value:
        raise ConflictError(
            f"ticket {ticket_id} closes with the client's signature on the repair record"
            " (POST /tickets/{id}/sign-off), or a manager's override with the reason"
            " (POST /tickets/{id}/close-without-signature)"
        )
    if assignee_id is not None:
        check_assignee(
            session=session, site_id=ticket.site_id, assignee_id=assignee_id, team_sites=team_sites
        )
    if target is TicketState.DISPATCHED:
        if eta is None:
            raise InvalidInputError(
                "dispatch needs an eta", [{"field": "eta", "message": "required"}]
            )
        _check_plan(session=session, ticket=ticket)
        ticket.eta = eta
    if (
        target in (TicketState.DISPATCHED, TicketState.RESOLVED)
        and ticket.acknowledged_at is None
        and ticket.on_site_at is None
    ):
        # Dispatched or resolved (remote fix) straight from new: any first staff action is the
        # response (000 「做出響應」), so the respond clock stops here too.
        ticket.acknowledged_at = now
    if assignee_id is not None:
        ticket.assignee_id = assignee_id
    elif (
        target in (TicketState.ACKNOWLEDGED, TicketState.DISPATCHED) and ticket.assignee_id is None
    ):
        ticket.assignee_id = actor.id
    data = {"eta": eta.isoformat()} if eta is not None else None
    _move(
        session=session, ticket=ticket, target=target, actor=actor, at=now, note=note, data=data,
        client_link=client_link,
    )  # fmt: skip
    return ticket


def _check_plan(*, session: Session, ticket: Ticket) -> None:
    """Dispatch waits for an approved repair plan where the fault is complex and the client's
    policy asks for approval."""
    plan = session.get(RepairPlan, ticket.id)
    if plan is None:
        return
    try:
        check_dispatch(
            RepairPath(plan.path),
            plan_approved=plan.approved_at is not None,
            approval_required=_settings_of(session=session, ticket=ticket).plan_approval,
        )
    except TransitionError as err:
        raise ConflictError(f"ticket {ticket.id}: {err}") from err


def close_signed(
    *, session: Session, ticket: Ticket, actor: Actor, now: datetime, note: str, client_link: str
) -> None:
    """Close a resolved ticket whose record the client signed (or a manager overrode); the
    caller (`repair`) has checked which, `client_link` is the survey's."""
    _move(
        session=session, ticket=ticket, target=TicketState.CLOSED, actor=actor, at=now,
        note=note, client_link=client_link,
    )  # fmt: skip


def reassign(
    *,
    session: Session,
    ticket_id: int,
    assignee_id: int | None,
    actor: Actor,
    now: datetime,
    note: str | None = None,
    scope: Scope | None = None,
    team_sites: TeamSites = no_teams,
) -> Ticket:
    """Hand the ticket to someone covering its site, or to nobody (None)."""
    ticket = get_ticket(session=session, ticket_id=ticket_id, scope=scope, lock=True)
    if assignee_id is not None:
        check_assignee(
            session=session, site_id=ticket.site_id, assignee_id=assignee_id, team_sites=team_sites
        )
    before = ticket.assignee_id
    ticket.assignee_id = assignee_id
    add_event(
        session=session, ticket=ticket, actor=actor, kind="reassigned", at=now, note=note,
        data={"from": before, "to": assignee_id},
    )  # fmt: skip
    return ticket


def get_ticket(
    *, session: Session, ticket_id: int, scope: Scope | None, lock: bool = False
) -> Ticket:
    """The ticket if `scope` reaches it (None: the system, which sees all); else 404."""
    query = select(Ticket).where(Ticket.id == ticket_id)
    if lock and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    ticket = session.scalars(query).one_or_none()
    if ticket is None or (
        scope is not None and not scope.allows_ticket(ticket.site_id, ticket.assignee_id)
    ):
        raise NotFoundError(f"no ticket {ticket_id}")
    return ticket


def open_faults(*, session: Session, ticket_id: int) -> list[FaultEpisode]:
    """The ticket's own fault episodes monitoring still sees (not those it adopted from a
    parent's children, which recover with the parent)."""
    return list(
        session.scalars(
            select(FaultEpisode)
            .where(
                FaultEpisode.ticket_id == ticket_id,
                FaultEpisode.open_key.is_not(None),
                FaultEpisode.parent_episode_id.is_(None),
            )
            .order_by(FaultEpisode.id)
        )
    )


def open_ticket_for_device(
    *, session: Session, device_id: int, code: str | None = None
) -> Ticket | None:
    """The device's open ticket for `code` (or, without a code, its oldest open one).

    A preventive ticket is never the answer: it runs on a forecast's deadline with no emergency
    clock, so a fault or a client's call about the same device needs its own ticket."""
    query = select(Ticket).where(
        Ticket.device_id == device_id,
        Ticket.state.in_([s.value for s in OPEN_STATES]),
        Ticket.kind != TicketKind.PREVENTIVE.value,
    )
    if code is not None:
        query = query.where(Ticket.code.in_([code, CALL_CODE]))
    return session.scalars(query.order_by(Ticket.id).limit(1)).first()


# -- from telemetry --------------------------------------------------------------------------


def _monitoring_move(
    *,
    session: Session,
    ticket: Ticket,
    target: TicketState,
    now: datetime,
    note: str,
    data: dict[str, Any] | None = None,
) -> None:
    """A move telemetry caused; the audit trail names monitoring as the actor."""
    _move(
        session=session,
        ticket=ticket,
        target=target,
        actor=Actor.monitoring(),
        at=now,
        note=note,
        data=data,
    )


def _monitoring_event(
    *,
    session: Session,
    ticket: Ticket,
    kind: str,
    now: datetime,
    note: str,
    data: dict[str, Any] | None = None,
) -> None:
    """An audit event telemetry caused, without a move; monitoring is the actor."""
    add_event(
        session=session,
        ticket=ticket,
        actor=Actor.monitoring(),
        kind=kind,
        at=now,
        note=note,
        data=data,
    )


def attach_episode(
    *, session: Session, ticket: Ticket, episode: FaultEpisode, now: datetime, note: str
) -> None:
    """A fault episode joins an open ticket (recurrence, child of a parent, incident member)."""
    episode.ticket_id = ticket.id
    if (
        ticket.code == CALL_CODE
        and episode.device_id is not None
        and (episode.device_id == ticket.device_id)
    ):
        ticket.code = episode.code  # the client called first; monitoring names the fault
        ticket.open_key = device_open_key(episode.device_id, episode.code)
    if episode.started_at < ticket.first_failure_at:
        ticket.first_failure_at = episode.started_at
    _monitoring_event(
        session=session,
        ticket=ticket,
        kind="fault_attached",
        now=now,
        note=note,
        data={"episode_id": episode.id, "device_id": episode.device_id, "code": episode.code},
    )


def fault_recurred(*, session: Session, ticket: Ticket, now: datetime, note: str) -> None:
    """The fault is back: a recovered ticket returns to new; others just count it."""
    ticket.occurrences += 1
    if ticket.state == TicketState.RECOVERED.value:
        ticket.recovered_at = None
        _monitoring_move(session=session, ticket=ticket, target=TicketState.NEW, now=now, note=note)
    else:
        _monitoring_event(session=session, ticket=ticket, kind="recurred", now=now, note=note)


def fault_recovered(*, session: Session, ticket: Ticket, now: datetime, note: str) -> None:
    """Telemetry says it is gone: before anyone acted the ticket waits as recovered (not
    closed); once someone works on it, the recovery is only noted."""
    if ticket.state == TicketState.NEW.value:
        _monitoring_move(
            session=session, ticket=ticket, target=TicketState.RECOVERED, now=now, note=note
        )
    elif ticket.state in {s.value for s in OPEN_STATES}:
        _monitoring_event(session=session, ticket=ticket, kind="recovered", now=now, note=note)


def reopen_still_down(*, session: Session, ticket: Ticket, now: datetime, note: str) -> None:
    """Resolved, but monitoring still sees the fault after the confirmation window."""
    _monitoring_move(
        session=session, ticket=ticket, target=TicketState.REOPENED, now=now, note=note
    )


def close_quiet_recovered(
    *, session: Session, ticket: Ticket, now: datetime, quiet_minutes: int
) -> None:
    _move(
        session=session,
        ticket=ticket,
        target=TicketState.CLOSED,
        actor=Actor(SYSTEM),
        at=now,
        note=f"no recurrence for {quiet_minutes} min after recovery",
    )


def cancel_as_merged(
    *, session: Session, ticket: Ticket, into: Ticket, now: datetime, why: str
) -> None:
    """An untouched ticket that turned out to be part of another is cancelled, pointing at it."""
    _monitoring_move(
        session=session,
        ticket=ticket,
        target=TicketState.CANCELLED,
        now=now,
        note=f"merged into ticket {into.id}: {why}",
        data={"merged_into": into.id},
    )


class SettingsLookup:
    """Service settings per client, read once per transaction."""

    def __init__(self, session: Session, known_codes: Sequence[str]) -> None:
        self._session = session
        self._codes = list(known_codes)
        self._cache: dict[int, ServiceSettings] = {}
        self._load = service_settings

    def __call__(self, client_id: int) -> ServiceSettings:
        found = self._cache.get(client_id)
        if found is None:
            found = self._load(session=self._session, client_id=client_id, known_codes=self._codes)
            self._cache[client_id] = found
        return found


# -- waiting for the client --------------------------------------------------------------------


def pauses_of(*, session: Session, ticket_id: int) -> list[Pause]:
    rows = session.scalars(
        select(TicketPause).where(TicketPause.ticket_id == ticket_id).order_by(TicketPause.id)
    )
    return [Pause(r.started_at, r.ended_at) for r in rows]


def _open_pause(*, session: Session, ticket_id: int) -> TicketPause | None:
    """The ticket's running pause, if its clock is paused now."""
    return session.scalars(
        select(TicketPause).where(
            TicketPause.ticket_id == ticket_id, TicketPause.ended_at.is_(None)
        )
    ).first()


def pause_clock(
    *,
    session: Session,
    ticket_id: int,
    reason: str,
    actor: Actor,
    now: datetime,
    scope: Scope | None = None,
) -> Ticket:
    """Stop the SLA clock while waiting for the client; only where the policy cell allows it."""
    ticket = get_ticket(session=session, ticket_id=ticket_id, scope=scope, lock=True)
    if ticket.state not in {s.value for s in OPEN_STATES}:
        raise ConflictError(f"ticket {ticket_id} is {ticket.state}")
    open_pause = _open_pause(session=session, ticket_id=ticket.id)
    if open_pause is not None:
        raise ConflictError(f"ticket {ticket_id}'s clock is already paused")
    settings = _settings_of(session=session, ticket=ticket)
    site = _site_of(session=session, ticket=ticket)
    try:
        pausable = settings.sla_policy.targets(ticket.severity, site.zone).pausable
    except SlaConfigError as err:
        raise ConflictError(str(err)) from err
    if not pausable:
        raise ConflictError(
            f"the {settings.sla_policy.name} policy does not pause {ticket.severity} tickets"
        )
    session.add(TicketPause(ticket_id=ticket.id, started_at=now, reason=reason))
    add_event(session=session, ticket=ticket, actor=actor, kind="clock_paused", at=now, note=reason)
    return ticket


def resume_clock(
    *, session: Session, ticket_id: int, actor: Actor, now: datetime, scope: Scope | None = None
) -> Ticket:
    """Restart the clock; the deadlines move on by the paused (running) time."""
    ticket = get_ticket(session=session, ticket_id=ticket_id, scope=scope, lock=True)
    open_pause = _open_pause(session=session, ticket_id=ticket.id)
    if open_pause is None:
        raise ConflictError(f"ticket {ticket_id}'s clock is not paused")
    open_pause.ended_at = now
    session.flush()
    settings = _settings_of(session=session, ticket=ticket)
    site = _site_of(session=session, ticket=ticket)
    apply_deadlines(
        ticket=ticket,
        settings=settings,
        site=site,
        pauses=pauses_of(session=session, ticket_id=ticket.id),
    )
    add_event(
        session=session,
        ticket=ticket,
        actor=actor,
        kind="clock_resumed",
        at=now,
        data={"respond_by": ticket.respond_by.isoformat() if ticket.respond_by else None},
    )
    return ticket
