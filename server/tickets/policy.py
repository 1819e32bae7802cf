"""A client's service settings as domain objects: SLA policy, site calendar, severity map.

The `service_policies` row holds plain JSON; this turns it (or its absence) into the SLA
policy and business calendar the pure SLA math takes. Invalid settings are refused when they
are saved (`validate_sla_settings`), so reading them back never fails on a stored value.
"""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.orm import Session

from server.faults.rules import validate_severity_map
from server.models import ServicePolicy
from server.sla import (
    PRESETS,
    BusinessCalendar,
    HolidayList,
    Severity,
    SlaConfigError,
    SlaPolicy,
    load_holiday_file,
)
from server.sla.policy import PreventiveTargets

DEFAULT_PRESET = "security_default"
DEFAULT_QUIET_MINUTES = 30


@dataclass(frozen=True)
class ServiceSettings:
    severity: Mapping[str, Severity]
    sla_policy: SlaPolicy
    hours: str
    weekdays: tuple[int, ...]
    holidays: HolidayList
    recovered_quiet_minutes: int

    def calendar(self, timezone: str) -> BusinessCalendar:
        """The site's business calendar: these working hours in the site's own time zone."""
        return BusinessCalendar.office(
            timezone, hours=self.hours, weekdays=self.weekdays, holidays=self.holidays
        )


def parse_sla_settings(
    data: Mapping[str, Any],
) -> tuple[SlaPolicy, str, tuple[int, ...], HolidayList]:
    """Policy, hours, weekdays and holidays from a settings dict; SlaConfigError when wrong."""
    if "policy" in data:
        policy = SlaPolicy.from_dict(data["policy"])
    else:
        name = data.get("preset", DEFAULT_PRESET)
        if name not in PRESETS:
            raise SlaConfigError(f"unknown SLA preset {name!r} (presets: {', '.join(PRESETS)})")
        policy = PRESETS[name]
    if "preventive" in data:  # the client's own preventive cell over the policy's
        policy = replace(policy, preventive=PreventiveTargets.from_dict(data["preventive"]))
    hours = str(data.get("hours", "08:30-17:30"))
    weekdays = tuple(int(d) for d in data.get("weekdays", range(5)))
    holidays = HolidayList()
    for name in data.get("holidays", []):
        holidays = holidays.merged(load_holiday_file(str(name)))
    BusinessCalendar.office("UTC", hours=hours, weekdays=weekdays, holidays=holidays)  # validates
    return policy, hours, weekdays, holidays


def validate_sla_settings(data: Mapping[str, Any]) -> dict[str, Any]:
    """The settings as they will be stored; raises SlaConfigError (or a calendar error)."""
    parse_sla_settings(data)
    return dict(data)


def service_settings(
    *, session: Session, client_id: int, known_codes: list[str]
) -> ServiceSettings:
    row = session.get(ServicePolicy, client_id)
    severity = validate_severity_map(row.severity, known_codes=known_codes) if row else {}
    policy, hours, weekdays, holidays = parse_sla_settings(row.sla if row else {})
    quiet = row.recovered_quiet_minutes if row and row.recovered_quiet_minutes else None
    return ServiceSettings(
        severity=severity,
        sla_policy=policy,
        hours=hours,
        weekdays=weekdays,
        holidays=holidays,
        recovered_quiet_minutes=quiet or DEFAULT_QUIET_MINUTES,
    )
