"""Fault detection off the request path, in every server replica.

Ingest commits a batch with a row in the detection queue (`faults.queue`) and wakes this
process's `Detector`; the detector drains the queue site by site, each site's queued batches
merged into one detection whose changes ticket intake acts on in the same transaction.
Other replicas' batches are found by polling the queue. The periodic sweep does the
time-based work: agents gone quiet, held faults, quiet-close of recovered tickets, SLA ticks.
"""

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from server.db import write_session
from server.faults.agents import agent_changes
from server.faults.changes import AgentOffline, FaultChange, IncidentOpened, Opened, Recovered
from server.faults.engine import KNOWN_CODES, Detection, FaultSettings
from server.faults.queue import Claim, ClaimLostError, peek, take, waiting_sites
from server.faults.records import try_sweep_lock
from server.models import detect_queue
from server.tickets.aging import close_quiet, reopen_still_down, tick_open
from server.tickets.intake import Intake, agent_offline_ticket, recover, release_held
from server.tickets.service import SettingsLookup

log = logging.getLogger(__name__)
RETRIES = 3
# How often the sweep lets escalation look at open tickets' SLA clocks (near-breach, breach).
TICK_EVERY = timedelta(seconds=30)
# How often the queue is looked at without a wake-up (batches another replica committed).
POLL_SECONDS = 1.0


@dataclass
class Outcome:
    """What one drain or sweep did (for logs, metrics and tests)."""

    opened: list[int] = field(default_factory=list)  # episode ids
    recovered: list[int] = field(default_factory=list)
    tickets_created: list[int] = field(default_factory=list)
    tickets_closed: list[int] = field(default_factory=list)
    tickets_reopened: list[int] = field(default_factory=list)

    def record(self, change: FaultChange) -> None:
        if isinstance(change, Opened | AgentOffline):
            self.opened.append(change.episode.id)
        elif isinstance(change, IncidentOpened):
            self.opened.append(change.incident.id)
        elif isinstance(change, Recovered):
            self.recovered.append(change.episode.id)

    def add(self, other: "Outcome") -> None:
        self.opened += other.opened
        self.recovered += other.recovered
        self.tickets_created += other.tickets_created
        self.tickets_closed += other.tickets_closed
        self.tickets_reopened += other.tickets_reopened


def _retrying(engine: Engine, work: Callable[[Session], Outcome]) -> Outcome:
    """Run `work` in a write transaction; a lost race on a unique key is retried from scratch."""
    for attempt in range(RETRIES):
        try:
            with write_session(engine) as session:
                return work(session)
        except IntegrityError:
            if attempt == RETRIES - 1:
                raise
            log.info("faults: lost a race on an open key, retrying")
    raise AssertionError("unreachable")


def detect(*, session: Session, work: Claim, now: datetime, settings: FaultSettings) -> Outcome:
    """One site's merged batches through detection, and its changes through ticket intake."""
    lookup = SettingsLookup(session, KNOWN_CODES)
    detection = Detection(session, work.site_id, settings, now, lambda c: lookup(c).severity)
    intake = Intake(
        session,
        site=detection.site,
        devices=detection.devices,
        settings=settings,
        lookup=lookup,
        now=now,
    )
    intake.preload(detection.load([d for d in work.observed if d in detection.devices]))
    out = Outcome()
    for change in detection.run(work.observed):
        out.record(change)
        intake.apply(change)
    for change in detection.incident(intake.unlinked_outages()):
        out.record(change)
        intake.apply(change)
    intake.finish()
    out.tickets_created, out.tickets_closed = intake.created, intake.closed
    return out


def evaluate(*, engine: Engine, work: Claim, now: datetime, settings: FaultSettings) -> Outcome:
    """`detect` in its own write transaction (the site's batches already taken)."""
    return _retrying(engine, lambda s: detect(session=s, work=work, now=now, settings=settings))


def drain(*, engine: Engine, settings: FaultSettings, now: datetime | None = None) -> Outcome:
    """Detection for every site with queued batches. A site whose detection fails is logged and
    its batches dropped: the samples are stored, and the tracks carry on with later batches.
    A busy or unreachable database leaves the batches queued for the next round."""
    total = Outcome()
    with engine.connect() as conn:
        sites = waiting_sites(conn)
    for site_id in sites:
        with engine.connect() as conn:
            found = peek(conn, site_id)
        if found is None:
            continue
        try:
            total.add(_retrying(engine, _taken(found, now, settings)))
        except ClaimLostError:  # another replica is on this site
            continue
        except OperationalError:  # the database is busy or away: the batches stay queued
            log.warning("faults: detection for site %s deferred, database busy", site_id)
            break
        except Exception:  # one site's bad batch must not stop the others' detection
            log.exception("faults: evaluation of a batch for site %s failed; dropped", site_id)
            with write_session(engine) as session:
                session.execute(delete(detect_queue).where(detect_queue.c.id.in_(found.ids)))
    return total


def _taken(
    work: Claim, now: datetime | None, settings: FaultSettings
) -> Callable[[Session], Outcome]:
    def run(session: Session) -> Outcome:
        take(session, work)
        return detect(session=session, work=work, now=now or datetime.now(UTC), settings=settings)

    return run


class _BusyError(Exception):
    """Another replica holds the sweep lock."""


def sweep(
    *, engine: Engine, now: datetime, settings: FaultSettings, tick: bool = False
) -> Outcome | None:
    """Time-based work: agents gone quiet, held faults, recovered tickets past their quiet
    period, resolved tickets whose fault outlasted it, and with `tick` the SLA clocks of open
    tickets (near-breach and breach notifications). Returns None when another replica is
    sweeping."""

    def work(session: Session) -> Outcome:
        if not try_sweep_lock(session):
            raise _BusyError
        out = Outcome()
        lookup = SettingsLookup(session, KNOWN_CODES)
        overrides = lambda client_id: lookup(client_id).severity  # noqa: E731
        for change in agent_changes(
            session=session, now=now, settings=settings, overrides=overrides
        ):
            out.record(change)
            if isinstance(change, AgentOffline):
                ticket = agent_offline_ticket(
                    session=session, change=change, lookup=lookup, now=now
                )
                out.tickets_created += [ticket.id] if ticket is not None else []
            elif isinstance(change, Recovered):
                recover(session=session, episode=change.episode, at=change.at, now=now)
        out.tickets_created += release_held(
            session=session, now=now, settings=settings, lookup=lookup
        )
        out.tickets_closed += close_quiet(session=session, now=now, lookup=lookup)
        out.tickets_reopened += reopen_still_down(session=session, now=now, lookup=lookup)
        if tick:
            tick_open(session=session, now=now, lookup=lookup)
        return out

    try:
        return _retrying(engine, work)
    except _BusyError:
        return None


class Detector:
    """The server process's detection task: woken by ingest, polling as a fallback."""

    def __init__(
        self,
        engine: Engine,
        settings: FaultSettings,
        *,
        sweep_seconds: float,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.sweep_seconds = sweep_seconds
        self.poll_seconds = poll_seconds
        self._last_tick: datetime | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._progress = threading.Condition()
        self._woken = 0  # wake-ups asked for
        self._drained = 0  # wake-ups a finished drain pass had seen before it began

    def wake(self) -> None:
        """A batch was committed (any thread): drain now."""
        with self._progress:
            self._woken += 1
        if self._loop is None:
            self._wake.set()  # before `run` started: its first wait returns at once
        else:
            self._loop.call_soon_threadsafe(self._wake.set)

    def wait_drained(self, timeout: float) -> bool:
        """Until a drain pass that began after the latest wake-up has finished (for tests and
        benchmarks that read tickets right after an ingest answer)."""
        with self._progress:
            target = self._woken
            return self._progress.wait_for(lambda: self._drained >= target, timeout)

    def drain_once(self) -> None:
        with self._progress:
            seen = self._woken
        try:
            drain(engine=self.engine, settings=self.settings)
        except Exception:  # the detector must outlive one bad round (the database away)
            log.exception("faults: draining the detection queue failed, will retry")
        with self._progress:
            self._drained = max(self._drained, seen)
            self._progress.notify_all()

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            self._wake.clear()
            await asyncio.to_thread(self.drain_once)

    def sweep_once(self) -> None:
        now = datetime.now(UTC)
        tick = self._last_tick is None or now - self._last_tick >= TICK_EVERY
        try:
            sweep(engine=self.engine, now=now, settings=self.settings, tick=tick)
            if tick:
                self._last_tick = now
        except Exception:  # the sweep loop must outlive one bad round
            log.exception("faults: sweep failed, will retry next interval")

    async def sweep_periodically(self) -> None:
        while True:
            await asyncio.to_thread(self.sweep_once)
            await asyncio.sleep(self.sweep_seconds)
