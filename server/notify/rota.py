"""Who is on call, and who gets the next ticket: pure functions of time and team order.

The rota rotates through its members every `shift_days`, handing over at a local time of day
in the team's zone (so a daylight-saving change does not move the handover). Overrides (holiday
duty, swaps: 004/A 「节假日期间…应专门安排值班」) win over the rotation while they last.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class RotaOverride:
    start: datetime
    end: datetime
    member: str

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("rota override times must be timezone-aware")
        if self.end <= self.start:
            raise ValueError(f"rota override for {self.member} ends before it starts")


@dataclass(frozen=True)
class OnCallRota:
    """members[0] is on call from `start` at `handover` local time for `shift_days` days, etc."""

    members: tuple[str, ...]
    start: date
    handover: time = time(8, 30)
    shift_days: int = 7
    timezone: str = "Asia/Shanghai"
    overrides: tuple[RotaOverride, ...] = ()

    def __post_init__(self) -> None:
        if not self.members:
            raise ValueError("a rota needs at least one member")
        if self.shift_days < 1:
            raise ValueError("shift_days must be at least 1")
        ZoneInfo(self.timezone)

    def shift_index(self, at: datetime) -> int:
        """Number of handovers since the rota's first shift (negative before it)."""
        if at.tzinfo is None:
            raise ValueError("`at` must be timezone-aware")
        local = at.astimezone(ZoneInfo(self.timezone))
        duty_day = local.date()
        if local.time() < self.handover:
            duty_day -= timedelta(days=1)
        return (duty_day - self.start).days // self.shift_days

    def on_call(self, at: datetime) -> str:
        """The member on call at `at`: the last-listed override covering it, else the rotation."""
        for override in reversed(self.overrides):
            if override.start <= at < override.end:
                return override.member
        return self.members[self.shift_index(at) % len(self.members)]


def next_in_rotation(
    members: Sequence[str], last: str | None, available: Container[str] | None = None
) -> str | None:
    """Round-robin: the first available member after `last` in team order (wrapping round).

    `last` not in the team (or None) starts at the head of the list; None if nobody is available.
    """
    if not members:
        return None
    begin = (members.index(last) + 1) if last in members else 0
    for step in range(len(members)):
        candidate = members[(begin + step) % len(members)]
        if available is None or candidate in available:
            return candidate
    return None


def choose_assignee(
    members: Sequence[str],
    *,
    last_assigned: str | None,
    at: datetime,
    off_hours: bool,
    rota: OnCallRota | None = None,
    available: Container[str] | None = None,
) -> str | None:
    """Assignment rule: off hours (or nobody available) the on-call member, else round-robin.

    `off_hours` comes from the site's business calendar (`BusinessCalendar.is_working`).
    """
    if off_hours and rota is not None:
        return rota.on_call(at)
    chosen = next_in_rotation(members, last_assigned, available)
    if chosen is None and rota is not None:
        return rota.on_call(at)
    return chosen
