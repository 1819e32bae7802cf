"""Fault detection against the database: after each ingest batch, and a periodic sweep.

Safe with several server replicas on one PostgreSQL: every evaluation for a site holds that
site's transaction-scoped advisory lock, the sweep runs on one replica at a time (try-lock),
and the unique `open_key` of episodes and tickets refuses a second open fault or ticket even
if a lock were missed. On SQLite every write transaction holds the database's write lock.
"""

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server.db import write_session
from server.faults.defaults import DEFAULT_SEVERITY, default_rules
from server.faults.detection import IncidentPolicy, observations, paralysed, parents_first
from server.faults.episodes import Change, Step, Track, advance, may_move
from server.faults.rules import FaultCode, Observation, Reported, Rule, RuleSet, severity_for
from server.models import (
    AgentToken,
    Device,
    DeviceState,
    FaultEpisode,
    FaultTrack,
    Site,
    Ticket,
)
from server.sla import Severity
from server.state import DeviceStatus
from server.tickets import service
from server.tickets.notify_link import notify
from server.tickets.service import Actor, SettingsLookup, device_open_key, site_open_key
from server.tickets.states import OPEN_STATES, Channel, TicketKind, TicketState
from wire.enums import DeviceClass
from wire.schema import Sample

log = logging.getLogger(__name__)

LOCK_NAMESPACE = 0x5EC0  # pg_advisory_xact_lock(namespace, site id)
SWEEP_LOCK = (0x5EC1, 0)
ADOPT_SLACK = timedelta(minutes=2)
# A child's fault waits at most this long for its silent parent's next poll.
HOLD_MAX = timedelta(minutes=2)  # a child that failed just before its parent is its consequence
RETRIES = 3
KNOWN_CODES = [c.value for c in FaultCode]


@dataclass(frozen=True)
class FaultSettings:
    rules: RuleSet = field(default_factory=default_rules)
    severity_defaults: Mapping[str, Severity] = field(default_factory=lambda: DEFAULT_SEVERITY)
    incident: IncidentPolicy = field(default_factory=IncidentPolicy)
    agent_offline_after: timedelta = timedelta(minutes=3)

    @property
    def offline_codes(self) -> frozenset[str]:
        return frozenset(r.code.value for r in self.rules.rules if r.service_affecting)


@dataclass
class Outcome:
    """What one evaluation did (for logs, metrics and tests)."""

    opened: list[int] = field(default_factory=list)  # episode ids
    recovered: list[int] = field(default_factory=list)
    tickets_created: list[int] = field(default_factory=list)
    tickets_closed: list[int] = field(default_factory=list)
    tickets_reopened: list[int] = field(default_factory=list)


def _lock_site(session: Session, site_id: int) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(LOCK_NAMESPACE, site_id)))


def _try_sweep_lock(session: Session) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return True  # BEGIN IMMEDIATE already holds SQLite's one write lock
    return bool(session.scalar(select(func.pg_try_advisory_xact_lock(*SWEEP_LOCK))))


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


def evaluate_batch(
    *,
    engine: Engine,
    site_id: int,
    samples_by_device: Mapping[int, Sequence[Sample]],
    now: datetime,
    settings: FaultSettings,
) -> Outcome:
    """Move the fault tracks of these devices by their new samples; open/close episodes."""

    def work(session: Session) -> Outcome:
        return _Evaluation(session, site_id, settings, now).run(samples_by_device)

    return _retrying(engine, work)


class _Evaluation:
    def __init__(self, session: Session, site_id: int, settings: FaultSettings, now: datetime):
        self.s = session
        self.site_id = site_id
        self.settings = settings
        self.now = now
        self.out = Outcome()
        self.lookup = SettingsLookup(session, KNOWN_CODES)
        _lock_site(session, site_id)
        site = session.get(Site, site_id)
        assert site is not None
        self.site = site
        self.devices = {
            d.id: d for d in session.scalars(select(Device).where(Device.site_id == site_id))
        }
        self.by_ext = {d.ext_id: d for d in self.devices.values()}
        self.pending_cameras: list[tuple[Device, FaultEpisode, bool]] = []
        self.open_episodes: dict[str, FaultEpisode] = {}
        self.tickets: dict[int, Ticket] = {}

    # -- the batch -------------------------------------------------------------------------

    def run(self, samples_by_device: Mapping[int, Sequence[Sample]]) -> Outcome:
        ids = [i for i in samples_by_device if i in self.devices]
        tracks: dict[int, dict[str, FaultTrack]] = {}
        for t in self.s.scalars(select(FaultTrack).where(FaultTrack.device_id.in_(ids))):
            tracks.setdefault(t.device_id, {})[t.code] = t
        self._load_open_episodes(ids)
        order = parents_first(
            (i, self.devices[i].ext_id, self.devices[i].parent_ext_id) for i in ids
        )
        rules_of: dict[str, list[Rule]] = {}
        for device_id in order:
            device = self.devices[device_id]
            obs = observations(samples_by_device[device_id])
            if not obs:
                continue
            cls = device.device_class
            if cls not in rules_of:
                rules_of[cls] = self.settings.rules.for_class(cls)
            names = frozenset(n for o in obs if isinstance(o, Observation) for n in o.checks)
            judged = {id(r) for r in self.settings.rules.polled_by(cls, names)}
            reported = any(isinstance(o, Reported) for o in obs)
            rows = tracks.get(device_id, {})
            for rule in rules_of[cls]:
                row = rows.get(rule.code.value) if rows else None
                if row is None and (
                    (id(rule) not in judged and not (reported and rule.events is not None))
                    or not may_move(rule, obs)
                ):
                    continue  # idle, and nothing here can fail it: most rules of most polls
                track = Track.from_json(row.state) if row else Track()
                before = track
                for o in obs:
                    if rule.events is None and isinstance(o, Reported):
                        continue
                    result = advance(track, rule, o)
                    track = result.track
                    if result.change is not None:
                        self._on_change(device, rule, result, o.ts)
                if track != before:
                    self._save_track(row, device_id, rule.code.value, track)
        self._check_incident()
        for device, episode, flapping in self.pending_cameras:
            if episode.parent_episode_id is None and episode.ticket_id is None:
                self._ticket_for(device, episode, flapping=flapping, adopt=True)
                if episode.open_key is None and episode.recovered_at is not None:
                    # Confirmed and recovered within one batch (a backlog from the outbox):
                    # the outage was real, so it gets its ticket, already recovered.
                    close_episode(
                        session=self.s, episode=episode, at=episode.recovered_at, now=self.now
                    )
        return self.out

    def _load_open_episodes(self, device_ids: Sequence[int]) -> None:
        """The batch's devices' open episodes and their tickets in two queries, not one per
        change (a flapping device recurs on every bounce)."""
        found = self.s.scalars(
            select(FaultEpisode).where(
                FaultEpisode.device_id.in_(device_ids), FaultEpisode.open_key.is_not(None)
            )
        ).all()
        self.open_episodes = {e.open_key: e for e in found if e.open_key is not None}
        ticket_ids = {e.ticket_id for e in found if e.ticket_id is not None}
        if ticket_ids:  # held here: the session's identity map keeps only weak references
            tickets = self.s.scalars(select(Ticket).where(Ticket.id.in_(ticket_ids)))
            self.tickets = {t.id: t for t in tickets}

    def _open_episode(self, key: str) -> FaultEpisode | None:
        episode = self.open_episodes.get(key)
        if episode is not None and episode.open_key == key:
            return episode
        return self.s.scalars(select(FaultEpisode).where(FaultEpisode.open_key == key)).first()

    def _save_track(self, row: FaultTrack | None, device_id: int, code: str, track: Track) -> None:
        if track.idle:
            if row is not None:
                self.s.delete(row)
            return
        if row is None:
            self.s.add(
                FaultTrack(
                    device_id=device_id, code=code, state=track.to_json(), updated_at=self.now
                )
            )
        else:
            row.state = track.to_json()
            row.updated_at = self.now

    def _on_change(self, device: Device, rule: Rule, result: Step, ts: datetime) -> None:
        key = device_open_key(device.id, rule.code.value)
        if result.change is Change.OPENED:
            assert result.at is not None
            self._opened(device, rule, key, result, ts)
            return
        episode = self._open_episode(key)
        if episode is None:
            return  # opened before this server tracked episodes; nothing to move
        if result.change is Change.RECURRED:
            episode.occurrences = result.track.occurrences
            episode.last_failing_at = ts
            ticket = self._ticket(episode.ticket_id)
            if ticket is not None and episode.parent_episode_id is None:
                ticket.occurrences += 1
                ticket.updated_at = self.now
        elif result.change is Change.RECOVERED:
            assert result.at is not None
            self._close_episode(episode, result.at)

    # -- opening ---------------------------------------------------------------------------

    def _severity(self, code: str, device_class: str | None) -> str:
        overrides = self.lookup(self.site.client_id).severity
        return severity_for(
            code,
            device_class,
            rules=self.settings.rules,
            defaults=self.settings.severity_defaults,
            overrides=overrides,
        ).value

    def _opened(self, device: Device, rule: Rule, key: str, result: Step, ts: datetime) -> None:
        assert result.at is not None
        episode = FaultEpisode(
            key=key,
            open_key=key,
            site_id=self.site_id,
            device_id=device.id,
            code=rule.code.value,
            severity=self._severity(rule.code.value, device.device_class),
            started_at=result.at,
            confirmed_at=ts,
            last_failing_at=ts,
            occurrences=result.track.occurrences,
            flapping=result.flapping,
        )
        self.s.add(episode)
        self.s.flush()  # IntegrityError here: another replica opened it; the caller retries
        self.open_episodes[key] = episode
        self.out.opened.append(episode.id)
        log.info("fault opened: %s %s since %s", device.ext_id, rule.code.value, result.at)
        if rule.service_affecting and self._suppressed(device, episode):
            return
        if rule.service_affecting and device.device_class == DeviceClass.CAMERA.value:
            # Decided after the whole batch: many cameras of it may make one incident.
            self.pending_cameras.append((device, episode, result.flapping))
            return
        self._ticket_for(device, episode, flapping=result.flapping, adopt=rule.service_affecting)

    def _ticket_for(
        self, device: Device, episode: FaultEpisode, *, flapping: bool, adopt: bool
    ) -> None:
        ticket = service.open_ticket_for_device(
            session=self.s, device_id=device.id, code=episode.code
        )
        if ticket is not None:
            service.attach_episode(
                session=self.s,
                ticket=ticket,
                episode=episode,
                now=self.now,
                note=f"fault {episode.code} confirmed again",
            )
            service.fault_recurred(
                session=self.s, ticket=ticket, now=self.now, note=f"{episode.code} is back"
            )
        else:
            ticket = self.new_fault_ticket(device, episode, flapping=flapping)
        if adopt:
            self._adopt_children(device, episode, ticket)

    def new_fault_ticket(self, device: Device, episode: FaultEpisode, *, flapping: bool) -> Ticket:
        symptom = f"{device.name} ({device.device_class}): {episode.code}" + (
            f", flapping ({episode.occurrences} times)" if flapping else ""
        )
        ticket = service.new_ticket(
            session=self.s,
            kind=TicketKind.FAULT,
            site=self.site,
            device=device,
            code=episode.code,
            open_key=device_open_key(device.id, episode.code),
            severity=episode.severity,
            title=f"{device.name}: {episode.code}",
            symptom=symptom,
            first_failure_at=episode.started_at,
            channel=Channel.MONITORING,
            reporter=service.MONITORING,
            reporter_contact=None,
            settings=self.lookup(self.site.client_id),
            actor=Actor.monitoring(),
            now=self.now,
        )
        ticket.occurrences = episode.occurrences
        episode.ticket_id = ticket.id
        self.out.tickets_created.append(ticket.id)
        return ticket

    def parent_episode(self, parent: Device) -> FaultEpisode | None:
        return self.s.scalars(
            select(FaultEpisode).where(
                FaultEpisode.device_id == parent.id,
                FaultEpisode.open_key.is_not(None),
                FaultEpisode.code.in_(self.settings.offline_codes),
            )
        ).first()

    def parent_failing(self, parent: Device) -> bool:
        """The parent fails but is not confirmed yet: hold the child's ticket back."""
        rows = self.s.scalars(
            select(FaultTrack).where(
                FaultTrack.device_id == parent.id,
                FaultTrack.code.in_(self.settings.offline_codes),
            )
        )
        return any(Track.from_json(r.state).failing_streak > 0 for r in rows)

    def _suppressed(self, device: Device, episode: FaultEpisode) -> bool:
        """Attach to the parent's ticket (or hold) when the parent is down (dependency)."""
        parent = self.by_ext.get(device.parent_ext_id) if device.parent_ext_id else None
        if parent is None:
            return False
        parent_episode = self.parent_episode(parent)
        if parent_episode is not None:
            while parent_episode.parent_episode_id is not None:  # a chain: the root's ticket
                up = self.s.get(FaultEpisode, parent_episode.parent_episode_id)
                if up is None:
                    break
                parent_episode = up
            ticket = self._ticket(parent_episode.ticket_id)
            if ticket is not None and ticket.state in {s.value for s in OPEN_STATES}:
                episode.parent_episode_id = parent_episode.id
                service.attach_episode(
                    session=self.s,
                    ticket=ticket,
                    episode=episode,
                    now=self.now,
                    note=f"{device.name} behind {parent.name}: {episode.code}",
                )
                return True
        if self.parent_failing(parent) or self.parent_unseen_since(parent, episode.confirmed_at):
            episode.held_for_device_id = parent.id
            return True
        return False

    def parent_unseen_since(self, parent: Device, since: datetime) -> bool:
        """The parent is polled but has not answered a poll taken after the child's fault was
        confirmed: that poll may be the one that explains the child, so wait for it (a sweep
        releases the hold). A poll that merely overlapped the child's first failure does not
        count, since its timestamp says little about the moment the link broke."""
        state = self.s.get(DeviceState, parent.id)
        last = state.last_sample_at if state is not None else None
        return last is not None and last <= since

    def _adopt_children(self, parent: Device, episode: FaultEpisode, ticket: Ticket) -> None:
        """Children whose outage began with the parent's join its ticket (untouched ones merge)."""
        children = [d.id for d in self.devices.values() if d.parent_ext_id == parent.ext_id]
        if not children:
            return
        candidates = self.s.scalars(
            select(FaultEpisode).where(
                FaultEpisode.device_id.in_(children),
                FaultEpisode.open_key.is_not(None),
                FaultEpisode.code.in_(self.settings.offline_codes),
                FaultEpisode.started_at >= episode.started_at - ADOPT_SLACK,
            )
        ).all()
        for child in candidates:
            if child.parent_episode_id is not None and child.ticket_id == ticket.id:
                continue
            own = self._ticket(child.ticket_id)
            if own is not None and own.id != ticket.id:
                if own.state != TicketState.NEW.value:
                    continue  # someone is working on it: leave it be
                self._merge_away(own, ticket, why=f"{parent.name} is down")
            child.parent_episode_id = episode.id
            child.held_for_device_id = None
            service.attach_episode(
                session=self.s,
                ticket=ticket,
                episode=child,
                now=self.now,
                note=f"behind {parent.name}: {child.code}",
            )

    def _merge_away(self, own: Ticket, into: Ticket, *, why: str) -> None:
        service.cancel_as_merged(session=self.s, ticket=own, into=into, now=self.now, why=why)
        self.out.tickets_closed.append(own.id)

    # -- incident --------------------------------------------------------------------------

    def _incident_episode(self) -> FaultEpisode | None:
        key = site_open_key(self.site_id, FaultCode.SITE_SYSTEM_PARALYSED.value)
        return self.s.scalars(select(FaultEpisode).where(FaultEpisode.open_key == key)).first()

    def _unexplained_camera_outages(self) -> list[FaultEpisode]:
        cameras = [d.id for d in self.devices.values() if d.device_class == DeviceClass.CAMERA]
        if not cameras:
            return []
        return list(
            self.s.scalars(
                select(FaultEpisode).where(
                    FaultEpisode.device_id.in_(cameras),
                    FaultEpisode.open_key.is_not(None),
                    FaultEpisode.code.in_(self.settings.offline_codes),
                    FaultEpisode.held_for_device_id.is_(None),
                )
            )
        )

    def _parent_explains(self, episode: FaultEpisode) -> bool:
        """The camera's parent is failing too: its outage is the parent's, not the site's."""
        device = self.devices.get(episode.device_id or 0)
        parent = self.by_ext.get(device.parent_ext_id) if device and device.parent_ext_id else None
        return parent is not None and (
            self.parent_episode(parent) is not None or self.parent_failing(parent)
        )

    def _open_incident(self) -> FaultEpisode | None:
        """The open "system paralysed" incident, opened now if most cameras just dropped."""
        found = self._incident_episode()
        if found is not None:
            return found
        outages = [
            e
            for e in self._unexplained_camera_outages()
            if e.parent_episode_id is None and not self._parent_explains(e)
        ]
        cameras = sum(1 for d in self.devices.values() if d.device_class == DeviceClass.CAMERA)
        if not paralysed(
            camera_count=cameras,
            down_started=[e.started_at for e in outages],
            policy=self.settings.incident,
        ):
            return None
        code = FaultCode.SITE_SYSTEM_PARALYSED.value
        key = site_open_key(self.site_id, code)
        started = min(e.started_at for e in outages)
        incident = FaultEpisode(
            key=key,
            open_key=key,
            site_id=self.site_id,
            device_id=None,
            code=code,
            severity=self._severity(code, None),
            started_at=started,
            confirmed_at=self.now,
            last_failing_at=self.now,
            occurrences=1,
            flapping=False,
        )
        self.s.add(incident)
        self.s.flush()
        names = sorted(self.devices[e.device_id].name for e in outages if e.device_id)
        ticket = service.new_ticket(
            session=self.s,
            kind=TicketKind.INCIDENT,
            site=self.site,
            device=None,
            code=code,
            open_key=key,
            severity=incident.severity,
            title=f"{self.site.name}: system paralysed ({len(outages)} of {cameras} cameras down)",
            symptom=f"{len(outages)} of {cameras} cameras down at once: {', '.join(names)}",
            first_failure_at=started,
            channel=Channel.MONITORING,
            reporter=service.MONITORING,
            reporter_contact=None,
            settings=self.lookup(self.site.client_id),
            actor=Actor.monitoring(),
            now=self.now,
        )
        ticket.system = "video"
        incident.ticket_id = ticket.id
        self.out.opened.append(incident.id)
        self.out.tickets_created.append(ticket.id)
        log.warning(
            "site %s: system paralysed, %d of %d cameras down",
            self.site.name,
            len(outages),
            cameras,
        )
        for member in outages:
            own = self._ticket(member.ticket_id)
            if own is not None and own.state == TicketState.NEW.value and own.id != ticket.id:
                self._merge_away(own, ticket, why="system paralysed")
            elif own is not None and own.state != TicketState.NEW.value:
                continue
            member.parent_episode_id = incident.id
            service.attach_episode(
                session=self.s,
                ticket=ticket,
                episode=member,
                now=self.now,
                note=f"{self.devices[member.device_id or 0].name} down",
            )
        return incident

    def _check_incident(self) -> None:
        incident = self._incident_episode()
        if incident is None:
            self._open_incident()
            return
        ticket = self._ticket(incident.ticket_id)
        if ticket is not None and ticket.state in {s.value for s in OPEN_STATES}:
            for device, episode, _ in self.pending_cameras:
                if episode.parent_episode_id is None:
                    episode.parent_episode_id = incident.id
                    service.attach_episode(
                        session=self.s,
                        ticket=ticket,
                        episode=episode,
                        now=self.now,
                        note=f"{device.name} down too",
                    )
        members_open = self.s.scalar(
            select(func.count())
            .select_from(FaultEpisode)
            .where(
                FaultEpisode.parent_episode_id == incident.id, FaultEpisode.open_key.is_not(None)
            )
        )
        if not members_open:
            self._close_episode(incident, self.now)

    # -- closing ---------------------------------------------------------------------------

    def _ticket(self, ticket_id: int | None) -> Ticket | None:
        if ticket_id is None:
            return None
        return self.tickets.get(ticket_id) or self.s.get(Ticket, ticket_id)

    def _close_episode(self, episode: FaultEpisode, at: datetime) -> None:
        close_episode(session=self.s, episode=episode, at=at, now=self.now)
        self.out.recovered.append(episode.id)


def close_episode(*, session: Session, episode: FaultEpisode, at: datetime, now: datetime) -> None:
    """Recovery confirmed; the ticket it leads moves to recovered once none of its own is open."""
    episode.open_key = None
    episode.recovered_at = at
    session.flush()
    if episode.ticket_id is None or episode.parent_episode_id is not None:
        return
    ticket = session.get(Ticket, episode.ticket_id)
    if ticket is None:
        return
    if not service.open_faults(session=session, ticket_id=ticket.id):
        service.fault_recovered(
            session=session,
            ticket=ticket,
            now=now,
            note=f"{episode.code} recovered at {at.isoformat()}",
        )


# -- the sweep ---------------------------------------------------------------------------------


def sweep(
    *, engine: Engine, now: datetime, settings: FaultSettings, tick: bool = False
) -> Outcome | None:
    """Time-based work: agents gone quiet, held faults, recovered tickets past their quiet
    period, resolved tickets whose fault outlasted it, and with `tick` the SLA clocks of open
    tickets (near-breach and breach notifications). Returns None when another replica is
    sweeping."""

    def work(session: Session) -> Outcome:
        out = Outcome()
        if not _try_sweep_lock(session):
            raise _BusyError
        lookup = SettingsLookup(session, KNOWN_CODES)
        _agent_offline(session, now, settings, lookup, out)
        _release_held(session, now, settings, out)
        _close_quiet(session, now, lookup, out)
        _reopen_still_down(session, now, lookup, out)
        if tick:
            _tick_open(session, now, lookup)
        return out

    try:
        return _retrying(engine, work)
    except _BusyError:
        return None


class _BusyError(Exception):
    """Another replica holds the sweep lock."""


def _site_activity(session: Session) -> dict[int, datetime]:
    """Per site, the last time its agent was heard from (token use or a new sample)."""
    seen: dict[int, datetime] = {}
    token_rows = session.execute(
        select(AgentToken.site_id, func.max(AgentToken.last_used_at))
        .where(AgentToken.revoked_at.is_(None), AgentToken.last_used_at.is_not(None))
        .group_by(AgentToken.site_id)
    ).all()
    state_rows = session.execute(
        select(Device.site_id, func.max(DeviceState.updated_at))
        .join(DeviceState, DeviceState.device_id == Device.id)
        .where(DeviceState.last_sample_at.is_not(None))
        .group_by(Device.site_id)
    ).all()
    for site_id, at in [*token_rows, *state_rows]:
        if at is None:
            continue
        if site_id not in seen or at > seen[site_id]:
            seen[site_id] = at
    return seen


def _agent_offline(
    session: Session, now: datetime, settings: FaultSettings, lookup: SettingsLookup, out: Outcome
) -> None:
    code = FaultCode.SITE_AGENT_OFFLINE.value
    for site_id, last in sorted(_site_activity(session).items()):
        key = site_open_key(site_id, code)
        episode = session.scalars(select(FaultEpisode).where(FaultEpisode.open_key == key)).first()
        quiet = now - last > settings.agent_offline_after
        if quiet and episode is None:
            _lock_site(session, site_id)
            site = session.get(Site, site_id)
            assert site is not None
            severity = severity_for(
                code,
                None,
                rules=settings.rules,
                defaults=settings.severity_defaults,
                overrides=lookup(site.client_id).severity,
            ).value
            episode = FaultEpisode(
                key=key,
                open_key=key,
                site_id=site_id,
                device_id=None,
                code=code,
                severity=severity,
                started_at=last,
                confirmed_at=now,
                last_failing_at=now,
                occurrences=1,
                flapping=False,
            )
            session.add(episode)
            session.flush()
            ticket = session.scalars(select(Ticket).where(Ticket.open_key == key)).first()
            if ticket is None:
                ticket = service.new_ticket(
                    session=session,
                    kind=TicketKind.INCIDENT,
                    site=site,
                    device=None,
                    code=code,
                    open_key=key,
                    severity=severity,
                    title=f"{site.name}: site agent offline",
                    symptom=f"no data from the site agent since {last.isoformat()}; "
                    "its devices are unknown, not down",
                    first_failure_at=last,
                    channel=Channel.MONITORING,
                    reporter=service.MONITORING,
                    reporter_contact=None,
                    settings=lookup(site.client_id),
                    actor=Actor.monitoring(),
                    now=now,
                )
                out.tickets_created.append(ticket.id)
            episode.ticket_id = ticket.id
            out.opened.append(episode.id)
            # Its devices are unknown while nobody reports on them.
            device_ids = select(Device.id).where(Device.site_id == site_id)
            session.execute(
                update(DeviceState)
                .where(
                    DeviceState.device_id.in_(device_ids),
                    DeviceState.status != DeviceStatus.UNKNOWN.value,
                )
                .values(status=DeviceStatus.UNKNOWN.value, status_changed_at=now)
            )
            log.warning("site %s: agent offline since %s", site.name, last)
        elif not quiet and episode is not None:
            _lock_site(session, site_id)
            close_episode(session=session, episode=episode, at=last, now=now)
            out.recovered.append(episode.id)


def _release_held(session: Session, now: datetime, settings: FaultSettings, out: Outcome) -> None:
    """Faults held for a failing parent that never confirmed get their own tickets."""
    held = session.scalars(
        select(FaultEpisode)
        .where(FaultEpisode.held_for_device_id.is_not(None), FaultEpisode.open_key.is_not(None))
        .order_by(FaultEpisode.site_id, FaultEpisode.id)
    ).all()
    for episode in held:
        assert episode.held_for_device_id is not None
        assert episode.device_id is not None
        _lock_site(session, episode.site_id)
        evaluation = _Evaluation(session, episode.site_id, settings, now)
        parent = evaluation.devices.get(episode.held_for_device_id)
        if parent is not None and (
            evaluation.parent_episode(parent) is not None
            or evaluation.parent_failing(parent)
            or (
                evaluation.parent_unseen_since(parent, episode.confirmed_at)
                and now - episode.confirmed_at < HOLD_MAX
            )
        ):
            continue
        episode.held_for_device_id = None
        device = evaluation.devices[episode.device_id]
        ticket = service.open_ticket_for_device(
            session=session, device_id=device.id, code=episode.code
        )
        if ticket is None:
            ticket = evaluation.new_fault_ticket(device, episode, flapping=episode.flapping)
        else:
            episode.ticket_id = ticket.id
        out.tickets_created.extend(evaluation.out.tickets_created)


def _tick_open(session: Session, now: datetime, lookup: SettingsLookup) -> None:
    """Let escalation look at every open ticket's clocks; its dedupe keys make repeats no-ops."""
    open_tickets = session.scalars(
        select(Ticket).where(Ticket.state.in_([s.value for s in OPEN_STATES])).order_by(Ticket.id)
    ).all()
    for ticket in open_tickets:
        notify(
            session=session, ticket=ticket, event="tick", settings=lookup(ticket.client_id), now=now
        )


def _close_quiet(session: Session, now: datetime, lookup: SettingsLookup, out: Outcome) -> None:
    recovered = session.scalars(
        select(Ticket).where(Ticket.state == TicketState.RECOVERED.value).order_by(Ticket.id)
    ).all()
    for ticket in recovered:
        quiet = lookup(ticket.client_id).recovered_quiet_minutes
        if ticket.recovered_at is not None and now - ticket.recovered_at >= timedelta(
            minutes=quiet
        ):
            service.close_quiet_recovered(
                session=session, ticket=ticket, now=now, quiet_minutes=quiet
            )
            out.tickets_closed.append(ticket.id)


def _reopen_still_down(
    session: Session, now: datetime, lookup: SettingsLookup, out: Outcome
) -> None:
    """A ticket resolved while its fault was open comes back when monitoring still sees the
    fault once the client's confirmation (quiet) period after the resolve has passed."""
    still_down = session.scalars(
        select(Ticket)
        .where(
            Ticket.state == TicketState.RESOLVED.value,
            Ticket.id.in_(
                select(FaultEpisode.ticket_id).where(
                    FaultEpisode.open_key.is_not(None), FaultEpisode.parent_episode_id.is_(None)
                )
            ),
        )
        .order_by(Ticket.id)
    ).all()
    for ticket in still_down:
        window = lookup(ticket.client_id).recovered_quiet_minutes
        if ticket.resolved_at is None or now - ticket.resolved_at < timedelta(minutes=window):
            continue
        codes = sorted({e.code for e in service.open_faults(session=session, ticket_id=ticket.id)})
        service.reopen_still_down(
            session=session,
            ticket=ticket,
            now=now,
            note=f"{', '.join(codes)} still open {window} min after the resolve",
        )
        out.tickets_reopened.append(ticket.id)
