"""Pre-filling a row from what telemetry stored over the inspection window. Pure.

The window runs from the period's start to the end of the last complete local day (or the
period's end). Time the rollups do not cover, and time the server knew nothing about (agent
offline, no samples), is unknown: it never counts as up, and a result that depends on it is
`unknown` rather than a guess.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from server.faults.picture import ReasonEvidence, measures_text
from server.faults.rules import FaultCode
from server.inspections.template import (
    Availability,
    Evidence,
    NoOpenFault,
    Reading,
    Snapshots,
    Tickets,
)
from server.tickets.states import OPEN_STATES, TicketState


class RowResult(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    UNKNOWN = "unknown"  # pre-fill only: telemetry cannot tell
    NOT_APPLICABLE = "not_applicable"  # technician only


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @property
    def seconds(self) -> int:
        return max(0, int((self.end - self.start).total_seconds()))


@dataclass(frozen=True)
class UptimeTotals:
    """Sums of the device's daily rollups inside the window."""

    up_s: int = 0
    down_s: int = 0
    unknown_s: int = 0
    maintenance_s: int = 0
    nodata_s: int = 0


@dataclass(frozen=True)
class EpisodeFact:
    id: int
    code: str
    started_at: datetime
    recovered_at: datetime | None
    ticket_id: int | None


@dataclass(frozen=True)
class ReadingFact:
    """What is stored about one numeric check of one device over the window."""

    low: float | None = None  # extremes of the daily rollups inside the window
    high: float | None = None
    latest: float | None = None  # the current reading, when it was taken inside the window
    latest_at: datetime | None = None


@dataclass(frozen=True)
class SnapshotFact:
    """Snapshots the agent judged over the window, and how many of them were a good picture."""

    judged: int = 0
    good: float = 0.0


@dataclass(frozen=True)
class PictureFault:
    """One `camera.image_abnormal` episode in the window, with the reasons and measures of its
    first snapshot carrying evidence (none once the samples are pruned)."""

    episode_id: int
    day: date  # the site's local day it started (before the window for one still on)
    reasons: tuple[ReasonEvidence, ...] = ()


@dataclass(frozen=True)
class TicketFact:
    id: int
    state: TicketState
    created_at: datetime
    resolved_at: datetime | None
    resolve_by: datetime | None


@dataclass(frozen=True)
class Judgement:
    result: RowResult
    evidence: dict[str, Any]
    sentence: str
    ticket_ids: tuple[int, ...] = field(default=())


def _overlap(start: datetime, end: datetime | None, window: Window) -> int:
    stop = window.end if end is None or end > window.end else end
    begin = max(start, window.start)
    return max(0, int((stop - begin).total_seconds()))


def _hours(seconds: int) -> str:
    return f"{seconds / 3600:.1f} h"


PICTURE_LISTED = 5  # picture faults named in a sentence; the evidence holds them all


def _with_pictures(judgement: Judgement, pictures: Sequence[PictureFault]) -> Judgement:
    """The judgement with the period's picture faults added: reasons and measures as numbers in
    the evidence, and in words (the ticket's, `server/faults/picture.py`) in the sentence."""
    if not pictures:
        return judgement
    ordered = sorted(pictures, key=lambda p: (p.day, p.episode_id))
    evidence = judgement.evidence | {
        "picture_faults": [
            {
                "episode_id": p.episode_id,
                "day": p.day.isoformat(),
                "reasons": [{"reason": r.reason, "measures": r.measures} for r in p.reasons],
            }
            for p in ordered
        ]
    }
    said = [
        "; ".join(
            f"{r.reason} on {p.day:%m-%d}" + (f" ({m})" if (m := measures_text(r.measures)) else "")
            for r in p.reasons
        )
        if p.reasons
        else f"picture fault on {p.day:%m-%d} (measures no longer stored)"
        for p in ordered[:PICTURE_LISTED]
    ]
    more = len(ordered) - PICTURE_LISTED
    sentence = (
        f"{judgement.sentence} {len(ordered)} picture fault(s) in the period: "
        + ", ".join(said)
        + (f", and {more} more" if more > 0 else "")
        + "."
    )
    return Judgement(judgement.result, evidence, sentence, judgement.ticket_ids)


def availability(
    rule: Availability, window: Window, uptime: UptimeTotals, episodes: Sequence[EpisodeFact]
) -> Judgement:
    """Up share of the window less maintenance; unrolled and no-data time count as unknown.

    Fail when the down time alone breaks the threshold; pass when even counting every unknown
    second as down it holds; otherwise unknown (the gap decides).
    """
    counted = uptime.up_s + uptime.down_s + uptime.unknown_s + uptime.nodata_s
    unknown_s = (
        uptime.unknown_s + uptime.nodata_s + max(0, window.seconds - counted - uptime.maintenance_s)
    )
    base = uptime.up_s + uptime.down_s + unknown_s
    outages = [e for e in episodes if e.code == FaultCode.DEVICE_UNREACHABLE]
    outage_s = sum(_overlap(e.started_at, e.recovered_at, window) for e in outages)
    evidence: dict[str, Any] = {
        "window_s": window.seconds,
        "up_s": uptime.up_s,
        "down_s": uptime.down_s,
        "unknown_s": unknown_s,
        "maintenance_s": uptime.maintenance_s,
        "outages": len(outages),
        "outage_s": outage_s,
        "min_percent": rule.min_percent,
    }
    tickets = tuple(sorted({e.ticket_id for e in outages if e.ticket_id is not None}))
    if base == 0:
        return Judgement(
            RowResult.UNKNOWN, evidence, "No telemetry covers the period yet.", tickets
        )
    worst = 100.0 * uptime.up_s / base
    best = 100.0 * (uptime.up_s + unknown_s) / base
    evidence["availability_percent"] = round(worst, 3)
    said = (
        f"Up {worst:.2f}% of {_hours(base)} ({_hours(unknown_s)} without data), "
        f"{len(outages)} outage(s) totalling {_hours(outage_s)}; threshold {rule.min_percent}%."
    )
    if best < rule.min_percent:
        return Judgement(RowResult.FAIL, evidence, said, tickets)
    if worst >= rule.min_percent:
        return Judgement(RowResult.PASS, evidence, said, tickets)
    return Judgement(RowResult.UNKNOWN, evidence, said, tickets)


def no_open_fault(
    rule: NoOpenFault, window: Window, uptime: UptimeTotals, episodes: Sequence[EpisodeFact]
) -> Judgement:
    """Fail while a fault of the rule's codes is open at the window's end; the period's episodes
    (count, time in the window) are the evidence. No telemetry at all is unknown."""
    codes = {c.value for c in rule.codes}
    mine = [e for e in episodes if e.code in codes]
    still_open = [e for e in mine if e.recovered_at is None or e.recovered_at > window.end]
    evidence: dict[str, Any] = {
        "codes": sorted(codes),
        "episodes": len(mine),
        "fault_s": sum(_overlap(e.started_at, e.recovered_at, window) for e in mine),
        "open_at_end": len(still_open),
    }
    tickets = tuple(sorted({e.ticket_id for e in mine if e.ticket_id is not None}))
    if still_open:
        names = ", ".join(sorted({e.code for e in still_open}))
        said = f"Still failing at the window's end: {names}; {len(mine)} episode(s) in the period."
        return Judgement(RowResult.FAIL, evidence, said, tickets)
    if not mine and uptime.up_s + uptime.down_s == 0:
        return Judgement(
            RowResult.UNKNOWN, evidence, "No telemetry from this device in the period."
        )
    said = (
        f"{len(mine)} episode(s) in the period, all recovered "
        f"({_hours(evidence['fault_s'])} in total)."
        if mine
        else "No fault of these kinds in the period."
    )
    return Judgement(RowResult.PASS, evidence, said, tickets)


def reading(rule: Reading, fact: ReadingFact) -> Judgement:
    """Fail when a value seen in the period breaks a bound; unknown when none was seen."""
    if fact.low is not None and fact.high is not None:
        low, high, source = fact.low, fact.high, "daily rollups"
    elif fact.latest is not None:
        low = high = fact.latest
        source = "latest reading"
    else:
        evidence: dict[str, Any] = {"check": rule.check}
        return Judgement(RowResult.UNKNOWN, evidence, f"No {rule.check} reading in the period.")
    broken = [
        text
        for text, bad in (
            (f"below {rule.min}", rule.min is not None and low < rule.min),
            (f"above {rule.max}", rule.max is not None and high > rule.max),
            (
                f"beyond ±{rule.max_abs}",
                rule.max_abs is not None and max(abs(low), abs(high)) > rule.max_abs,
            ),
        )
        if bad
    ]
    evidence = {"check": rule.check, "low": low, "high": high, "source": source}
    seen = f"{low:g}" if low == high else f"{low:g} to {high:g}"
    said = f"{rule.check} {seen} ({source})" + (
        f": {', '.join(broken)}." if broken else ", within bounds."
    )
    return Judgement(RowResult.FAIL if broken else RowResult.PASS, evidence, said)


def snapshots(rule: Snapshots, fact: SnapshotFact) -> Judgement:
    """Fail when the share of good snapshots is below the threshold; unknown with none judged."""
    evidence: dict[str, Any] = {"judged": fact.judged, "min_percent": rule.min_percent}
    if fact.judged == 0:
        return Judgement(RowResult.UNKNOWN, evidence, "No snapshot judged in the period.")
    share = 100.0 * fact.good / fact.judged
    evidence |= {"good": round(fact.good), "good_percent": round(share, 3)}
    said = (
        f"{share:.1f}% of {fact.judged} snapshot(s) judged a good picture; "
        f"threshold {rule.min_percent}%."
    )
    return Judgement(RowResult.FAIL if share < rule.min_percent else RowResult.PASS, evidence, said)


def tickets(window: Window, facts: Sequence[TicketFact]) -> Judgement:
    """Site level: tickets opened in the window or still open in it; fail while one of them is
    unfinished past its resolve-by deadline at the window's end."""
    relevant = [
        t
        for t in facts
        if t.created_at < window.end
        and (t.state in OPEN_STATES or (t.resolved_at or t.created_at) >= window.start)
    ]
    opened = [t for t in relevant if t.created_at >= window.start]
    resolved = [
        t
        for t in relevant
        if t.resolved_at is not None and window.start <= t.resolved_at < window.end
    ]
    still_open = [t for t in relevant if t.state in OPEN_STATES and t.resolved_at is None]
    late = [t for t in still_open if t.resolve_by is not None and t.resolve_by < window.end]
    evidence: dict[str, Any] = {
        "opened": len(opened),
        "resolved": len(resolved),
        "open_at_end": len(still_open),
        "overdue": len(late),
    }
    said = (
        f"{len(opened)} ticket(s) opened and {len(resolved)} resolved in the period; "
        f"{len(still_open)} still open, {len(late)} past the resolve-by deadline."
    )
    ids = tuple(sorted(t.id for t in relevant))
    return Judgement(RowResult.FAIL if late else RowResult.PASS, evidence, said, ids)


def judge(
    rule: Evidence,
    window: Window,
    *,
    uptime: UptimeTotals,
    episodes: Sequence[EpisodeFact],
    site_tickets: Sequence[TicketFact],
    readings: Mapping[str, ReadingFact],
    snapshot: SnapshotFact | None = None,
    pictures: Sequence[PictureFault] = (),
) -> Judgement:
    if isinstance(rule, Availability):
        return availability(rule, window, uptime, episodes)
    if isinstance(rule, NoOpenFault):
        judged = no_open_fault(rule, window, uptime, episodes)
        picture_row = FaultCode.CAMERA_IMAGE_ABNORMAL in rule.codes
        return _with_pictures(judged, pictures) if picture_row else judged
    if isinstance(rule, Reading):
        return reading(rule, readings.get(rule.check, ReadingFact()))
    if isinstance(rule, Snapshots):
        return _with_pictures(snapshots(rule, snapshot or SnapshotFact()), pictures)
    assert isinstance(rule, Tickets)
    return tickets(window, site_tickets)
