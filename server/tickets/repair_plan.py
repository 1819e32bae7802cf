"""The repair path between the report and the visit (seed §3.3 stage 2, §3.4): the tech-support
engineer's diagnosis (simple or complex, due within 1 h for emergencies), a complex fault's
repair plan and its approval, and the client's consent before parts are replaced or extra work
is done. Dispatch checks the plan (`service._check_plan`); resolve checks the consent.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import ConflictError
from server.models import ClientConsent, RepairPlan, Ticket
from server.sla import Severity
from server.tenancy import Scope
from server.tickets.service import Actor, add_event, get_ticket
from server.tickets.states import WORK_STATES, Channel, RepairPath

# 001 「需在1小时内完成初步诊断(复杂故障除外)」: the initial diagnosis of an emergency.
DIAGNOSIS_TARGET = timedelta(hours=1)
_WORK = frozenset(s.value for s in WORK_STATES)


class ConsentScope(StrEnum):
    """What the client agreed to beforehand (003 「如需更換零件或進行其他額外服務」)."""

    PARTS = "parts"
    EXTRA_WORK = "extra_work"


@dataclass(frozen=True)
class PlanIn:
    """A complex fault's repair plan (000 「維修步驟、所需工具和零部件清單、預計維修時間」)."""

    steps: tuple[str, ...]
    tools: tuple[str, ...]
    parts: tuple[str, ...]
    estimated_minutes: int


def diagnosis_due(severity: str, clock_start: datetime) -> datetime | None:
    """When an emergency's initial diagnosis is due; general faults have no diagnosis clock."""
    return clock_start + DIAGNOSIS_TARGET if severity == Severity.EMERGENCY.value else None


def _open_ticket(*, session: Session, ticket_id: int, scope: Scope | None) -> Ticket:
    ticket = get_ticket(session=session, ticket_id=ticket_id, scope=scope, lock=True)
    if ticket.state not in _WORK:
        raise ConflictError(f"ticket {ticket_id} is {ticket.state}; nothing is left to plan")
    return ticket


def diagnose(
    *,
    session: Session,
    ticket_id: int,
    path: RepairPath,
    diagnosis: str,
    actor: Actor,
    now: datetime,
    scope: Scope | None = None,
) -> RepairPlan:
    """Record the diagnosis and the path it sets; a second diagnosis replaces the first (both
    stay in the audit trail), and a plan approved for a complex fault needs approving again."""
    ticket = _open_ticket(session=session, ticket_id=ticket_id, scope=scope)
    plan = session.get(RepairPlan, ticket.id)
    if plan is None:
        plan = RepairPlan(
            ticket_id=ticket.id, path=path.value, diagnosis=diagnosis, diagnosed_by=actor.name,
            diagnosed_at=now, steps=[], tools=[], parts=[],
        )  # fmt: skip
        session.add(plan)
    else:
        plan.path, plan.diagnosis = path.value, diagnosis
        plan.diagnosed_by, plan.diagnosed_at = actor.name, now
        plan.approved_by = plan.approved_at = None
    late = ticket.diagnose_by is not None and now > ticket.diagnose_by
    add_event(
        session=session, ticket=ticket, actor=actor, kind="diagnosed", at=now,
        note=diagnosis[:2000], data={"path": path.value, "late": late},
    )  # fmt: skip
    return plan


def submit_plan(
    *,
    session: Session,
    ticket_id: int,
    plan_in: PlanIn,
    actor: Actor,
    now: datetime,
    scope: Scope | None = None,
) -> RepairPlan:
    """File (or revise) a complex fault's repair plan; a revision waits for approval again."""
    ticket = _open_ticket(session=session, ticket_id=ticket_id, scope=scope)
    plan = session.get(RepairPlan, ticket.id)
    if plan is None or plan.path != RepairPath.COMPLEX.value:
        raise ConflictError(f"ticket {ticket_id}: diagnose the fault as complex before planning")
    plan.steps, plan.tools, plan.parts = (
        list(plan_in.steps),
        list(plan_in.tools),
        list(plan_in.parts),
    )
    plan.estimated_minutes = plan_in.estimated_minutes
    plan.planned_by, plan.planned_at = actor.name, now
    plan.approved_by = plan.approved_at = None
    add_event(
        session=session, ticket=ticket, actor=actor, kind="plan_submitted", at=now,
        data={"steps": plan.steps, "tools": plan.tools, "parts": plan.parts,
              "estimated_minutes": plan.estimated_minutes},
    )  # fmt: skip
    return plan


def approve_plan(
    *, session: Session, ticket_id: int, actor: Actor, now: datetime, scope: Scope | None = None
) -> RepairPlan:
    """A manager approves the plan as filed; dispatch may follow."""
    ticket = _open_ticket(session=session, ticket_id=ticket_id, scope=scope)
    plan = session.get(RepairPlan, ticket.id)
    if plan is None or plan.planned_at is None:
        raise ConflictError(f"ticket {ticket_id} has no repair plan to approve")
    if plan.approved_at is not None:
        raise ConflictError(f"ticket {ticket_id}'s plan is already approved")
    plan.approved_by, plan.approved_at = actor.name, now
    add_event(session=session, ticket=ticket, actor=actor, kind="plan_approved", at=now)
    return plan


def record_consent(
    *,
    session: Session,
    ticket_id: int,
    scope_of_consent: ConsentScope,
    given_by: str,
    channel: Channel,
    note: str | None,
    actor: Actor,
    now: datetime,
    scope: Scope | None = None,
) -> ClientConsent:
    """The client agreed (by phone, on site, …) to parts or extra work, before it is done."""
    ticket = _open_ticket(session=session, ticket_id=ticket_id, scope=scope)
    consent = ClientConsent(
        ticket_id=ticket.id, scope=scope_of_consent.value, given_by=given_by,
        channel=channel.value, note=note, recorded_by=actor.name, at=now,
    )  # fmt: skip
    session.add(consent)
    add_event(
        session=session, ticket=ticket, actor=actor, kind="consent", at=now, note=note,
        data={"scope": scope_of_consent.value, "given_by": given_by, "channel": channel.value},
    )  # fmt: skip
    return consent


def consents_of(*, session: Session, ticket_id: int) -> list[ClientConsent]:
    return list(
        session.scalars(
            select(ClientConsent)
            .where(ClientConsent.ticket_id == ticket_id)
            .order_by(ClientConsent.id)
        )
    )


def check_consent(*, session: Session, ticket: Ticket, parts: Sequence[str]) -> None:
    """Refuse a repair record with replaced parts unless the client agreed to parts first, and
    parts beyond the approved plan unless the client agreed to extra work (003 「需提前與客戶
    溝通并獲得同意」)."""
    if not parts:
        return
    given = {c.scope for c in consents_of(session=session, ticket_id=ticket.id)}
    if ConsentScope.PARTS.value not in given:
        raise ConflictError(
            f"ticket {ticket.id}: the client's consent to replacing parts is not recorded;"
            f" record it (POST /api/v1/tickets/{ticket.id}/consents) before filing the parts"
        )
    plan = session.get(RepairPlan, ticket.id)
    if plan is None or plan.planned_at is None:
        return
    extra = sorted(set(parts) - set(plan.parts))
    if extra and ConsentScope.EXTRA_WORK.value not in given:
        raise ConflictError(
            f"ticket {ticket.id}: {', '.join(extra)} not in the repair plan; the client's"
            " consent to extra work is not recorded"
        )
