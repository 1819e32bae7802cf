"""Recording health from the ONVIF Search service (cameras with edge storage, NVRs): is it still
recording, and how far back does its footage reach.

Every time here is the device's own: "latest recording 20 min ago" is measured against the
device's clock (the agent's clock plus the offset GetSystemDateAndTime gave), so a camera whose
clock is off does not look like one that stopped recording.

`assess` and `recording_checks` are pure; `read_recordings` makes the calls (GetRecordingSummary,
then FindRecordings / GetRecordingSearchResults / EndSearch for the per-recording view that tells
which channel of an NVR stopped).
"""

import asyncio
import contextlib
import datetime as dt
from dataclasses import dataclass
from typing import Any

from zeep.exceptions import Fault

from agent.probes.base import Unsupported
from wire.schema import CheckValue

DEFAULT_STOPPED_AFTER_S = 900.0  # continuous recording; event-only recording needs far more
MAX_RECORDINGS = 256
SEARCH_ROUNDS = 4
# Statuses of recordings that are going away: not "stopped", just not there.
GONE = frozenset({"Removing", "Removed"})


@dataclass(frozen=True)
class RecordingSpan:
    """One recording (one channel or track set) as the device describes it."""

    token: str
    earliest: dt.datetime | None = None
    latest: dt.datetime | None = None
    status: str | None = None  # Initiated | Recording | Stopped | Removing | Removed | Unknown
    name: str | None = None


@dataclass(frozen=True)
class RecordingReport:
    """What the device said, with its clock at the time it said it."""

    device_now: dt.datetime
    data_from: dt.datetime | None = None
    data_until: dt.datetime | None = None
    count: int | None = None
    recordings: tuple[RecordingSpan, ...] = ()


@dataclass(frozen=True)
class RecordingVerdict:
    latest_age_s: float | None
    retention_days: float | None
    count: int
    stopped: tuple[str, ...]  # tokens of the recordings that stopped
    ok: bool
    reason: str


def _age_s(now: dt.datetime, then: dt.datetime | None) -> float | None:
    return None if then is None else max(0.0, (now - then).total_seconds())


def assess(
    report: RecordingReport, *, stopped_after_s: float = DEFAULT_STOPPED_AFTER_S
) -> RecordingVerdict:
    """Recording stopped when any live recording has nothing newer than `stopped_after_s` (or
    says Stopped), or, without per-recording data, when the newest footage is that old."""
    now = report.device_now
    live = [r for r in report.recordings if r.status not in GONE]
    newest = max((r.latest for r in live if r.latest is not None), default=report.data_until)
    oldest = min((r.earliest for r in live if r.earliest is not None), default=report.data_from)
    if report.data_from is not None and (oldest is None or report.data_from < oldest):
        oldest = report.data_from
    latest_age = _age_s(now, newest)
    retention = _age_s(now, oldest)
    retention_days = round(retention / 86400, 2) if retention is not None else None
    count = len(live) if report.recordings else (report.count or 0)
    stopped = tuple(
        r.token
        for r in live
        if r.status == "Stopped" or (age := _age_s(now, r.latest)) is None or age > stopped_after_s
    )
    if count == 0:
        return RecordingVerdict(latest_age, retention_days, 0, (), False, "no recordings")
    if live:
        if stopped:
            names = ", ".join(stopped[:8]) + (" ..." if len(stopped) > 8 else "")
            reason = f"{len(stopped)} of {len(live)} recordings stopped: {names}"
            return RecordingVerdict(latest_age, retention_days, count, stopped, False, reason)
        return RecordingVerdict(latest_age, retention_days, count, (), True, "recording")
    if latest_age is None or latest_age > stopped_after_s:
        reason = (
            "no recent footage" if latest_age is None else f"newest footage {latest_age:.0f} s old"
        )
        return RecordingVerdict(latest_age, retention_days, count, (), False, reason)
    return RecordingVerdict(latest_age, retention_days, count, (), True, "recording")


def recording_checks(verdict: RecordingVerdict) -> dict[str, CheckValue]:
    """The poll's check values; `recording.ok` false is what `storage.recording_stopped` reads."""
    return {
        "recording.ok": verdict.ok,
        "recording.latest_age_s": (
            round(verdict.latest_age_s, 1) if verdict.latest_age_s is not None else None
        ),
        "recording.retention_days": verdict.retention_days,
        "recording.count": verdict.count,
        "recording.stopped_count": len(verdict.stopped),
        "recording.reason": verdict.reason,
    }


# -- reading it from the device ---------------------------------------------------------------


def _time(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return None


def span_of(info: Any) -> RecordingSpan | None:
    """One tt:RecordingInformation as zeep parsed it; None without a token."""
    token = getattr(info, "RecordingToken", None)
    if not token:
        return None
    source = getattr(info, "Source", None)
    return RecordingSpan(
        token=str(token),
        earliest=_time(getattr(info, "EarliestRecording", None)),
        latest=_time(getattr(info, "LatestRecording", None)),
        status=str(getattr(info, "RecordingStatus", None) or "") or None,
        name=str(getattr(source, "Name", None) or "") or None,
    )


async def read_recordings(
    camera: Any, *, agent_now: dt.datetime, wait: dt.timedelta = dt.timedelta(seconds=2)
) -> RecordingReport:
    """Ask a connected `onvif.ONVIFCamera` (xaddrs known) about its recordings. Raises
    Unsupported when the device has no Search service; library errors pass through for the
    probe's own translation. The caller bounds the whole with its deadline."""
    from onvif.exceptions import ONVIFError  # late: `onvif` configures logging on import

    try:
        search = await camera.create_search_service()
    except ONVIFError as err:
        raise Unsupported("no ONVIF Search service (recordings cannot be read)") from err
    offset = getattr(camera, "dt_diff", None)
    device_now = agent_now + offset if isinstance(offset, dt.timedelta) else agent_now
    summary = await search.GetRecordingSummary()
    spans: tuple[RecordingSpan, ...] = ()
    with contextlib.suppress(Fault):  # per-recording search is optional in practice
        spans = await _search_all(search, wait)
    return RecordingReport(
        device_now=device_now,
        data_from=_time(getattr(summary, "DataFrom", None)),
        data_until=_time(getattr(summary, "DataUntil", None)),
        count=getattr(summary, "NumberRecordings", None),
        recordings=spans,
    )


async def _search_all(search: Any, wait: dt.timedelta) -> tuple[RecordingSpan, ...]:
    token = await search.FindRecordings(
        {"Scope": {}, "MaxMatches": MAX_RECORDINGS, "KeepAliveTime": dt.timedelta(seconds=30)}
    )
    spans: list[RecordingSpan] = []
    try:
        for _ in range(SEARCH_ROUNDS):
            results = await search.GetRecordingSearchResults(
                {"SearchToken": token, "MaxResults": MAX_RECORDINGS, "WaitTime": wait}
            )
            for info in getattr(results, "RecordingInformation", None) or []:
                span = span_of(info)
                if span is not None and len(spans) < MAX_RECORDINGS:
                    spans.append(span)
            if getattr(results, "SearchState", None) == "Completed":
                break
    finally:
        # Ends the search job on the device (it would time out by KeepAliveTime otherwise).
        with contextlib.suppress(Fault, asyncio.TimeoutError):
            await search.EndSearch({"SearchToken": token})
    return tuple(spans)
