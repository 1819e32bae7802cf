"""The fault tables as detection and intake use them: the site locks, episode rows opened and
closed, and what a device's rows say about it being out (for dependency decisions)."""

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.faults.episodes import Track
from server.models import Device, DeviceState, FaultEpisode, FaultTrack

LOCK_NAMESPACE = 0x5EC0  # pg_advisory_xact_lock(namespace, site id)
SWEEP_LOCK = (0x5EC1, 0)


def device_open_key(device_id: int, code: str) -> str:
    return f"d{device_id}:{code}"


def site_open_key(site_id: int, code: str) -> str:
    return f"s{site_id}:{code}"


def lock_site(session: Session, site_id: int) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(LOCK_NAMESPACE, site_id)))


def try_sweep_lock(session: Session) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return True  # BEGIN IMMEDIATE already holds SQLite's one write lock
    return bool(session.scalar(select(func.pg_try_advisory_xact_lock(*SWEEP_LOCK))))


def new_episode(
    *,
    session: Session,
    key: str,
    site_id: int,
    device_id: int | None,
    code: str,
    severity: str,
    started_at: datetime,
    confirmed_at: datetime,
    occurrences: int = 1,
    flapping: bool = False,
) -> FaultEpisode:
    """An open episode, flushed (IntegrityError: another replica opened it; retry the batch)."""
    episode = FaultEpisode(
        key=key,
        open_key=key,
        site_id=site_id,
        device_id=device_id,
        code=code,
        severity=severity,
        started_at=started_at,
        confirmed_at=confirmed_at,
        last_failing_at=confirmed_at,
        occurrences=occurrences,
        flapping=flapping,
    )
    session.add(episode)
    session.flush()
    return episode


def close_episode(*, session: Session, episode: FaultEpisode, at: datetime) -> None:
    episode.open_key = None
    episode.recovered_at = at
    session.flush()


def open_outage(session: Session, device: Device, codes: Iterable[str]) -> FaultEpisode | None:
    """The device's open episode of one of `codes` (the device is out)."""
    return session.scalars(
        select(FaultEpisode).where(
            FaultEpisode.device_id == device.id,
            FaultEpisode.open_key.is_not(None),
            FaultEpisode.code.in_(list(codes)),
        )
    ).first()


def failing_unconfirmed(session: Session, device: Device, codes: Iterable[str]) -> bool:
    """The device fails one of `codes` but is not confirmed yet."""
    rows = session.scalars(
        select(FaultTrack).where(
            FaultTrack.device_id == device.id, FaultTrack.code.in_(list(codes))
        )
    )
    return any(Track.from_json(r.state).failing_streak > 0 for r in rows)


def unseen_since(session: Session, device: Device, since: datetime) -> bool:
    """The device is polled but has not answered a poll taken after `since`: that poll may be
    the one that explains a child's fault. A poll that merely overlapped the child's first
    failure does not count, since its timestamp says little about when the link broke."""
    state = session.get(DeviceState, device.id)
    last = state.last_sample_at if state is not None else None
    return last is not None and last <= since
