"""SLA math: policies (severity x zone), business calendars, deadlines and clock states.

Pure functions over aware datetimes; the only I/O is `load_holiday_file`. The ticket layer calls
`ticket_clocks` (or `compute_deadlines` + `clock_state`) with the site's calendar and `now`.

Severities: "emergency", "general" (`Severity`). Zones: free strings `[a-z0-9_]+`; the presets use
the ones in `ZONES` (ring_1, ring_2, ring_3, nearby, urban, county, far, dist_300km, dist_1000km,
dist_over_1000km); a cell with zone "*" covers every zone a policy does not name.
"""

from server.sla.calendar import (
    FULL_DAY,
    OFFICE_DAY,
    BusinessCalendar,
    HolidayList,
    SlaCalendarError,
    WorkingPeriod,
    add_business_time,
    business_time_between,
    load_holiday_file,
    parse_holidays,
)
from server.sla.clock import (
    ALWAYS,
    DEFAULT_NEAR_FRACTION,
    ClockState,
    ClockStatus,
    Deadlines,
    Pause,
    TicketClocks,
    clock_calendar,
    clock_state,
    compute_deadlines,
    ticket_clocks,
)
from server.sla.policy import (
    ANY_ZONE,
    PRESETS,
    WORKING_DAY,
    ZONES,
    CalendarMode,
    Severity,
    SlaClock,
    SlaConfigError,
    SlaPolicy,
    SlaTargets,
)

__all__ = [
    "ALWAYS",
    "ANY_ZONE",
    "DEFAULT_NEAR_FRACTION",
    "FULL_DAY",
    "OFFICE_DAY",
    "PRESETS",
    "WORKING_DAY",
    "ZONES",
    "BusinessCalendar",
    "CalendarMode",
    "ClockState",
    "ClockStatus",
    "Deadlines",
    "HolidayList",
    "Pause",
    "Severity",
    "SlaCalendarError",
    "SlaClock",
    "SlaConfigError",
    "SlaPolicy",
    "SlaTargets",
    "TicketClocks",
    "WorkingPeriod",
    "add_business_time",
    "business_time_between",
    "clock_calendar",
    "clock_state",
    "compute_deadlines",
    "load_holiday_file",
    "parse_holidays",
    "ticket_clocks",
]
