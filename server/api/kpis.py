"""KPIs per client, site or technician and month (the seed formulas, `tickets/kpis.py`), over
the tickets of the sites the caller's scope reaches."""

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from server.api.deps import DbSession, UserScope
from server.errors import ForbiddenError, InvalidInputError
from server.tickets.kpi_query import ticket_facts
from server.tickets.kpis import KpiGroup, grouped
from server.tickets.schemas import KpiOut
from wire.enums import Role
from wire.schema import ErrorBody

router = APIRouter(prefix="/api/v1", tags=["kpis"])
ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (401, 403, 422)}
MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def _month_start(text: str, field: str) -> datetime:
    match = MONTH.fullmatch(text)
    if match is None or not 1 <= int(match[2]) <= 12:
        raise InvalidInputError(
            f"{field} must be YYYY-MM", [{"field": field, "message": "YYYY-MM"}]
        )
    return datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC)


def _next_month(start: datetime) -> datetime:
    return start.replace(year=start.year + (start.month == 12), month=start.month % 12 + 1)


@router.get("/kpis", response_model=list[KpiOut], responses=ERRORS)
def get_kpis(
    scope: UserScope,
    session: DbSession,
    group: KpiGroup = KpiGroup.CLIENT,
    month_from: Annotated[str | None, Query(alias="from", description="YYYY-MM")] = None,
    month_to: Annotated[str | None, Query(alias="to", description="YYYY-MM, inclusive")] = None,
) -> list[KpiOut]:
    """One row per group and month of ticket creation in the site's time zone (default: this
    month), over the tickets of the sites the caller sees; a technician gets only their own
    scorecard."""
    if scope.role is Role.CLIENT and group is KpiGroup.TECHNICIAN:
        raise ForbiddenError("technician scorecards are for staff")
    now = datetime.now(UTC)
    start = (
        _month_start(month_from, "from")
        if month_from
        else now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    )
    end = _next_month(_month_start(month_to, "to") if month_to else start)
    if end <= start:
        raise InvalidInputError("`to` is before `from`")
    facts = ticket_facts(session=session, since=start.date(), until=end.date(), scope=scope)
    return [
        KpiOut.of(group=group.value, key=key, month=month, k=k)
        for (key, month), k in grouped(facts, by=group, now=now).items()
        if group is not KpiGroup.TECHNICIAN or scope.sees_scorecard(key)
    ]
