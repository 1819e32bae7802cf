"""Fault detection against the database: samples move the tracks, tracks open and close
episodes, and every step is reported as a change record (`faults.changes`). No ticket is read
or written here; ticket intake acts on the changes in the same transaction.

Safe with several server replicas on one PostgreSQL: every evaluation for a site holds that
site's transaction-scoped advisory lock, the sweep runs on one replica at a time (try-lock),
and the unique `open_key` of episodes and tickets refuses a second open fault or ticket even
if a lock were missed. On SQLite every write transaction holds the database's write lock.
"""

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.faults.changes import (
    FaultChange,
    IncidentJoined,
    IncidentOpened,
    IncidentRecovered,
    Opened,
    Recovered,
    Recurred,
)
from server.faults.defaults import DEFAULT_SEVERITY, default_rules
from server.faults.detection import IncidentPolicy, paralysed, parents_first
from server.faults.episodes import Change, Step, Track, advance, may_move
from server.faults.records import (
    close_episode,
    device_open_key,
    failing_unconfirmed,
    lock_site,
    new_episode,
    open_outage,
    site_open_key,
)
from server.faults.rules import FaultCode, Observation, Reported, Rule, RuleSet, severity_for
from server.models import Device, FaultEpisode, FaultTrack, Site
from server.sla import Severity
from wire.enums import DeviceClass

log = logging.getLogger(__name__)

KNOWN_CODES = [c.value for c in FaultCode]
# A client's severity overrides (fault code → severity), from its service policy.
Overrides = Callable[[int], Mapping[str, Severity]]


@dataclass(frozen=True)
class FaultSettings:
    rules: RuleSet = field(default_factory=default_rules)
    severity_defaults: Mapping[str, Severity] = field(default_factory=lambda: DEFAULT_SEVERITY)
    incident: IncidentPolicy = field(default_factory=IncidentPolicy)
    agent_offline_after: timedelta = timedelta(minutes=3)

    @property
    def offline_codes(self) -> frozenset[str]:
        return frozenset(r.code.value for r in self.rules.rules if r.service_affecting)


class Detection:
    """One site's detection in one transaction (under the site's lock)."""

    def __init__(
        self,
        session: Session,
        site_id: int,
        settings: FaultSettings,
        now: datetime,
        overrides: Overrides,
    ) -> None:
        self.s, self.site_id, self.settings, self.now = session, site_id, settings, now
        self.overrides = overrides
        lock_site(session, site_id)
        site = session.get(Site, site_id)
        assert site is not None
        self.site = site
        self.devices = {
            d.id: d for d in session.scalars(select(Device).where(Device.site_id == site_id))
        }
        self.by_ext = {d.ext_id: d for d in self.devices.values()}
        self.open_episodes: dict[str, FaultEpisode] = {}

    def severity(self, code: str, device_class: str | None) -> str:
        return severity_for(
            code,
            device_class,
            rules=self.settings.rules,
            defaults=self.settings.severity_defaults,
            overrides=self.overrides(self.site.client_id),
        ).value

    def load(self, device_ids: Sequence[int]) -> list[FaultEpisode]:
        """The devices' open episodes in one query, not one per change (a flapping device
        recurs on every bounce)."""
        found = self.s.scalars(
            select(FaultEpisode).where(
                FaultEpisode.device_id.in_(device_ids), FaultEpisode.open_key.is_not(None)
            )
        ).all()
        self.open_episodes = {e.open_key: e for e in found if e.open_key is not None}
        return list(found)

    def run(
        self, observed: Mapping[int, Sequence[Observation | Reported]]
    ) -> Iterator[FaultChange]:
        """Each device's observations (oldest first) through its rules, parents first; changes
        come out as they happen, so a child's fault sees what was done about its parent's."""
        ids = [i for i in observed if i in self.devices]
        tracks: dict[int, dict[str, FaultTrack]] = {}
        for t in self.s.scalars(select(FaultTrack).where(FaultTrack.device_id.in_(ids))):
            tracks.setdefault(t.device_id, {})[t.code] = t
        rules_of: dict[str, list[Rule]] = {}
        devices = ((i, self.devices[i].ext_id, self.devices[i].parent_ext_id) for i in ids)
        for device_id in parents_first(devices):
            device, obs = self.devices[device_id], observed[device_id]
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
                        change = self._episode_change(device, rule, result, o.ts)
                        if change is not None:
                            yield change
                if track != before:
                    self._save_track(row, device_id, rule.code.value, track)

    def _episode_change(
        self, device: Device, rule: Rule, result: Step, ts: datetime
    ) -> FaultChange | None:
        """The episode a track's change opens, counts or closes."""
        key = device_open_key(device.id, rule.code.value)
        if result.change is Change.OPENED:
            assert result.at is not None
            code = rule.code.value
            episode = new_episode(
                session=self.s,
                key=key,
                site_id=self.site_id,
                device_id=device.id,
                code=code,
                severity=self.severity(code, device.device_class),
                started_at=result.at,
                confirmed_at=ts,
                occurrences=result.track.occurrences,
                flapping=result.flapping,
            )
            self.open_episodes[key] = episode
            log.info("fault opened: %s %s since %s", device.ext_id, code, result.at)
            return Opened(episode, device, rule.service_affecting, result.flapping)
        found = self._open(key)
        if found is None:
            return None  # opened before this server tracked episodes; nothing to move
        if result.change is Change.RECURRED:
            found.occurrences = result.track.occurrences
            found.last_failing_at = ts
            return Recurred(found)
        assert result.at is not None
        close_episode(session=self.s, episode=found, at=result.at)
        return Recovered(found, result.at)

    def _open(self, key: str) -> FaultEpisode | None:
        episode = self.open_episodes.get(key)
        if episode is not None and episode.open_key == key:
            return episode
        return self.s.scalars(select(FaultEpisode).where(FaultEpisode.open_key == key)).first()

    def _save_track(self, row: FaultTrack | None, device_id: int, code: str, track: Track) -> None:
        if track.idle:
            if row is not None:
                self.s.delete(row)
        elif row is None:
            self.s.add(
                FaultTrack(
                    device_id=device_id, code=code, state=track.to_json(), updated_at=self.now
                )
            )
        else:
            row.state = track.to_json()
            row.updated_at = self.now

    # -- incident --------------------------------------------------------------------------

    def incident(self, new_outages: Sequence[tuple[Device, FaultEpisode]]) -> Iterator[FaultChange]:
        """The site's "system paralysed" incident: opened when most cameras just dropped with no
        parent to blame, joined by `new_outages` (this batch's unlinked camera outages) while
        open, recovered once none of its members is down."""
        key = site_open_key(self.site_id, FaultCode.SITE_SYSTEM_PARALYSED.value)
        incident = self.s.scalars(select(FaultEpisode).where(FaultEpisode.open_key == key)).first()
        if incident is None:
            yield from self._open_incident(key)
            return
        for device, episode in new_outages:
            if episode.parent_episode_id is None:
                yield IncidentJoined(incident, episode, device)
        members_open = self.s.scalar(
            select(func.count())
            .select_from(FaultEpisode)
            .where(
                FaultEpisode.parent_episode_id == incident.id, FaultEpisode.open_key.is_not(None)
            )
        )
        if not members_open:
            close_episode(session=self.s, episode=incident, at=self.now)
            yield IncidentRecovered(incident, self.now)

    def _open_incident(self, key: str) -> Iterator[FaultChange]:
        offline = self.settings.offline_codes
        cameras = [d.id for d in self.devices.values() if d.device_class == DeviceClass.CAMERA]
        outages = [
            e
            for e in self.s.scalars(
                select(FaultEpisode).where(
                    FaultEpisode.device_id.in_(cameras),
                    FaultEpisode.open_key.is_not(None),
                    FaultEpisode.code.in_(offline),
                    FaultEpisode.held_for_device_id.is_(None),
                )
            )
            if e.parent_episode_id is None and not self._parent_explains(e)
        ]
        if not cameras or not paralysed(
            camera_count=len(cameras),
            down_started=[e.started_at for e in outages],
            policy=self.settings.incident,
        ):
            return
        code = FaultCode.SITE_SYSTEM_PARALYSED.value
        incident = new_episode(
            session=self.s,
            key=key,
            site_id=self.site_id,
            device_id=None,
            code=code,
            severity=self.severity(code, None),
            started_at=min(e.started_at for e in outages),
            confirmed_at=self.now,
        )
        log.warning(
            "site %s: system paralysed, %d of %d cameras down",
            self.site.name,
            len(outages),
            len(cameras),
        )
        yield IncidentOpened(incident, self.site, outages, len(cameras))

    def _parent_explains(self, episode: FaultEpisode) -> bool:
        """The camera's parent is failing too: its outage is the parent's, not the site's."""
        device = self.devices.get(episode.device_id or 0)
        parent = self.by_ext.get(device.parent_ext_id) if device and device.parent_ext_id else None
        offline = self.settings.offline_codes
        return parent is not None and (
            open_outage(self.s, parent, offline) is not None
            or failing_unconfirmed(self.s, parent, offline)
        )
