"""The repair record, the client's sign-off and the satisfaction survey (seed §3.3, §7.2).

Resolve carries the record (diagnosis, cause class, actions, parts, time on site) signed by
the technician who resolves; the client's sign-off closes the ticket, "not satisfied" reopens
it ("until the client is satisfied"). A swapped part's new serial updates the device inventory.
"""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import ConflictError, InvalidInputError, NotFoundError
from server.models import Device, RepairRecord, Ticket, TicketSurvey
from server.tenancy import Scope
from server.tickets.repair_plan import check_consent
from server.tickets.service import Actor, add_event, get_ticket, open_faults, transition
from server.tickets.states import TicketState

SURVEY_TOKEN_PREFIX = "sms_"


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
    transition(
        session=session,
        ticket_id=ticket.id,
        target=TicketState.RESOLVED,
        actor=actor,
        now=now,
        note=note,
    )
    if still_open:
        add_event(
            session=session, ticket=ticket, actor=actor, kind="resolved_with_open_fault", at=now,
            note=fault_override, data={"open_faults": still_open},
        )  # fmt: skip
    existing = session.get(RepairRecord, ticket.id)
    if existing is not None:  # resolved again after a reopen: the new record replaces it
        session.delete(existing)
        session.flush()
    session.add(
        RepairRecord(
            ticket_id=ticket.id,
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
    )
    add_event(
        session=session,
        ticket=ticket,
        actor=actor,
        kind="repair_recorded",
        at=now,
        note=record.diagnosis[:2000],
        data={"cause_class": record.cause_class.value, "serial_changes": changes},
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
    """The client signs the record: satisfied closes the ticket, not satisfied reopens it."""
    ticket = get_ticket(session=session, ticket_id=ticket_id, scope=scope, lock=True)
    if ticket.state != TicketState.RESOLVED.value:
        raise ConflictError(f"ticket {ticket_id} is {ticket.state}; only a resolved one is signed")
    record = session.get(RepairRecord, ticket.id)
    if record is None:
        raise ConflictError(f"ticket {ticket_id} has no repair record to sign")
    record.client_signed_name = name
    record.client_signed_at = now
    record.client_satisfied = satisfied
    target = TicketState.CLOSED if satisfied else TicketState.REOPENED
    note = (
        f"signed by {name}"
        + ("" if satisfied else " as not satisfied")
        + (f": {comment}" if comment else "")
    )
    transition(
        session=session,
        ticket_id=ticket.id,
        target=target,
        actor=actor,
        now=now,
        note=note[:2000],
        scope=scope,
    )
    return ticket


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_survey(
    *, session: Session, ticket_id: int, actor: Actor, now: datetime, scope: Scope | None = None
) -> str:
    """A fresh one-time survey token for the ticket (a new link replaces an unanswered one)."""
    ticket = get_ticket(session=session, ticket_id=ticket_id, scope=scope)
    if ticket.state not in (TicketState.RESOLVED.value, TicketState.CLOSED.value):
        raise ConflictError("a survey is sent once the ticket is resolved")
    survey = session.get(TicketSurvey, ticket.id)
    if survey is not None and survey.submitted_at is not None:
        raise ConflictError(f"ticket {ticket_id}'s survey was already answered")
    token = SURVEY_TOKEN_PREFIX + secrets.token_urlsafe(24)
    if survey is None:
        session.add(TicketSurvey(ticket_id=ticket.id, token_sha256=_digest(token), created_at=now))
    else:
        survey.token_sha256 = _digest(token)
        survey.created_at = now
    add_event(session=session, ticket=ticket, actor=actor, kind="survey_sent", at=now)
    return token


def survey_by_token(*, session: Session, token: str) -> TicketSurvey:
    survey = session.scalars(
        select(TicketSurvey).where(TicketSurvey.token_sha256 == _digest(token))
    ).first()
    if survey is None:
        raise NotFoundError("unknown survey link")
    return survey


def answer_survey(
    *, session: Session, token: str, rating: int, comment: str | None, now: datetime
) -> TicketSurvey:
    if not 1 <= rating <= 5:
        raise InvalidInputError("rating is 1 to 5", [{"field": "rating", "message": "1..5"}])
    survey = survey_by_token(session=session, token=token)
    if survey.submitted_at is not None:
        raise ConflictError("this survey was already answered")
    survey.rating = rating
    survey.comment = comment
    survey.submitted_at = now
    ticket = session.get(Ticket, survey.ticket_id)
    assert ticket is not None
    add_event(
        session=session,
        ticket=ticket,
        actor=Actor("client (survey link)"),
        kind="satisfaction",
        at=now,
        note=comment,
        data={"rating": rating},
    )
    return survey
