"""Sites whose agent went quiet: their devices become unknown (not down) until it is heard
from again. Run by the sweep; reports changes like detection does."""

import logging
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from server.faults.changes import AgentBack, AgentOffline, FaultChange
from server.faults.engine import FaultSettings, Overrides
from server.faults.records import close_episode, lock_site, new_episode, site_open_key
from server.faults.rules import FaultCode, severity_for
from server.models import AgentToken, Device, DeviceState, FaultEpisode, Site
from server.state import DeviceStatus

log = logging.getLogger(__name__)


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
        if at is not None and (site_id not in seen or at > seen[site_id]):
            seen[site_id] = at
    return seen


def agent_changes(
    *, session: Session, now: datetime, settings: FaultSettings, overrides: Overrides
) -> Iterator[FaultChange]:
    """Sites whose agent went quiet (their devices become unknown) or was heard again."""
    code = FaultCode.SITE_AGENT_OFFLINE.value
    for site_id, last in sorted(_site_activity(session).items()):
        key = site_open_key(site_id, code)
        episode = session.scalars(select(FaultEpisode).where(FaultEpisode.open_key == key)).first()
        quiet = now - last > settings.agent_offline_after
        if quiet and episode is None:
            lock_site(session, site_id)
            site = session.get(Site, site_id)
            assert site is not None
            severity = severity_for(
                code,
                None,
                rules=settings.rules,
                defaults=settings.severity_defaults,
                overrides=overrides(site.client_id),
            ).value
            episode = new_episode(
                session=session,
                key=key,
                site_id=site_id,
                device_id=None,
                code=code,
                severity=severity,
                started_at=last,
                confirmed_at=now,
            )
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
            yield AgentOffline(episode, site, last)
        elif not quiet and episode is not None:
            lock_site(session, site_id)
            close_episode(session=session, episode=episode, at=last)
            yield AgentBack(episode, last)
