"""The ticket's states and the moves between them (seed §3.3's repair flow). Pure.

new → acknowledged → dispatched (ETA) → on_site → resolved → closed, with reopened (not
satisfied, or the fault came back), cancelled, and recovered: telemetry says the fault is gone
before anyone acted, so the ticket waits for a quiet period (or a person) before it closes.
"""

from datetime import datetime
from enum import StrEnum
from typing import Protocol


class TicketState(StrEnum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    DISPATCHED = "dispatched"
    ON_SITE = "on_site"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"
    CANCELLED = "cancelled"
    RECOVERED = "recovered"  # recovered, awaiting confirmation


class TicketKind(StrEnum):
    FAULT = "fault"  # one fault episode of one device
    INCIDENT = "incident"  # a site-level fault (agent offline, system paralysed)
    CALL = "call"  # logged by the service desk from a client's call
    PREVENTIVE = "preventive"  # a failure forecast (server/predict): a deadline, no emergency clock
    INSPECTION = "inspection"  # a failing inspection row no open ticket covered


class Channel(StrEnum):
    MONITORING = "monitoring"
    PHONE = "phone"
    EMAIL = "email"
    ONLINE = "online"
    OTHER = "other"


class RepairPath(StrEnum):
    """The tech-support engineer's call on a fault (000 stage 2): a simple one is fixed by
    guiding the desk or the client remotely; a complex one gets a repair plan, then a visit."""

    SIMPLE = "simple"
    COMPLEX = "complex"


S = TicketState
TRANSITIONS: dict[TicketState, frozenset[TicketState]] = {
    S.NEW: frozenset({S.ACKNOWLEDGED, S.DISPATCHED, S.RESOLVED, S.CANCELLED, S.RECOVERED}),
    S.REOPENED: frozenset({S.ACKNOWLEDGED, S.DISPATCHED, S.RESOLVED, S.CANCELLED}),
    S.ACKNOWLEDGED: frozenset({S.DISPATCHED, S.RESOLVED, S.CANCELLED}),
    S.DISPATCHED: frozenset({S.ON_SITE, S.ACKNOWLEDGED, S.CANCELLED}),
    S.ON_SITE: frozenset({S.RESOLVED, S.DISPATCHED}),
    S.RESOLVED: frozenset({S.CLOSED, S.REOPENED}),
    S.CLOSED: frozenset({S.REOPENED}),
    # Recovered: it closes after the quiet period, comes back (new) if the fault recurs, or a
    # person takes it anyway.
    S.RECOVERED: frozenset({S.CLOSED, S.NEW, S.ACKNOWLEDGED, S.CANCELLED}),
    S.CANCELLED: frozenset(),
}
# Not finished: counts as the device's open ticket (merging, de-duplication).
OPEN_STATES = frozenset(s for s in TicketState if s not in (S.CLOSED, S.CANCELLED))
# Someone on the team still has to act: the console's "open tickets" (resolved waits for the
# client, recovered for its quiet period).
WORK_STATES = frozenset({S.NEW, S.REOPENED, S.ACKNOWLEDGED, S.DISPATCHED, S.ON_SITE})


class TransitionError(ValueError):
    """A move the flow does not allow, or one missing what it needs (an ETA to dispatch)."""


def check_transition(current: TicketState, target: TicketState) -> None:
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(t.value for t in TRANSITIONS[current])) or "none"
        raise TransitionError(
            f"cannot go from {current.value} to {target.value} (allowed: {allowed})"
        )


def check_dispatch(
    path: RepairPath | None, *, plan_approved: bool, approval_required: bool
) -> None:
    """The one gate on a move besides the table: a complex fault goes out on an approved repair
    plan where the client's policy asks for approval (000: plan, then 「派遣維修工程師」)."""
    if path is RepairPath.COMPLEX and approval_required and not plan_approved:
        raise TransitionError(
            "a complex fault is dispatched once its repair plan is approved by a manager"
        )


class _Clocked(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def first_failure_at(self) -> datetime: ...


def ticket_clock_start(ticket: _Clocked) -> datetime:
    """Where a ticket's SLA clocks start. A desk-logged call starts at the client's notice (the
    call's time: 004/A 「接到客户通知开始」, 000 「在接到客戶報修后」), not when the client says the
    fault began; a detected fault at its first failing observation, before anyone could call."""
    return ticket.created_at if ticket.kind == TicketKind.CALL.value else ticket.first_failure_at
