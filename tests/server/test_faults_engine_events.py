"""Device events open faults against a real database (SQLite and PostgreSQL): a trap, an ONVIF
event or an MQTT message reaches ingest as the agent sends it, and the ticket follows."""

from collections.abc import Iterator
from datetime import timedelta

import pytest

from server.tickets.states import TicketState
from tests.server.faultkit import T0, Kit, every, make_kit
from wire.enums import DeviceClass

CAM, UPS, SWITCH = DeviceClass.CAMERA, DeviceClass.UPS, DeviceClass.SWITCH
PANEL = DeviceClass.ALARM_PANEL


@pytest.fixture
def kit(database_url: str) -> Iterator[Kit]:
    made = make_kit(database_url)
    yield made
    made.engine.dispose()


def test_an_onvif_tamper_event_opens_a_ticket_at_once_and_its_end_recovers_it(kit: Kit) -> None:
    kit.add_devices([("cam-1", CAM, None), ("cam-2", CAM, None)])
    kit.poll(T0, {"cam-1": True, "cam-2": True})
    tampered = T0 + timedelta(seconds=4)
    out = kit.report(tampered, "cam-1", "camera.tamper", {"active": True, "topic": "tns1:X"})
    assert len(out.tickets_created) == 1
    (ticket,) = kit.tickets()
    assert ticket.code == "camera.tamper"
    assert ticket.severity == "general"
    assert ticket.first_failure_at == tampered
    assert ticket.respond_by is not None
    # The camera says it is over: that and two answered polls (three passing) recover it.
    kit.report(T0 + timedelta(seconds=6), "cam-1", "camera.tamper", {"active": False})
    polls = list(every(T0 + timedelta(seconds=10), 10, 2))
    kit.poll(polls[0], {"cam-1": True, "cam-2": True})
    assert kit.tickets()[0].state == TicketState.NEW
    kit.poll(polls[1], {"cam-1": True, "cam-2": True})
    assert kit.tickets()[0].state == TicketState.RECOVERED
    (episode,) = kit.episodes()
    assert episode.recovered_at == T0 + timedelta(seconds=6)


def test_a_ups_trap_opens_the_fault_before_the_next_poll_and_the_polls_close_it(kit: Kit) -> None:
    kit.add_devices([("ups-1", UPS, None)])
    kit.poll(T0, {"ups-1": {"ups.on_battery": False}})
    out = kit.report(T0 + timedelta(seconds=2), "ups-1", "ups.on_battery", {"minutes": 41})
    assert len(out.tickets_created) == 1
    assert kit.tickets()[0].code == "power.ac_lost"
    for ts in every(T0 + timedelta(seconds=10), 10, 3):
        kit.poll(ts, {"ups-1": {"ups.on_battery": False}})
    assert kit.tickets()[0].state == TicketState.RECOVERED


def test_link_down_traps_for_two_ports_make_one_ticket_that_lasts_until_both_are_up(
    kit: Kit,
) -> None:
    kit.add_devices([("sw-1", SWITCH, None)])
    kit.poll(T0, {"sw-1": True})
    kit.report(T0 + timedelta(seconds=1), "sw-1", "link.down", {"if_index": 5})
    kit.report(T0 + timedelta(seconds=2), "sw-1", "link.down", {"if_index": 9})
    (ticket,) = kit.tickets()
    assert ticket.code == "network.port_down"
    kit.report(T0 + timedelta(seconds=3), "sw-1", "link.up", {"if_index": 5})
    for ts in every(T0 + timedelta(seconds=10), 10, 4):
        kit.poll(ts, {"sw-1": True})
    assert kit.tickets()[0].state == TicketState.NEW  # port 9 is still down
    kit.report(T0 + timedelta(seconds=60), "sw-1", "link.up", {"if_index": 9})
    for ts in every(T0 + timedelta(seconds=70), 10, 2):
        kit.poll(ts, {"sw-1": True})
    assert kit.tickets()[0].state == TicketState.RECOVERED
    assert len(kit.tickets()) == 1


def test_a_panel_comms_fault_message_is_an_emergency(kit: Kit) -> None:
    kit.add_devices([("panel-1", PANEL, None)])
    kit.poll(T0, {"panel-1": {"comms.fault": False}})
    payload = {"maintenance": True, "payload": {"type": "comms_fault"}}
    kit.report(T0 + timedelta(seconds=3), "panel-1", "comms.fault", payload)
    (ticket,) = kit.tickets()
    assert ticket.code == "alarm.comms_lost"
    assert ticket.severity == "emergency"


def test_events_that_name_no_fault_open_nothing(kit: Kit) -> None:
    kit.add_devices([("cam-1", CAM, None), ("panel-1", PANEL, None)])
    kit.poll(T0, {"cam-1": True, "panel-1": True})
    kit.report(T0 + timedelta(seconds=1), "cam-1", "onvif.event", {"topic": "tns1:Motion"})
    kit.report(T0 + timedelta(seconds=2), "panel-1", "panel.armed", {"payload": {}})
    kit.report(T0 + timedelta(seconds=3), "cam-1", "device.cold_start", {})
    assert kit.tickets() == []
    assert kit.episodes() == []
