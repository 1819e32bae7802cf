"""The forecast job on a real database: a creeping temperature opens one preventive ticket with
a deadline and its evidence, a re-run does not duplicate it, and a reversed trend recovers it."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from peers.server import provision
from server import migrate
from server.db import make_engine, session_factory, write_session
from server.models import CheckDay, SampleRow, ServicePolicy, Ticket, TicketEvent
from server.notify import hooks as notify_hooks
from server.notify.config import Role as NotifyRole
from server.notify.escalation import TicketFacts as TicketFactsT
from server.notify.escalation import _message as escalation_message
from server.predict.job import forecast_site
from server.predict.store import rollup_all_checks
from server.sla import SlaClock
from server.tickets import notify_link
from server.tickets.kpi_query import ticket_facts
from server.tickets.notify_link import ticket_facts as notify_facts
from server.tickets.policy import service_settings
from tests.server.predict.series import sample

TEMP = "host.disk.sda.celsius"
START = datetime(2026, 10, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)


def run(session: Session, now: datetime) -> dict[int, int]:
    return rollup_all_checks(
        session=session,
        now=now,
        after_site=lambda s, site_id, devices: forecast_site(
            session=s, site_id=site_id, device_ids=devices, now=now
        ),
    )


def tickets(session: Session) -> list[Ticket]:
    return list(session.scalars(select(Ticket).order_by(Ticket.id)))


def test_creeping_temperature_opens_one_preventive_ticket_then_recovers(database_url: str) -> None:
    migrate.upgrade(database_url=database_url)
    tenant = provision(database_url, devices=["nvr-1"])
    device = tenant.device_pks["nvr-1"]
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    rising = [sample(device, START + i * DAY, {TEMP: 40 + 0.6 * i}) for i in range(40)]
    try:
        with write_session(engine) as session:
            session.execute(insert(SampleRow), rising)
        now = START + 39 * DAY + timedelta(hours=1)
        with sessions() as session:
            run(session, now)
            [ticket] = tickets(session)
            assert ticket.kind == "preventive"
            assert ticket.code == "predict.temperature"
            assert ticket.state == "new"
            assert ticket.respond_by is None
            assert ticket.on_site_by is None
            assert ticket.sla_policy == "preventive"
            # 63.4 °C rising 0.6 °C/day reaches 65 °C in 3 days; the deadline is no sooner than
            # the 3-day notice.
            assert ticket.resolve_by is not None
            assert now < ticket.resolve_by <= now + 4 * DAY
            [forecast] = session.scalars(
                select(TicketEvent).where(
                    TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "forecast"
                )
            ).all()
            assert forecast.data is not None
            assert forecast.data["check"] == TEMP
            assert forecast.data["threshold"] == 65.0
            assert len(forecast.data["values"]) == 30
            assert "65" in forecast.data["en"]
            assert "预计" in forecast.data["zh"]
            # Not a fault: the KPIs leave it out.
            assert ticket_facts(session=session, since=START.date(), until=(now + DAY).date()) == []
        # Re-run: the same forecast, no second ticket, no note.
        with sessions() as session:
            run(session, now + timedelta(minutes=5))
            assert len(tickets(session)) == 1
            assert (
                session.scalar(
                    select(TicketEvent.id).where(
                        TicketEvent.kind == "forecast", TicketEvent.id != forecast.id
                    )
                )
                is None
            )
        # The fan is fixed: 30 days of falling temperature reverse the trend.
        falling = [sample(device, START + (40 + i) * DAY, {TEMP: 63 - 0.5 * i}) for i in range(30)]
        with write_session(engine) as session:
            session.execute(insert(SampleRow), falling)
        with sessions() as session:
            run(session, START + 69 * DAY + timedelta(hours=1))
            [ticket] = tickets(session)
            assert ticket.state == "recovered"
    finally:
        engine.dispose()


def test_steady_device_gets_no_ticket(database_url: str) -> None:
    migrate.upgrade(database_url=database_url)
    tenant = provision(database_url, devices=["nvr-1"])
    device = tenant.device_pks["nvr-1"]
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    steady = [sample(device, START + i * DAY, {TEMP: 40 + (i % 3)}) for i in range(40)]
    try:
        with write_session(engine) as session:
            session.execute(insert(SampleRow), steady)
        with sessions() as session:
            written = run(session, START + 39 * DAY + timedelta(hours=1))
            assert device in written
            assert tickets(session) == []
    finally:
        engine.dispose()


def test_deadline_follows_the_clients_preventive_cell_and_messages_say_preventive(
    database_url: str,
) -> None:
    migrate.upgrade(database_url=database_url)
    tenant = provision(database_url, devices=["nvr-1"])
    device = tenant.device_pks["nvr-1"]
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    rising = [sample(device, START + i * DAY, {TEMP: 30 + 0.4 * i}) for i in range(40)]
    now = START + 39 * DAY + timedelta(hours=1)
    cell = {"margin_days": 10, "min_notice_days": 0}
    try:
        with write_session(engine) as session:
            session.execute(insert(SampleRow), rising)
            session.add(
                ServicePolicy(
                    client_id=tenant.client_id,
                    severity={},
                    sla={"preset": "security_default", "preventive": cell},
                    updated_at=now,
                )
            )
        with sessions() as session:
            run(session, now)
            [ticket] = tickets(session)
            forecast = session.scalars(
                select(TicketEvent).where(TicketEvent.kind == "forecast")
            ).one()
            assert forecast.data is not None
            projected = datetime.fromisoformat(forecast.data["projected"]).date()
            assert ticket.resolve_by is not None
            assert ticket.resolve_by.date() == projected - timedelta(days=10)
            # Its messages are labelled preventive and run only the cell's clock.
            settings = service_settings(session=session, client_id=tenant.client_id, known_codes=[])
            facts = notify_facts(session=session, ticket=ticket, settings=settings, now=now)
            assert facts.severity == "preventive"
            assert set(facts.clocks) == {SlaClock.RESOLVE}
            assert facts.clocks[SlaClock.RESOLVE].deadline == ticket.resolve_by
            _, body = escalation_message(facts, "opened", NotifyRole.MANAGER)
            assert "Severity: preventive" in body
            assert "respond by" not in body
    finally:
        engine.dispose()


def test_the_opened_message_of_a_preventive_ticket_says_preventive(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrate.upgrade(database_url=database_url)
    tenant = provision(database_url, devices=["nvr-1"])
    device = tenant.device_pks["nvr-1"]
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    rising = [sample(device, START + i * DAY, {TEMP: 40 + 0.6 * i}) for i in range(40)]
    now = START + 39 * DAY + timedelta(hours=1)
    try:
        with write_session(engine) as session:
            session.execute(insert(SampleRow), rising)
        with sessions() as session:
            # What the ticket layer tells the notify layer, captured when it tells it.
            told: list[TicketFactsT] = []
            original = notify_hooks.on_ticket_event

            def spy(session: Session, ticket_id: int, event: str, **kw: Any) -> int:
                told.append(kw["facts"])
                return original(session, ticket_id, event, **kw)

            monkeypatch.setattr(notify_link, "on_ticket_event", spy)
            run(session, now)
            [opened] = told
            assert opened.severity == "preventive"
            # No respond or on-site clock is promised; the cell's deadline is, from the start.
            assert set(opened.clocks) == {SlaClock.RESOLVE}
            [ticket] = tickets(session)
            assert ticket.resolve_by is not None
            assert opened.clocks[SlaClock.RESOLVE].deadline == ticket.resolve_by
            title, _ = escalation_message(opened, "opened", NotifyRole.MANAGER)
            assert title.startswith("[PREVENTIVE] New ticket")
    finally:
        engine.dispose()


def test_a_ups_asking_for_a_new_battery_gets_a_preventive_ticket(database_url: str) -> None:
    migrate.upgrade(database_url=database_url)
    tenant = provision(database_url, devices=["ups-1"])
    device = tenant.device_pks["ups-1"]
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    # The flags as the SNMP probe reports them (bools), with a number, another flag and the
    # self-test's words beside them. The self-test failed on day 17, the indicator rose on 18.
    flags = [
        sample(
            device,
            START + i * DAY,
            {
                "ups.battery.replace": i >= 18,
                "ups.self_test.failed": i >= 17,
                "ups.self_test.result": "failed" if i >= 17 else "pass",
                "ups.on_battery": False,
                "ups.load_percent": 30,
            },
        )
        for i in range(20)
    ]
    try:
        with write_session(engine) as session:
            session.execute(insert(SampleRow), flags)
        with sessions() as session:
            run(session, START + 19 * DAY + timedelta(hours=1))
            replace, self_test = sorted(tickets(session), key=lambda t: t.code or "")
            assert replace.code == "predict.battery_replace"
            assert replace.resolve_by is not None
            # Raised on day 18, due 14 days later; the deadline is the cell's 7 days before that.
            assert replace.resolve_by.date() == (START + 25 * DAY).date()
            assert self_test.code == "predict.self_test"
            assert self_test.kind == "preventive"
            assert self_test.resolve_by is not None
            assert self_test.resolve_by.date() == (START + 24 * DAY).date()
            stored = set(session.scalars(select(CheckDay.check).distinct()))
            assert stored == {"ups.battery.replace", "ups.self_test.failed", "ups.load_percent"}
    finally:
        engine.dispose()
