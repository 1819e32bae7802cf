"""Offline replay: samples of a fleet, day by day, through a forecaster and the ticket decision,
then scored against the known failure dates. Pure: the CSV reading lives in `csvfile`.

Scoring: a ticket opened on a failing device within `max_lead_days` before its failure is a true
warning; the device's lead is failure day - first true warning's day. Tickets on devices that
never fail are false; they are counted per 1,000 device-months those devices were observed.
Tickets opened on the failure day or after are ignored (the device is already dead), and
tickets on a failing device too early to be about its failure count against precision only.
"""

import bisect
import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from server.predict.decision import Action, OpenPreventive, Policy, decide
from server.predict.evidence import Evidence
from server.predict.models import Params, judge
from server.predict.rollup import Sample, clean, day_of, roll_up
from server.predict.signals import spec_for

DAYS_PER_MONTH = 30.4375


class Forecaster(Protocol):
    """Judges one check's samples on each of `days` (only samples up to that day may count)."""

    def __call__(
        self, check: str, samples: Sequence[Sample], days: range
    ) -> Iterable[Evidence]: ...


def ours(params: Params = Params()) -> Forecaster:
    """secmon's models: clean, roll up once, judge each day on the rows up to it."""

    def forecast(check: str, samples: Sequence[Sample], days: range) -> Iterable[Evidence]:
        spec = spec_for(check)
        if spec is None:
            return
        cleaned = clean(samples, counter=spec.counter)
        rows = roll_up(cleaned.samples, counter=spec.counter)
        row_days = [row.day for row in rows]
        keep = max(
            params.baseline_lookback_days, params.rate_window_days + params.rate_baseline_days
        )
        for today in days:
            end = bisect.bisect_right(row_days, today)
            start = bisect.bisect_right(row_days, today - keep)
            yield judge(
                check, spec, rows[start:end], today=today, rejected=cleaned.rejected, params=params
            )

    return forecast


@dataclass(slots=True)
class Ticket:
    device: str
    check: str
    signal: str
    opened_day: int
    projected_day: int | None
    deadline_day: int | None
    part: str | None
    closed_day: int | None = None
    notes: int = 0
    evidence: Evidence | None = None


def replay(
    fleet: Mapping[tuple[str, str], Sequence[Sample]],
    forecaster: Forecaster,
    policy: Policy = Policy(),
) -> list[Ticket]:
    """Every ticket the forecaster's alarms would have opened, one open per device and signal."""
    tickets: list[Ticket] = []
    for (device, check), samples in sorted(fleet.items()):
        seen = [day_of(s.ts) for s in samples if math.isfinite(s.ts)]
        if not seen:
            continue
        first, last = min(seen), max(seen)
        current: Ticket | None = None
        for evidence in forecaster(check, samples, range(first, last + 1)):
            state = (
                None
                if current is None
                else OpenPreventive(current.opened_day, current.projected_day, current.part)
            )
            decision = decide(evidence, state, policy)
            if decision.action is Action.OPEN:
                current = Ticket(
                    device,
                    check,
                    evidence.signal,
                    evidence.at_day,
                    evidence.projected_day,
                    decision.deadline_day,
                    evidence.part,
                    evidence=evidence,
                )
                tickets.append(current)
            elif current is not None and decision.action is Action.NOTE:
                current.notes += 1
                current.projected_day = evidence.projected_day
                current.deadline_day = decision.deadline_day
            elif current is not None and decision.action is Action.CLOSE:
                current.closed_day = evidence.at_day
                current = None
    return tickets


@dataclass(frozen=True, slots=True)
class Figures:
    failures: int
    detected: int
    tickets: int
    true_tickets: int
    false_tickets: int
    healthy_device_months: float
    recall: float
    precision: float
    median_lead_days: float | None
    false_per_1000_device_months: float


@dataclass(frozen=True, slots=True)
class Score:
    """`per_signal`: each signal's own tickets (its recall: the share of all failures it warned
    of); `per_cause`: every ticket, over the failures of one cause, when causes are known."""

    overall: Figures
    per_signal: Mapping[str, Figures] = field(default_factory=dict)
    per_cause: Mapping[str, Figures] = field(default_factory=dict)


def _figures(
    tickets: Sequence[Ticket],
    failures: Mapping[str, int],
    spans: Mapping[str, tuple[int, int]],
    max_lead_days: int,
    counted: Callable[[str], bool],
) -> Figures:
    """Figures over the failing devices `counted` selects (all healthy devices always count)."""
    first_true: dict[str, int] = {}
    true_tickets = false_tickets = considered = 0
    for ticket in tickets:
        failed = failures.get(ticket.device)
        if failed is None:
            false_tickets += 1
            considered += 1
            continue
        if ticket.opened_day >= failed:
            continue
        considered += 1
        if failed - ticket.opened_day <= max_lead_days:
            true_tickets += 1
            best = first_true.get(ticket.device)
            if best is None or ticket.opened_day < best:
                first_true[ticket.device] = ticket.opened_day
    failing = [device for device in failures if counted(device)]
    leads = [failures[d] - first_true[d] for d in failing if d in first_true]
    healthy_days = sum(
        last - first + 1 for device, (first, last) in spans.items() if device not in failures
    )
    months = healthy_days / DAYS_PER_MONTH
    return Figures(
        failures=len(failing),
        detected=len(leads),
        tickets=considered,
        true_tickets=true_tickets,
        false_tickets=false_tickets,
        healthy_device_months=months,
        recall=len(leads) / len(failing) if failing else 0.0,
        precision=true_tickets / considered if considered else 0.0,
        median_lead_days=float(statistics.median(leads)) if leads else None,
        false_per_1000_device_months=1000.0 * false_tickets / months if months else 0.0,
    )


def score(
    tickets: Sequence[Ticket],
    failures: Mapping[str, int],
    spans: Mapping[str, tuple[int, int]],
    causes: Mapping[str, str] | None = None,
    max_lead_days: int = 90,
) -> Score:
    """Overall figures, per signal and per cause of failure (see Score)."""
    causes = causes or {}
    overall = _figures(tickets, failures, spans, max_lead_days, lambda _: True)
    by_signal: dict[str, list[Ticket]] = defaultdict(list)
    for ticket in tickets:
        by_signal[ticket.signal].append(ticket)
    per_signal = {
        signal: _figures(group, failures, spans, max_lead_days, lambda _: True)
        for signal, group in sorted(by_signal.items())
    }
    per_cause = {
        cause: _figures(tickets, failures, spans, max_lead_days, _of_cause(causes, cause))
        for cause in sorted(set(causes.values()))
    }
    return Score(overall, per_signal, per_cause)


def _of_cause(causes: Mapping[str, str], cause: str) -> Callable[[str], bool]:
    return lambda device: causes.get(device) == cause


def spans_of(fleet: Mapping[tuple[str, str], Sequence[Sample]]) -> dict[str, tuple[int, int]]:
    """First and last day each device was observed."""
    spans: dict[str, tuple[int, int]] = {}
    for (device, _), samples in fleet.items():
        for sample in samples:
            if not math.isfinite(sample.ts):
                continue
            day = day_of(sample.ts)
            first, last = spans.get(device, (day, day))
            spans[device] = (min(first, day), max(last, day))
    return spans
