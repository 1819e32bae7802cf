"""When an IANA zone changes its UTC offset: the instants business-time arithmetic must look at.

Between two such instants a local day's working time is its periods' nominal length, so the
calendar can count whole weeks and years at once and visit only the days around a change
(`BusinessCalendar.working_time`). The table comes from the zone's TZif file (RFC 8536), found
where `zoneinfo` finds it; after the table's last entry the zone follows its yearly rule, whose
changes are found per year by probing `zoneinfo` (a few dozen probes a year, remembered). The
cost of a span is therefore the table entries it covers plus the rule years it covers, never its
length in days. Reading the zone file is the only I/O.
"""

from __future__ import annotations

import bisect
import functools
import math
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from zoneinfo import TZPATH, ZoneInfo

_HEADER = struct.Struct(">4sc15x6l")
_HEADER_SIZE = _HEADER.size
# Years after the table probe the zone's rule this often; POSIX rules change the offset twice a
# year at most, months apart, so no change hides between two probes.
_RULE_PROBE = timedelta(days=14)
_FAR_FUTURE_YEAR = 9999
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EARLIEST = int((datetime(2, 1, 1, tzinfo=UTC) - _EPOCH).total_seconds())
_LATEST = int((datetime(9998, 1, 1, tzinfo=UTC) - _EPOCH).total_seconds())


@dataclass(frozen=True)
class ZoneTable:
    """A zone's explicit offset changes (UTC, ascending) and whether a yearly rule follows."""

    changes: tuple[datetime, ...]
    table_end: datetime  # after this instant only the rule applies
    has_rule: bool


def _zone_bytes(key: str) -> bytes | None:
    """The TZif file `zoneinfo` would load for `key`: the system's TZPATH, then `tzdata`."""
    if key.startswith("/") or ".." in key.split("/"):
        return None
    for root in TZPATH:
        candidate = Path(root) / key
        if candidate.is_file():
            return candidate.read_bytes()
    try:
        package, _, name = f"tzdata.zoneinfo/{key}".rpartition("/")
        return resources.files(package.replace("/", ".")).joinpath(name).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError, OSError, ValueError):
        return None


def _parse_tzif(data: bytes) -> ZoneTable | None:
    """Offset changes from a TZif file (version 2+ 64-bit block preferred); None if unreadable."""
    try:
        magic, version, isut, isstd, leap, timecnt, typecnt, charcnt = _HEADER.unpack_from(data)
        if magic != b"TZif":
            return None
        time_size, offset = 4, _HEADER_SIZE
        if version >= b"2":
            offset += timecnt * 5 + typecnt * 6 + charcnt + leap * 8 + isstd + isut
            magic, version, isut, isstd, leap, timecnt, typecnt, charcnt = _HEADER.unpack_from(
                data, offset
            )
            time_size, offset = 8, offset + _HEADER_SIZE
        times = struct.unpack_from(f">{timecnt}{'q' if time_size == 8 else 'l'}", data, offset)
        offset += timecnt * time_size
        kinds = struct.unpack_from(f">{timecnt}B", data, offset)
        offset += timecnt
        utoffs = [struct.unpack_from(">l", data, offset + 6 * i)[0] for i in range(typecnt)]
        offset += typecnt * 6 + charcnt + leap * (time_size + 4) + isstd + isut
        footer = data[offset:].strip(b"\n") if version >= b"2" else b""
    except struct.error:
        return None
    if not utoffs:
        return None
    changes: list[datetime] = []
    previous = utoffs[0]
    for when, kind in zip(times, kinds, strict=True):
        # Some files open with a "big bang" entry far before year 1: no datetime to place it at.
        if utoffs[kind] != previous and _EARLIEST <= when <= _LATEST:
            changes.append(_EPOCH + timedelta(seconds=when))
        previous = utoffs[kind]
    last = min(max(times[-1], _EARLIEST), _LATEST) if times else _EARLIEST
    return ZoneTable(
        changes=tuple(changes),
        table_end=_EPOCH + timedelta(seconds=last),
        has_rule=b"," in footer,
    )


@functools.lru_cache(maxsize=64)
def zone_table(key: str) -> ZoneTable:
    """The zone's table; a zone whose file cannot be read is treated as rule-only (probed)."""
    data = _zone_bytes(key)
    table = _parse_tzif(data) if data is not None else None
    return table or ZoneTable((), _EPOCH + timedelta(seconds=_EARLIEST), has_rule=True)


def _offset(zone: ZoneInfo, instant: datetime) -> timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None  # ZoneInfo always answers for an aware instant
    return offset


@functools.lru_cache(maxsize=4096)
def _rule_changes(key: str, year: int) -> tuple[datetime, ...]:
    """Offset changes in one UTC year, found by probing every two weeks and bisecting."""
    zone = ZoneInfo(key)
    lo = datetime(year, 1, 1, tzinfo=UTC)
    hi = datetime(year + 1, 1, 1, tzinfo=UTC)
    out: list[datetime] = []
    probe, current = lo, _offset(zone, lo)
    while probe < hi:
        nxt = min(probe + _RULE_PROBE, hi)
        if _offset(zone, nxt) != current:
            low, high = math.floor(probe.timestamp()), math.ceil(nxt.timestamp())
            while high - low > 1:
                mid = (low + high) // 2
                if _offset(zone, datetime.fromtimestamp(mid, UTC)) == current:
                    low = mid
                else:
                    high = mid
            change = datetime.fromtimestamp(high, UTC)
            out.append(change)
            current = _offset(zone, change)
            probe = change
            continue
        probe = nxt
    return tuple(out)


def offset_changes(key: str, lo: datetime, hi: datetime) -> tuple[datetime, ...]:
    """Instants in [lo, hi) at which zone `key` changes its UTC offset, ascending."""
    table = zone_table(key)
    listed = table.changes
    out = list(listed[bisect.bisect_left(listed, lo) : bisect.bisect_left(listed, hi)])
    if table.has_rule and hi > table.table_end:
        first = max(lo, table.table_end)
        # From the year before: a change at 1 January 00:00 UTC is found by the year ending there.
        for year in range(max(first.year - 1, 2), min(hi.year, _FAR_FUTURE_YEAR - 1) + 1):
            found = _rule_changes(key, year)
            out.extend(t for t in found if first <= t < hi and t > table.table_end)
    return tuple(out)
