"""Raw-sample retention: delete samples older than the retention, in small chunks.

Sample ids are UUIDv7 (time-ordered), so the delete walks the primary key instead of needing
an index on ts. Several replicas may run it: on PostgreSQL an advisory lock lets one work while
the others skip; on SQLite the write lock serialises them. Deleting is idempotent either way.
"""

import logging
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import Engine, delete, select, text

from server.db import write_transaction
from server.models import SampleRow

log = logging.getLogger(__name__)
CHUNK = 10_000
ADVISORY_LOCK_KEY = 0x5EC0_0001


def uuid7_floor(moment: datetime) -> UUID:
    """The smallest UUIDv7 of `moment`'s millisecond: ids below it were made before it."""
    ms = int(moment.timestamp() * 1000)
    return UUID(int=(ms << 80) | (0x7 << 76) | (0b10 << 62))


def prune_samples(*, engine: Engine, retention: timedelta, now: datetime) -> int:
    """Delete samples older than `retention`; returns how many went (0 if another replica ran)."""
    cutoff = now - retention
    floor = uuid7_floor(cutoff)
    with engine.connect() as lock_conn:
        if engine.dialect.name == "postgresql":
            got = lock_conn.scalar(
                text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY}
            )
            lock_conn.commit()
            if not got:
                log.info("retention: another replica is pruning, skipping")
                return 0
        try:
            total = 0
            while True:
                chunk = (
                    select(SampleRow.id)
                    .where(SampleRow.id < floor, SampleRow.ts < cutoff)
                    .limit(CHUNK)
                    .scalar_subquery()
                )
                with write_transaction(engine) as conn:
                    deleted = conn.execute(
                        delete(SampleRow).where(SampleRow.id.in_(chunk))
                    ).rowcount
                total += deleted
                if deleted < CHUNK:
                    break
        finally:
            if engine.dialect.name == "postgresql":
                lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_KEY})
                lock_conn.commit()
    if total:
        log.info("retention: deleted %d samples older than %s", total, cutoff.isoformat())
    return total
