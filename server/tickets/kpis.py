"""KPIs from the seeds' formulas (§6), per client, site or technician and month. Pure.

- response timeliness = timely responses ÷ all reports (000 「服務響應及時率=及時響應的
  報修次數/總報修次數」, as a percentage). The response is the first staff action of any
  kind: acknowledge, dispatch, arrival on site or a remote fix. A report counts once it is
  decided: responded (timely or not) or its deadline passed unanswered; until then it is
  `response_pending`.
  Reports without a deadline (no policy cell for the site's zone) are `without_deadline`, and
  monitoring tickets that recovered on their own before their deadline, with nobody acting,
  are `recovered_unattended`: both are counted apart, never silently dropped;
- on-site timeliness = arrived within the on-site deadline ÷ tickets that needed a visit
  (arrived, or dispatched and the deadline passed);
- repair success = resolved, not reopened within 30 days and not repeated (the same fault
  back on the device within 30 days of closing, 004/H 「不允许同一问题重复修理的情况」)
  ÷ resolved (000: 維修成功率);
- MTTA / MTTR: mean minutes from the first failure to the first acknowledge / resolve;
- record completeness = closed tickets whose repair record has every required field (diagnosis,
  cause, actions, technician and client sign-off) ÷ closed tickets that were repaired; a
  ticket a manager closed without the client's signature (an override with a reason) is
  incomplete, and those are counted apart as `closed_without_signature`;
- satisfaction: mean survey rating (1 to 5) and the share rated 4 or 5 (004/H target ≥ 85 %).
Cancelled tickets (merged, mistaken) count nowhere. Months are the site's local months.
Each KPI has its own target (`KpiTargets`), and `standing` rates a value against it.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from server.settings import Settings

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
    signature_overridden: bool = False  # closed by a manager without the client's signature
    rating: int | None = None
    first_action_at: datetime | None = None  # first move by a person, whatever it was
    recovered_at: datetime | None = None
    timezone: str = "UTC"  # the site's: KPI months are its local months
    repeated: bool = False  # a later ticket repeats this one's fault (within 30 days of closing)

    @property
    def responded_at(self) -> datetime | None:
        """The first staff action: acknowledge, dispatch, on site or a (remote) fix."""
        moments = [
            m
            for m in (self.acknowledged_at, self.dispatched_at, self.on_site_at,
                      self.first_action_at)
            if m is not None
        ]  # fmt: skip
        return min(moments, default=None)


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
    response_pending: int = 0  # deadline not passed, no response yet: counted once decided
    without_deadline: int = 0  # no SLA deadline: reported apart
    recovered_unattended: int = 0  # recovered before its deadline with nobody acting
    closed_without_signature: int = 0  # of record_completeness's denominator: overrides
    ticket_ids: tuple[int, ...] = field(default=(), repr=False)


class Standing(StrEnum):
    """A KPI against its target: met, within `NEAR_POINTS` below it, or further below."""

    MET = "met"
    NEAR = "near"
    BELOW = "below"
    NONE = "none"  # nothing to measure


NEAR_POINTS = 0.05


@dataclass(frozen=True)
class KpiTargets:
    """Each KPI's own target, as a share (0.9 = 90 %)."""

    response_timeliness: float = 0.90  # 004/H 「服务及时率≥90%」
    on_site_timeliness: float = 0.90  # 004/H 「服务及时率≥90%」
    repair_success: float = 0.95  # 001 「提高故障解决率至95%以上」
    satisfaction: float = 0.85  # 004/H 「用户满意程度≥85%」
    record_completeness: float = 1.0  # 000 「要求服務記錄完整、準確、清晰」

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"KPI target {name} must be between 0 and 1, got {value}")


def standing(ratio: Ratio, target: float) -> Standing:
    value = ratio.value
    if value is None:
        return Standing.NONE
    if value >= target:
        return Standing.MET
    return Standing.NEAR if value >= target - NEAR_POINTS else Standing.BELOW


def _mean_minutes(values: Sequence[timedelta]) -> float | None:
    if not values:
        return None
    return sum(v.total_seconds() for v in values) / len(values) / 60


def compute(facts: Iterable[TicketFacts], *, now: datetime) -> Kpis:
    items = [f for f in facts if not f.cancelled]
    resp_due = resp_ok = site_due = site_ok = 0
    pending = no_deadline = unattended = 0
    resolved = success = closed_repaired = complete = overridden = 0
    ack_times: list[timedelta] = []
    fix_times: list[timedelta] = []
    ratings: list[int] = []
    for f in items:
        responded = f.responded_at
        if f.respond_by is None:
            no_deadline += 1
        elif responded is not None:
            resp_due += 1
            resp_ok += responded <= f.respond_by
        elif f.recovered_unattended and (f.recovered_at is None or f.recovered_at <= f.respond_by):
            unattended += 1
        elif f.respond_by < now:
            resp_due += 1
        else:
            pending += 1
        if f.on_site_by is not None:
            if f.on_site_at is not None:
                site_due += 1
                site_ok += f.on_site_at <= f.on_site_by
            elif f.dispatched_at is not None and f.on_site_by < now:
                site_due += 1
        if responded is not None:
            ack_times.append(responded - f.first_failure_at)
        if f.first_resolved_at is not None:
            resolved += 1
            fix_times.append(f.first_resolved_at - f.first_failure_at)
            resolved_at = f.first_resolved_at
            success += not f.repeated and not any(
                resolved_at <= r <= resolved_at + REPAIR_SUCCESS_WINDOW for r in f.reopened_at
            )
        if f.closed and f.record_complete is not None:
            closed_repaired += 1
            complete += f.record_complete
            overridden += f.signature_overridden
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
        response_pending=pending,
        without_deadline=no_deadline,
        recovered_unattended=unattended,
        closed_without_signature=overridden,
        ticket_ids=tuple(f.id for f in items),
    )


def month_of(instant: datetime, timezone: str = "UTC") -> str:
    """The month an instant falls in on the site's wall clock."""
    local = instant.astimezone(ZoneInfo(timezone))
    return f"{local.year:04d}-{local.month:02d}"


KEY: dict[KpiGroup, Callable[[TicketFacts], int | None]] = {
    KpiGroup.CLIENT: lambda f: f.client_id,
    KpiGroup.SITE: lambda f: f.site_id,
    KpiGroup.TECHNICIAN: lambda f: f.technician_id,
}


def grouped(
    facts: Iterable[TicketFacts], *, by: KpiGroup, now: datetime
) -> dict[tuple[int | None, str], Kpis]:
    """KPIs per (group id, month of the ticket's creation in its site's time zone)."""
    buckets: dict[tuple[int | None, str], list[TicketFacts]] = defaultdict(list)
    for f in facts:
        buckets[(KEY[by](f), month_of(f.created_at, f.timezone))].append(f)
    return {
        key: compute(items, now=now)
        for key, items in sorted(buckets.items(), key=lambda kv: (kv[0][1], kv[0][0] or 0))
    }


def kpi_targets(settings: Settings) -> KpiTargets:
    """The targets the operator set (in percent, `SECMON_KPI_TARGET_*`)."""
    return KpiTargets(
        response_timeliness=settings.kpi_target_response_timeliness / 100,
        on_site_timeliness=settings.kpi_target_on_site_timeliness / 100,
        repair_success=settings.kpi_target_repair_success / 100,
        satisfaction=settings.kpi_target_satisfaction / 100,
        record_completeness=settings.kpi_target_record_completeness / 100,
    )
