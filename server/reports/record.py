"""The monthly inspection record as one data model, read from the database, for HTML and PDF."""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.inspections.models import Inspection, InspectionAmendment
from server.inspections.record import InspectionState
from server.inspections.store import rows_of, verify
from server.inspections.template import Area
from server.models import Client, Site
from server.predict.proposals import ProposedWork, proposed_work

AREA_TITLES: dict[Area, tuple[str, str]] = {
    Area.FRONTEND: ("前端设备运行状况", "Front-end devices"),
    Area.CABLING: ("管线情况", "Cabling and conduits"),
    Area.CENTRAL: ("中心控制设备运行状况", "Central control equipment"),
    Area.SYSTEM: ("系统功能及技术指标", "System functions and specifications"),
}
RESULT_WORDS = {
    "pass": "合格 pass",
    "fail": "不合格 fail",
    "not_applicable": "不适用 n/a",
    "unknown": "未知 unknown",
}

DISPOSITION_WORDS = {
    "cleared": "当场排除 cleared on the spot",
    "ticket": "已开工单 ticket opened",
}


@dataclass(frozen=True)
class RecordRow:
    item_id: str
    device_name: str | None
    text_zh: str
    text_en: str
    prefill: str | None
    sentence: str | None
    result: str | None
    note: str | None
    disposition: str | None  # a found fault: cleared on the spot, or a ticket opened
    tickets: tuple[int, ...]
    amendments: tuple[str, ...]  # "result — reason (author, time)", beside the original


@dataclass(frozen=True)
class RecordArea:
    zh: str
    en: str
    rows: tuple[RecordRow, ...]


@dataclass(frozen=True)
class InspectionRecord:
    inspection_id: int
    client_name: str
    site_name: str
    timezone: str
    cycle: str
    period_start: date
    period_end: date
    due_at: datetime
    state: str
    areas: tuple[RecordArea, ...]
    counts: dict[str, int]
    tech_signature: str | None
    client_signature: str | None
    seal_sha256: str | None
    intact: bool | None  # None until signed
    # The site's open preventive tickets at `proposed_at`, for the visit (not sealed).
    proposed: tuple[ProposedWork, ...] = ()
    proposed_at: datetime | None = None


def _tickets(ids: dict[str, Any] | None) -> tuple[int, ...]:
    if not ids:
        return ()
    found = [*ids.get("linked", []), *([ids["opened"]] if ids.get("opened") else [])]
    return tuple(sorted(set(found)))


def _signature(name: str | None, role: str | None, at: datetime | None) -> str | None:
    if name is None or at is None:
        return None
    return f"{name} ({role}) {at:%Y-%m-%d %H:%M} UTC"


def load_record(
    *, session: Session, inspection: Inspection, now: datetime | None = None
) -> InspectionRecord:
    site = session.get(Site, inspection.site_id)
    client = session.get(Client, inspection.client_id)
    assert site is not None
    assert client is not None
    amendments: dict[int, list[str]] = {}
    for a in session.scalars(
        select(InspectionAmendment)
        .where(InspectionAmendment.inspection_id == inspection.id)
        .order_by(InspectionAmendment.id)
    ):
        said = RESULT_WORDS.get(a.result, a.result) + (f"; {a.note}" if a.note else "")
        amendments.setdefault(a.row_id, []).append(
            f"{said} — {a.reason} ({a.author}, {a.at:%Y-%m-%d})"
        )
    rows = rows_of(session=session, inspection_id=inspection.id)
    counts = dict.fromkeys(RESULT_WORDS, 0)
    grouped: dict[str, list[RecordRow]] = {}
    for r in rows:
        shown = r.result or r.prefill
        if shown in counts:
            counts[shown] += 1
        grouped.setdefault(r.area, []).append(
            RecordRow(
                item_id=r.item_id,
                device_name=r.device_name,
                text_zh=r.text_zh,
                text_en=r.text_en,
                prefill=r.prefill,
                sentence=r.sentence,
                result=r.result,
                note=r.note,
                disposition=DISPOSITION_WORDS.get(r.disposition or ""),
                tickets=_tickets(r.ticket_ids),
                amendments=tuple(amendments.get(r.id, ())),
            )
        )
    areas = tuple(
        RecordArea(AREA_TITLES[a][0], AREA_TITLES[a][1], tuple(grouped[a.value]))
        for a in Area
        if a.value in grouped
    )
    signed = inspection.state == InspectionState.SIGNED.value
    return InspectionRecord(
        inspection_id=inspection.id,
        client_name=client.name,
        site_name=site.name,
        timezone=site.timezone,
        cycle=inspection.cycle,
        period_start=inspection.period_start,
        period_end=inspection.period_end,
        due_at=inspection.due_at,
        state=inspection.state,
        areas=areas,
        counts=counts,
        tech_signature=_signature(
            inspection.tech_name, inspection.tech_role, inspection.tech_signed_at
        ),
        client_signature=_signature(
            inspection.client_name, inspection.client_role, inspection.client_signed_at
        ),
        seal_sha256=inspection.seal_sha256,
        intact=verify(session=session, inspection=inspection).intact if signed else None,
        proposed=tuple(proposed_work(session=session, site_id=inspection.site_id)),
        proposed_at=now or datetime.now(UTC),
    )
