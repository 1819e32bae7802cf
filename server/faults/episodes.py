"""One device's one fault code over time: confirmation, flapping and recovery. Pure.

`step` moves a `Track` by one observation's verdict and says what changed: the episode opened
(confirmed), recurred (failing again while still open: a flap, counted, no new episode), or
recovered (confirmed passing). A track that returns to idle can be forgotten.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from server.faults.rules import (
    CANNOT_TELL,
    Observation,
    Reported,
    Rule,
    event_verdict,
)


class Change(StrEnum):
    OPENED = "opened"
    RECURRED = "recurred"
    RECOVERED = "recovered"


@dataclass(frozen=True, slots=True)
class Track:
    failing_streak: int = 0
    passing_streak: int = 0
    failing_since: datetime | None = None  # first failing observation of the current run
    passing_since: datetime | None = None  # first passing observation of the current run
    last_ts: datetime | None = None
    last_failing: bool | None = None
    open: bool = False
    started_at: datetime | None = None  # the open episode's first failing observation
    occurrences: int = 0  # failing runs inside the open episode (flaps + 1)
    flips: tuple[datetime, ...] = ()  # passing→failing flips inside the flap window
    parts: tuple[str, ...] = ()  # what device events reported failing ("" the whole device)
    quiet_from: datetime | None = None  # last report that carried no verdict (ends by quiet)

    @property
    def idle(self) -> bool:
        """Nothing to remember: not open, not failing, no recent flips."""
        return not self.open and self.failing_streak == 0 and not self.flips and not self.parts

    def to_json(self) -> dict[str, Any]:
        def t(v: datetime | None) -> str | None:
            return None if v is None else v.isoformat()

        return {
            "failing_streak": self.failing_streak,
            "passing_streak": self.passing_streak,
            "failing_since": t(self.failing_since),
            "passing_since": t(self.passing_since),
            "last_ts": t(self.last_ts),
            "last_failing": self.last_failing,
            "open": self.open,
            "started_at": t(self.started_at),
            "occurrences": self.occurrences,
            "flips": [f.isoformat() for f in self.flips],
            "parts": list(self.parts),
            "quiet_from": t(self.quiet_from),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Track":
        def t(v: str | None) -> datetime | None:
            return None if v is None else datetime.fromisoformat(v)

        return cls(
            failing_streak=int(data["failing_streak"]),
            passing_streak=int(data["passing_streak"]),
            failing_since=t(data["failing_since"]),
            passing_since=t(data["passing_since"]),
            last_ts=t(data["last_ts"]),
            last_failing=data["last_failing"],
            open=bool(data["open"]),
            started_at=t(data["started_at"]),
            occurrences=int(data["occurrences"]),
            flips=tuple(datetime.fromisoformat(f) for f in data["flips"]),
            parts=tuple(str(p) for p in data.get("parts", ())),
            quiet_from=t(data.get("quiet_from")),
        )


@dataclass(frozen=True, slots=True)
class Step:
    track: Track
    change: Change | None = None
    at: datetime | None = None  # opened: first failing observation; recovered: first passing
    flapping: bool = False


def step(
    track: Track, rule: Rule, ts: datetime, failing: bool | None, *, reported: bool = False
) -> Step:
    """The track after one verdict; verdicts older than the last one are ignored, and polls as
    old. `reported`: the device reported the fault itself, which confirms it at once."""
    if failing is None or _stale(track, ts, reported=reported):
        return Step(track)
    if failing:
        return _failing(track, rule, ts, reported=reported)
    return _passing(track, rule, ts)


def _stale(track: Track, ts: datetime, *, reported: bool) -> bool:
    last = track.last_ts
    return last is not None and (ts < last or (ts == last and not reported))


def may_move(rule: Rule, items: Sequence[Observation | Reported]) -> bool:
    """Could these items move an idle track of this rule? Only a failing poll or an event."""
    test, events = rule.test, rule.events is not None
    for item in items:
        if isinstance(item, Reported):
            if events:
                return True
        elif test(item):
            return True
    return False


def advance(track: Track, rule: Rule, item: Observation | Reported) -> Step:
    """The track after one poll or device event (`judge`, then `step`)."""
    reported = isinstance(item, Reported)
    # Most polls of most rules: nothing remembered, so only a failing verdict moves it.
    if isinstance(item, Observation) and track.idle and not rule.verdict(item):
        return Step(track)
    if _stale(track, item.ts, reported=reported):
        return Step(track)
    judged, failing = judge(rule, track, item)
    return step(judged, rule, item.ts, failing, reported=reported)


def judge(rule: Rule, track: Track, item: Observation | Reported) -> tuple[Track, bool | None]:
    """One poll or device event's verdict on this rule, and the track's event memory after it.

    A poll is judged by the rule's condition; where that cannot tell, a fault that events
    reported lasts until they clear it (or, reported with no verdict, until it has been quiet).
    A poll whose condition tells that all is well clears what events reported.
    """
    match = rule.events
    if isinstance(item, Reported):
        if match is None:
            return track, None
        verdict = event_verdict(match, item.kind, item.data)
        if verdict is None:
            return track, None
        part = verdict.part or ""
        if verdict.failing:
            parts = track.parts if part in track.parts else (*track.parts, part)
            quiet_from = track.quiet_from if verdict.stated or match.clear_kinds else item.ts
            return replace(track, parts=parts, quiet_from=quiet_from), True
        parts = tuple(p for p in track.parts if p != part) if verdict.part is not None else ()
        return replace(track, parts=parts, quiet_from=track.quiet_from if parts else None), (
            bool(parts)
        )
    failing = rule.verdict(item)
    if match is None:
        return track, failing
    if failing is False and track.parts:
        return replace(track, parts=(), quiet_from=None), False
    if failing is not None or not item.reachable or item.error_code in CANNOT_TELL:
        return track, failing
    if track.parts:
        if track.quiet_from is not None and item.ts - track.quiet_from >= match.quiet:
            return replace(track, parts=(), quiet_from=None), False
        return track, True
    return track, False if track.open else None


def _failing(track: Track, rule: Rule, ts: datetime, *, reported: bool) -> Step:
    flipped = track.last_failing is not True
    flips = tuple(f for f in track.flips if ts - f < rule.flap_window)
    if flipped:
        flips += (ts,)
    failing_since = track.failing_since if track.failing_streak and track.failing_since else ts
    new = replace(
        track,
        failing_streak=track.failing_streak + 1,
        passing_streak=0,
        failing_since=failing_since,
        passing_since=None,
        last_ts=ts,
        last_failing=True,
        flips=flips,
    )
    if track.open:
        if flipped:
            return Step(replace(new, occurrences=track.occurrences + 1), Change.RECURRED, ts)
        return Step(new)
    by_count = reported or new.failing_streak >= rule.confirm_after
    confirm_for = rule.confirm_for
    by_time = confirm_for is not None and ts - failing_since >= confirm_for
    flapping = len(flips) >= rule.flap_count
    if not (by_count or by_time or flapping):
        return Step(new)
    started = flips[0] if flapping and not (by_count or by_time) else failing_since
    occurrences = len(flips) if flapping and not (by_count or by_time) else 1
    opened = replace(new, open=True, started_at=started, occurrences=occurrences)
    return Step(opened, Change.OPENED, started, flapping=flapping)


def _passing(track: Track, rule: Rule, ts: datetime) -> Step:
    passing_since = track.passing_since if track.passing_streak and track.passing_since else ts
    flips = tuple(f for f in track.flips if ts - f < rule.flap_window)
    new = replace(
        track,
        failing_streak=0,
        passing_streak=track.passing_streak + 1,
        failing_since=None,
        passing_since=passing_since,
        last_ts=ts,
        last_failing=False,
        flips=flips,
    )
    if not track.open:
        return Step(new)
    if new.passing_streak >= rule.recover_after and ts - passing_since >= rule.recover_for:
        closed = replace(new, open=False, started_at=None, occurrences=0)
        return Step(closed, Change.RECOVERED, passing_since)
    return Step(new)
