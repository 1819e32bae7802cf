"""SLA clocks: deadlines from a policy cell, and the state of a clock at a given instant.

Running time is business time under the cell's calendar (the site's calendar for "business", the
7x24 calendar otherwise) minus pauses, which count only where the cell is pausable. Everything
is pure: the caller passes `now`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from server.sla.calendar import (
    BusinessCalendar,
    Interval,
    add_business_time,
    business_time_between,
)
from server.sla.policy import CalendarMode, SlaClock, SlaPolicy, SlaTargets

ALWAYS = BusinessCalendar.always("UTC")
DEFAULT_NEAR_FRACTION = 0.8


@dataclass(frozen=True)
class Pause:
    """The clock stood still from `start` to `end` (waiting for the client); open if end is None."""

    start: datetime
    end: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"pause {name} must be timezone-aware")
        if self.end is not None and self.end < self.start:
            raise ValueError(f"pause ends ({self.end}) before it starts ({self.start})")


PauseLike = Pause | tuple[datetime, datetime | None]


def _pause_intervals(pauses: Iterable[PauseLike], now: datetime | None) -> list[Interval]:
    """Closed intervals; an open pause runs until `now` (required when one is open)."""
    out: list[Interval] = []
    for item in pauses:
        pause = item if isinstance(item, Pause) else Pause(item[0], item[1])
        end = pause.end
        if end is None:
            if now is None:
                raise ValueError("an open pause needs `now` to say how long it has lasted")
            end = max(now, pause.start)
        out.append((pause.start.astimezone(UTC), end.astimezone(UTC)))
    return out


def _is_paused(pauses: Iterable[PauseLike], now: datetime) -> bool:
    for item in pauses:
        pause = item if isinstance(item, Pause) else Pause(item[0], item[1])
        if pause.start <= now and (pause.end is None or pause.end > now):
            return True
    return False


def clock_calendar(targets: SlaTargets, site_calendar: BusinessCalendar) -> BusinessCalendar:
    """The calendar a cell's clocks run on: the site's for business mode, else 7x24."""
    return site_calendar if targets.calendar is CalendarMode.BUSINESS else ALWAYS


@dataclass(frozen=True)
class Deadlines:
    """The three deadlines of a ticket, aware UTC."""

    respond_by: datetime
    on_site_by: datetime
    resolve_by: datetime


def compute_deadlines(
    policy: SlaPolicy,
    severity: str,
    zone: str,
    started_at: datetime,
    calendar: BusinessCalendar,
    pauses: Sequence[PauseLike] = (),
    *,
    now: datetime | None = None,
) -> Deadlines:
    """Deadlines of a clock started at `started_at` (first failing observation for auto tickets).

    `calendar` is the site's business calendar; cells in 24x7 mode ignore it. Pauses count only
    when the cell is pausable; an open pause is taken to last until `now`, so a paused ticket's
    deadlines move on as time passes. Raises `SlaConfigError` when the policy lacks the cell.
    """
    targets = policy.targets(severity, zone)
    cal = clock_calendar(targets, calendar)
    holes = _pause_intervals(pauses, now) if targets.pausable else []
    return Deadlines(
        respond_by=add_business_time(cal, started_at, targets.respond, holes),
        on_site_by=add_business_time(cal, started_at, targets.on_site, holes),
        resolve_by=add_business_time(cal, started_at, targets.resolve, holes),
    )


class ClockStatus(StrEnum):
    OK = "ok"
    NEAR_BREACH = "near_breach"  # running, elapsed fraction ≥ the near threshold
    BREACHED = "breached"  # running, past the deadline
    MET = "met"  # stopped on or before the deadline
    MISSED = "missed"  # stopped after the deadline


@dataclass(frozen=True)
class ClockState:
    """One clock at one instant; durations are running (business) time, not wall time."""

    status: ClockStatus
    deadline: datetime
    target: timedelta  # running time from start to deadline
    elapsed: timedelta  # running time from start to now (or to met_at)
    remaining: timedelta  # to the deadline from now (or from met_at); negative when late
    elapsed_fraction: float
    paused: bool

    @property
    def running(self) -> bool:
        return self.status in (ClockStatus.OK, ClockStatus.NEAR_BREACH, ClockStatus.BREACHED)


def clock_state(
    deadline: datetime,
    started_at: datetime,
    now: datetime,
    met_at: datetime | None = None,
    near_fraction: float = DEFAULT_NEAR_FRACTION,
    calendar: BusinessCalendar = ALWAYS,
    pauses: Sequence[PauseLike] = (),
) -> ClockState:
    """Where a clock stands at `now`.

    Pass the calendar from `clock_calendar` and the pauses only if the cell is pausable (or use
    `ticket_clocks`, which does both). Met exactly at the deadline is met; breached means strictly
    after it.
    """
    if not 0.0 < near_fraction <= 1.0:
        raise ValueError(f"near_fraction must be in (0, 1], got {near_fraction}")
    holes = _pause_intervals(pauses, now)
    stop = met_at if met_at is not None else now
    stop = max(stop, started_at)
    target = business_time_between(calendar, started_at, deadline, holes)
    elapsed = business_time_between(calendar, started_at, stop, holes)
    remaining = business_time_between(calendar, stop, deadline, holes)
    # A zero target (deadline at the start) is all or nothing.
    fraction = elapsed / target if target > timedelta(0) else float(stop >= deadline)
    if met_at is not None:
        status = ClockStatus.MET if met_at <= deadline else ClockStatus.MISSED
    elif now > deadline:
        status = ClockStatus.BREACHED
    elif fraction >= near_fraction:
        status = ClockStatus.NEAR_BREACH
    else:
        status = ClockStatus.OK
    return ClockState(
        status=status,
        deadline=deadline.astimezone(UTC),
        target=target,
        elapsed=elapsed,
        remaining=remaining,
        elapsed_fraction=fraction,
        paused=met_at is None and _is_paused(pauses, now),
    )


@dataclass(frozen=True)
class TicketClocks:
    """A ticket's deadlines and the state of each of its three clocks."""

    targets: SlaTargets
    deadlines: Deadlines
    respond: ClockState
    on_site: ClockState
    resolve: ClockState

    def state(self, clock: SlaClock) -> ClockState:
        return {
            SlaClock.RESPOND: self.respond,
            SlaClock.ON_SITE: self.on_site,
            SlaClock.RESOLVE: self.resolve,
        }[SlaClock(clock)]


def ticket_clocks(
    policy: SlaPolicy,
    severity: str,
    zone: str,
    started_at: datetime,
    calendar: BusinessCalendar,
    now: datetime,
    *,
    acknowledged_at: datetime | None = None,
    on_site_at: datetime | None = None,
    resolved_at: datetime | None = None,
    pauses: Sequence[PauseLike] = (),
    near_fraction: float = DEFAULT_NEAR_FRACTION,
) -> TicketClocks:
    """Everything the ticket layer needs in one call: deadlines plus the three clock states."""
    targets = policy.targets(severity, zone)
    cal = clock_calendar(targets, calendar)
    effective = tuple(pauses) if targets.pausable else ()
    deadlines = compute_deadlines(policy, severity, zone, started_at, calendar, effective, now=now)

    def state(deadline: datetime, met_at: datetime | None) -> ClockState:
        return clock_state(deadline, started_at, now, met_at, near_fraction, cal, effective)

    return TicketClocks(
        targets=targets,
        deadlines=deadlines,
        respond=state(deadlines.respond_by, acknowledged_at),
        on_site=state(deadlines.on_site_by, on_site_at),
        resolve=state(deadlines.resolve_by, resolved_at),
    )
