"""The durable queue: enqueue (idempotent by dedupe key), claim due rows, record outcomes.

Claiming is exclusive: on PostgreSQL `SELECT … FOR UPDATE SKIP LOCKED` lets several workers
(replicas) take disjoint rows at once; on SQLite the transaction starts with BEGIN IMMEDIATE, so
claims are serialised by the database's write lock. A claim is a lease: a row whose worker died
mid-delivery is claimed again once the lease runs out (at-least-once in that one case).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, Engine, and_, or_, select, update
from sqlalchemy.orm import Session

from server.db import insert_for, write_transaction
from server.notify.escalation import NotificationIntent
from server.notify.models import Notification, NotificationStatus, notifications

ERROR_LIMIT = 1000


def enqueue(
    session_or_conn: Session | Connection,
    intents: Iterable[NotificationIntent],
    *,
    now: datetime,
    max_attempts: int,
) -> int:
    """Insert the intents inside the caller's transaction; returns how many were new."""
    conn = session_or_conn.connection() if isinstance(session_or_conn, Session) else session_or_conn
    inserted = 0
    for intent in intents:
        stmt = (
            insert_for(conn, notifications)
            .values(
                dedupe_key=intent.dedupe_key,
                ticket_id=intent.ticket_id,
                event=intent.event,
                contact=intent.contact,
                channel=intent.channel,
                title=intent.title,
                body=intent.body,
                status=NotificationStatus.PENDING.value,
                attempts=0,
                max_attempts=max_attempts,
                next_attempt_at=now,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(notifications.c.id)
        )
        # RETURNING gives a row only for a real insert (rowcount is not reliable on psycopg here)
        inserted += conn.execute(stmt).first() is not None
    return inserted


@dataclass(frozen=True)
class Claimed:
    """A row this worker holds until `lease_until`; `attempt` counts this delivery."""

    id: int
    dedupe_key: str
    contact: str
    channel: str
    title: str
    body: str
    attempt: int
    max_attempts: int


def claim(
    engine: Engine, *, worker_id: str, now: datetime, limit: int, lease: timedelta
) -> list[Claimed]:
    """Take up to `limit` due rows (pending and due, or sending with an expired lease)."""
    if limit <= 0:
        return []
    n = Notification
    due = or_(
        and_(n.status == NotificationStatus.PENDING.value, n.next_attempt_at <= now),
        and_(n.status == NotificationStatus.SENDING.value, n.lease_until <= now),
    )
    query = (
        select(
            n.id, n.dedupe_key, n.contact, n.channel, n.title, n.body, n.attempts, n.max_attempts
        )
        .where(due)
        .order_by(n.next_attempt_at, n.id)
        .limit(limit)
    )
    # A plain read first: on SQLite it takes no write lock, so an idle queue never holds up ingest.
    with engine.connect() as reader:
        if reader.execute(select(n.id).where(due).limit(1)).first() is None:
            return []
    with write_transaction(engine) as conn:
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = conn.execute(query).all()
        if not rows:
            return []
        conn.execute(
            update(n)
            .where(n.id.in_([r.id for r in rows]))
            .values(
                status=NotificationStatus.SENDING.value,
                claimed_by=worker_id,
                lease_until=now + lease,
                attempts=n.attempts + 1,
            )
        )
    return [
        Claimed(
            id=r.id,
            dedupe_key=r.dedupe_key,
            contact=r.contact,
            channel=r.channel,
            title=r.title,
            body=r.body,
            attempt=r.attempts + 1,
            max_attempts=r.max_attempts,
        )
        for r in rows
    ]


def retry_delay(attempt: int, *, base: float, maximum: float) -> timedelta:
    """Exponential backoff: base, 2 base, 4 base ... capped at `maximum` seconds."""
    return timedelta(seconds=min(maximum, base * 2 ** max(0, attempt - 1)))


def _still_mine(item: Claimed, worker_id: str) -> ColumnElement[bool]:
    n = Notification
    return and_(
        n.id == item.id,
        n.claimed_by == worker_id,
        n.status == NotificationStatus.SENDING.value,
    )


def mark_sent(engine: Engine, item: Claimed, *, worker_id: str, now: datetime) -> bool:
    """Record a delivery; False if the lease was lost to another worker meanwhile."""
    with write_transaction(engine) as conn:
        done = conn.execute(
            update(Notification)
            .where(_still_mine(item, worker_id))
            .values(
                status=NotificationStatus.SENT.value,
                sent_at=now,
                lease_until=None,
                last_error=None,
            )
        ).rowcount
    return bool(done)


def mark_failed(
    engine: Engine,
    item: Claimed,
    *,
    worker_id: str,
    now: datetime,
    error: str,
    permanent: bool,
    backoff_base: float,
    backoff_max: float,
) -> NotificationStatus:
    """Record a failed attempt: retry later with backoff, or give up after the last attempt."""
    give_up = permanent or item.attempt >= item.max_attempts
    status = NotificationStatus.FAILED if give_up else NotificationStatus.PENDING
    delay = retry_delay(item.attempt, base=backoff_base, maximum=backoff_max)
    with write_transaction(engine) as conn:
        conn.execute(
            update(Notification)
            .where(_still_mine(item, worker_id))
            .values(
                status=status.value,
                next_attempt_at=now if give_up else now + delay,
                lease_until=None,
                last_error=error[:ERROR_LIMIT],
            )
        )
    return status
