"""Queue and worker against real peers: aiosmtpd, a local webhook receiver, PostgreSQL/SQLite."""

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, select

from server import migrate
from server.db import make_engine, write_session
from server.notify.config import NotifyConfig, parse_notify_config
from server.notify.escalation import NotificationIntent, TicketFacts
from server.notify.hooks import on_ticket_event
from server.notify.metrics import NotifyMetrics
from server.notify.models import Notification, NotificationStatus
from server.notify.queue import claim, enqueue, mark_sent
from server.notify.worker import NotificationWorker
from tests.peers.notify_sinks import SilentListener, SmtpSink, WebhookSink, closed_port, wait_until

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    migrate.upgrade(database_url=database_url)
    eng = make_engine(database_url)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def webhook() -> Iterator[WebhookSink]:
    with WebhookSink() as sink:
        yield sink


def make_config(channels: dict[str, dict[str, str]], **delivery: Any) -> NotifyConfig:
    return parse_notify_config(
        {
            "contacts": {name: {"channels": ch} for name, ch in channels.items()},
            "teams": {"north": {"members": list(channels), "sites": [10]}},
            "delivery": {"backoff_base_seconds": 30, "backoff_max_seconds": 600, **delivery},
        }
    )


def rows(engine: Engine) -> list[Notification]:
    with write_session(engine) as session:
        return list(session.scalars(select(Notification).order_by(Notification.id)))


class Clock:
    """The worker's `now`, moved by the test (backoff without sleeping)."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def facts(ticket_id: int = 1, **kw: Any) -> TicketFacts:
    base: dict[str, Any] = {
        "ticket_id": ticket_id,
        "client_id": 7,
        "site_id": 10,
        "severity": "general",
        "title": "camera-12: device.unreachable",
        "assignee": "alice",
        "site_name": "HQ",
        "timezone": "Asia/Shanghai",
    }
    base.update(kw)
    return TicketFacts(**base)


async def test_opened_ticket_reaches_the_technician_by_mail_and_webhook(
    engine: Engine, smtp: SmtpSink, webhook: WebhookSink
) -> None:
    config = make_config(
        {
            "alice": {
                "email": smtp.apprise_url("alice@example.test"),
                "hook": webhook.apprise_url("alice"),
            }
        }
    )
    with write_session(engine) as session:
        assert on_ticket_event(session, 1, "opened", facts=facts(), config=config, now=T0) == 2
    with write_session(engine) as session:  # the same decision again: nothing new
        assert on_ticket_event(session, 1, "opened", facts=facts(), config=config, now=T0) == 0

    worker = NotificationWorker(engine, lambda: config, clock=Clock(T0), worker_id="w1")
    assert await worker.run_once() == 2

    assert len(smtp.mails) == 1
    mail = smtp.mails[0]
    assert mail.rcpt_tos == ["alice@example.test"]
    assert "New ticket: #1 camera-12: device.unreachable" in mail.subject
    assert "Site: HQ" in mail.text()
    assert [h.path for h in webhook.hooks] == ["/alice"]
    assert "New ticket" in webhook.hooks[0].payload["title"]
    assert "Assigned: alice" in webhook.hooks[0].payload["message"]
    assert [(r.status, r.attempts, r.sent_at) for r in rows(engine)] == [("sent", 1, T0)] * 2
    assert await worker.run_once() == 0  # nothing is sent twice


async def test_refused_channel_is_retried_with_backoff_and_the_good_one_still_goes(
    engine: Engine, webhook: WebhookSink
) -> None:
    refused = f"json://127.0.0.1:{closed_port()}/nobody"
    config = make_config(
        {"bob": {"bad": refused, "good": webhook.apprise_url("bob")}}, max_attempts=3
    )
    with write_session(engine) as session:
        on_ticket_event(session, 2, "opened", facts=facts(2, assignee="bob"), config=config, now=T0)
    clock = Clock(T0)
    registry = CollectorRegistry()
    metrics = NotifyMetrics(registry, engine)
    worker = NotificationWorker(
        engine, lambda: config, clock=clock, worker_id="w1", metrics=metrics
    )

    assert await worker.run_once() == 2
    assert [h.path for h in webhook.hooks] == ["/bob"]
    by_channel = {r.channel: r for r in rows(engine)}
    bad = by_channel["bad"]
    assert by_channel["good"].status == NotificationStatus.SENT
    assert (bad.status, bad.attempts) == (NotificationStatus.PENDING, 1)
    assert bad.next_attempt_at == T0 + timedelta(seconds=30)
    assert "connection" in (bad.last_error or "").lower()

    assert await worker.run_once() == 0  # not due yet
    clock.now = T0 + timedelta(seconds=30)
    assert await worker.run_once() == 1
    bad = {r.channel: r for r in rows(engine)}["bad"]
    assert (bad.attempts, bad.next_attempt_at) == (2, clock.now + timedelta(seconds=60))
    clock.now += timedelta(seconds=60)
    assert await worker.run_once() == 1
    bad = {r.channel: r for r in rows(engine)}["bad"]
    assert (bad.status, bad.attempts) == (NotificationStatus.FAILED, 3)  # gave up after max
    clock.now += timedelta(days=1)
    assert await worker.run_once() == 0
    assert len(webhook.hooks) == 1

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    outcomes = {
        r: value("secmon_notification_deliveries_total", result=r)
        for r in ("sent", "retry", "failed")
    }
    assert outcomes == {"sent": 1.0, "retry": 2.0, "failed": 1.0}
    assert value("secmon_notifications", status="sent") == 1.0
    assert value("secmon_notifications", status="failed") == 1.0
    assert value("secmon_notifications", status="pending") == 0.0


async def test_a_hung_channel_does_not_hold_up_the_others(
    engine: Engine, webhook: WebhookSink
) -> None:
    with SilentListener() as silent:
        config = make_config(
            {
                "hung": {"hook": f"json://127.0.0.1:{silent.port}/x"},
                "carol": {"hook": webhook.apprise_url("carol")},
            },
            timeout_seconds=20,
            lease_seconds=60,
            poll_seconds=0.05,
        )
        intents = [
            NotificationIntent(f"k-{name}", 3, "opened", name, "hook", f"to {name}", "body")
            for name in ("hung", "carol")
        ]
        with write_session(engine) as session:
            enqueue(session, intents, now=T0, max_attempts=3)
        worker = NotificationWorker(engine, lambda: config, worker_id="w1")
        task = asyncio.create_task(worker.run())
        try:

            def carol_sent() -> bool:
                return any(r.contact == "carol" and r.status == "sent" for r in rows(engine))

            arrived = await asyncio.to_thread(wait_until, carol_sent)
            # Carol's message is through while the hung one is still waiting for an answer.
            states = {r.contact: r.status for r in rows(engine)}
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert arrived
    assert webhook.titles() == ["to carol"]
    assert states == {"carol": NotificationStatus.SENT, "hung": NotificationStatus.SENDING}


async def test_unknown_channel_fails_without_retrying(engine: Engine) -> None:
    config = make_config({"alice": {"hook": "json://127.0.0.1:9/x"}})
    intent = NotificationIntent("k-gone", 4, "opened", "gone", "email", "t", "b")
    with write_session(engine) as session:
        enqueue(session, [intent], now=T0, max_attempts=5)
    worker = NotificationWorker(engine, lambda: config, clock=Clock(T0), worker_id="w1")
    assert await worker.run_once() == 1
    [row] = rows(engine)
    assert (row.status, row.attempts) == (NotificationStatus.FAILED, 1)
    assert row.last_error == "no channel 'email' for contact 'gone'"


def test_a_rolled_back_ticket_change_queues_nothing(engine: Engine) -> None:
    config = make_config({"alice": {"hook": "json://127.0.0.1:9/x"}})
    queued = []

    def change_ticket_then_fail() -> None:
        with write_session(engine) as s:
            queued.append(on_ticket_event(s, 5, "opened", facts=facts(5), config=config, now=T0))
            raise RuntimeError("ticket insert failed")

    with pytest.raises(RuntimeError, match="ticket insert failed"):
        change_ticket_then_fail()
    assert queued == [1]
    assert rows(engine) == []


def test_an_expired_lease_is_claimed_again_and_the_late_worker_cannot_overwrite(
    engine: Engine,
) -> None:
    intent = NotificationIntent("k-lease", 6, "opened", "alice", "hook", "t", "b")
    with write_session(engine) as session:
        enqueue(session, [intent], now=T0, max_attempts=5)
    lease = timedelta(seconds=120)
    [first] = claim(engine, worker_id="a", now=T0, limit=10, lease=lease)
    assert (
        claim(engine, worker_id="b", now=T0 + timedelta(seconds=119), limit=10, lease=lease) == []
    )
    [second] = claim(engine, worker_id="b", now=T0 + lease, limit=10, lease=lease)
    assert (first.attempt, second.attempt) == (1, 2)
    assert not mark_sent(engine, first, worker_id="a", now=T0 + lease)
    assert mark_sent(engine, second, worker_id="b", now=T0 + lease)
    [row] = rows(engine)
    assert (row.status, row.claimed_by) == (NotificationStatus.SENT, "b")


async def test_two_workers_deliver_each_notification_exactly_once(database_url: str) -> None:
    migrate.upgrade(database_url=database_url)
    engines = [make_engine(database_url) for _ in range(2)]
    count = 40
    with WebhookSink(delay=0.02) as sink:
        config = make_config(
            {"alice": {"hook": sink.apprise_url("alice")}}, concurrency=4, poll_seconds=0.05
        )
        intents = [
            NotificationIntent(f"k-{i}", i, "opened", "alice", "hook", f"message {i}", "b")
            for i in range(count)
        ]
        with write_session(engines[0]) as session:
            assert enqueue(session, intents, now=T0, max_attempts=3) == count
        workers = [
            NotificationWorker(eng, lambda: config, worker_id=f"w{n}")
            for n, eng in enumerate(engines)
        ]
        tasks = [asyncio.create_task(w.run()) for w in workers]
        try:

            def all_sent() -> bool:
                return all(r.status == NotificationStatus.SENT for r in rows(engines[0]))

            assert await asyncio.to_thread(wait_until, all_sent, timeout=120)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for eng in engines:
                eng.dispose()
        titles = sink.titles()
    assert sorted(titles) == sorted(f"message {i}" for i in range(count))  # each exactly once
    check = make_engine(database_url)
    try:
        final = rows(check)
    finally:
        check.dispose()
    assert {r.attempts for r in final} == {1}  # no row was delivered twice
    assert {r.claimed_by for r in final} <= {"w0", "w1"}


def test_two_replicas_deciding_the_same_stage_at_once_queue_it_once(database_url: str) -> None:
    migrate.upgrade(database_url=database_url)
    engines = [make_engine(database_url) for _ in range(2)]
    config = make_config({"alice": {"a": "json://127.0.0.1:9/a", "b": "json://127.0.0.1:9/b"}})
    barrier = threading.Barrier(2)
    results: list[int] = []

    # PostgreSQL: both transactions are open before either inserts, so the unique index decides.
    # SQLite: the write lock serialises whole transactions (BEGIN IMMEDIATE), so meet before it.
    inside = engines[0].dialect.name == "postgresql"

    def replica(engine: Engine) -> None:
        if not inside:
            barrier.wait()
        with write_session(engine) as session:
            if inside:
                barrier.wait()
            results.append(
                on_ticket_event(session, 8, "opened", facts=facts(8), config=config, now=T0)
            )

    try:
        threads = [threading.Thread(target=replica, args=(eng,)) for eng in engines]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(results) == [0, 2]  # one replica inserted both channels, the other nothing
        assert len(rows(engines[0])) == 2
    finally:
        for eng in engines:
            eng.dispose()


async def test_stopping_the_worker_lets_a_delivery_under_way_finish(engine: Engine) -> None:
    with WebhookSink(delay=1.0) as slow:
        config = make_config({"alice": {"hook": slow.apprise_url("alice")}}, poll_seconds=0.05)
        intent = NotificationIntent("k-grace", 11, "opened", "alice", "hook", "t", "b")
        with write_session(engine) as session:
            enqueue(session, [intent], now=T0, max_attempts=3)
        # A grace far above the receiver's 1 s, so a loaded machine cannot turn this into a
        # test of speed; the point is that the delivery finishes instead of being dropped.
        worker = NotificationWorker(
            engine, lambda: config, worker_id="w1", shutdown_grace_seconds=60.0
        )
        task = asyncio.create_task(worker.run())

        def claimed() -> bool:
            return [r.status for r in rows(engine)] == [NotificationStatus.SENDING]

        assert await asyncio.to_thread(wait_until, claimed)
        task.cancel()  # as on SIGTERM, while the receiver is still answering
        await asyncio.gather(task, return_exceptions=True)
    [row] = rows(engine)
    assert (row.status, row.attempts) == (NotificationStatus.SENT, 1)
    assert slow.titles() == ["t"]
