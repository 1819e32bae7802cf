"""Durable outbox: every sample lands in SQLite (WAL) before anything is sent.

It survives kill -9 and restarts, and is bounded in bytes: only when full does it drop the oldest
samples, and every drop is counted persistently and logged. Schema (read by the e2e tests):

    samples(seq INTEGER PRIMARY KEY AUTOINCREMENT, sample_id TEXT, device_id TEXT,
            created_at REAL  -- unix seconds, size INTEGER  -- bytes of body, body TEXT  -- JSON)
    meta(key TEXT PRIMARY KEY, value TEXT)  -- dropped_total, rejected_total,
                                            -- quarantined_total, inventory_hash
    quarantine(seq INTEGER PRIMARY KEY, sample_id TEXT, device_id TEXT, created_at REAL,
               size INTEGER, body TEXT, reason TEXT, quarantined_at REAL)
        -- samples the server failed on again and again: kept, out of the queue's way

`sqlite_sequence` keeps the highest seq ever handed out, i.e. the total ever enqueued.
"""

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from wire.schema import Sample

log = logging.getLogger(__name__)

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS samples (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    sample_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    size INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS quarantine (
    seq INTEGER PRIMARY KEY,
    sample_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    size INTEGER NOT NULL,
    body TEXT NOT NULL,
    reason TEXT NOT NULL,
    quarantined_at REAL NOT NULL
);
"""

DROPPED_TOTAL = "dropped_total"
REJECTED_TOTAL = "rejected_total"
QUARANTINED_TOTAL = "quarantined_total"
INVENTORY_HASH = "inventory_hash"


@dataclass(frozen=True)
class Pending:
    """One unsent sample as stored: its queue position and its JSON body."""

    seq: int
    device_id: str
    body: str
    sample_id: str = ""


@dataclass(frozen=True)
class OutboxStats:
    depth: int
    bytes: int
    oldest_age: float | None
    dropped_total: int
    rejected_total: int
    quarantined: int = 0  # samples held in the quarantine table now


class Outbox:
    """Synchronous, thread-safe core; the event loop uses it through `AsyncOutbox`."""

    def __init__(
        self, path: Path, *, max_bytes: int, clock: Callable[[], float] = time.time
    ) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be > 0")
        self.path = path
        self.max_bytes = max_bytes
        self._clock = clock
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per call.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed sample survives power loss too, not only a crash of this process.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        row = self._db.execute("SELECT COALESCE(SUM(size), 0) FROM samples").fetchone()
        self._bytes = int(row[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def put(self, samples: Sequence[Sample]) -> int:
        """Store samples (oldest dropped when over the bound); returns how many were dropped."""
        rows = []
        now = self._clock()
        for sample in samples:
            body = sample.model_dump_json()
            rows.append((str(sample.id), sample.device_id, now, len(body.encode()), body))
        if not rows:
            return 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO samples(sample_id, device_id, created_at, size, body)"
                    " VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
                added = sum(r[3] for r in rows)
                dropped, freed = self._drop_oldest_over_bound(self._bytes + added)
                if dropped:
                    self._bump(DROPPED_TOTAL, dropped)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._bytes += added - freed
        if dropped:
            log.warning(
                "outbox full: dropped %d oldest samples (bound %d bytes)",
                dropped,
                self.max_bytes,
                extra={"dropped": dropped},
            )
        return dropped

    def _drop_oldest_over_bound(self, total: int) -> tuple[int, int]:
        """Delete the oldest rows until the stored bytes fit; returns (rows, bytes) removed."""
        if total <= self.max_bytes:
            return 0, 0
        excess = total - self.max_bytes
        freed = 0
        last_seq = None
        count = 0
        cur = self._db.execute("SELECT seq, size FROM samples ORDER BY seq")
        try:
            for seq, size in cur:
                freed += size
                count += 1
                last_seq = seq
                if freed >= excess:
                    break
        finally:
            cur.close()
        if last_seq is not None:
            self._db.execute("DELETE FROM samples WHERE seq <= ?", (last_seq,))
        return count, freed

    def peek(self, limit: int) -> list[Pending]:
        """The oldest `limit` unsent samples, in the order they were put."""
        with self._lock:
            cur = self._db.execute(
                "SELECT seq, device_id, body, sample_id FROM samples ORDER BY seq LIMIT ?",
                (limit,),
            )
            return [Pending(seq=s, device_id=d, body=b, sample_id=i) for s, d, b, i in cur]

    def ack(self, seqs: Iterable[int]) -> int:
        """The server stored these: forget them."""
        return self._delete(list(seqs), counter=None)

    def reject(self, seqs: Iterable[int], reason: str) -> int:
        """The server refuses these for good (poison): forget them, counted and logged."""
        seq_list = list(seqs)
        removed = self._delete(seq_list, counter=REJECTED_TOTAL)
        if removed:
            log.error(
                "server rejected %d samples, dropped from outbox: %s",
                removed,
                reason,
                extra={"rejected": removed},
            )
        return removed

    def quarantine(self, seqs: Iterable[int], reason: str) -> int:
        """The server keeps failing on these: move them aside (kept on disk, counted, logged) so
        the samples behind them flow again. An operator can read them back from the file."""
        seq_list = list(seqs)
        if not seq_list:
            return 0
        marks = ",".join("?" * len(seq_list))
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO quarantine(seq, sample_id, device_id, created_at, size,"
                    f" body, reason, quarantined_at) SELECT seq, sample_id, device_id, created_at,"
                    f" size, body, ?, ? FROM samples WHERE seq IN ({marks})",
                    [reason, self._clock(), *seq_list],
                )
                moved = int(self._db.execute("SELECT changes()").fetchone()[0])
                row = self._db.execute(
                    f"SELECT COALESCE(SUM(size), 0) FROM samples WHERE seq IN ({marks})", seq_list
                ).fetchone()
                self._db.execute(f"DELETE FROM samples WHERE seq IN ({marks})", seq_list)
                if moved:
                    self._bump(QUARANTINED_TOTAL, moved)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._bytes -= int(row[0])
        if moved:
            log.error(
                "server keeps failing on %d samples; quarantined in the outbox: %s",
                moved,
                reason,
                extra={"quarantined": moved},
            )
        return moved

    def quarantined(self) -> int:
        """Samples held in quarantine now."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0])

    def quarantined_total(self) -> int:
        return int(self.get_meta(QUARANTINED_TOTAL) or 0)

    def _delete(self, seqs: list[int], *, counter: str | None) -> int:
        if not seqs:
            return 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                removed = 0
                freed = 0
                for start in range(0, len(seqs), 500):
                    chunk = seqs[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    row = self._db.execute(
                        f"SELECT COUNT(*), COALESCE(SUM(size), 0) FROM samples"
                        f" WHERE seq IN ({marks})",
                        chunk,
                    ).fetchone()
                    removed += int(row[0])
                    freed += int(row[1])
                    self._db.execute(f"DELETE FROM samples WHERE seq IN ({marks})", chunk)
                if counter is not None and removed:
                    self._bump(counter, removed)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._bytes -= freed
            return removed

    def _bump(self, key: str, by: int) -> None:
        self._db.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + excluded.value",
            (key, str(by)),
        )

    def depth(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM samples").fetchone()[0])

    def bytes(self) -> int:
        """Stored sample bytes (what the bound applies to; the file is somewhat larger)."""
        with self._lock:
            return self._bytes

    def oldest_age(self) -> float | None:
        """Seconds the oldest unsent sample has waited, or None when empty."""
        with self._lock:
            row = self._db.execute("SELECT MIN(created_at) FROM samples").fetchone()
        return None if row[0] is None else max(0.0, self._clock() - float(row[0]))

    def total_enqueued(self) -> int:
        """Samples ever put, across restarts (sqlite_sequence keeps the highest seq)."""
        with self._lock:
            row = self._db.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'samples'"
            ).fetchone()
        return 0 if row is None else int(row[0])

    def dropped_total(self) -> int:
        return int(self.get_meta(DROPPED_TOTAL) or 0)

    def rejected_total(self) -> int:
        return int(self.get_meta(REJECTED_TOTAL) or 0)

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def stats(self) -> OutboxStats:
        return OutboxStats(
            depth=self.depth(),
            bytes=self.bytes(),
            oldest_age=self.oldest_age(),
            dropped_total=self.dropped_total(),
            rejected_total=self.rejected_total(),
            quarantined=self.quarantined(),
        )


class AsyncOutbox:
    """The outbox for coroutines: each call runs in a worker thread, off the event loop."""

    def __init__(self, outbox: Outbox) -> None:
        self.sync = outbox

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.to_thread(fn, *args)

    async def put(self, samples: Sequence[Sample]) -> int:
        return await self._run(self.sync.put, samples)

    async def peek(self, limit: int) -> list[Pending]:
        return await self._run(self.sync.peek, limit)

    async def ack(self, seqs: Iterable[int]) -> int:
        return await self._run(self.sync.ack, list(seqs))

    async def reject(self, seqs: Iterable[int], reason: str) -> int:
        return await self._run(self.sync.reject, list(seqs), reason)

    async def quarantine(self, seqs: Iterable[int], reason: str) -> int:
        return await self._run(self.sync.quarantine, list(seqs), reason)

    async def depth(self) -> int:
        return await self._run(self.sync.depth)

    async def oldest_age(self) -> float | None:
        return await self._run(self.sync.oldest_age)

    async def get_meta(self, key: str) -> str | None:
        return await self._run(self.sync.get_meta, key)

    async def set_meta(self, key: str, value: str) -> None:
        await self._run(self.sync.set_meta, key, value)

    async def stats(self) -> OutboxStats:
        return await self._run(self.sync.stats)

    async def close(self) -> None:
        await self._run(self.sync.close)
