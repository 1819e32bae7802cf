"""Statutory public holidays by country: the shipped yearly lists, which years are missing.

The security seeds count general faults in working days (000 「[X]個工作日內到達現場」) and
name the statutory holidays as closed days (002 篇7 「節假日主要是指國家法定假日,包括元五一、
國慶、元旦和春節」), so a site's default calendar carries its country's list with the make-up
working days (调休上班). Lists are published a year at a time (mainland China: the State
Council General Office notice, usually in November); a year without a list is reported by
`coverage`, never treated as a year without holidays in silence.

A site's country comes from its IANA time zone (`COUNTRY_OF_ZONE`). The only I/O is reading
the shipped files in `server/sla/holidays/`, named `<country>-<year>.txt`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from server.sla.calendar import HOLIDAYS_DIR, HolidayList, SlaCalendarError, parse_holidays

# Zones whose statutory holidays are mainland China's (the zone.tab entries for CN and their
# backward-compatible aliases).
COUNTRY_OF_ZONE: Mapping[str, str] = {
    "Asia/Shanghai": "cn",
    "Asia/Urumqi": "cn",
    "Asia/Chongqing": "cn",
    "Asia/Chungking": "cn",
    "Asia/Harbin": "cn",
    "PRC": "cn",
}
# The years a deployment is expected to have lists for, at least (2025-2028, as
# docs/sla-and-notifications.md says); `coverage` adds the current and the next year.
EXPECTED_YEARS = range(2025, 2029)

_FILE = re.compile(r"(?P<country>[a-z]{2})-(?P<year>\d{4})\.txt")


def country_of(timezone: str) -> str | None:
    """The country whose statutory holidays a site in this zone keeps, if we know it."""
    return COUNTRY_OF_ZONE.get(timezone)


@dataclass(frozen=True)
class YearList:
    """One country's holidays and make-up days of one year, and where they came from."""

    country: str
    year: int
    holidays: HolidayList
    source: str


def parse_year(text: str, *, country: str, source: str) -> YearList:
    """A yearly list; every holiday must fall in one year (make-up days may spill into the
    neighbouring one, as a New Year make-up Sunday in late December does)."""
    if not re.fullmatch(r"[a-z]{2}", country):
        raise SlaCalendarError(f"{source}: country must be two lowercase letters, got {country!r}")
    parsed = parse_holidays(text, source=source)
    years = {d.year for d in parsed.holidays}
    if len(years) != 1:
        found = ", ".join(str(y) for y in sorted(years)) or "none"
        raise SlaCalendarError(f"{source}: holidays must all fall in one year (found: {found})")
    return YearList(country=country, year=years.pop(), holidays=parsed, source=source)


@functools.lru_cache(maxsize=4)
def shipped(directory: Path = HOLIDAYS_DIR) -> tuple[YearList, ...]:
    """Every list shipped with secmon, by country and year (read once per directory)."""
    out = []
    for path in sorted(directory.glob("*.txt")):
        match = _FILE.fullmatch(path.name)
        if match is None:
            continue
        year = parse_year(
            path.read_text(encoding="utf-8"), country=match["country"], source=path.name
        )
        if year.year != int(match["year"]):
            raise SlaCalendarError(f"{path.name}: holidays are in {year.year}")
        out.append(year)
    return tuple(out)


def combine(lists: Iterable[YearList]) -> dict[str, HolidayList]:
    """One holiday list per country; a later list for the same country and year replaces an
    earlier one (a loaded file corrects a shipped one)."""
    by_year: dict[tuple[str, int], YearList] = {}
    for item in lists:
        by_year[(item.country, item.year)] = item
    out: dict[str, HolidayList] = {}
    for (country, _), item in sorted(by_year.items()):
        out[country] = out.get(country, HolidayList()).merged(item.holidays)
    return out


@dataclass(frozen=True)
class Coverage:
    """Which years of a country have a list, and which expected ones do not."""

    country: str
    years: tuple[int, ...]
    missing: tuple[int, ...]


def coverage(lists: Iterable[YearList], *, this_year: int) -> list[Coverage]:
    """Per country: the years with a list and the missing ones among `EXPECTED_YEARS`, this
    year and the next (a deadline late in December runs into January)."""
    years: dict[str, set[int]] = {country: set() for country in set(COUNTRY_OF_ZONE.values())}
    for item in lists:
        years.setdefault(item.country, set()).add(item.year)
    wanted = set(EXPECTED_YEARS) | {this_year, this_year + 1}
    return [
        Coverage(
            country=country,
            years=tuple(sorted(have)),
            missing=tuple(sorted(wanted - have)),
        )
        for country, have in sorted(years.items())
    ]
