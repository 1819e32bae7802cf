"""Detection against a real database (SQLite and PostgreSQL): samples in through the real
ingest code, faults, episodes and tickets out."""

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from server.db import make_engine
from server.detector import evaluate
from server.faults.queue import Claim
from server.faults.rules import Observation
from server.models import DeviceState
from server.tickets.states import TicketKind, TicketState
from tests.server.faultkit import T0, Kit, every, make_kit
from wire.enums import DeviceClass

CAM, NVR, SWITCH, UPS = DeviceClass.CAMERA, DeviceClass.NVR, DeviceClass.SWITCH, DeviceClass.UPS


@pytest.fixture
def kit(database_url: str) -> Iterator[Kit]:
    made = make_kit(database_url)
    yield made
    made.engine.dispose()


def test_unreachable_camera_opens_one_general_ticket_with_deadlines(kit: Kit) -> None:
    kit.add_devices([("cam-1", CAM, None), ("cam-2", CAM, None)])
    kit.poll(T0, {"cam-1": True, "cam-2": True})
    first_fail = T0 + timedelta(seconds=10)
    out = kit.poll(first_fail, {"cam-1": False, "cam-2": True})
    assert out.tickets_created == []  # one failing poll is not yet a fault
    out = kit.poll(T0 + timedelta(seconds=20), {"cam-1": False, "cam-2": True})
    assert len(out.tickets_created) == 1
    (ticket,) = kit.tickets()
    assert ticket.state == TicketState.NEW
    assert ticket.severity == "general"
    assert ticket.code == "device.unreachable"
    assert ticket.device_id == kit.pks["cam-1"]
    assert ticket.reporter == "monitoring"
    assert ticket.first_failure_at == first_fail  # the clock starts at the first failing poll
    # security_default, general: respond 2 h of office hours (08:30-17:30, Monday 09:00:10)
    assert ticket.respond_by == first_fail + timedelta(hours=2)
    assert ticket.resolve_by is not None
    assert ticket.on_site_by is not None
    assert ticket.system == "video"


def test_recorder_down_is_an_emergency_with_30_minute_response(kit: Kit) -> None:
    kit.add_devices([("nvr-1", NVR, None)])
    kit.poll(T0, {"nvr-1": False})
    kit.poll(T0 + timedelta(seconds=10), {"nvr-1": False})
    (ticket,) = kit.tickets()
    assert ticket.severity == "emergency"
    assert ticket.respond_by == T0 + timedelta(minutes=30)
    assert ticket.on_site_by == T0 + timedelta(hours=4)


def test_recovery_before_anyone_acts_waits_then_closes_after_quiet_period(kit: Kit) -> None:
    kit.add_devices([("cam-1", CAM, None)])
    times = list(every(T0, 10, 8))
    for ts in times[:2]:
        kit.poll(ts, {"cam-1": False})
    for ts in times[2:4]:
        kit.poll(ts, {"cam-1": True})
    assert kit.tickets()[0].state == TicketState.NEW  # two passing polls are not a recovery
    kit.poll(times[4], {"cam-1": True})
    (ticket,) = kit.tickets()
    assert ticket.state == TicketState.RECOVERED
    (episode,) = kit.episodes()
    assert episode.open_key is None
    assert episode.recovered_at == times[2]
    kit.sweep(times[4] + timedelta(minutes=29))
    assert kit.tickets()[0].state == TicketState.RECOVERED
    kit.sweep(times[4] + timedelta(minutes=31))
    ticket = kit.tickets()[0]
    assert ticket.state == TicketState.CLOSED
    assert ticket.open_key is None
    kinds = [(e.kind, e.from_state, e.to_state, e.actor) for e in kit.events(ticket.id)]
    assert kinds == [
        ("created", None, "new", "monitoring"),
        ("transition", "new", "recovered", "monitoring"),
        ("transition", "recovered", "closed", "system"),
    ]


def test_fault_recurring_during_quiet_period_reuses_the_ticket(kit: Kit) -> None:
    kit.add_devices([("cam-1", CAM, None)])
    pattern = [False, False, True, True, True, False, False]
    for ts, up in zip(every(T0, 10, len(pattern)), pattern, strict=True):
        kit.poll(ts, {"cam-1": up})
    (ticket,) = kit.tickets()
    assert ticket.state == TicketState.NEW
    assert ticket.occurrences == 2
    assert len(kit.episodes()) == 2  # two confirmed episodes, one ticket


def test_flapping_every_20_seconds_for_10_minutes_yields_one_ticket(kit: Kit) -> None:
    kit.add_devices([("cam-1", CAM, None)])
    # 10 s polls; the device is down 20 s, up 20 s, for 10 minutes, then stays up.
    times = list(every(T0, 10, 60))
    for i, ts in enumerate(times):
        kit.poll(ts, {"cam-1": (i // 2) % 2 == 1})
    for ts in every(times[-1] + timedelta(seconds=10), 10, 5):
        kit.poll(ts, {"cam-1": True})
    tickets = kit.tickets()
    assert len(tickets) == 1
    assert tickets[0].occurrences == 15
    assert tickets[0].state == TicketState.RECOVERED
    assert len(kit.episodes()) == 1


def test_switch_down_with_eight_cameras_behind_it_yields_one_ticket(kit: Kit) -> None:
    cams = [f"cam-{i}" for i in range(1, 9)]
    kit.add_devices([("sw-1", SWITCH, None), *[(c, CAM, "sw-1") for c in cams]])
    everyone_up = {"sw-1": True, **dict.fromkeys(cams, True)}
    everyone_down = {"sw-1": False, **dict.fromkeys(cams, False)}
    kit.poll(T0, everyone_up)
    kit.poll(T0 + timedelta(seconds=10), everyone_down)
    kit.poll(T0 + timedelta(seconds=20), everyone_down)
    tickets = kit.tickets()
    assert len(tickets) == 1, [(t.title, t.state) for t in tickets]
    assert tickets[0].device_id == kit.pks["sw-1"]
    episodes = kit.episodes()
    assert len(episodes) == 9
    assert {e.ticket_id for e in episodes} == {tickets[0].id}
    # Not "system paralysed": the cameras' outage has a known cause.
    assert all(e.code != "site.system_paralysed" for e in episodes)


def test_cameras_confirming_before_their_switch_are_merged_into_its_ticket(kit: Kit) -> None:
    cams = ["cam-1", "cam-2"]
    kit.add_devices([("sw-1", SWITCH, None), *[(c, CAM, "sw-1") for c in cams]])
    kit.poll(T0, {"cam-1": False, "cam-2": False})  # the cameras' polls came first
    kit.poll(T0 + timedelta(seconds=5), {"sw-1": False})
    kit.poll(T0 + timedelta(seconds=10), {"cam-1": False, "cam-2": False})  # held: switch failing
    kit.poll(T0 + timedelta(seconds=15), {"sw-1": False})
    live = [t for t in kit.tickets() if t.state != TicketState.CANCELLED]
    assert len(live) == 1
    assert live[0].device_id == kit.pks["sw-1"]
    assert {e.ticket_id for e in kit.episodes()} == {live[0].id}


def test_most_cameras_dropping_at_once_is_one_emergency_incident(kit: Kit) -> None:
    cams = [f"cam-{i}" for i in range(1, 7)]
    kit.add_devices([(c, CAM, None) for c in cams])
    down = {c: c not in ("cam-1", "cam-2", "cam-3", "cam-4") for c in cams}
    kit.poll(T0, down)
    kit.poll(T0 + timedelta(seconds=10), down)
    (incident,) = kit.tickets()  # decided per batch: no short-lived camera tickets
    assert incident.kind == TicketKind.INCIDENT
    assert incident.code == "site.system_paralysed"
    assert incident.severity == "emergency"
    for cam in ("cam-1", "cam-2", "cam-3", "cam-4"):
        assert cam in incident.symptom
    assert incident.respond_by == T0 + timedelta(minutes=30)
    # A fifth camera dropping later joins the incident.
    kit.poll(T0 + timedelta(seconds=20), {**down, "cam-5": False})
    kit.poll(T0 + timedelta(seconds=30), {**down, "cam-5": False})
    assert len(kit.tickets()) == 1
    assert {e.ticket_id for e in kit.episodes()} == {incident.id}
    # All back: the incident recovers with its cameras.
    for ts in every(T0 + timedelta(seconds=40), 10, 3):
        kit.poll(ts, dict.fromkeys(cams, True))
    assert kit.tickets()[0].state == TicketState.RECOVERED


def test_a_minority_of_cameras_down_is_no_incident(kit: Kit) -> None:
    cams = [f"cam-{i}" for i in range(1, 7)]
    kit.add_devices([(c, CAM, None) for c in cams])
    down = {c: c not in ("cam-1", "cam-2", "cam-3") for c in cams}
    kit.poll(T0, down)
    kit.poll(T0 + timedelta(seconds=10), down)
    assert {t.kind for t in kit.tickets()} == {TicketKind.FAULT}
    assert len(kit.tickets()) == 3


def test_silent_agent_is_one_site_fault_and_its_devices_become_unknown(kit: Kit) -> None:
    kit.add_devices([("cam-1", CAM, None), ("cam-2", CAM, None)])
    kit.poll(T0, {"cam-1": True, "cam-2": False})
    # The sweep looks at the server's own receipt times (real now), so shift "now" from it.
    with Session(kit.engine) as session:
        last = max(s.updated_at for s in session.scalars(select(DeviceState)))
    assert kit.sweep(last + timedelta(minutes=2)) is not None
    assert kit.tickets() == []
    kit.sweep(last + timedelta(minutes=4))
    (ticket,) = kit.tickets()
    assert ticket.code == "site.agent_offline"
    assert ticket.device_id is None
    with Session(kit.engine) as session:
        assert {s.status for s in session.scalars(select(DeviceState))} == {"unknown"}
    # No device fault was opened for the silence itself.
    assert [e.code for e in kit.episodes()] == ["site.agent_offline"]


def test_a_child_fault_waits_for_its_parents_next_poll(kit: Kit) -> None:
    kit.add_devices([("sw-1", SWITCH, None), ("cam-1", CAM, "sw-1")])
    kit.poll(T0, {"sw-1": True, "cam-1": True})
    kit.poll(T0 + timedelta(seconds=10), {"cam-1": False})
    kit.poll(T0 + timedelta(seconds=20), {"cam-1": False})  # confirmed; the switch not yet polled
    assert kit.tickets() == []
    # The switch answers: it is not the cause, so the camera gets its own ticket.
    kit.poll(T0 + timedelta(seconds=21), {"sw-1": True})
    kit.sweep(T0 + timedelta(seconds=22))
    (ticket,) = kit.tickets()
    assert ticket.device_id == kit.pks["cam-1"]
    assert ticket.first_failure_at == T0 + timedelta(seconds=10)


def test_concurrent_evaluations_of_the_same_faults_open_each_once(kit: Kit) -> None:
    """Two replicas (threads, each with its own engine and connections) evaluate the same
    samples at the same time: every fault is opened once and has one ticket."""
    ups = [f"ups-{i}" for i in range(1, 11)]
    kit.add_devices([(u, UPS, None) for u in ups])
    rounds = [
        {kit.pks[ext]: [down_poll(T0 + timedelta(seconds=10 * r))] for ext in ups} for r in range(2)
    ]
    url = kit.engine.url.render_as_string(hide_password=False)
    engines = [make_engine(url), make_engine(url)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def replica(engine: Engine) -> None:
        try:
            for r, by_device in enumerate(rounds):
                barrier.wait()
                work = Claim(kit.tenant.site_id, [], {d: [*o] for d, o in by_device.items()})
                evaluate(engine=engine, work=work, now=T0 + timedelta(seconds=10 * r),
                         settings=kit.settings)  # fmt: skip
        except BaseException as err:  # reported by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=replica, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for engine in engines:
        engine.dispose()
    assert errors == []
    tickets = kit.tickets()
    assert sorted(t.device_id or 0 for t in tickets) == sorted(kit.pks[u] for u in ups)
    assert len(kit.episodes()) == len(ups)


def down_poll(ts: datetime) -> Observation:
    return Observation(ts=ts, reachable=False, error_code="device.unreachable", checks={})


def test_an_outage_in_a_backlog_gets_its_ticket_already_recovered(kit: Kit) -> None:
    """An agent back from a silence pushes its outbox: a whole outage arrives in one batch."""
    kit.add_devices([("cam-1", CAM, None), ("nvr-1", NVR, None)])
    pattern = [False, False, True, True, True]
    # One batch holding all five polls of both devices.
    kit.poll_many(
        [
            (ts, {"cam-1": up, "nvr-1": up})
            for ts, up in zip(every(T0, 10, len(pattern)), pattern, strict=True)
        ]
    )
    tickets = kit.tickets()
    assert len(tickets) == 2
    assert {t.state for t in tickets} == {TicketState.RECOVERED}
    assert all(t.first_failure_at == T0 for t in tickets)
