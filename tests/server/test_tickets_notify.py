"""Tickets reach people: auto-assignment from the site's team and notifications queued on open,
acknowledge and SLA breach (the notify layer's queue; delivery is tested with it)."""

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from peers.server import add_user
from server.db import write_session
from server.models import User
from server.notify import hooks as notify_hooks
from server.notify.models import Notification
from server.tickets import repair_plan
from server.tickets.service import Actor, transition
from server.tickets.states import RepairPath, TicketState
from tests.server.faultkit import T0, Kit, make_kit
from wire.enums import DeviceClass, Role


@pytest.fixture
def kit(database_url: str, tmp_path: Path) -> Iterator[Kit]:
    made = make_kit(database_url)
    made.add_devices([(f"cam-{i}", DeviceClass.UPS, None) for i in range(1, 4)])
    for name in ("tech-a", "tech-b"):
        add_user(database_url, username=name, password="pw-not-used-here", role=Role.TECHNICIAN)
    hook = "json://127.0.0.1:9/unused"  # never delivered here: only the queue is looked at
    config = {
        "contacts": {
            "tech-a": {"channels": {"hook": hook}},
            "tech-b": {"channels": {"hook": hook}},
            "boss": {"channels": {"hook": hook}},
        },
        "teams": {"north": {"members": ["tech-a", "tech-b"], "sites": [made.tenant.site_id]}},
        "defaults": {"managers": ["boss"]},
    }
    path = tmp_path / "notify.yaml"
    path.write_text(yaml.safe_dump(config))
    notify_hooks.use_config(notify_hooks.from_path(path))
    yield made
    made.engine.dispose()


def notifications(kit: Kit) -> list[tuple[int | None, str, str]]:
    with Session(kit.engine) as session:
        rows = session.scalars(select(Notification).order_by(Notification.id))
        return [(n.ticket_id, n.event, n.contact) for n in rows]


def test_new_tickets_are_assigned_round_robin_and_notified(kit: Kit) -> None:
    for i, cam in enumerate(("cam-1", "cam-2", "cam-3")):
        start = T0 + timedelta(minutes=i)
        kit.poll(start, {cam: False})
        kit.poll(start + timedelta(seconds=10), {cam: False})
    tickets = kit.tickets()
    with Session(kit.engine) as session:
        names = {u.id: u.username for u in session.scalars(select(User))}
    assert [names.get(t.assignee_id or 0) for t in tickets] == ["tech-a", "tech-b", "tech-a"]
    # 004/A 「必须立即向部门负责人汇报」: the manager hears of every general fault too.
    assert notifications(kit) == [
        (tickets[0].id, "opened", "tech-a"),
        (tickets[0].id, "opened", "boss"),
        (tickets[1].id, "opened", "tech-b"),
        (tickets[1].id, "opened", "boss"),
        (tickets[2].id, "opened", "tech-a"),
        (tickets[2].id, "opened", "boss"),
    ]


def test_breach_is_notified_once_however_often_the_sweep_ticks(kit: Kit) -> None:
    kit.poll(T0, {"cam-1": False})
    kit.poll(T0 + timedelta(seconds=10), {"cam-1": False})
    (ticket,) = kit.tickets()
    before = len(notifications(kit))
    # General: respond within 2 h. At 1 h 50 min it is near breach, after 2 h breached.
    from server.detector import sweep

    for minutes in (110, 111, 125, 126):
        sweep(
            engine=kit.engine, now=T0 + timedelta(minutes=minutes), settings=kit.settings, tick=True
        )
    sent = [(e, c) for t, e, c in notifications(kit)[before:] if t == ticket.id]
    assert len(sent) == len(set(sent))  # four ticks, each message once
    assert ("near_breach:respond", "tech-a") in sent
    assert ("breach:respond", "tech-a") in sent
    assert ("breach:respond", "boss") in sent  # breach climbs to the manager
    # Acknowledging is an event too (the client is told on acknowledge, if it has contacts).
    with write_session(kit.engine) as session:
        transition(
            session=session,
            ticket_id=ticket.id,
            target=TicketState.ACKNOWLEDGED,
            actor=Actor("tech-a", None),
            now=T0 + timedelta(minutes=130),
        )


def test_emergency_diagnosis_breach_is_notified_once_and_a_diagnosis_stops_it(kit: Kit) -> None:
    from server.detector import sweep

    kit.add_devices([("nvr-1", DeviceClass.NVR, None), ("nvr-2", DeviceClass.NVR, None)])
    kit.poll(T0, {"nvr-1": False, "nvr-2": False})
    kit.poll(T0 + timedelta(seconds=10), {"nvr-1": False, "nvr-2": False})
    late, diagnosed = kit.tickets()
    assert late.diagnose_by == diagnosed.diagnose_by == T0 + timedelta(hours=1)  # 001
    with write_session(kit.engine) as session:
        repair_plan.diagnose(
            session=session, ticket_id=diagnosed.id, path=RepairPath.SIMPLE,
            diagnosis="recorder hung, restarted remotely", actor=Actor("tech-b", None),
            now=T0 + timedelta(minutes=40),
        )  # fmt: skip
    for minutes in (50, 51, 61, 62):
        sweep(
            engine=kit.engine, now=T0 + timedelta(minutes=minutes), settings=kit.settings, tick=True
        )
    sent = [(t, e, c) for t, e, c in notifications(kit) if e.endswith(":diagnose")]
    assert sent == [
        (late.id, "near_breach:diagnose", "tech-a"),  # its assignee (round-robin: first)
        (late.id, "breach:diagnose", "tech-a"),
        (late.id, "breach:diagnose", "boss"),  # breach climbs to the manager
    ]
