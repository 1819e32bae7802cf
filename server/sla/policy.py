"""SLA policies: a matrix severity x site zone → targets, and the presets taken from the seeds.

Zones are open-ended strings because every contract names its own (ring roads, districts,
counties, distance bands); the ones the presets use are listed in `ZONES`. A cell keyed by the
zone `"*"` applies to every zone the policy does not name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """The two fault classes of the security seed (000 §1.1)."""

    EMERGENCY = "emergency"  # 安防系統癱瘓、報警系統失效
    GENERAL = "general"  # 監控設備圖像異常、門禁系統刷卡故障


class CalendarMode(StrEnum):
    """How a clock counts: every hour (7x24) or only the site's working hours."""

    ALWAYS = "24x7"
    BUSINESS = "business"


class SlaClock(StrEnum):
    """The three clocks of a ticket and the ticket event that stops each."""

    RESPOND = "respond"  # stopped by acknowledge
    ON_SITE = "on_site"  # stopped by arrival on site
    RESOLVE = "resolve"  # stopped by resolve


ANY_ZONE = "*"

# The zones the presets use (004/A ring roads, 004/K city/county, 004/L distance tiers).
ZONES: Mapping[str, str] = {
    "ring_1": "inside the 1st ring road (004/A: on site 2.0 h)",
    "ring_2": "inside the 2nd ring road (004/A: 3.0 h)",
    "ring_3": "between the 2nd and 3rd ring roads (004/A: 4 h)",
    "nearby": "neighbouring cities/counties outside the urban area (004/A: 6 h)",
    "urban": "inside the urban area (004/K: 2.0 h)",
    "county": "counties under the city (004/K: 6.0 h)",
    "far": "distant cities/counties, other provinces: per contract (004/A, 004/K), no preset",
    "dist_300km": "within 300 km (004/L: 24 h)",
    "dist_1000km": "within 1000 km (004/L: 48 h)",
    "dist_over_1000km": "beyond 1000 km (004/L: 72 h)",
}

_ZONE_NAME = re.compile(r"[a-z0-9_]+|\*")


class SlaConfigError(ValueError):
    """A policy is malformed or has no cell for a severity x zone."""


@dataclass(frozen=True)
class SlaTargets:
    """Deadlines of one matrix cell, as running time after the clock starts."""

    respond: timedelta
    on_site: timedelta
    resolve: timedelta
    calendar: CalendarMode = CalendarMode.ALWAYS
    pausable: bool = False  # may the clock stop while waiting for the client?

    def __post_init__(self) -> None:
        for name in ("respond", "on_site", "resolve"):
            value = getattr(self, name)
            if not isinstance(value, timedelta) or value <= timedelta(0):
                raise SlaConfigError(f"{name} must be a positive duration, got {value!r}")
        object.__setattr__(self, "calendar", CalendarMode(self.calendar))

    def target(self, clock: SlaClock) -> timedelta:
        duration: timedelta = getattr(self, clock.value)
        return duration

    def to_dict(self) -> dict[str, Any]:
        return {
            "respond_minutes": self.respond / timedelta(minutes=1),
            "on_site_minutes": self.on_site / timedelta(minutes=1),
            "resolve_minutes": self.resolve / timedelta(minutes=1),
            "calendar": self.calendar.value,
            "pausable": self.pausable,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "targets") -> SlaTargets:
        """From `{respond_minutes, on_site_minutes, resolve_minutes, calendar, pausable}`."""
        try:
            return cls(
                respond=timedelta(minutes=float(data["respond_minutes"])),
                on_site=timedelta(minutes=float(data["on_site_minutes"])),
                resolve=timedelta(minutes=float(data["resolve_minutes"])),
                calendar=CalendarMode(data.get("calendar", CalendarMode.ALWAYS.value)),
                pausable=bool(data.get("pausable", False)),
            )
        except KeyError as err:
            raise SlaConfigError(f"{where}: missing {err.args[0]}") from err
        except (TypeError, ValueError) as err:
            raise SlaConfigError(f"{where}: {err}") from err


Cell = tuple[Severity, str]


@dataclass(frozen=True)
class PreventiveTargets:
    """The cell of preventive tickets: a forecast, not a fault, so no respond or on-site clock;
    resolve `margin_days` before the projected date, never sooner than `min_notice_days` after
    the ticket opens (a forecast that is already close still gets time to plan a visit)."""

    margin_days: int = 7
    min_notice_days: int = 3

    def __post_init__(self) -> None:
        for name in ("margin_days", "min_notice_days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise SlaConfigError(f"{name} must be a whole number ≥ 0, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"margin_days": self.margin_days, "min_notice_days": self.min_notice_days}

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "preventive") -> PreventiveTargets:
        if not isinstance(data, Mapping):
            raise SlaConfigError(f"{where}: expected a mapping, got {data!r}")
        unknown = set(data) - {"margin_days", "min_notice_days"}
        if unknown:
            raise SlaConfigError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        try:
            return cls(**data)
        except SlaConfigError as err:
            raise SlaConfigError(f"{where}: {err}") from err


@dataclass(frozen=True)
class SlaPolicy:
    """A named severity x zone matrix; `cells[(severity, zone)]` gives the targets."""

    name: str
    cells: Mapping[Cell, SlaTargets]
    description: str = ""
    source: str = ""
    preventive: PreventiveTargets = field(default_factory=PreventiveTargets)
    _index: dict[Cell, SlaTargets] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[Cell, SlaTargets] = {}
        for (severity, zone), targets in self.cells.items():
            if not _ZONE_NAME.fullmatch(zone):
                raise SlaConfigError(f"policy {self.name}: zone {zone!r} must match [a-z0-9_]+")
            index[(Severity(severity), zone)] = targets
        object.__setattr__(self, "_index", index)

    @property
    def zones(self) -> list[str]:
        return sorted({zone for _, zone in self._index})

    def targets(self, severity: Severity | str, zone: str) -> SlaTargets:
        """The cell for this severity and zone (or the severity's `"*"` cell)."""
        try:
            sev = Severity(severity)
        except ValueError as err:
            raise SlaConfigError(f"unknown severity {severity!r}") from err
        found = self._index.get((sev, zone)) or self._index.get((sev, ANY_ZONE))
        if found is None:
            known = ", ".join(z for s, z in sorted(self._index) if s is sev) or "none"
            raise SlaConfigError(
                f"policy {self.name} has no {sev.value} targets for zone {zone!r} "
                f"(zones: {known}); add a per-contract cell"
            )
        return found

    def covers(self, zone: str) -> bool:
        """Whether every severity has targets in this zone (its own cell or a `"*"` one)."""
        return all((sev, zone) in self._index or (sev, ANY_ZONE) in self._index for sev in Severity)

    def check_zone(self, zone: str) -> None:
        """Refuse a site zone the policy gives no deadlines for, naming the zones it knows."""
        if _ZONE_NAME.fullmatch(zone) and zone != ANY_ZONE and self.covers(zone):
            return
        named = [z for z in self.zones if z != ANY_ZONE and self.covers(z)]
        if self.covers(ANY_ZONE):
            known = "it takes any name of lowercase letters, digits and '_'"
            known += f" ({', '.join(named)} have their own targets)" if named else ""
        else:
            known = f"zones: {', '.join(named) or 'none'}"
        raise SlaConfigError(f"zone {zone!r} is not a zone of SLA policy {self.name}; {known}")

    def with_cells(self, overrides: Mapping[Cell, SlaTargets], *, name: str = "") -> SlaPolicy:
        """A copy with per-contract cells added or replaced (e.g. the 'far' zone)."""
        return SlaPolicy(
            name=name or self.name,
            cells={**self._index, **overrides},
            description=self.description,
            source=self.source,
            preventive=self.preventive,
        )

    def with_calendar(self, severity: Severity, calendar: CalendarMode) -> SlaPolicy:
        """A copy whose `severity` cells count on `calendar`: a contract that limits general
        faults to business hours, where the preset's regulation says round the clock."""
        return self.with_cells(
            {
                key: replace(targets, calendar=calendar)
                for key, targets in self._index.items()
                if key[0] is severity
            }
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "cells": [
                {"severity": sev.value, "zone": zone, **t.to_dict()}
                for (sev, zone), t in sorted(self._index.items())
            ],
            "preventive": self.preventive.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SlaPolicy:
        """Inverse of `to_dict`; errors name the cell."""
        name = str(data.get("name", "custom"))
        cells: dict[Cell, SlaTargets] = {}
        for i, cell in enumerate(data.get("cells", [])):
            where = f"policy {name} cell {i}"
            try:
                key = (Severity(cell["severity"]), str(cell["zone"]))
            except (KeyError, ValueError) as err:
                raise SlaConfigError(f"{where}: severity and zone required ({err})") from err
            if key in cells:
                raise SlaConfigError(f"{where}: duplicate cell {key[0].value} x {key[1]}")
            cells[key] = SlaTargets.from_dict(cell, where=where)
        if not cells:
            raise SlaConfigError(f"policy {name}: no cells")
        preventive = data.get("preventive")
        return cls(
            name=name,
            cells=cells,
            description=str(data.get("description", "")),
            source=str(data.get("source", "")),
            preventive=PreventiveTargets()
            if preventive is None
            else PreventiveTargets.from_dict(preventive, where=f"policy {name} preventive"),
        )


def _h(hours: float) -> timedelta:
    return timedelta(hours=hours)


# One working day of the default 08:30-17:30 calendar, for the seeds' "working day" deadlines.
WORKING_DAY = _h(9)

# 000 with the defaults of seed §13.1 for its blanks: emergency respond 30 min, on site 4 h
# (001 「30分钟内响应,4小时内到达现场(针对紧急故障)」), 7x24 (000: outside working hours an
# emergency 「應立即趕赴現場」). Resolve: 004/D 「如有严重问题24小时给予解决」.
_EMERGENCY = SlaTargets(respond=timedelta(minutes=30), on_site=_h(4), resolve=_h(24))
# General: respond 2 h (003 方案3 「2小時內給予安排」), on site 1 working day (000
# 「[X]個工作日內到達現場」, §13.1 default 1), resolve 48 h (003 方案3 「48小時內完成維修」) read as
# two working days; business hours; pausable while waiting for the client.
_GENERAL = SlaTargets(
    respond=_h(2),
    on_site=WORKING_DAY,
    resolve=2 * WORKING_DAY,
    calendar=CalendarMode.BUSINESS,
    pausable=True,
)
# Zone presets: 004/A and 004/K promise 「排故工作按随叫随到的原则,实行24小时全天侯服务」 with the
# arrival time 「接到客户通知开始」, so every clock of both severities counts calendar hours.
ROUND_THE_CLOCK_REPAIR = "004/A 「实行24小时全天侯服务」「接到客户通知开始」"
_GENERAL_RESOLVE_24X7 = _h(48)  # 003 方案3 「應在接到維修任務后48小時內完成維修」


def _zoned(on_site_hours: Mapping[str, float]) -> SlaPolicy:
    """The zone's arrival time for both severities (004/A, 004/K: 「一般情况下」, no split by
    severity), every clock 7x24. Emergency: respond 30 min, resolve max(24 h, on site + 4 h).
    General: respond 2 h, resolve max(48 h, 2 x on site), pausable while waiting for the client."""
    cells: dict[Cell, SlaTargets] = {}
    for zone, hours in on_site_hours.items():
        cells[(Severity.EMERGENCY, zone)] = SlaTargets(
            respond=_EMERGENCY.respond,
            on_site=_h(hours),
            resolve=max(_EMERGENCY.resolve, _h(hours) + _h(4)),
        )
        cells[(Severity.GENERAL, zone)] = SlaTargets(
            respond=_GENERAL.respond,
            on_site=_h(hours),
            resolve=max(_GENERAL_RESOLVE_24X7, 2 * _h(hours)),
            calendar=CalendarMode.ALWAYS,
            pausable=True,
        )
    return SlaPolicy(name="", cells=cells)


def _named(policy: SlaPolicy, name: str, description: str, source: str) -> SlaPolicy:
    return SlaPolicy(
        name=name,
        cells=policy.cells,
        description=description,
        source=source,
        preventive=policy.preventive,
    )


PRESETS: Mapping[str, SlaPolicy] = {
    "security_default": SlaPolicy(
        name="security_default",
        cells={(Severity.EMERGENCY, ANY_ZONE): _EMERGENCY, (Severity.GENERAL, ANY_ZONE): _GENERAL},
        description="Emergency 30 min / 4 h on site, 7x24; general 2 h / 1 working day, "
        "business hours; every zone.",
        source="000 §2.1 「[X]個工作日內到達現場」 with the seed §13.1 defaults; 001 30 min / 4 h; "
        "004/D 24 h",
    ),
    "ring_road": _named(
        _zoned({"ring_1": 2.0, "ring_2": 3.0, "ring_3": 4.0, "nearby": 6.0}),
        "ring_road",
        "On site by ring-road zone 2 / 3 / 4 / 6 h from the client's notice, round the clock "
        "for emergency and general faults alike. Zone 'far' is per contract.",
        "004/A 「一环路以内2.0小时赶到现场;二环路以内,3.0小时赶到现场;二环路以外,三环路以内,4小时"
        "赶到现场;市区以外邻近的市、县6小时赶到现场」; " + ROUND_THE_CLOCK_REPAIR,
    ),
    "city_county": _named(
        _zoned({"urban": 2.0, "county": 6.0}),
        "city_county",
        "On site urban 2 h, county 6 h from the client's notice, round the clock for emergency "
        "and general faults alike. Zone 'far' is per contract.",
        "004/K 「市区内 2.0小时赶到现场;市区所辖县以内,6.0小时赶到现场」; "
        + ROUND_THE_CLOCK_REPAIR,
    ),
    "distance_bands": _named(
        _zoned({"dist_300km": 24.0, "dist_1000km": 48.0, "dist_over_1000km": 72.0}),
        "distance_bands",
        "On site within 24 / 48 / 72 h by distance (≤300 km, ≤1000 km, beyond), calendar hours "
        "for both severities.",
        "004/L 「300公里以内为24小时内,1000公里内为48小时,1000公里以外72小时内」",
    ),
    "telecom": SlaPolicy(
        name="telecom",
        cells={
            (Severity.EMERGENCY, ANY_ZONE): SlaTargets(
                respond=timedelta(minutes=30), on_site=_h(4), resolve=_h(24)
            ),
            (Severity.GENERAL, ANY_ZONE): SlaTargets(
                respond=_h(2), on_site=_h(24), resolve=_h(48), pausable=True
            ),
        },
        description="Telecom-equipment manual: emergency 30 min / 4 h, 7x24 support; general "
        "2 h response, 24 h on site (spare part to site), 48 h repair.",
        source="001 「30分钟内响应,4小时内到达现场」「7x24小时」「24小时」; 003 48 h",
    ),
}
