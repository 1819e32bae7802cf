"""The durable queue between ingest and detection (`detect_queue`).

Ingest adds one row per batch in the batch's own transaction: the site, when it was received,
the span of its samples' times and its devices. The detector reads all of a site's rows and
their samples outside the write transaction (their batches merge into one detection), then in
the write transaction takes exactly those rows (deletes them, or gives up if another replica
was first) and detects, so the rows go with the commit that records the result and a crash
anywhere loses no batch. On PostgreSQL a site is taken with a transaction-scoped try-lock on
the site (the lock detection holds anyway), so each replica's detector takes the sites no
other one is on.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select
from sqlalchemy.orm import Session

from server.faults.detection import StoredSample, observations
from server.faults.records import LOCK_NAMESPACE
from server.faults.rules import Observation, Reported
from server.models import detect_queue, samples


@dataclass(frozen=True, slots=True)
class Span:
    """What one batch brought: its samples' times and devices."""

    ts_from: datetime
    ts_to: datetime
    devices: list[int]


def span_of(times_by_device: Mapping[int, Iterable[datetime]]) -> Span | None:
    times = [t for ts in times_by_device.values() for t in ts]
    if not times:
        return None
    return Span(min(times), max(times), sorted(times_by_device))


def enqueue(conn: Connection, *, site_id: int, received_at: datetime, span: Span) -> None:
    conn.execute(
        insert(detect_queue).values(
            site_id=site_id,
            received_at=received_at,
            ts_from=span.ts_from,
            ts_to=span.ts_to,
            devices=span.devices,
        )
    )


def waiting_sites(conn: Connection | Session) -> list[int]:
    """Sites with queued batches, the longest waiting first."""
    rows = conn.execute(
        select(detect_queue.c.site_id)
        .group_by(detect_queue.c.site_id)
        .order_by(func.min(detect_queue.c.id))
    )
    return [int(r.site_id) for r in rows]


@dataclass(frozen=True, slots=True)
class Claim:
    """A site's queued batches, merged: each device's observations, oldest first."""

    site_id: int
    ids: list[int]  # the queue rows
    observed: dict[int, list[Observation | Reported]]


class ClaimLostError(Exception):
    """Another replica holds the site, or took some of its batches since they were read."""


def peek(conn: Connection, site_id: int) -> Claim | None:
    """The site's queued batches and their samples, read without the write lock (SQLite's
    one writer is held only while detection writes); None when there are none."""
    rows = conn.execute(
        select(detect_queue).where(detect_queue.c.site_id == site_id).order_by(detect_queue.c.id)
    ).all()
    if not rows:
        return None
    devices = sorted({d for r in rows for d in r.devices})
    found = conn.execute(
        select(
            samples.c.device_id,
            samples.c.ts,
            samples.c.reachable,
            samples.c.error_code,
            samples.c.checks,
            samples.c.events,
            samples.c.events_only,
        ).where(
            samples.c.device_id.in_(devices),
            samples.c.ts.between(min(r.ts_from for r in rows), max(r.ts_to for r in rows)),
            samples.c.received_at.in_(sorted({r.received_at for r in rows})),
        )
    ).all()
    by_device: dict[int, list[StoredSample]] = defaultdict(list)
    for row in found:
        by_device[row.device_id].append(row)
    observed = {d: observations(rs) for d, rs in by_device.items()}
    return Claim(site_id, [r.id for r in rows], observed)


def take(session: Session, work: Claim) -> None:
    """Own the peeked batches in the detection's transaction: their rows go with its commit.
    Raises ClaimLostError (the transaction must roll back) if another replica was first."""
    if session.get_bind().dialect.name == "postgresql" and not session.scalar(
        select(func.pg_try_advisory_xact_lock(LOCK_NAMESPACE, work.site_id))
    ):
        raise ClaimLostError(work.site_id)
    deleted = session.connection().execute(
        delete(detect_queue).where(detect_queue.c.id.in_(work.ids))
    )
    if deleted.rowcount != len(work.ids):
        raise ClaimLostError(work.site_id)
