"""The service rules on a real database (SQLite and PostgreSQL): where a desk call's clocks
start, the emergency diagnosis deadline, a complex fault's plan approved before dispatch, the
client's consent before parts, repeats within 30 days, and re-routing an unanswered ticket."""

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db import write_session
from server.detector import sweep
from server.errors import ConflictError
from server.faults.engine import KNOWN_CODES
from server.models import Ticket
from server.notify import hooks as notify_hooks
from server.notify.models import Notification
from server.tickets import intake, repair, repair_plan, service
from server.tickets.intake import CallIn
from server.tickets.kpi_query import ticket_facts
from server.tickets.kpis import compute
from server.tickets.repair import CauseClass, PartIn, RepairIn
from server.tickets.repair_plan import ConsentScope, PlanIn
from server.tickets.service import Actor, SettingsLookup
from server.tickets.states import Channel, RepairPath, TicketState
from tests.server.faultkit import T0, Kit, every, make_kit
from wire.enums import DeviceClass

TECH = Actor("tech")
BOSS = Actor("boss")
S = timedelta(seconds=1)
MIN = timedelta(minutes=1)
H = timedelta(hours=1)
D = timedelta(days=1)


@pytest.fixture(scope="module")
def kit(module_database_url: str) -> Iterator[Kit]:
    made = make_kit(module_database_url, agent_offline_after=timedelta(days=90))
    made.add_devices(
        [(f"cam-{i}", DeviceClass.CAMERA, None) for i in range(1, 6)]
        + [("nvr-1", DeviceClass.NVR, None), ("nvr-2", DeviceClass.NVR, None)]
    )
    yield made
    made.engine.dispose()


def _down(kit: Kit, ext: str, at: datetime) -> Ticket:
    for ts in every(at, 10, 2):
        kit.poll(ts, {ext: False})
    return _open_of(kit, ext)


def _open_of(kit: Kit, ext: str) -> Ticket:
    with Session(kit.engine) as session:
        ticket = service.open_ticket_for_device(session=session, device_id=kit.pks[ext])
        assert ticket is not None
        return ticket


def _up(kit: Kit, ext: str, at: datetime) -> None:
    for ts in every(at, 10, 3):
        kit.poll(ts, {ext: True})


def _call(kit: Kit, *, at: datetime, occurred: datetime, severity: str, ext: str) -> Ticket:
    with write_session(kit.engine) as session:
        result = intake.log_call(
            session=session,
            call=CallIn(
                symptom="no picture since yesterday",
                reporter="Mr Li",
                reporter_contact="+86 10 5555 0100",
                channel=Channel.PHONE,
                device_id=kit.pks[ext],
                severity=severity,
                occurred_at=occurred,
            ),
            settings_of=SettingsLookup(session, KNOWN_CODES),
            actor=Actor("desk"),
            now=at,
        )
        session.flush()
        session.expunge(result.ticket)
        return result.ticket


def test_a_desk_call_starts_its_clocks_at_the_call_and_a_detected_fault_at_its_first_failure(
    kit: Kit,
) -> None:
    # The client calls at T0 about a camera that broke the day before (004/A 「接到客户通知开始」).
    call = _call(kit, at=T0, occurred=T0 - D, severity="emergency", ext="cam-1")
    assert call.first_failure_at == T0 - D  # what the client said, kept on the record
    assert call.respond_by == T0 + 30 * MIN
    assert call.on_site_by == T0 + 4 * H
    assert call.diagnose_by == T0 + H
    # Detected: the clock runs from the first failing poll, before anyone could call.
    detected = _down(kit, "nvr-1", T0 + 5 * MIN)
    assert detected.severity == "emergency"
    assert detected.respond_by == T0 + 35 * MIN
    assert detected.diagnose_by == T0 + 65 * MIN


def _resolve(kit: Kit, ticket_id: int, at: datetime, parts: tuple[str, ...] = ()) -> None:
    with write_session(kit.engine) as session:
        repair.resolve_with_record(
            session=session,
            ticket_id=ticket_id,
            record=RepairIn(
                diagnosis="recorder disk failed",
                cause_class=CauseClass.EQUIPMENT,
                actions="replaced the disk",
                time_on_site_minutes=40,
                parts=tuple(PartIn(name=p, old_serial="A1", new_serial="B2") for p in parts),
            ),
            actor=TECH,
            now=at,
        )


def _move(kit: Kit, ticket_id: int, target: TicketState, at: datetime) -> None:
    with write_session(kit.engine) as session:
        service.transition(
            session=session, ticket_id=ticket_id, target=target, actor=TECH, now=at,
            eta=at + H if target is TicketState.DISPATCHED else None,
        )  # fmt: skip


def test_a_complex_fault_is_dispatched_on_an_approved_plan_and_parts_need_consent(
    kit: Kit,
) -> None:
    start = T0 + 2 * D
    tid = _down(kit, "nvr-2", start).id
    _move(kit, tid, TicketState.ACKNOWLEDGED, start + 5 * MIN)
    with write_session(kit.engine) as session:
        repair_plan.diagnose(session=session, ticket_id=tid, path=RepairPath.COMPLEX,
                             diagnosis="disk array degraded", actor=TECH,
                             now=start + 20 * MIN)  # fmt: skip
    with pytest.raises(ConflictError, match="repair plan is approved"):
        _move(kit, tid, TicketState.DISPATCHED, start + 25 * MIN)
    with write_session(kit.engine) as session:
        plan = PlanIn(steps=("swap disk 3", "rebuild"), tools=("screwdriver",),
                      parts=("hdd 4tb",), estimated_minutes=90)  # fmt: skip
        repair_plan.submit_plan(session=session, ticket_id=tid, plan_in=plan, actor=TECH,
                                now=start + 30 * MIN)  # fmt: skip
    with pytest.raises(ConflictError, match="repair plan is approved"):
        _move(kit, tid, TicketState.DISPATCHED, start + 31 * MIN)
    with write_session(kit.engine) as session:
        repair_plan.approve_plan(session=session, ticket_id=tid, actor=BOSS, now=start + 40 * MIN)
    _move(kit, tid, TicketState.DISPATCHED, start + 41 * MIN)
    _move(kit, tid, TicketState.ON_SITE, start + 90 * MIN)
    _up(kit, "nvr-2", start + 100 * MIN)
    # Parts without the client's consent are refused; parts beyond the plan need extra work's.
    with pytest.raises(ConflictError, match="consent to replacing parts"):
        _resolve(kit, tid, start + 2 * H, parts=("hdd 4tb",))

    def consent(what: ConsentScope, minutes: int) -> None:
        with write_session(kit.engine) as session:
            repair_plan.record_consent(
                session=session, ticket_id=tid, scope_of_consent=what, given_by="Mr Li",
                channel=Channel.ONLINE, note=None, actor=TECH, now=start + minutes * MIN,
            )  # fmt: skip

    consent(ConsentScope.PARTS, 121)
    with pytest.raises(ConflictError, match="not in the repair plan"):
        _resolve(kit, tid, start + 2 * H + 2 * MIN, parts=("hdd 4tb", "fan"))
    consent(ConsentScope.EXTRA_WORK, 123)
    _resolve(kit, tid, start + 2 * H + 4 * MIN, parts=("hdd 4tb", "fan"))
    kinds = [e.kind for e in kit.events(tid)]
    for kind in ("diagnosed", "plan_submitted", "plan_approved", "consent", "repair_recorded"):
        assert kind in kinds
    (diagnosed,) = [e for e in kit.events(tid) if e.kind == "diagnosed"]
    assert diagnosed.data == {"path": "complex", "late": False}


def _repaired_and_closed(kit: Kit, ext: str, start: datetime) -> int:
    tid = _down(kit, ext, start).id
    _move(kit, tid, TicketState.ACKNOWLEDGED, start + MIN)
    _up(kit, ext, start + 2 * MIN)
    _resolve(kit, tid, start + 10 * MIN)
    with write_session(kit.engine) as session:
        repair.client_sign_off(
            session=session, ticket_id=tid, name="Mr Li", satisfied=True, comment=None,
            actor=Actor("desk"), now=start + 20 * MIN, scope=None,
        )  # fmt: skip
    return tid


def test_a_fault_back_within_30_days_of_closing_is_a_repeat_and_not_a_repair_success(
    kit: Kit,
) -> None:
    start = T0 + 5 * D
    first = _repaired_and_closed(kit, "cam-3", start)
    again = _down(kit, "cam-3", start + 12 * D)
    assert again.repeat_of_id == first
    assert [e.data for e in kit.events(first) if e.kind == "repeated_by"] == [
        {"ticket_id": again.id}
    ]
    assert [e.data for e in kit.events(again.id) if e.kind == "repeat_of"] == [{"ticket_id": first}]
    # Closed 31 days before the fault comes back: a new fault, not a repeat.
    other = _repaired_and_closed(kit, "cam-4", start)
    late = _down(kit, "cam-4", start + 31 * D)
    assert late.repeat_of_id is None
    with Session(kit.engine) as session:
        facts = ticket_facts(
            session=session, since=(start - D).date(), until=(start + D).date(), scope=None
        )
    mine = [f for f in facts if f.id in (first, other)]
    kpis = compute(mine, now=start + 40 * D)
    assert (kpis.repair_success.numerator, kpis.repair_success.denominator) == (1, 2)


def test_an_unanswered_ticket_is_rerouted_down_the_chain_once_per_step(
    kit: Kit, tmp_path: Path
) -> None:
    hook = {"channels": {"hook": "json://127.0.0.1:9/never-used"}}
    config = tmp_path / "notify.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "contacts": {"tech": hook, "boss": hook, "gm": hook},
                "teams": {
                    "field": {
                        "members": ["tech"],
                        "sites": [kit.tenant.site_id],
                        "rota": {"members": ["tech"], "start": "2026-01-05"},
                    }
                },
                "defaults": {"managers": ["boss"], "directors": ["gm"]},
                "escalation": {"reroute_after_minutes": {"general": 20}},
            }
        )
    )
    notify_hooks.use_config(notify_hooks.from_path(config))
    start = T0 + 60 * D  # after every other test's clock
    tid = _down(kit, "cam-5", start).id
    for minutes in (19, 21, 22, 41):
        sweep(engine=kit.engine, now=start + minutes * MIN, settings=kit.settings, tick=True)
    steps = [e.data for e in kit.events(tid) if e.kind == "rerouted"]
    assert steps == [
        {"step": 1, "contact": "boss", "role": "manager"},
        {"step": 2, "contact": "gm", "role": "director"},
    ]
    with Session(kit.engine) as session:
        sent = session.scalars(
            select(Notification.contact).where(
                Notification.ticket_id == tid, Notification.event.startswith("reroute:")
            )
        ).all()
        opened = session.scalars(
            select(Notification.contact).where(
                Notification.ticket_id == tid, Notification.event == "opened"
            )
        ).all()
    assert sorted(sent) == ["boss", "gm"]
    assert "boss" in opened  # 004/A: the department head hears of a general fault at once
    _move(kit, tid, TicketState.ACKNOWLEDGED, start + 50 * MIN)
    sweep(engine=kit.engine, now=start + 90 * MIN, settings=kit.settings, tick=True)
    assert len([e for e in kit.events(tid) if e.kind == "rerouted"]) == 2
