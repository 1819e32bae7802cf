"""A client's service settings as domain objects: SLA policy, site calendar, severity map.

The `service_policies` row holds plain JSON; this turns it (or its absence) into the SLA
policy and business calendar the pure SLA math takes. Invalid settings are refused when they
are saved (`validate_sla_settings`), so reading them back never fails on a stored value.

SLA settings: `preset` or `policy`; `general_calendar` ("business" where the contract limits
general faults to working hours, although the zone presets run round the clock, 004/A
「实行24小时全天侯服务」); `hours`, `weekdays`; `holidays` (extra list names); `statutory_holidays`
(default true: the site's country's statutory list, 002 篇7 「國家法定假日」); `plan_approval`
(default true: a complex fault's repair plan is approved by a manager before dispatch).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import InvalidInputError
from server.faults.rules import validate_severity_map
from server.models import HolidayYearRow, ServicePolicy, Site
from server.sla import (
    PRESETS,
    BusinessCalendar,
    CalendarMode,
    HolidayList,
    Severity,
    SlaCalendarError,
    SlaConfigError,
    SlaPolicy,
    load_holiday_file,
)
from server.sla.policy import PreventiveTargets
from server.sla.statutory import YearList, combine, country_of, parse_year, shipped

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
    statutory: Mapping[str, HolidayList] = field(default_factory=dict)
    # A complex fault's repair plan needs a manager's approval before dispatch (002 篇9
    # 「經…經理審批…《維修服務單》」, 004/M 「审核检修方案」); a contract may waive it.
    plan_approval: bool = True

    def calendar(self, timezone: str) -> BusinessCalendar:
        """The site's business calendar: these working hours in the site's own time zone,
        closed on its country's statutory holidays and open on the make-up working days."""
        holidays = self.holidays
        country = country_of(timezone)
        if country is not None and country in self.statutory:
            law = self.statutory[country]  # the client's own dates win over the statutory ones
            holidays = holidays.merged(
                HolidayList(law.holidays - holidays.workdays, law.workdays - holidays.holidays)
            )
        return BusinessCalendar.office(
            timezone, hours=self.hours, weekdays=self.weekdays, holidays=holidays
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
    if "general_calendar" in data:
        try:
            mode = CalendarMode(data["general_calendar"])
        except ValueError as err:
            modes = ", ".join(m.value for m in CalendarMode)
            raise SlaConfigError(f"general_calendar must be one of {modes}") from err
        policy = policy.with_calendar(Severity.GENERAL, mode)
    if "preventive" in data:  # the client's own preventive cell over the policy's
        policy = replace(policy, preventive=PreventiveTargets.from_dict(data["preventive"]))
    hours = str(data.get("hours", "08:30-17:30"))
    weekdays = tuple(int(d) for d in data.get("weekdays", range(5)))
    holidays = HolidayList()
    for name in data.get("holidays", []):
        holidays = holidays.merged(load_holiday_file(str(name)))
    BusinessCalendar.office("UTC", hours=hours, weekdays=weekdays, holidays=holidays)  # validates
    for flag in ("statutory_holidays", "plan_approval"):
        if not isinstance(data.get(flag, True), bool):
            raise SlaConfigError(f"{flag} must be true or false")
    return policy, hours, weekdays, holidays


def holiday_lists(*, session: Session) -> list[YearList]:
    """The shipped yearly lists followed by the ones an admin loaded (which win)."""
    loaded = [
        parse_year(row.body, country=row.country, source=row.source)
        for row in session.scalars(select(HolidayYearRow))
    ]
    return [*shipped(), *loaded]


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
        statutory=combine(holiday_lists(session=session))
        if (row.sla if row else {}).get("statutory_holidays", True)
        else {},
        plan_approval=bool((row.sla if row else {}).get("plan_approval", True)),
    )


def set_sla_preset(
    *,
    session: Session,
    client_id: int,
    preset: str,
    general_calendar: CalendarMode | None,
    now: datetime,
) -> SlaPolicy:
    """Point the client's deadlines at a preset, with the contract's hours for general faults
    when given (else the preset's own rule), keeping the other settings; refused when a site of
    the client has a zone the preset gives no deadlines for, naming the sites."""
    row = session.get(ServicePolicy, client_id)
    replaced = ("policy", "preset", "general_calendar")
    sla = {k: v for k, v in (row.sla if row else {}).items() if k not in replaced}
    sla["preset"] = preset
    if general_calendar is not None:
        sla["general_calendar"] = general_calendar.value
    try:
        policy = parse_sla_settings(sla)[0]
    except SlaConfigError as err:
        raise InvalidInputError(str(err)) from err
    sites = session.execute(select(Site.name, Site.zone).where(Site.client_id == client_id)).all()
    uncovered = sorted(f"{name} ({zone})" for name, zone in sites if not policy.covers(zone))
    if uncovered:
        raise InvalidInputError(
            f"SLA preset {preset} has no deadlines for the zone of site(s) {', '.join(uncovered)};"
            f" zones: {', '.join(z for z in policy.zones if z != '*') or 'any'}"
        )
    if row is None:
        session.add(ServicePolicy(client_id=client_id, severity={}, sla=sla, updated_at=now))
    else:
        row.sla = sla
        row.updated_at = now
    session.flush()
    return policy


def load_holiday_year(
    *, session: Session, text: str, country: str, source: str, now: datetime
) -> YearList:
    """Store one country's list for one year (replacing a loaded one for the same year)."""
    try:
        year = parse_year(text, country=country, source=source)
    except SlaCalendarError as err:
        raise InvalidInputError(str(err)) from err
    row = session.get(HolidayYearRow, (year.country, year.year))
    if row is None:
        session.add(
            HolidayYearRow(
                country=year.country, year=year.year, body=text, source=source, loaded_at=now
            )
        )
    else:
        row.body, row.source, row.loaded_at = text, source, now
    session.flush()
    return year
