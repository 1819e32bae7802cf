"""KPIs from the seeds' formulas (§6), per client, site or technician and month. Pure.

- response timeliness = acknowledged within the respond deadline ÷ tickets whose response was
  due (acknowledged, or deadline passed unacknowledged); a ticket that recovered on its own
  before anyone acted needed no response and is left out;
- on-site timeliness = arrived within the on-site deadline ÷ tickets that needed a visit
  (arrived, or dispatched and the deadline passed);
- repair success = resolved and not reopened within 30 days ÷ resolved (000: 維修成功率);
- MTTA / MTTR: mean minutes from the first failure to the first acknowledge / resolve;
- record completeness = closed tickets whose repair record has every required field (diagnosis,
  cause, actions, technician and client sign-off) ÷ closed tickets that were repaired;
- satisfaction: mean survey rating (1 to 5) and the share rated 4 or 5 (004/H target ≥ 85 %).
Cancelled tickets (merged, mistaken) count nowhere.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

REPAIR_SUCCESS_WINDOW = timedelta(days=30)


class KpiGroup(StrEnum):
    CLIENT = "client"
    SITE = "site"
    TECHNICIAN = "technician"


@dataclass(frozen=True)
class TicketFacts:
    id: int
    client_id: int
    site_id: int
    technician_id: int | None
    created_at: datetime
    first_failure_at: datetime
    cancelled: bool = False
    closed: bool = False
    respond_by: datetime | None = None
    on_site_by: datetime | None = None
    acknowledged_at: datetime | None = None
    dispatched_at: datetime | None = None
    on_site_at: datetime | None = None
    first_resolved_at: datetime | None = None
    reopened_at: tuple[datetime, ...] = ()
    recovered_unattended: bool = False  # recovered before anyone acted
    record_complete: bool | None = None  # None: no repair record (never repaired)
    rating: int | None = None


@dataclass(frozen=True)
class Ratio:
    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        return None if self.denominator == 0 else self.numerator / self.denominator


@dataclass(frozen=True)
class Kpis:
    tickets: int
    response_timeliness: Ratio
    on_site_timeliness: Ratio
    repair_success: Ratio
    mtta_minutes: float | None
    mttr_minutes: float | None
    record_completeness: Ratio
    satisfaction_mean: float | None
    satisfaction_share: Ratio
    ticket_ids: tuple[int, ...] = field(default=(), repr=False)


def _mean_minutes(values: Sequence[timedelta]) -> float | None:
    if not values:
        return None
    return sum(v.total_seconds() for v in values) / len(values) / 60


def compute(facts: Iterable[TicketFacts], *, now: datetime) -> Kpis:
    items = [f for f in facts if not f.cancelled]
    resp_due = resp_ok = site_due = site_ok = 0
    resolved = success = closed_repaired = complete = 0
    ack_times: list[timedelta] = []
    fix_times: list[timedelta] = []
    ratings: list[int] = []
    for f in items:
        if f.respond_by is not None:
            if f.acknowledged_at is not None:
                resp_due += 1
                resp_ok += f.acknowledged_at <= f.respond_by
            elif f.respond_by < now and not f.recovered_unattended:
                resp_due += 1
        if f.on_site_by is not None:
            if f.on_site_at is not None:
                site_due += 1
                site_ok += f.on_site_at <= f.on_site_by
            elif f.dispatched_at is not None and f.on_site_by < now:
                site_due += 1
        if f.acknowledged_at is not None:
            ack_times.append(f.acknowledged_at - f.first_failure_at)
        if f.first_resolved_at is not None:
            resolved += 1
            fix_times.append(f.first_resolved_at - f.first_failure_at)
            resolved_at = f.first_resolved_at
            success += not any(
                resolved_at <= r <= resolved_at + REPAIR_SUCCESS_WINDOW for r in f.reopened_at
            )
        if f.closed and f.record_complete is not None:
            closed_repaired += 1
            complete += f.record_complete
        if f.rating is not None:
            ratings.append(f.rating)
    return Kpis(
        tickets=len(items),
        response_timeliness=Ratio(resp_ok, resp_due),
        on_site_timeliness=Ratio(site_ok, site_due),
        repair_success=Ratio(success, resolved),
        mtta_minutes=_mean_minutes(ack_times),
        mttr_minutes=_mean_minutes(fix_times),
        record_completeness=Ratio(complete, closed_repaired),
        satisfaction_mean=sum(ratings) / len(ratings) if ratings else None,
        satisfaction_share=Ratio(sum(1 for r in ratings if r >= 4), len(ratings)),
        ticket_ids=tuple(f.id for f in items),
    )


def month_of(instant: datetime) -> str:
    return f"{instant.year:04d}-{instant.month:02d}"


KEY: dict[KpiGroup, Callable[[TicketFacts], int | None]] = {
    KpiGroup.CLIENT: lambda f: f.client_id,
    KpiGroup.SITE: lambda f: f.site_id,
    KpiGroup.TECHNICIAN: lambda f: f.technician_id,
}


def grouped(
    facts: Iterable[TicketFacts], *, by: KpiGroup, now: datetime
) -> dict[tuple[int | None, str], Kpis]:
    """KPIs per (group id, month of the ticket's creation, UTC)."""
    buckets: dict[tuple[int | None, str], list[TicketFacts]] = defaultdict(list)
    for f in facts:
        buckets[(KEY[by](f), month_of(f.created_at))].append(f)
    return {
        key: compute(items, now=now)
        for key, items in sorted(buckets.items(), key=lambda kv: (kv[0][1], kv[0][0] or 0))
    }
