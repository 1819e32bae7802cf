"""A device's forecasts: each numeric check a model reads, judged on today's rollups, with its
evidence and chart."""

from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from server.api.deps import Ctx, DbSession, UserScope
from server.predict.chart import render_svg
from server.predict.evidence import Evidence
from server.predict.job import judge_device, params_of
from server.predict.kpis import preventive_counts
from server.predict.rollup import date_of
from server.predict.store import day_number
from server.tenancy import get_device
from wire.schema import ErrorBody
from wire.validation import RowId

router = APIRouter(prefix="/api/v1", tags=["forecasts"])
ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": ErrorBody}, 404: {"model": ErrorBody}}


def _date(day: int | None) -> date | None:
    return None if day is None else date_of(day)


class ForecastOut(BaseModel):
    check: str
    signal: str
    model: str
    verdict: str
    alarm: bool
    projected: date | None
    earliest: date | None
    latest: date | None
    confidence: float
    threshold: float | None
    baseline: float | None
    slope_per_day: float | None
    part: str | None
    days: list[date]
    values: list[float]
    rejected: dict[str, int]
    en: str
    zh: str
    svg: str

    @classmethod
    def of(cls, e: Evidence) -> "ForecastOut":
        return cls(
            check=e.check,
            signal=e.signal.value,
            model=e.model.value,
            verdict=e.verdict.value,
            alarm=e.alarm,
            projected=_date(e.projected_day),
            earliest=_date(e.earliest_day),
            latest=_date(e.latest_day),
            confidence=e.confidence,
            threshold=e.threshold,
            baseline=e.baseline,
            slope_per_day=None if e.fit is None else e.fit.slope,
            part=e.part,
            days=[date_of(d) for d in e.days],
            values=list(e.values),
            rejected={k.value: v for k, v in e.rejected.items()},
            en=e.en,
            zh=e.zh,
            svg=render_svg(e),
        )


@router.get("/devices/{device_id}/forecasts", response_model=list[ForecastOut], responses=ERRORS)
def get_device_forecasts(
    device_id: RowId, scope: UserScope, session: DbSession, ctx: Ctx
) -> list[ForecastOut]:
    """Alarms first, then by check name."""
    get_device(session=session, device_id=device_id, scope=scope)
    today = day_number(datetime.now(UTC).date())
    params = params_of(ctx.settings.predict_retention_days)
    judged = judge_device(session=session, device_id=device_id, today=today, params=params)
    found = [e for evidence in judged.values() for e in evidence]
    found.sort(key=lambda e: (not e.alarm, e.check))
    return [ForecastOut.of(e) for e in found]


class PreventiveKpiOut(BaseModel):
    """Preventive tickets of the sites the caller sees, counted apart from fault KPIs."""

    opened: int
    open: int
    closed: int
    recovered_before_action: int  # trend reversed or part replaced before anyone acted
    resolved_by_deadline: int
    resolved_late: int


@router.get("/kpis/preventive", response_model=PreventiveKpiOut, responses=ERRORS)
def get_preventive_kpis(scope: UserScope, session: DbSession) -> PreventiveKpiOut:
    """Every preventive ticket so far: how many, how many still open, and whether the resolved
    ones were done before their deadline."""
    return PreventiveKpiOut(**asdict(preventive_counts(session=session, scope=scope)))
