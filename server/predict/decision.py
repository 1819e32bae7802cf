"""What a preventive ticket should do about the latest evidence: open, take a note, close, or
nothing. One function, used by the server's job and by the offline backtest alike.
"""

from dataclasses import dataclass
from enum import StrEnum

from server.predict.evidence import UNJUDGED, Evidence, Verdict
from server.sla.policy import PreventiveTargets


class Action(StrEnum):
    OPEN = "open"
    NOTE = "note"
    CLOSE = "close"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class OpenPreventive:
    """The open preventive ticket of one device and signal, as far as the decision needs it."""

    opened_day: int
    projected_day: int | None
    part: str | None


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    deadline_day: int | None = None
    why: str = ""


@dataclass(frozen=True, slots=True)
class Policy:
    margin_days: int = 7  # deadline this long before the projected date
    min_notice_days: int = 3  # never a deadline sooner than this
    move_days: int = 7  # a projected date moving this much is worth a note

    @classmethod
    def of_cell(cls, cell: PreventiveTargets) -> "Policy":
        """The deadline rule of a client's preventive SLA cell."""
        return cls(margin_days=cell.margin_days, min_notice_days=cell.min_notice_days)


def deadline(evidence: Evidence, policy: Policy) -> int:
    soonest = evidence.at_day + policy.min_notice_days
    if evidence.projected_day is None:
        return soonest
    return max(soonest, evidence.projected_day - policy.margin_days)


def decide(
    evidence: Evidence, ticket: OpenPreventive | None, policy: Policy = Policy()
) -> Decision:
    """Open on an alarm; with a ticket open: close when the part was replaced or the trend
    reversed, note when the projected date moved by `move_days` or more, else leave it."""
    if ticket is None:
        if evidence.alarm:
            return Decision(Action.OPEN, deadline(evidence, policy), evidence.en)
        return Decision(Action.NONE)
    if evidence.verdict not in UNJUDGED and evidence.part != ticket.part:
        return Decision(Action.CLOSE, why="part replaced")
    if evidence.verdict is Verdict.REVERSED:
        return Decision(Action.CLOSE, why=evidence.en)
    if evidence.alarm and evidence.projected_day is not None:
        moved = (
            ticket.projected_day is None
            or abs(evidence.projected_day - ticket.projected_day) >= policy.move_days
        )
        if moved:
            return Decision(Action.NOTE, deadline(evidence, policy), evidence.en)
    return Decision(Action.NONE)
