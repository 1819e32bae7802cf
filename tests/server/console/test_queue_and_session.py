"""Pure console rules: queue order and countdowns, session cookies, CSRF, login limits."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from server.console.queue import (
    Clock,
    QueueTicket,
    format_remaining,
    next_deadline,
    urgency_order,
)
from server.console.session import csrf_ok, issue_session, read_session
from server.users import UserPrincipal, issue_access_token
from wire.enums import Role

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
M = timedelta(minutes=1)


def _ticket(tid: int, severity: str = "general", **kw: object) -> QueueTicket:
    base: dict[str, object] = {
        "id": tid,
        "state": "new",
        "severity": severity,
        "created_at": NOW - 60 * M,
        "acknowledged_at": None,
        "on_site_at": None,
        "resolved_at": None,
        "respond_by": None,
        "on_site_by": None,
        "resolve_by": None,
    }
    base.update(kw)
    return QueueTicket(**base)  # type: ignore[arg-type]


def test_the_running_clock_moves_on_as_each_deadline_is_met() -> None:
    t = _ticket(1, respond_by=NOW + 10 * M, on_site_by=NOW + 60 * M, resolve_by=NOW + 240 * M)
    countdown = next_deadline(t, NOW)
    assert countdown is not None
    assert countdown.clock is Clock.RESPOND
    assert countdown.remaining == 10 * M
    acked = _ticket(1, acknowledged_at=NOW, respond_by=NOW, on_site_by=NOW - 5 * M)
    late = next_deadline(acked, NOW)
    assert late is not None
    assert late.clock is Clock.ON_SITE
    assert late.breached


def test_breached_first_then_least_time_left_then_emergencies() -> None:
    tickets = [
        _ticket(1, respond_by=NOW + 50 * M),
        _ticket(2, respond_by=NOW - 5 * M),
        _ticket(3),  # no deadline at all: an SLA set-up problem, on top
        _ticket(4, respond_by=NOW - 30 * M),
        _ticket(5, "emergency", respond_by=NOW + 50 * M),
        _ticket(6, respond_by=NOW + 20 * M),
        _ticket(7, acknowledged_at=NOW, respond_by=NOW + 5 * M),  # no running clock: last
    ]
    assert [t.id for t in urgency_order(tickets, NOW)] == [3, 4, 2, 6, 5, 1, 7]
    assert [t.id for t in tickets if t.without_deadlines] == [3]


@given(st.lists(st.integers(min_value=-10_000, max_value=10_000), min_size=1, max_size=30))
def test_order_never_puts_more_time_left_above_less(minutes: list[int]) -> None:
    tickets = [_ticket(i, respond_by=NOW + m * M) for i, m in enumerate(minutes)]
    ordered = urgency_order(tickets, NOW)
    lefts = [t.respond_by for t in ordered]
    assert lefts == sorted(lefts)  # type: ignore[type-var]


def test_remaining_reads_short() -> None:
    assert format_remaining(timedelta(minutes=65)) == "1 h 05 min"
    assert format_remaining(timedelta(minutes=-12)) == "-12 min"
    assert format_remaining(timedelta(days=2, hours=3)) == "2 d 3 h"


def test_session_cookie_round_trip_and_tamper() -> None:
    now = datetime.now(UTC)
    cookie = issue_session(username="boss", secret_key="k" * 32, ttl=timedelta(hours=1), now=now)
    session = read_session(cookie, secret_key="k" * 32)
    assert session is not None
    assert session.username == "boss"
    assert csrf_ok(session, session.csrf)
    assert not csrf_ok(session, "forged")
    assert not csrf_ok(session, None)
    assert read_session(cookie, secret_key="x" * 32) is None
    assert read_session(cookie[:-2] + "xx", secret_key="k" * 32) is None
    expired = issue_session(
        username="boss", secret_key="k" * 32, ttl=timedelta(hours=1), now=now - timedelta(hours=2)
    )
    assert read_session(expired, secret_key="k" * 32) is None


def test_an_api_token_is_not_a_console_session() -> None:
    principal = UserPrincipal(user_id=1, username="boss", role=Role.MANAGER, client_id=None)
    api = issue_access_token(
        principal=principal, secret_key="k" * 32, ttl=timedelta(hours=1), now=datetime.now(UTC)
    )
    assert read_session(api, secret_key="k" * 32) is None
