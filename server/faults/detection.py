"""Pure pieces of detection that need more than one device: observations from stored samples,
the order devices are evaluated in, and the "system paralysed" test. No I/O."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from server.faults.rules import Observation, Reported


class StoredSample(Protocol):
    """The columns of a stored sample that detection reads (`models.SampleRow`)."""

    device_id: int
    ts: datetime
    reachable: bool
    error_code: str | None
    checks: dict[str, Any]
    events: list[dict[str, Any]] | None
    events_only: bool


def observations(samples: Iterable[StoredSample]) -> list[Observation | Reported]:
    """Poll results and device events, oldest first (a poll before an event of the same time).

    A trap's events-only sample is no poll: only its events count.
    """
    items: list[tuple[datetime, int, Observation | Reported]] = []
    for s in samples:
        if not s.events_only:
            obs = Observation(
                ts=s.ts, reachable=s.reachable, error_code=s.error_code, checks=s.checks
            )
            items.append((s.ts, 0, obs))
        for e in s.events or ():
            ts = datetime.fromisoformat(e["ts"])
            items.append((ts, 1, Reported(ts=ts, kind=e["kind"], data=e.get("data") or {})))
    items.sort(key=lambda item: (item[0], item[1]))
    return [item for _, _, item in items]


@dataclass(frozen=True, slots=True)
class IncidentPolicy:
    """When most cameras of a site drop at once with no known parent to blame (seed §13.4)."""

    fraction: float = 0.5  # more than this share of the site's cameras
    min_cameras: int = 3  # a site with fewer cameras has no "most of them"
    window: timedelta = timedelta(minutes=10)  # "at once": started within this of each other


def paralysed(
    *, camera_count: int, down_started: Sequence[datetime], policy: IncidentPolicy
) -> bool:
    """Do the unexplained camera outages (their start times) make the site's video paralysed?"""
    if camera_count < policy.min_cameras or not down_started:
        return False
    newest = max(down_started)
    together = sum(1 for t in down_started if newest - t <= policy.window)
    return together > camera_count * policy.fraction


def parents_first(devices: Iterable[tuple[int, str, str | None]]) -> list[int]:
    """Device ids ordered so that a parent comes before its children (ext ids within a site).

    Input items: (id, ext_id, parent_ext_id). A parent's fault evaluated first lets its
    children's faults of the same batch attach to it at once.
    """
    items = list(devices)
    parent_of = {ext: parent for _, ext, parent in items}

    def depth(ext: str) -> int:
        seen = set()
        d = 0
        while (parent := parent_of.get(ext)) is not None and parent not in seen:
            seen.add(parent)
            ext = parent
            d += 1
        return d

    return [pk for pk, ext, _ in sorted(items, key=lambda item: (depth(item[1]), item[0]))]
