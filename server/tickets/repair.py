"""The repair record, the client's sign-off and the satisfaction survey (seed §3.3, §7.2).

Resolve carries the record (diagnosis, cause class, actions, parts, time on site) signed by
the technician who resolves, and sends the client a one-time link to sign it. A resolved ticket
closes only with the client's signature (000 「并由客戶簽字確認」) or a manager's override
with a reason; "not satisfied" reopens it ("until the client is satisfied"). Each resolution is
a new version of the record: earlier versions and their signatures are kept, never
overwritten. Closing sends the client the satisfaction survey (000's four dimensions).
A swapped part's new serial updates the device inventory.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.errors import ConflictError, InvalidInputError, NotFoundError
from server.models import Device, RepairRecord, SignOffLink, Ticket, TicketSurvey
from server.tenancy import Scope
from server.tickets.repair_plan import check_consent
from server.tickets.service import (
    Actor,
    add_event,
    close_signed,
    get_ticket,
    open_faults,
    transition,
)
from server.tickets.states import TicketState

SURVEY_TOKEN_PREFIX = "sms_"
SIGN_TOKEN_PREFIX = "sgn_"
# How long the client's links work: long enough for someone away for a week or two.
SIGN_LINK_TTL = timedelta(days=14)
SURVEY_LINK_TTL = timedelta(days=30)
SIGN_PATH = "/sign/"
SURVEY_PATH = "/survey/"
DIMENSIONS = ("response_time", "repair_quality", "attitude", "problem_solving")


class CauseClass(StrEnum):
    """Who the fault is down to (seed §1.3): decides who pays and who repairs."""

    EQUIPMENT = "equipment"
    INSTALLATION = "installation"
    CLIENT_USE = "client_use"
    EXTERNAL = "external"


@dataclass(frozen=True)
class PartIn:
    name: str
    device_id: int | None = None
    old_serial: str | None = None
    new_serial: str | None = None


@dataclass(frozen=True)
class RepairIn:
    diagnosis: str
    cause_class: CauseClass
    actions: str
    time_on_site_minutes: int
    parts: tuple[PartIn, ...] = ()


@dataclass(frozen=True)
class Ratings:
    """The survey's four dimensions (000 「服務響應時間、維修質量、服務態度、解決問題能力」)."""

    response_time: int
    repair_quality: int
    attitude: int
    problem_solving: int

    @property
    def overall(self) -> int:
        """The mean of the four, rounded half up: the figure the satisfaction KPI reads."""
        total = self.response_time + self.repair_quality + self.attitude + self.problem_solving
        return (2 * total + 4) // 8


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(24)


def records_of(*, session: Session, ticket_id: int) -> list[RepairRecord]:
    """Every version of the ticket's repair record, oldest first."""
    return list(
        session.scalars(
            select(RepairRecord)
            .where(RepairRecord.ticket_id == ticket_id)
            .order_by(RepairRecord.version)
        )
    )


def current_record(*, session: Session, ticket_id: int) -> RepairRecord | None:
    """The version not superseded by a later resolution, if the ticket was ever resolved."""
    return session.scalars(
        select(RepairRecord)
        .where(RepairRecord.ticket_id == ticket_id, RepairRecord.superseded_at.is_(None))
        .order_by(RepairRecord.version.desc())
        .limit(1)
    ).first()


def resolve_with_record(
    *,
    session: Session,
    ticket_id: int,
    record: RepairIn,
    actor: Actor,
    now: datetime,
    note: str | None = None,
    scope: Scope | None = None,
    fault_override: str | None = None,
) -> Ticket:
    """Resolve and file the repair record in one step; serial swaps update the inventory.

    While monitoring still sees a fault of the ticket, resolve is refused unless the resolver
    says why in `fault_override` (kept in the audit trail); the sweep reopens the ticket if the
    fault outlasts the confirmation window (`reopen_still_down`)."""
    ticket = get_ticket(session=session, ticket_id=ticket_id, scope=scope, lock=True)
    still_open = sorted({e.code for e in open_faults(session=session, ticket_id=ticket.id)})
    if still_open and not fault_override:
        raise ConflictError(
            f"ticket {ticket_id}: {', '.join(still_open)} is still open (monitoring does not see"
            " the device working yet); resolve once it recovers, or give fault_override with"
            " the reason"
        )
    check_consent(session=session, ticket=ticket, parts=[p.name for p in record.parts])
    changes = []
    for i, part in enumerate(record.parts):
        if part.device_id is None:
            continue
        device = session.get(Device, part.device_id)
        if device is None or device.site_id != ticket.site_id:
            raise InvalidInputError(
                "part names a device not on the ticket's site",
                [{"field": f"parts[{i}].device_id", "message": "not on this site"}],
            )
        if part.new_serial and part.new_serial != device.serial:
            changes.append(
                {"device_id": device.id, "old_serial": device.serial, "new_serial": part.new_serial}
            )
            device.serial = part.new_serial
    existing = current_record(session=session, ticket_id=ticket.id)
    if existing is not None:  # resolved again after a reopen: the earlier version is kept
        existing.superseded_at = now
    version = (
        session.scalar(
            select(func.max(RepairRecord.version)).where(RepairRecord.ticket_id == ticket.id)
        )
        or 0
    ) + 1
    saved = RepairRecord(
        ticket_id=ticket.id,
        version=version,
        diagnosis=record.diagnosis,
        cause_class=record.cause_class.value,
        actions=record.actions,
        parts=[
            {
                "name": p.name,
                "device_id": p.device_id,
                "old_serial": p.old_serial,
                "new_serial": p.new_serial,
            }
            for p in record.parts
        ],
        time_on_site_minutes=record.time_on_site_minutes,
        technician_id=actor.id,
        technician_name=actor.name,
        technician_signed_at=now,
        created_at=now,
    )
    session.add(saved)
    session.flush()
    token = _new_token(SIGN_TOKEN_PREFIX)
    session.add(
        SignOffLink(
            record_id=saved.id,
            token_sha256=digest(token),
            created_at=now,
            expires_at=now + SIGN_LINK_TTL,
        )
    )
    transition(
        session=session,
        ticket_id=ticket.id,
        target=TicketState.RESOLVED,
        actor=actor,
        now=now,
        note=note,
        client_link=SIGN_PATH + token,
    )
    if still_open:
        add_event(
            session=session, ticket=ticket, actor=actor, kind="resolved_with_open_fault", at=now,
            note=fault_override, data={"open_faults": still_open},
        )  # fmt: skip
    add_event(
        session=session,
        ticket=ticket,
        actor=actor,
        kind="repair_recorded",
        at=now,
        note=record.diagnosis[:2000],
        data={
            "cause_class": record.cause_class.value,
            "serial_changes": changes,
            "version": version,
        },
    )
    return ticket


def _signable(*, session: Session, ticket: Ticket) -> RepairRecord:
    if ticket.state != TicketState.RESOLVED.value:
        raise ConflictError(f"ticket {ticket.id} is {ticket.state}; only a resolved one is signed")
    record = current_record(session=session, ticket_id=ticket.id)
    if record is None:
        raise ConflictError(f"ticket {ticket.id} has no repair record to sign")
    return record


def _close(*, session: Session, ticket: Ticket, actor: Actor, now: datetime, note: str) -> None:
    """Close a signed (or overridden) ticket and send the client the survey link."""
    token = _survey_token(session=session, ticket=ticket, now=now)
    close_signed(
        session=session,
        ticket=ticket,
        actor=actor,
        now=now,
        note=note[:2000],
        client_link=SURVEY_PATH + token,
    )
    add_event(session=session, ticket=ticket, actor=Actor("system"), kind="survey_sent", at=now)


def _sign(
    *,
    session: Session,
    ticket: Ticket,
    record: RepairRecord,
    name: str,
    satisfied: bool,
    comment: str | None,
    actor: Actor,
    now: datetime,
) -> Ticket:
    comment = (comment or "").strip() or None
    if not satisfied and comment is None:
        raise InvalidInputError(
            "say what is still wrong",
            [{"field": "comment", "message": "required when not satisfied"}],
        )
    record.client_signed_name = name
    record.client_signed_at = now
    record.client_satisfied = satisfied
    record.client_comment = comment
    note = (
        f"signed by {name}"
        + ("" if satisfied else " as not satisfied")
        + (f": {comment}" if comment else "")
    )
    if satisfied:
        _close(session=session, ticket=ticket, actor=actor, now=now, note=note)
    else:
        transition(
            session=session,
            ticket_id=ticket.id,
            target=TicketState.REOPENED,
            actor=actor,
            now=now,
            note=note[:2000],
        )
    return ticket


def client_sign_off(
    *,
    session: Session,
    ticket_id: int,
    name: str,
    satisfied: bool,
    comment: str | None,
    actor: Actor,
    now: datetime,
    scope: Scope | None,
) -> Ticket:
    """The client signs the record: satisfied closes the ticket, not satisfied (with what is
    still wrong) reopens it."""
    ticket = get_ticket(session=session, ticket_id=ticket_id, scope=scope, lock=True)
    record = _signable(session=session, ticket=ticket)
    return _sign(
        session=session, ticket=ticket, record=record, name=name, satisfied=satisfied,
        comment=comment, actor=actor, now=now,
    )  # fmt: skip


@dataclass(frozen=True)
class SignOffView:
    """What the client's sign-off page shows: the ticket and the record version it signs."""

    ticket: Ticket
    record: RepairRecord


def signoff_by_token(*, session: Session, token: str, now: datetime) -> SignOffView:
    """The record a sign-off link is for; used, expired or outdated links find nothing."""
    link = session.scalars(
        select(SignOffLink).where(SignOffLink.token_sha256 == digest(token))
    ).first()
    if link is None or link.used_at is not None or link.expires_at <= now:
        raise NotFoundError("this link is not valid (used, expired or unknown)")
    record = session.get(RepairRecord, link.record_id)
    assert record is not None  # FK
    ticket = session.get(Ticket, record.ticket_id)
    assert ticket is not None  # FK
    if record.superseded_at is not None or ticket.state != TicketState.RESOLVED.value:
        raise NotFoundError("this link is not valid any more (the ticket moved on)")
    return SignOffView(ticket=ticket, record=record)


def sign_by_link(
    *, session: Session, token: str, name: str, satisfied: bool, comment: str | None, now: datetime
) -> Ticket:
    """The client signs through the one-time link (no login: the link is the credential)."""
    view = signoff_by_token(session=session, token=token, now=now)
    ticket = get_ticket(session=session, ticket_id=view.ticket.id, scope=None, lock=True)
    link = session.scalars(
        select(SignOffLink).where(SignOffLink.token_sha256 == digest(token))
    ).one()
    link.used_at = now
    return _sign(
        session=session, ticket=ticket, record=view.record, name=name, satisfied=satisfied,
        comment=comment, actor=Actor(f"{name[:120]} (sign-off link)"), now=now,
    )  # fmt: skip


def close_without_signature(
    *,
    session: Session,
    ticket_id: int,
    reason: str,
    actor: Actor,
    now: datetime,
    scope: Scope | None,
) -> Ticket:
    """A manager closes a resolved ticket the client has not signed, saying why; the reason
    stays on the record and the record counts as incomplete."""
    reason = reason.strip()
    if not reason:
        raise InvalidInputError(
            "closing without the client's signature needs a reason",
            [{"field": "reason", "message": "required"}],
        )
    ticket = get_ticket(session=session, ticket_id=ticket_id, scope=scope, lock=True)
    record = _signable(session=session, ticket=ticket)
    record.override_reason = reason[:2000]
    record.override_by = actor.name
    record.override_at = now
    _close(
        session=session,
        ticket=ticket,
        actor=actor,
        now=now,
        note=f"closed without the client's signature: {reason}",
    )
    return ticket


def _survey_token(*, session: Session, ticket: Ticket, now: datetime) -> str:
    """A fresh one-time survey token (a new link replaces an unanswered one)."""
    survey = session.get(TicketSurvey, ticket.id)
    if survey is not None and survey.submitted_at is not None:
        raise ConflictError(f"ticket {ticket.id}'s survey was already answered")
    token = _new_token(SURVEY_TOKEN_PREFIX)
    if survey is None:
        survey = TicketSurvey(ticket_id=ticket.id, token_sha256=digest(token), created_at=now)
        session.add(survey)
    survey.token_sha256 = digest(token)
    survey.created_at = now
    survey.expires_at = now + SURVEY_LINK_TTL
    return token


def create_survey(
    *, session: Session, ticket_id: int, actor: Actor, now: datetime, scope: Scope | None = None
) -> str:
    """A new survey link by hand (the client lost the one sent at closing)."""
    ticket = get_ticket(session=session, ticket_id=ticket_id, scope=scope)
    if ticket.state != TicketState.CLOSED.value:
        raise ConflictError("a survey is sent once the ticket is closed")
    token = _survey_token(session=session, ticket=ticket, now=now)
    add_event(session=session, ticket=ticket, actor=actor, kind="survey_sent", at=now)
    return token


def survey_by_token(*, session: Session, token: str, now: datetime) -> TicketSurvey:
    """The open survey behind a link; answered, expired or unknown links find nothing."""
    survey = session.scalars(
        select(TicketSurvey).where(TicketSurvey.token_sha256 == digest(token))
    ).first()
    if (
        survey is None
        or survey.submitted_at is not None
        or (survey.expires_at is not None and survey.expires_at <= now)
    ):
        raise NotFoundError("this survey link is not valid (answered, expired or unknown)")
    return survey


def answer_survey(
    *, session: Session, token: str, ratings: Ratings, comment: str | None, now: datetime
) -> TicketSurvey:
    for name in DIMENSIONS:
        if not 1 <= getattr(ratings, name) <= 5:
            raise InvalidInputError("ratings are 1 to 5", [{"field": name, "message": "1..5"}])
    survey = survey_by_token(session=session, token=token, now=now)
    survey.response_time = ratings.response_time
    survey.repair_quality = ratings.repair_quality
    survey.attitude = ratings.attitude
    survey.problem_solving = ratings.problem_solving
    survey.rating = ratings.overall
    survey.comment = (comment or "").strip() or None
    survey.submitted_at = now
    ticket = session.get(Ticket, survey.ticket_id)
    assert ticket is not None
    add_event(
        session=session,
        ticket=ticket,
        actor=Actor("client (survey link)"),
        kind="satisfaction",
        at=now,
        note=survey.comment,
        data={name: getattr(ratings, name) for name in DIMENSIONS} | {"rating": survey.rating},
    )
    return survey
