"""Statutory holidays by default: the shipped yearly lists, missing years flagged, and a
general fault before the Spring Festival break counted on the site's real working days."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from peers.server import provision
from server.db import make_engine, write_session
from server.models import ServicePolicy
from server.sla import PRESETS, BusinessCalendar, SlaCalendarError, compute_deadlines
from server.sla.statutory import combine, country_of, coverage, parse_year, shipped
from server.tickets.policy import parse_sla_settings, service_settings

CST = ZoneInfo("Asia/Shanghai")


def cst(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=CST)


def test_shipped_lists_match_the_state_council_notices() -> None:
    lists = {(y.country, y.year): y.holidays for y in shipped()}
    assert set(lists) == {("cn", 2025), ("cn", 2026)}
    # 2025 notice: 春节 1月28日(除夕)至2月4日, 1月26日、2月8日上班; 国庆中秋 10月1日至8日.
    y2025 = lists[("cn", 2025)]
    assert {date(2025, 1, 28), date(2025, 2, 4), date(2025, 10, 8)} <= y2025.holidays
    assert y2025.workdays == {
        date(2025, 1, 26), date(2025, 2, 8), date(2025, 4, 27), date(2025, 9, 28),
        date(2025, 10, 11),
    }  # fmt: skip
    assert len(y2025.holidays) == 1 + 8 + 3 + 5 + 3 + 8
    # 2026 notice: 春节 2月15日至23日, 2月14日、2月28日上班.
    y2026 = lists[("cn", 2026)]
    assert len(y2026.holidays) == 3 + 9 + 3 + 5 + 3 + 3 + 7
    assert {date(2026, 2, 14), date(2026, 2, 28)} <= y2026.workdays


def test_years_without_a_published_list_are_flagged() -> None:
    (cn,) = coverage(shipped(), this_year=2026)
    assert cn.country == "cn"
    assert cn.years == (2025, 2026)
    assert cn.missing == (2027, 2028)
    loaded = parse_year("2027-02-06..2027-02-12 holiday", country="cn", source="cn-2027.txt")
    (cn,) = coverage([*shipped(), loaded], this_year=2027)
    assert cn.missing == (2028,)
    with pytest.raises(SlaCalendarError, match="one year"):
        parse_year("2027-12-31..2028-01-01 holiday", country="cn", source="x")


def test_site_country_comes_from_its_time_zone() -> None:
    assert country_of("Asia/Shanghai") == "cn"
    assert country_of("Asia/Urumqi") == "cn"
    assert country_of("UTC") is None


def test_default_calendar_puts_a_general_fault_before_spring_festival_on_working_days() -> None:
    policy, hours, weekdays, holidays = parse_sla_settings({})  # no settings: the defaults
    assert policy is PRESETS["security_default"]
    site = BusinessCalendar.office(
        "Asia/Shanghai",
        hours=hours,
        weekdays=weekdays,
        holidays=holidays.merged(combine(shipped())["cn"]),
    )
    fault = cst(2, 14, 10)  # Saturday 14 February: the make-up working day before the break
    d = compute_deadlines(policy, "general", "hq", fault, site)
    assert d.respond_by == cst(2, 14, 12)  # a working day: 2 h later
    # 7.5 h that Saturday, then closed 15-23 February; the last 1.5 h on Tuesday the 24th.
    assert d.on_site_by == cst(2, 24, 10)
    bare = compute_deadlines(
        policy, "general", "hq", fault, BusinessCalendar.office("Asia/Shanghai")
    )
    assert (bare.respond_by, bare.on_site_by) == (cst(2, 16, 10, 30), cst(2, 16, 17, 30))


def test_service_settings_load_the_statutory_list_unless_the_client_turns_it_off(
    database_url: str,
) -> None:
    from server import migrate

    migrate.upgrade(database_url=database_url)
    tenant = provision(database_url, timezone="Asia/Shanghai")
    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            settings = service_settings(session=session, client_id=tenant.client_id, known_codes=[])
            calendar = settings.calendar("Asia/Shanghai")
            fault = cst(2, 14, 10)
            d = compute_deadlines(settings.sla_policy, "general", "default", fault, calendar)
            assert d.on_site_by == cst(2, 24, 10)
            assert not settings.calendar("UTC").holidays.holidays  # no known country
        with write_session(engine) as session:
            session.add(
                ServicePolicy(
                    client_id=tenant.client_id,
                    severity={},
                    sla={"statutory_holidays": False},
                    updated_at=fault,
                )
            )
        with Session(engine) as session:
            settings = service_settings(session=session, client_id=tenant.client_id, known_codes=[])
            d = compute_deadlines(
                settings.sla_policy, "general", "default", fault, settings.calendar("Asia/Shanghai")
            )
            assert d.on_site_by == cst(2, 16, 17, 30)
    finally:
        engine.dispose()
