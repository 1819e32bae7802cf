"""Forecasts of the devices whose rollups changed → preventive tickets, through the existing
ticket functions (`intake.open_ticket`, `add_event`, `fault_recovered`).

One ticket per device and signal (open key `d<device>:predict.<signal>`); its deadline
(`resolve_by`) comes from the preventive cell of the client's SLA policy (a margin before the
projected date, no response or on-site clock).
A forecast whose date moves adds a `forecast` event; a reversed trend or a replaced part moves
it to recovered, which closes after the client's quiet period like any recovered ticket. Runs
inside the check rollup's per-site transaction, so it is replica-safe the same way.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.faults.records import device_open_key
from server.models import CheckDay, Device, Site, Ticket, TicketEvent
from server.predict.decision import Action, OpenPreventive, Policy, decide
from server.predict.evidence import ALARMS, Evidence, Verdict
from server.predict.models import Params, judge
from server.predict.rollup import DayRollup, date_of
from server.predict.signals import Signal, spec_for
from server.predict.store import day_number
from server.tickets.intake import Opening, open_ticket
from server.tickets.notify_link import PREVENTIVE_SLA
from server.tickets.policy import service_settings
from server.tickets.service import KNOWN_FAULT_CODES, Actor, add_event, fault_recovered
from server.tickets.states import OPEN_STATES, TicketKind

FORECAST_EVENT = "forecast"
CODE_PREFIX = "predict."


def code_of(signal: str) -> str:
    return f"{CODE_PREFIX}{signal}"


def _rows(days: Sequence[CheckDay]) -> list[DayRollup]:
    return [
        DayRollup(
            day=day_number(row.day),
            part=row.part or None,
            count=row.count,
            min=row.min,
            max=row.max,
            mean=row.mean,
            last=row.last,
            delta=row.delta,
            resets=row.resets,
        )
        for row in days
    ]


def params_of(retention_days: float) -> Params:
    """The models' parameters with the configured limits (the server's settings)."""
    return Params(limits={Signal.RETENTION: retention_days})


def judge_device(
    *, session: Session, device_id: int, today: int, params: Params = Params()
) -> dict[str, list[Evidence]]:
    """Every forecast check of the device judged on `today`, by signal."""
    by_check: dict[str, list[CheckDay]] = defaultdict(list)
    for row in session.scalars(
        select(CheckDay)
        .where(CheckDay.device_id == device_id)
        .order_by(CheckDay.check, CheckDay.day, CheckDay.last_ts)
    ):
        by_check[row.check].append(row)
    out: dict[str, list[Evidence]] = defaultdict(list)
    for check, days in by_check.items():
        spec = spec_for(check)
        if spec is None:
            continue
        evidence = judge(check, spec, _rows(days), today=today, params=params)
        out[spec.signal].append(evidence)
    return out


def device_forecasts(
    *, session: Session, device_id: int, today: int, params: Params = Params()
) -> list[tuple[str, list[Evidence]]]:
    """The device's forecasts for pages: signals with an alarm first, then by name; within a
    signal, alarms first, then by check."""
    judged = judge_device(session=session, device_id=device_id, today=today, params=params)
    groups = [
        (signal, sorted(found, key=lambda e: (not e.alarm, e.check)))
        for signal, found in judged.items()
    ]
    groups.sort(key=lambda g: (not any(e.alarm for e in g[1]), g[0]))
    return groups


def most_urgent(evidence: Iterable[Evidence]) -> Evidence | None:
    """The alarm with the nearest date; without alarms, a reversal only when every judged
    check reversed (one disk recovering says nothing of the other)."""
    items = list(evidence)
    alarms = [e for e in items if e.verdict in ALARMS]
    if alarms:
        return min(alarms, key=lambda e: (e.projected_day is None, e.projected_day or 0))
    judged = [e for e in items if e.verdict is not Verdict.STALE]
    if judged and all(e.verdict is Verdict.REVERSED for e in judged):
        return judged[0]
    return items[0] if items else None


def _facts(evidence: Evidence) -> dict[str, Any]:
    return {
        "check": evidence.check,
        "verdict": evidence.verdict.value,
        "part": evidence.part,
        "projected": None
        if evidence.projected_day is None
        else date_of(evidence.projected_day).isoformat(),
        "confidence": round(evidence.confidence, 4),
        "threshold": evidence.threshold,
        "days": [date_of(d).isoformat() for d in evidence.days],
        "values": list(evidence.values),
        "fit": None
        if evidence.fit is None
        else {"slope_per_day": evidence.fit.slope, "at_last_day": evidence.fit.at(evidence.at_day)},
        "en": evidence.en,
        "zh": evidence.zh,
    }


def _last_forecast(session: Session, ticket: Ticket) -> dict[str, Any]:
    event = session.scalars(
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == FORECAST_EVENT)
        .order_by(TicketEvent.id.desc())
        .limit(1)
    ).first()
    return dict(event.data or {}) if event is not None else {}


def _deadline(day: int | None) -> datetime | None:
    return None if day is None else datetime.combine(date_of(day), time(), tzinfo=UTC)


def forecast_device(
    *,
    session: Session,
    device: Device,
    site: Site,
    now: datetime,
    policy: Policy | None = None,
    params: Params = Params(),
) -> list[Action]:
    """Judge the device and act on each signal's preventive ticket; returns what was done.
    Deadlines follow the client's preventive SLA cell unless `policy` is given."""
    today = day_number(now.astimezone(UTC).date())
    actions: list[Action] = []
    settings = service_settings(
        session=session, client_id=site.client_id, known_codes=list(KNOWN_FAULT_CODES)
    )
    if policy is None:
        policy = Policy.of_cell(settings.sla_policy.preventive)
    for signal, evidence_list in judge_device(
        session=session, device_id=device.id, today=today, params=params
    ).items():
        evidence = most_urgent(evidence_list)
        if evidence is None:
            continue
        code = code_of(signal)
        key = device_open_key(device.id, code)
        ticket = session.scalars(
            select(Ticket).where(
                Ticket.open_key == key, Ticket.state.in_([s.value for s in OPEN_STATES])
            )
        ).first()
        state = None
        if ticket is not None:
            last = _last_forecast(session, ticket)
            projected = last.get("projected")
            state = OpenPreventive(
                opened_day=day_number(ticket.created_at.date()),
                projected_day=day_number(datetime.fromisoformat(projected).date())
                if projected
                else None,
                part=last.get("part"),
            )
        decision = decide(evidence, state, policy)
        if decision.action is Action.OPEN:
            opening = Opening(
                kind=TicketKind.PREVENTIVE,
                code=code,
                open_key=key,
                severity="general",
                title=f"{device.name}: {signal} forecast",
                symptom=f"{evidence.en}\n{evidence.zh}",
                first_failure_at=now,
                deadline=_deadline(decision.deadline_day),
            )
            ticket = open_ticket(
                session=session,
                site=site,
                device=device,
                opening=opening,
                settings=settings,
                actor=Actor.monitoring(),
                now=now,
            )
            _record_forecast(session, ticket, evidence, now)
        elif ticket is not None and decision.action is Action.NOTE:
            _set_deadline(ticket, decision.deadline_day)
            _record_forecast(session, ticket, evidence, now)
        elif ticket is not None and decision.action is Action.CLOSE:
            fault_recovered(session=session, ticket=ticket, now=now, note=decision.why)
        actions.append(decision.action)
    return actions


def _record_forecast(session: Session, ticket: Ticket, evidence: Evidence, now: datetime) -> None:
    """The forecast behind the ticket's deadline, as an event: the ticket's chart and the next
    run's comparison read it."""
    add_event(
        session=session,
        ticket=ticket,
        actor=Actor.monitoring(),
        kind=FORECAST_EVENT,
        at=now,
        note=evidence.en,
        data=_facts(evidence),
    )


def _set_deadline(ticket: Ticket, day: int | None) -> None:
    """A moved forecast moves the preventive cell's deadline (no response or on-site clock)."""
    ticket.respond_by = None
    ticket.on_site_by = None
    ticket.resolve_by = _deadline(day)
    ticket.sla_policy = PREVENTIVE_SLA


def forecast_site(
    *,
    session: Session,
    site_id: int,
    device_ids: Iterable[int],
    now: datetime,
    policy: Policy | None = None,
    params: Params = Params(),
) -> int:
    """Forecast the given devices of a site (those with new rollups); returns tickets acted on."""
    site = session.get(Site, site_id)
    if site is None:
        return 0
    acted = 0
    for device_id in device_ids:
        device = session.get(Device, device_id)
        if device is None or device.site_id != site_id:
            continue
        acted += sum(
            1
            for action in forecast_device(
                session=session, device=device, site=site, now=now, policy=policy, params=params
            )
            if action is not Action.NONE
        )
    return acted
