"""The client's signature and the records it signs, on SQLite and PostgreSQL: a resolved ticket
closes only with the client's sign-off or a manager's override with a reason; re-resolving
keeps every earlier version; the sign-off and survey links reach the client's channel, work
once and expire."""

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.db import write_session
from server.errors import ConflictError, InvalidInputError, NotFoundError
from server.models import Ticket, TicketSurvey
from server.notify import hooks as notify_hooks
from server.notify.models import Notification
from server.tickets import kpis, repair, service
from server.tickets.intake import CallIn, log_call
from server.tickets.kpi_query import ticket_facts
from server.tickets.repair import CauseClass, Ratings, RepairIn
from server.tickets.service import KNOWN_FAULT_CODES, Actor, SettingsLookup
from server.tickets.states import Channel, TicketState
from tests.server.faultkit import T0, Kit, make_kit

FIRST = RepairIn("relay stuck", CauseClass.EQUIPMENT, "reset the relay", 30)
SECOND = RepairIn("relay worn out", CauseClass.EQUIPMENT, "replaced the relay board", 50)
TECH = Actor("tech", None)
BOSS = Actor("boss", None)
LINK = re.compile(r"/(sign|survey)/(\S+)")


@pytest.fixture
def kit(database_url: str, tmp_path: Path) -> Iterator[Kit]:
    made = make_kit(database_url)
    # The client's contact reads Chinese; nothing is delivered (no worker runs here).
    config = tmp_path / "notify.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "contacts": {
                    "client": {"channels": {"sms": "json://127.0.0.1:9/x"}, "language": "zh-CN"}
                },
                "defaults": {"client_contacts": ["client"]},
                "public_url": "https://svc.example",
            }
        )
    )
    notify_hooks.use_config(notify_hooks.from_path(config))
    yield made
    made.engine.dispose()


def _at(minutes: float):  # type: ignore[no-untyped-def]
    return T0 + timedelta(minutes=minutes)


def _call(kit: Kit) -> int:
    with write_session(kit.engine) as session:
        result = log_call(
            session=session,
            call=CallIn("door 3 does not open", "Ms Li", "139", Channel.PHONE,
                        site_id=kit.tenant.site_id),
            settings_of=SettingsLookup(session, KNOWN_FAULT_CODES),
            actor=Actor("desk"),
            now=_at(0),
        )  # fmt: skip
        return result.ticket.id


def _resolve(kit: Kit, ticket_id: int, record: RepairIn, at: float) -> None:
    with write_session(kit.engine) as session:
        repair.resolve_with_record(
            session=session, ticket_id=ticket_id, record=record, actor=TECH, now=_at(at)
        )


def _client_link(kit: Kit, ticket_id: int, stage: str) -> str:
    """The newest link the client's channel got for `stage` (resolved: sign, closed: survey)."""
    with Session(kit.engine) as session:
        bodies = session.scalars(
            select(Notification.body)
            .where(
                Notification.ticket_id == ticket_id,
                Notification.event == stage,
                Notification.contact == "client",
            )
            .order_by(Notification.id)
        ).all()
    assert bodies, f"the client got no {stage} notice"
    assert "https://svc.example/" in bodies[-1]
    found = LINK.search(bodies[-1])
    assert found is not None
    return found.group(2)


def _state(kit: Kit, ticket_id: int) -> str:
    with Session(kit.engine) as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None
        return ticket.state


def test_a_resolved_ticket_does_not_close_without_the_clients_signature(kit: Kit) -> None:
    tid = _call(kit)
    _resolve(kit, tid, FIRST, 10)
    with pytest.raises(ConflictError, match="signature"), write_session(kit.engine) as session:
        service.transition(
            session=session, ticket_id=tid, target=TicketState.CLOSED, actor=BOSS, now=_at(20)
        )
    assert _state(kit, tid) == "resolved"


def test_a_manager_override_needs_a_reason_and_counts_in_completeness(kit: Kit) -> None:
    tid = _call(kit)
    _resolve(kit, tid, FIRST, 10)
    with pytest.raises(InvalidInputError), write_session(kit.engine) as session:
        repair.close_without_signature(
            session=session, ticket_id=tid, reason="  ", actor=BOSS, now=_at(20), scope=None
        )
    with write_session(kit.engine) as session:
        repair.close_without_signature(
            session=session, ticket_id=tid, reason="client away for a month", actor=BOSS,
            now=_at(20), scope=None,
        )  # fmt: skip
    assert _state(kit, tid) == "closed"
    with Session(kit.engine) as session:
        (record,) = repair.records_of(session=session, ticket_id=tid)
        assert (record.override_reason, record.override_by) == ("client away for a month", "boss")
        assert record.client_signed_at is None
        facts = ticket_facts(session=session, since=_at(-1440).date(), until=_at(2880).date())
    result = kpis.compute(facts, now=_at(30))
    assert result.record_completeness == kpis.Ratio(0, 1)
    assert result.closed_without_signature == 1
    # Closing still sends the client the survey.
    assert _client_link(kit, tid, "closed").startswith("sms_")


def test_re_resolving_after_a_reopen_keeps_the_earlier_record_and_signature(kit: Kit) -> None:
    tid = _call(kit)
    _resolve(kit, tid, FIRST, 10)
    with write_session(kit.engine) as session:
        repair.client_sign_off(
            session=session, ticket_id=tid, name="Ms Li", satisfied=False,
            comment="still sticks when cold", actor=Actor("acme"), now=_at(20), scope=None,
        )  # fmt: skip
    assert _state(kit, tid) == "reopened"
    _resolve(kit, tid, SECOND, 60)
    with Session(kit.engine) as session:
        first, second = repair.records_of(session=session, ticket_id=tid)
        assert (first.version, first.actions, first.superseded_at) == (
            1,
            "reset the relay",
            _at(60),
        )
        assert (first.client_signed_name, first.client_satisfied) == ("Ms Li", False)
        assert first.client_comment == "still sticks when cold"
        assert (second.version, second.actions, second.superseded_at) == (
            2, "replaced the relay board", None,
        )  # fmt: skip
        assert second.client_signed_at is None
        current = repair.current_record(session=session, ticket_id=tid)
        assert current is not None
        assert current.id == second.id


def test_not_satisfied_needs_a_reason(kit: Kit) -> None:
    tid = _call(kit)
    _resolve(kit, tid, FIRST, 10)
    with pytest.raises(InvalidInputError), write_session(kit.engine) as session:
        repair.client_sign_off(
            session=session, ticket_id=tid, name="Ms Li", satisfied=False, comment=" ",
            actor=Actor("acme"), now=_at(20), scope=None,
        )  # fmt: skip
    assert _state(kit, tid) == "resolved"


def test_sign_off_link_works_once_and_only_for_the_current_version(kit: Kit) -> None:
    tid = _call(kit)
    _resolve(kit, tid, FIRST, 10)
    first = _client_link(kit, tid, "resolved")
    assert first.startswith("sgn_")
    with write_session(kit.engine) as session:
        repair.sign_by_link(session=session, token=first, name="Ms Li", satisfied=False,
                            comment="still sticks", now=_at(20))  # fmt: skip
    assert _state(kit, tid) == "reopened"
    with pytest.raises(NotFoundError), Session(kit.engine) as session:
        repair.signoff_by_token(session=session, token=first, now=_at(21))  # used
    _resolve(kit, tid, SECOND, 60)
    second = _client_link(kit, tid, "resolved")
    assert second != first
    with pytest.raises(NotFoundError), Session(kit.engine) as session:
        repair.signoff_by_token(session=session, token=second, now=_at(60) + repair.SIGN_LINK_TTL)
    with write_session(kit.engine) as session:
        repair.sign_by_link(
            session=session, token=second, name="Ms Li", satisfied=True, comment=None, now=_at(70)
        )
    assert _state(kit, tid) == "closed"


def test_closing_sends_the_four_question_survey_once_and_it_expires(kit: Kit) -> None:
    tid = _call(kit)
    _resolve(kit, tid, FIRST, 10)
    with write_session(kit.engine) as session:
        repair.client_sign_off(
            session=session, ticket_id=tid, name="Ms Li", satisfied=True, comment=None,
            actor=Actor("acme"), now=_at(20), scope=None,
        )  # fmt: skip
    token = _client_link(kit, tid, "closed")
    ratings = Ratings(response_time=5, repair_quality=4, attitude=5, problem_solving=3)
    with pytest.raises(NotFoundError), write_session(kit.engine) as session:
        repair.answer_survey(session=session, token=token, ratings=ratings, comment=None,
                             now=_at(20) + repair.SURVEY_LINK_TTL)  # fmt: skip
    bad = Ratings(response_time=6, repair_quality=4, attitude=5, problem_solving=3)
    with pytest.raises(InvalidInputError), write_session(kit.engine) as session:
        repair.answer_survey(session=session, token=token, ratings=bad, comment=None, now=_at(30))
    with write_session(kit.engine) as session:
        repair.answer_survey(session=session, token=token, ratings=ratings, comment="ok",
                             now=_at(30))  # fmt: skip
    with pytest.raises(NotFoundError), write_session(kit.engine) as session:
        repair.answer_survey(session=session, token=token, ratings=ratings, comment=None,
                             now=_at(31))  # fmt: skip
    with Session(kit.engine) as session:
        survey = session.get(TicketSurvey, tid)
        assert survey is not None
        assert (survey.response_time, survey.repair_quality, survey.attitude,
                survey.problem_solving, survey.rating) == (5, 4, 5, 3, 4)  # fmt: skip
        assert survey.token_sha256 != token  # only the digest is kept


def test_the_overall_rating_is_the_mean_of_the_four_rounded_half_up() -> None:
    assert Ratings(4, 4, 3, 3).overall == 4  # 3.5
    assert Ratings(4, 3, 3, 3).overall == 3  # 3.25
    assert Ratings(5, 5, 5, 4).overall == 5  # 4.75
    assert Ratings(1, 1, 1, 2).overall == 1  # 1.25


def test_the_migration_carries_records_down_and_back_up(kit: Kit, database_url: str) -> None:
    from server import migrate

    tid = _call(kit)
    _resolve(kit, tid, FIRST, 10)
    with write_session(kit.engine) as session:
        repair.client_sign_off(
            session=session, ticket_id=tid, name="Ms Li", satisfied=False, comment="cold",
            actor=Actor("acme"), now=_at(20), scope=None,
        )  # fmt: skip
    _resolve(kit, tid, SECOND, 60)
    kit.engine.dispose()
    migrate.downgrade(database_url=database_url, revision="0009_rules2")  # latest survives
    migrate.upgrade(database_url=database_url)
    with Session(kit.engine) as session:
        (record,) = repair.records_of(session=session, ticket_id=tid)
        assert (record.version, record.actions, record.superseded_at) == (
            1, "replaced the relay board", None,
        )  # fmt: skip
