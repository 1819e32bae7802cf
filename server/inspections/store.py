"""Inspections in the database: generation, pre-fill, answers, sign-off and verification.

Generation runs in every replica: a site is handled under a transaction-scoped try-lock on
PostgreSQL (a replica that finds it taken skips the site this round), and the unique key
`(site_id, cycle, period_start)` keeps one inspection per period even without the lock.
"""

import functools
import hashlib
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from fnmatch import fnmatchcase
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter
from sqlalchemy import func, insert, or_, select
from sqlalchemy.orm import Session

from server.faults.picture import episode_evidence
from server.faults.records import device_open_key, site_open_key
from server.faults.rules import FaultCode
from server.inspections.evidence import (
    EpisodeFact,
    Judgement,
    PictureFault,
    ReadingFact,
    RowResult,
    SnapshotFact,
    TicketFact,
    UptimeTotals,
    Window,
    judge,
)
from server.inspections.models import (
    Inspection,
    InspectionAmendment,
    InspectionAttachment,
    InspectionRow,
    InspectionSignLink,
)
from server.inspections.overdue import OverdueInspection, notices
from server.inspections.photo import MAX_PER_ROW, PhotoRefusedError, photo_type
from server.inspections.plan import DeviceRef, Period, current_period, plan_rows
from server.inspections.record import (
    Disposition,
    InspectionState,
    RecordError,
    RecordStateError,
    RowAnswer,
    check_answers,
    check_complete,
    check_editable,
    check_sign,
    seal,
)
from server.inspections.template import Contracts, Evidence, Reading, Template
from server.models import (
    CheckDay,
    Client,
    Device,
    DeviceState,
    FaultEpisode,
    Site,
    Ticket,
    UptimeDay,
)
from server.notify.config import NotifyConfig
from server.notify.queue import enqueue
from server.tickets.intake import Opening, open_ticket
from server.tickets.policy import ServiceSettings, service_settings
from server.tickets.service import KNOWN_FAULT_CODES, Actor
from server.tickets.states import OPEN_STATES, Channel, TicketKind, TicketState

LOCK_NAMESPACE = 0x5EC4  # pg_try_advisory_xact_lock(namespace, site id)
EVIDENCE: TypeAdapter[Evidence] = TypeAdapter(Evidence)


def _parse_rule(raw: dict[str, Any], parsed: dict[str, Evidence]) -> Evidence:
    key = json.dumps(raw, sort_keys=True)
    rule = parsed.get(key)
    if rule is None:
        rule = parsed[key] = EVIDENCE.validate_python(raw)
    return rule


def _try_lock(session: Session, site_id: int) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.scalar(select(func.pg_try_advisory_xact_lock(LOCK_NAMESPACE, site_id))))


def template_of(*, session: Session, site: Site, contracts: Contracts) -> Template:
    client = session.get(Client, site.client_id)
    return contracts.for_client(client.name) if client else contracts.base


def _existing(session: Session, site_id: int, period: Period) -> Inspection | None:
    return session.scalars(
        select(Inspection).where(
            Inspection.site_id == site_id,
            Inspection.cycle == period.cycle.value,
            Inspection.period_start == period.start,
        )
    ).first()


def generate(
    *, session: Session, site: Site, template: Template, now: datetime
) -> Inspection | None:
    """The site's inspection for the period containing `now`, created with its rows if it does
    not exist yet; None when another replica holds the site's lock."""
    period = current_period(template, ZoneInfo(site.timezone), now)
    found = _existing(session, site.id, period)
    if found is not None:
        return found
    if not _try_lock(session, site.id):
        return None
    found = _existing(session, site.id, period)
    if found is not None:
        return found
    inspection = Inspection(
        client_id=site.client_id,
        site_id=site.id,
        cycle=period.cycle.value,
        period_start=period.start,
        period_end=period.end,
        starts_at=period.starts_at,
        ends_at=period.ends_at,
        due_at=period.due_at,
        state=InspectionState.OPEN.value,
        created_at=now,
    )
    session.add(inspection)
    session.flush()
    devices = [
        DeviceRef(d.id, d.name, d.device_class)
        for d in session.scalars(select(Device).where(Device.site_id == site.id))
    ]
    planned_rows = [
        {
            "inspection_id": inspection.id,
            "position": position,
            "item_id": planned.item.id,
            "subject": planned.subject,
            "device_id": planned.device.id if planned.device else None,
            "device_name": planned.device.name if planned.device else None,
            "area": planned.item.area.value,
            "text_zh": planned.item.text.zh_cn,
            "text_en": planned.item.text.en,
            "rule": planned.item.evidence.model_dump(mode="json")
            if planned.item.evidence
            else None,
        }
        for position, planned in enumerate(plan_rows(template, devices))
    ]
    if planned_rows:
        session.execute(insert(InspectionRow), planned_rows)
    session.flush()
    return inspection


def window_of(inspection: Inspection, zone: ZoneInfo, now: datetime) -> Window:
    """From the period's start to the end of the last complete local day, within the period."""
    today = datetime.combine(now.astimezone(zone).date(), time(), tzinfo=zone).astimezone(UTC)
    return Window(inspection.starts_at, max(inspection.starts_at, min(today, inspection.ends_at)))


def _uptime(
    session: Session, inspection: Inspection, window: Window, zone: ZoneInfo
) -> dict[int, UptimeTotals]:
    last_day = (window.end.astimezone(zone) - timedelta(seconds=1)).date()
    rows = session.execute(
        select(
            UptimeDay.device_id,
            func.sum(UptimeDay.up_s),
            func.sum(UptimeDay.down_s),
            func.sum(UptimeDay.unknown_s),
            func.sum(UptimeDay.maintenance_s),
            func.sum(UptimeDay.nodata_s),
        )
        .join(Device, Device.id == UptimeDay.device_id)
        .where(
            Device.site_id == inspection.site_id,
            UptimeDay.day >= inspection.period_start,
            UptimeDay.day <= last_day,
        )
        .group_by(UptimeDay.device_id)
    ).all()
    return {r[0]: UptimeTotals(*(int(v or 0) for v in r[1:])) for r in rows}


def _episodes(session: Session, site_id: int, window: Window) -> dict[int, list[EpisodeFact]]:
    out: dict[int, list[EpisodeFact]] = {}
    for e in session.scalars(
        select(FaultEpisode).where(
            FaultEpisode.site_id == site_id,
            FaultEpisode.device_id.is_not(None),
            FaultEpisode.started_at < window.end,
            (FaultEpisode.recovered_at.is_(None)) | (FaultEpisode.recovered_at > window.start),
        )
    ):
        assert e.device_id is not None
        out.setdefault(e.device_id, []).append(
            EpisodeFact(e.id, e.code, e.started_at, e.recovered_at, e.ticket_id)
        )
    return out


def _tickets(session: Session, site_id: int, window: Window) -> list[TicketFact]:
    return [
        TicketFact(t.id, TicketState(t.state), t.created_at, t.resolved_at, t.resolve_by)
        for t in session.scalars(
            select(Ticket).where(Ticket.site_id == site_id, Ticket.created_at < window.end)
        )
    ]


def _matches(rule: Reading, name: str) -> bool:
    return fnmatchcase(name, rule.check) if "*" in rule.check else name == rule.check


def _worst(rule: Reading, values: list[float]) -> float:
    """Of several matching checks (one per PSE), the one furthest toward breaking a bound."""
    if rule.max is not None or rule.max_abs is not None:
        return max(values, key=abs) if rule.max is None else max(values)
    return min(values)


Extremes = dict[tuple[int, str], tuple[float, float]]  # (device, check) → (low, high)


def _extremes(session: Session, site_id: int, window: Window, checks: set[str]) -> Extremes:
    """The period's daily-rollup extremes of the rules' checks for every device of the site, in
    one query (`*` patterns through LIKE, narrowed exactly afterwards)."""
    if not checks:
        return {}
    exact = [c for c in checks if "*" not in c]
    wanted = [CheckDay.check.like(c.replace("*", "%")) for c in checks if "*" in c]
    if exact:
        wanted.append(CheckDay.check.in_(exact))
    return {
        (device_id, check): (low, high)
        for device_id, check, low, high in session.execute(
            select(
                CheckDay.device_id, CheckDay.check, func.min(CheckDay.min), func.max(CheckDay.max)
            )
            .join(Device, Device.id == CheckDay.device_id)
            .where(
                Device.site_id == site_id,
                or_(*wanted),
                CheckDay.day >= window.start.date(),
                CheckDay.day < window.end.date(),
            )
            .group_by(CheckDay.device_id, CheckDay.check)
        )
    }


def _reading_fact(
    rule: Reading, window: Window, device_id: int, extremes: Extremes, state: DeviceState | None
) -> ReadingFact:
    """The stored facts about the rule's check: daily rollup extremes, and the latest reading."""
    found = [v for (d, check), v in extremes.items() if d == device_id and _matches(rule, check)]
    low = min((e[0] for e in found), default=None)
    high = max((e[1] for e in found), default=None)
    seen: list[tuple[float, datetime]] = []
    for name, entry in ((state.checks or {}) if state else {}).items():
        if (
            _matches(rule, name)
            and isinstance(entry, dict)
            and isinstance(entry.get("value"), int | float)
            and not isinstance(entry.get("value"), bool)
        ):
            at = datetime.fromisoformat(str(entry.get("updated_at")))
            if at >= window.start:
                seen.append((float(entry["value"]), at))
    latest = _worst(rule, [v for v, _ in seen]) if seen else None
    latest_at = max((at for _, at in seen), default=None)
    return ReadingFact(low=low, high=high, latest=latest, latest_at=latest_at)


PICTURE_OK = "picture.ok"


def _snapshots(session: Session, site_id: int, window: Window) -> dict[int, SnapshotFact]:
    """Per camera: snapshots judged and good ones, from the `picture.ok` daily rollups (a 0/1
    flag: count times mean is the good ones)."""
    return {
        device_id: SnapshotFact(int(judged or 0), float(good or 0.0))
        for device_id, judged, good in session.execute(
            select(
                CheckDay.device_id,
                func.sum(CheckDay.count),
                func.sum(CheckDay.count * CheckDay.mean),
            )
            .join(Device, Device.id == CheckDay.device_id)
            .where(
                Device.site_id == site_id,
                CheckDay.check == PICTURE_OK,
                CheckDay.day >= window.start.date(),
                CheckDay.day < window.end.date(),
            )
            .group_by(CheckDay.device_id)
        )
    }


def _pictures(
    session: Session, episodes: dict[int, list[EpisodeFact]], window: Window, zone: ZoneInfo
) -> dict[int, list[PictureFault]]:
    """Per camera: its `camera.image_abnormal` episodes in the window, each with the reasons and
    measures of its first snapshot carrying evidence (one query for the site)."""
    mine = {
        e.id: (device_id, e)
        for device_id, facts in episodes.items()
        for e in facts
        if e.code == FaultCode.CAMERA_IMAGE_ABNORMAL
    }
    found = episode_evidence(session=session, episode_ids=list(mine), until=window.end)
    out: dict[int, list[PictureFault]] = {}
    for episode_id, (device_id, e) in mine.items():
        _, reasons = found.get(episode_id, (None, []))
        day = e.started_at.astimezone(zone).date()
        out.setdefault(device_id, []).append(PictureFault(episode_id, day, tuple(reasons)))
    return out


def prefill(*, session: Session, inspection: Inspection, now: datetime) -> int:
    """Judge every row with an evidence rule over the window so far; open an `inspection`
    ticket for a failing row no open ticket covers. Only while open. Returns rows judged."""
    if inspection.state != InspectionState.OPEN.value:
        return 0
    site = session.get(Site, inspection.site_id)
    assert site is not None
    zone = ZoneInfo(site.timezone)
    window = window_of(inspection, zone, now)
    uptime = _uptime(session, inspection, window, zone)
    episodes = _episodes(session, site.id, window)
    site_tickets = _tickets(session, site.id, window)
    snapshots = _snapshots(session, site.id, window)
    pictures = _pictures(session, episodes, window, zone)
    states = {
        s.device_id: s
        for s in session.scalars(
            select(DeviceState)
            .join(Device, Device.id == DeviceState.device_id)
            .where(Device.site_id == site.id)
        )
    }
    # A site's thousands of rows share a handful of rules: each distinct one is parsed once
    # (the models are frozen, so sharing the parsed rule is safe).
    parsed: dict[str, Evidence] = {}
    rows = [
        (row, _parse_rule(row.rule, parsed))
        for row in rows_of(session=session, inspection_id=inspection.id)
        if row.rule is not None
    ]
    extremes = _extremes(
        session, site.id, window, {rule.check for _, rule in rows if isinstance(rule, Reading)}
    )
    verdicts = []
    for row, rule in rows:
        device_id = row.device_id or 0
        readings = (
            {rule.check: _reading_fact(rule, window, device_id, extremes, states.get(device_id))}
            if isinstance(rule, Reading)
            else {}
        )
        verdict = judge(
            rule,
            window,
            uptime=uptime.get(device_id, UptimeTotals()),
            episodes=episodes.get(device_id, []),
            site_tickets=site_tickets,
            readings=readings,
            snapshot=snapshots.get(device_id),
            pictures=pictures.get(device_id, []),
        )
        verdicts.append((row, verdict))
    settings = _settings_once(session, site)
    # Tickets first (they query and flush), then every row's pre-fill in one flush.
    opened = {
        row.id: _ticket_for_failure(session, site, row, v, settings, now) for row, v in verdicts
    }
    for row, verdict in verdicts:
        row.prefill = verdict.result.value
        row.evidence = verdict.evidence
        row.sentence = verdict.sentence[:1000]
        row.ticket_ids = {"linked": list(verdict.ticket_ids), "opened": opened[row.id]}
    judged = len(verdicts)
    inspection.prefilled_at = now
    session.flush()
    return judged


def rows_of(*, session: Session, inspection_id: int) -> Sequence[InspectionRow]:
    return session.scalars(
        select(InspectionRow)
        .where(InspectionRow.inspection_id == inspection_id)
        .order_by(InspectionRow.position)
    ).all()


def _row_label(row: InspectionRow) -> str:
    return f"{row.item_id}@{row.device_name}" if row.device_name else row.item_id


def _settings_once(session: Session, site: Site) -> Callable[[], ServiceSettings]:
    """The client's service settings, read when the first of a site's tickets opens and kept
    for the rest of the round (they are a row, the holiday lists and their parsing)."""
    return functools.cache(
        lambda: service_settings(
            session=session, client_id=site.client_id, known_codes=list(KNOWN_FAULT_CODES)
        )
    )


def _inspection_ticket(
    session: Session,
    site: Site,
    row: InspectionRow,
    said: str,
    settings: Callable[[], ServiceSettings],
    now: datetime,
) -> int:
    """The open `inspection` ticket for this row's item and subject, opened if there is none."""
    code = f"inspection.{row.item_id}"[:64]
    key = device_open_key(row.device_id, code) if row.device_id else site_open_key(site.id, code)
    mine = session.scalars(
        select(Ticket.id).where(
            Ticket.open_key == key, Ticket.state.in_([s.value for s in OPEN_STATES])
        )
    ).first()
    if mine is not None:
        return mine
    device = session.get(Device, row.device_id) if row.device_id else None
    opening = Opening(
        kind=TicketKind.INSPECTION,
        code=code,
        open_key=key,
        severity="general",
        title=f"{_row_label(row)}: inspection found a fault",
        symptom=f"{row.text_en} / {row.text_zh}: {said}"[:2000],
        first_failure_at=now,
        channel=Channel.MONITORING,
        reporter="inspection",
    )
    ticket = open_ticket(
        session=session,
        site=site,
        device=device,
        opening=opening,
        settings=settings(),
        actor=Actor.monitoring(),
        now=now,
    )
    return ticket.id


def _ticket_for_failure(
    session: Session,
    site: Site,
    row: InspectionRow,
    verdict: Judgement,
    settings: Callable[[], ServiceSettings],
    now: datetime,
) -> int | None:
    """The `inspection` ticket covering a failing pre-filled row, unless a ticket behind the
    evidence is still open."""
    if verdict.result is not RowResult.FAIL:
        return None
    if (
        verdict.ticket_ids
        and session.scalars(
            select(Ticket.id).where(
                Ticket.id.in_(verdict.ticket_ids),
                Ticket.state.in_([s.value for s in OPEN_STATES]),
            )
        ).first()
    ):
        return None
    return _inspection_ticket(session, site, row, verdict.sentence, settings, now)


def generate_all(*, session: Session, contracts: Contracts, now: datetime) -> int:
    """One round over every site: generate the current inspection and refresh the pre-fill of
    open ones. Each site commits on its own so a lock is held briefly; returns sites handled."""
    handled = 0
    for site_id in session.scalars(select(Site.id).order_by(Site.id)).all():
        site = session.get(Site, site_id)
        if site is None:
            continue
        template = template_of(session=session, site=site, contracts=contracts)
        inspection = generate(session=session, site=site, template=template, now=now)
        if inspection is not None:
            prefill(session=session, inspection=inspection, now=now)
            handled += 1
        session.commit()
    return handled


def _effective(row: InspectionRow) -> str | None:
    """The technician's answer, else a pass/fail the telemetry gave; unknown is blank."""
    if row.result is not None:
        return row.result
    if row.prefill in (RowResult.PASS.value, RowResult.FAIL.value):
        return row.prefill
    return None


def answer(
    *,
    session: Session,
    inspection: Inspection,
    answers: Sequence[RowAnswer],
    author: str,
    now: datetime,
) -> None:
    """Record rows' results and notes (progress saved); RecordError changes nothing."""
    check_editable(InspectionState(inspection.state))
    rows = {r.id: r for r in rows_of(session=session, inspection_id=inspection.id)}
    check_answers(answers, {i: _row_label(r) for i, r in rows.items()})
    site = session.get(Site, inspection.site_id)
    assert site is not None
    settings = _settings_once(session, site)
    for a in answers:
        row = rows[a.row_id]
        row.result = a.result.value
        row.note = a.note
        row.disposition = a.disposition.value if a.disposition else None
        row.updated_at = now
        row.updated_by = author
        if a.disposition is Disposition.TICKET:
            opened = _inspection_ticket(session, site, row, a.note or "", settings, now)
            row.ticket_ids = {**(row.ticket_ids or {"linked": []}), "opened": opened}
    session.flush()


def blank_rows(*, session: Session, inspection_id: int) -> list[str]:
    return [
        _row_label(r)
        for r in rows_of(session=session, inspection_id=inspection_id)
        if _effective(r) is None
    ]


def complete(*, session: Session, inspection: Inspection, now: datetime) -> None:
    """Close the rows for signing: each row takes its effective result."""
    check_complete(
        InspectionState(inspection.state),
        blank_rows(session=session, inspection_id=inspection.id),
    )
    for row in rows_of(session=session, inspection_id=inspection.id):
        if row.result is None:
            row.result = _effective(row)
    inspection.state = InspectionState.COMPLETED.value
    inspection.completed_at = now
    session.flush()


@dataclass(frozen=True)
class Signature:
    name: str
    role: str


def sign(
    *, session: Session, inspection: Inspection, who: str, signature: Signature, now: datetime
) -> None:
    """The technician's then the client's signature; the client's seals the record."""
    if not signature.name.strip():
        raise RecordError("a signature needs a name")
    target = check_sign(InspectionState(inspection.state), who)
    if who == "technician":
        inspection.tech_name, inspection.tech_role = signature.name, signature.role
        inspection.tech_signed_at = now
    else:
        inspection.client_name, inspection.client_role = signature.name, signature.role
        inspection.client_signed_at = now
    inspection.state = target.value
    if target is InspectionState.SIGNED:
        inspection.seal_sha256 = compute_seal(session=session, inspection=inspection)
    session.flush()


def _signed_header(inspection: Inspection) -> dict[str, Any]:
    return {
        "id": inspection.id,
        "client_id": inspection.client_id,
        "site_id": inspection.site_id,
        "cycle": inspection.cycle,
        "period_start": inspection.period_start.isoformat(),
        "period_end": inspection.period_end.isoformat(),
        "completed_at": inspection.completed_at,
        "tech_name": inspection.tech_name,
        "tech_role": inspection.tech_role,
        "tech_signed_at": inspection.tech_signed_at,
        "client_name": inspection.client_name,
        "client_role": inspection.client_role,
        "client_signed_at": inspection.client_signed_at,
    }


def _signed_row(row: InspectionRow, photos: dict[int, list[str]]) -> dict[str, Any]:
    return {
        "photos": sorted(photos.get(row.id, [])),
        "id": row.id,
        "item_id": row.item_id,
        "subject": row.subject,
        "device_name": row.device_name,
        "text_zh": row.text_zh,
        "text_en": row.text_en,
        "prefill": row.prefill,
        "evidence": row.evidence,
        "sentence": row.sentence,
        "result": row.result,
        "note": row.note,
    } | ({"disposition": row.disposition} if row.disposition else {})


def compute_seal(*, session: Session, inspection: Inspection) -> str:
    rows = rows_of(session=session, inspection_id=inspection.id)
    photos: dict[int, list[str]] = {}
    for row_id, digest in session.execute(
        select(InspectionAttachment.row_id, InspectionAttachment.sha256).where(
            InspectionAttachment.inspection_id == inspection.id
        )
    ):
        photos.setdefault(row_id, []).append(digest)
    return seal(_signed_header(inspection), [_signed_row(r, photos) for r in rows])


@dataclass(frozen=True)
class Verification:
    inspection_id: int
    stored: str | None
    computed: str

    @property
    def intact(self) -> bool:
        return self.stored is not None and self.stored == self.computed


def verify(*, session: Session, inspection: Inspection) -> Verification:
    """Recompute the seal from what the database holds now and compare it with the stored one."""
    if inspection.state != InspectionState.SIGNED.value:
        raise RecordStateError("only a signed inspection has a seal to verify")
    return Verification(
        inspection.id, inspection.seal_sha256, compute_seal(session=session, inspection=inspection)
    )


def amend(
    *,
    session: Session,
    inspection: Inspection,
    row_id: int,
    result: RowResult,
    note: str | None,
    reason: str,
    author: str,
    now: datetime,
) -> InspectionAmendment:
    """A correction beside a signed row; the row and the seal stay as signed."""
    if inspection.state != InspectionState.SIGNED.value:
        raise RecordStateError("amendments are for signed inspections; edit the row instead")
    if not reason.strip():
        raise RecordError("an amendment needs a reason")
    row = session.get(InspectionRow, row_id)
    if row is None or row.inspection_id != inspection.id:
        raise RecordError(f"no such row in this inspection: {row_id}")
    amendment = InspectionAmendment(
        inspection_id=inspection.id,
        row_id=row_id,
        result=result.value,
        note=note,
        reason=reason.strip(),
        author=author,
        at=now,
    )
    session.add(amendment)
    session.flush()
    return amendment


def notify_overdue(*, session: Session, config: NotifyConfig, now: datetime) -> int:
    """Queue one notice per unfinished inspection past its due date; returns how many were
    marked. The inspection remembers it was notified; the dedupe key guards replicas."""
    found = session.scalars(
        select(Inspection).where(
            Inspection.completed_at.is_(None),
            Inspection.due_at < now,
            Inspection.overdue_notified_at.is_(None),
        )
    ).all()
    for inspection in found:
        site = session.get(Site, inspection.site_id)
        assert site is not None
        facts = OverdueInspection(
            inspection_id=inspection.id,
            client_id=inspection.client_id,
            site_id=site.id,
            site_name=site.name,
            timezone=site.timezone,
            period_start=inspection.period_start,
            due_at=inspection.due_at,
            blank_rows=len(blank_rows(session=session, inspection_id=inspection.id)),
        )
        enqueue(session, notices(facts, config), now=now, max_attempts=config.delivery.max_attempts)
        inspection.overdue_notified_at = now
    session.flush()
    return len(found)


def add_photo(
    *,
    session: Session,
    inspection: Inspection,
    row_id: int,
    filename: str,
    data: bytes,
    author: str,
    now: datetime,
) -> InspectionAttachment:
    """A photo on a row while the inspection is open; refused (nothing stored) when too large,
    not an image we keep, or one too many for the row."""
    check_editable(InspectionState(inspection.state))
    row = session.get(InspectionRow, row_id)
    if row is None or row.inspection_id != inspection.id:
        raise RecordError(f"no such row in this inspection: {row_id}")
    content_type = photo_type(data)
    count = session.scalar(
        select(func.count())
        .select_from(InspectionAttachment)
        .where(InspectionAttachment.row_id == row_id)
    )
    if (count or 0) >= MAX_PER_ROW:
        raise PhotoRefusedError(f"a row keeps at most {MAX_PER_ROW} photos")
    photo = InspectionAttachment(
        inspection_id=inspection.id,
        row_id=row_id,
        filename=(filename or "photo")[:200],
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
        author=author,
        at=now,
    )
    session.add(photo)
    session.flush()
    return photo


SIGN_TOKEN_PREFIX = "sis_"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_sign_link(
    *, session: Session, inspection: Inspection, author: str, now: datetime
) -> str:
    """A fresh one-time token for the client's signature once the technician has signed; a new
    link replaces an unused one. Only the token's SHA-256 is stored."""
    if inspection.state != InspectionState.TECH_SIGNED.value:
        raise RecordStateError(
            "the client has already signed"
            if inspection.state == InspectionState.SIGNED.value
            else "the technician signs before the client's link is sent"
        )
    token = SIGN_TOKEN_PREFIX + secrets.token_urlsafe(24)
    link = session.get(InspectionSignLink, inspection.id)
    if link is None:
        session.add(
            InspectionSignLink(
                inspection_id=inspection.id,
                token_sha256=_digest(token),
                created_at=now,
                created_by=author,
            )
        )
    else:
        link.token_sha256, link.created_at, link.created_by = _digest(token), now, author
        link.used_at = None
    session.flush()
    return token


def inspection_by_link(*, session: Session, token: str) -> Inspection:
    """The inspection behind a signing link; LookupError for a token we never issued."""
    link = session.scalars(
        select(InspectionSignLink).where(InspectionSignLink.token_sha256 == _digest(token))
    ).first()
    inspection = session.get(Inspection, link.inspection_id) if link else None
    if link is None or inspection is None:
        raise LookupError("unknown signing link")
    if link.used_at is not None:
        raise RecordStateError("this signing link was already used")
    return inspection


def sign_by_link(
    *, session: Session, token: str, signature: Signature, now: datetime
) -> Inspection:
    """The client's signature through the link, which is then spent."""
    inspection = inspection_by_link(session=session, token=token)
    sign(session=session, inspection=inspection, who="client", signature=signature, now=now)
    link = session.get(InspectionSignLink, inspection.id)
    assert link is not None
    link.used_at = now
    session.flush()
    return inspection
