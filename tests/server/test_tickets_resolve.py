"""Resolve against the device's own telemetry, on SQLite and PostgreSQL: refused while a fault
of the ticket is open unless the resolver records why; a ticket resolved with its fault still
open comes back when the fault outlasts the confirmation window (the sweep)."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from server.db import write_session
from server.errors import ConflictError
from server.tickets import repair, service
from server.tickets.repair import CauseClass, RepairIn
from server.tickets.service import Actor
from server.tickets.states import TicketState
from tests.server.faultkit import T0, Kit, every, make_kit
from wire.enums import DeviceClass

RECORD = RepairIn(
    diagnosis="PoE port dead",
    cause_class=CauseClass.EQUIPMENT,
    actions="moved the camera to port 7",
    time_on_site_minutes=20,
)
TECH = Actor("tech")
REASON = "fixed, device offline for a reason the client knows"
S = timedelta(seconds=1)


@pytest.fixture
def kit(database_url: str) -> Iterator[Kit]:
    made = make_kit(database_url, agent_offline_after=timedelta(days=30))
    made.add_devices([("cam-1", DeviceClass.CAMERA, None)])
    yield made
    made.engine.dispose()


def _down(kit: Kit) -> int:
    for ts in every(T0, 10, 2):
        kit.poll(ts, {"cam-1": False})
    (ticket,) = kit.tickets()
    return ticket.id


def _resolve(kit: Kit, ticket_id: int, at_minutes: float, override: str | None = None) -> None:
    with write_session(kit.engine) as session:
        repair.resolve_with_record(
            session=session,
            ticket_id=ticket_id,
            record=RECORD,
            actor=TECH,
            now=T0 + timedelta(minutes=at_minutes),
            fault_override=override,
        )


def test_resolve_is_refused_while_the_tickets_fault_is_open(kit: Kit) -> None:
    ticket_id = _down(kit)
    before = [e.id for e in kit.events(ticket_id)]
    with pytest.raises(ConflictError) as refused:
        _resolve(kit, ticket_id, 5)
    assert "device.unreachable" in str(refused.value)
    assert "still open" in str(refused.value)
    assert kit.tickets()[0].state == TicketState.NEW
    assert [e.id for e in kit.events(ticket_id)] == before
    with Session(kit.engine) as session:
        assert repair.records_of(session=session, ticket_id=ticket_id) == []


def test_an_override_resolves_and_is_kept_in_the_audit_trail(kit: Kit) -> None:
    ticket_id = _down(kit)
    _resolve(kit, ticket_id, 5, override=REASON)
    assert kit.tickets()[0].state == TicketState.RESOLVED
    (override,) = [e for e in kit.events(ticket_id) if e.kind == "resolved_with_open_fault"]
    assert override.note == REASON
    assert override.actor == "tech"
    assert override.data == {"open_faults": ["device.unreachable"]}


def test_a_ticket_resolved_over_a_fault_still_open_after_the_window_reopens(kit: Kit) -> None:
    ticket_id = _down(kit)
    _resolve(kit, ticket_id, 5, override=REASON)
    resolved_at = T0 + timedelta(minutes=5)
    window = timedelta(minutes=30)  # the client's confirmation (quiet) period, by default
    kit.poll(resolved_at + window - 2 * S, {"cam-1": False})  # the device stays down
    kit.sweep(resolved_at + window - S)
    assert kit.tickets()[0].state == TicketState.RESOLVED
    kit.sweep(resolved_at + window)
    (ticket,) = kit.tickets()
    assert ticket.state == TicketState.REOPENED
    assert ticket.reopened_count == 1
    last = kit.events(ticket_id)[-1]
    assert (last.kind, last.from_state, last.to_state, last.actor) == (
        "transition",
        "resolved",
        "reopened",
        "monitoring",
    )
    assert last.note is not None
    assert "still open" in last.note
    kit.sweep(resolved_at + 2 * window)  # once: a reopened ticket is not moved again
    assert kit.tickets()[0].reopened_count == 1


def test_a_ticket_whose_fault_recovers_stays_resolved(kit: Kit) -> None:
    ticket_id = _down(kit)
    _resolve(kit, ticket_id, 5, override=REASON)
    for ts in every(T0 + timedelta(minutes=6), 10, 3):
        kit.poll(ts, {"cam-1": True})
    kit.sweep(T0 + timedelta(hours=2))
    assert kit.tickets()[0].state == TicketState.RESOLVED


def test_resolve_after_recovery_needs_no_override(kit: Kit) -> None:
    ticket_id = _down(kit)
    for ts in every(T0 + timedelta(minutes=1), 10, 3):
        kit.poll(ts, {"cam-1": True})
    # Recovered before anyone acted: a person takes it up, then resolves.
    with write_session(kit.engine) as session:
        service.transition(
            session=session,
            ticket_id=ticket_id,
            target=TicketState.ACKNOWLEDGED,
            actor=TECH,
            now=T0 + timedelta(minutes=2),
        )
    _resolve(kit, ticket_id, 5)
    assert kit.tickets()[0].state == TicketState.RESOLVED
    assert not [e for e in kit.events(ticket_id) if e.kind == "resolved_with_open_fault"]
