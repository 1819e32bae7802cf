"""SLA policies, deadlines and clock states: presets from the seeds, pauses, statuses."""

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.sla import (
    ALWAYS,
    PRESETS,
    ZONES,
    BusinessCalendar,
    CalendarMode,
    ClockStatus,
    Pause,
    Severity,
    SlaClock,
    SlaConfigError,
    SlaPolicy,
    SlaTargets,
    add_business_time,
    business_time_between,
    clock_state,
    compute_deadlines,
    load_holiday_file,
    ticket_clocks,
)

SHANGHAI = BusinessCalendar.office("Asia/Shanghai", holidays=load_holiday_file("cn-2026"))
# A ring-road contract that limits general faults to business hours, for the business-time cases.
RING_OFFICE = PRESETS["ring_road"].with_calendar(Severity.GENERAL, CalendarMode.BUSINESS)
instants = st.datetimes(
    min_value=datetime(2025, 10, 1), max_value=datetime(2027, 3, 1), timezones=st.just(UTC)
)
cells = st.sampled_from(
    [(name, sev, zone) for name, p in PRESETS.items() for sev in Severity for zone in p.zones]
)


def cst(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo("Asia/Shanghai"))


# The regulation tables, written down here from the seed text (seed-requirements.md §2.1), not
# from server/sla/policy.py: zone → hours to arrive on site, counted from the client's notice
# (「接到客户通知开始」) round the clock (「排故工作按随叫随到的原则,实行24小时全天侯服务」).
# 004/A 「一环路以内2.0小时赶到现场;二环路以内,3.0小时赶到现场;二环路以外,三环路以内,4小时赶到
# 现场;市区以外邻近的市、县6小时赶到现场」
RING_ROAD_004A = {"ring_1": 2.0, "ring_2": 3.0, "ring_3": 4.0, "nearby": 6.0}
# 004/K 「市区内 2.0小时赶到现场;市区所辖县以内,6.0小时赶到现场」
CITY_COUNTY_004K = {"urban": 2.0, "county": 6.0}
# 004/L 「300公里以内为24小时内,1000公里内为48小时,1000公里以外72小时内」
DISTANCE_004L = {"dist_300km": 24.0, "dist_1000km": 48.0, "dist_over_1000km": 72.0}
# Response: emergency 30 min (001 「收到客户报修后30分钟内响应」), general 2 h (003 方案3
# 「2小時內給予安排」). Resolve: emergency 24 h (004/D 「如有严重问题24小时给予解决」) or
# arrival + 4 h if later; general 48 h (003 方案3 「48小時內完成維修」) or twice the arrival
# time if later.
RESPOND = {Severity.EMERGENCY: 0.5, Severity.GENERAL: 2.0}


def _resolve(severity: Severity, on_site: float) -> float:
    return max(24.0, on_site + 4) if severity is Severity.EMERGENCY else max(48.0, 2 * on_site)


@pytest.mark.parametrize(
    ("preset", "table"),
    [
        ("ring_road", RING_ROAD_004A),
        ("city_county", CITY_COUNTY_004K),
        ("distance_bands", DISTANCE_004L),
    ],
)
def test_zone_presets_carry_every_number_of_the_regulation_round_the_clock(
    preset: str, table: dict[str, float]
) -> None:
    policy = PRESETS[preset]
    assert sorted(policy.zones) == sorted(table)  # 'far' is per contract: no preset cell
    for zone, hours in table.items():
        for severity in Severity:
            cell = policy.targets(severity, zone)
            got = (cell.respond, cell.on_site, cell.resolve, cell.calendar)
            want = (
                timedelta(hours=RESPOND[severity]),
                timedelta(hours=hours),  # the same arrival time for emergency and general
                timedelta(hours=_resolve(severity, hours)),
                CalendarMode.ALWAYS,
            )
            assert got == want, (preset, zone, severity)
            assert cell.pausable is (severity is Severity.GENERAL)


def test_emergency_arrival_in_the_six_hour_zones_is_six_hours_from_the_notice() -> None:
    notice = cst(2026, 3, 7, 22, 0)  # Saturday night: the clock still runs
    for preset, zone in (("ring_road", "nearby"), ("city_county", "county")):
        for severity in Severity:
            d = compute_deadlines(PRESETS[preset], severity, zone, notice, SHANGHAI)
            assert d.on_site_by == notice + timedelta(hours=6), (preset, severity)


def test_a_contract_in_business_hours_moves_general_faults_only() -> None:
    contract = PRESETS["ring_road"].with_calendar(Severity.GENERAL, CalendarMode.BUSINESS)
    assert contract.targets("general", "ring_2").calendar is CalendarMode.BUSINESS
    assert contract.targets("general", "ring_2").on_site == timedelta(hours=3)
    assert contract.targets("emergency", "ring_2") == PRESETS["ring_road"].targets(
        "emergency", "ring_2"
    )


def test_other_presets_carry_the_seed_numbers() -> None:
    default = PRESETS["security_default"]
    assert default.targets("emergency", "anything").on_site == timedelta(hours=4)
    assert default.targets("general", "anything").calendar is CalendarMode.BUSINESS
    assert default.targets("general", "anything").on_site == timedelta(hours=9)  # 1 working day
    for policy in PRESETS.values():
        for zone in policy.zones:
            emergency = policy.targets("emergency", zone)
            assert emergency.calendar is CalendarMode.ALWAYS
            assert not emergency.pausable


def test_missing_zone_is_a_clear_error_and_a_contract_cell_fixes_it() -> None:
    ring = PRESETS["ring_road"]
    with pytest.raises(SlaConfigError, match=r"no general targets for zone 'far'.*ring_1"):
        ring.targets("general", "far")
    with pytest.raises(SlaConfigError, match="unknown severity"):
        ring.targets("minor", "ring_1")
    contract = ring.with_cells(
        {
            (Severity.GENERAL, "far"): SlaTargets(
                timedelta(hours=4), timedelta(hours=30), timedelta(hours=60)
            )
        }
    )
    assert contract.targets("general", "far").on_site == timedelta(hours=30)


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("zone", [*sorted(ZONES), "default", "ring-2", "Ring_2", "*", ""])
def test_check_zone_accepts_exactly_the_zones_with_deadlines_for_every_severity(
    preset: str, zone: str
) -> None:
    policy = PRESETS[preset]
    try:
        for severity in Severity:
            policy.targets(severity, zone)
        has_deadlines = re.fullmatch("[a-z0-9_]+", zone) is not None
    except SlaConfigError:
        has_deadlines = False
    if has_deadlines:
        policy.check_zone(zone)
    else:
        with pytest.raises(
            SlaConfigError, match=re.escape(f"zone {zone!r} is not a zone of SLA policy")
        ):
            policy.check_zone(zone)


def test_check_zone_names_the_zones_every_severity_covers() -> None:
    contract = PRESETS["ring_road"].with_cells(
        {
            (Severity.EMERGENCY, "far"): SlaTargets(
                timedelta(hours=1), timedelta(hours=8), timedelta(hours=24)
            )
        },
        name="acme",
    )
    with pytest.raises(SlaConfigError, match=r"zones: nearby, ring_1, ring_2, ring_3$"):
        contract.check_zone("far")  # an emergency cell alone leaves general faults without one
    with pytest.raises(SlaConfigError, match=r"any name of .* digits and '_'$"):
        PRESETS["security_default"].check_zone("ring-2")


def test_policy_round_trips_through_a_dict_and_rejects_bad_cells() -> None:
    for policy in PRESETS.values():
        again = SlaPolicy.from_dict(policy.to_dict())
        assert again.to_dict() == policy.to_dict()
    with pytest.raises(SlaConfigError, match="cell 0: missing on_site_minutes"):
        SlaPolicy.from_dict(
            {
                "name": "x",
                "cells": [
                    {"severity": "general", "zone": "a", "respond_minutes": 5, "resolve_minutes": 9}
                ],
            }
        )
    cell = {
        "severity": "general",
        "zone": "a",
        "respond_minutes": 1,
        "on_site_minutes": 2,
        "resolve_minutes": 3,
    }
    with pytest.raises(SlaConfigError, match="duplicate"):
        SlaPolicy.from_dict({"name": "x", "cells": [cell, cell]})
    with pytest.raises(SlaConfigError, match="positive"):
        SlaTargets(timedelta(0), timedelta(hours=1), timedelta(hours=2))
    with pytest.raises(SlaConfigError, match="must match"):
        SlaPolicy(
            name="x",
            cells={(Severity.GENERAL, "Ring 1"): PRESETS["telecom"].targets("general", "*")},
        )


@settings(deadline=None)
@given(cell=cells, start=instants)
def test_deadlines_follow_the_cell_and_never_precede_the_start(
    cell: tuple[str, Severity, str], start: datetime
) -> None:
    name, severity, zone = cell
    policy = PRESETS[name]
    targets = policy.targets(severity, zone)
    d = compute_deadlines(policy, severity, zone, start, SHANGHAI)
    assert start <= d.respond_by
    assert targets.on_site <= targets.resolve
    assert start <= d.on_site_by <= d.resolve_by
    assert d.respond_by.tzinfo is UTC
    cal = SHANGHAI if targets.calendar is CalendarMode.BUSINESS else ALWAYS
    assert business_time_between(cal, start, d.on_site_by) == targets.on_site
    if severity is Severity.EMERGENCY:  # 7x24: plain elapsed time, holidays or not
        assert d.respond_by == start + targets.respond
        assert d.on_site_by == start + targets.on_site


def test_emergency_during_spring_festival_runs_round_the_clock() -> None:
    start = cst(2026, 2, 17, 3, 0)  # the first day of the lunar year, 3 a.m.
    d = compute_deadlines(PRESETS["ring_road"], "emergency", "ring_2", start, SHANGHAI)
    assert d.respond_by == start + timedelta(minutes=30)
    assert d.on_site_by == start + timedelta(hours=3)
    general = compute_deadlines(PRESETS["ring_road"], "general", "ring_2", start, SHANGHAI)
    assert general.on_site_by == start + timedelta(hours=3)  # 004/A: 24-hour service
    office = compute_deadlines(RING_OFFICE, "general", "ring_2", start, SHANGHAI)
    assert office.respond_by == cst(2026, 2, 24, 10, 30)  # first working day after the break


def test_pauses_move_pausable_deadlines_only() -> None:
    start = cst(2026, 3, 2, 9, 0)  # Monday
    pause = Pause(cst(2026, 3, 2, 9, 30), cst(2026, 3, 2, 10, 30))
    ring = PRESETS["ring_road"]
    plain = compute_deadlines(ring, "general", "ring_1", start, SHANGHAI)
    paused = compute_deadlines(ring, "general", "ring_1", start, SHANGHAI, [pause])
    assert paused.respond_by - plain.respond_by == timedelta(hours=1)
    emergency = compute_deadlines(ring, "emergency", "ring_1", start, SHANGHAI, [pause])
    assert emergency == compute_deadlines(ring, "emergency", "ring_1", start, SHANGHAI)
    with pytest.raises(ValueError, match="open pause needs"):
        compute_deadlines(ring, "general", "ring_1", start, SHANGHAI, [Pause(start)])
    with pytest.raises(ValueError, match="before it starts"):
        Pause(start, start - timedelta(seconds=1))


def test_clock_states_at_the_edges() -> None:
    start = datetime(2026, 5, 6, 8, 0, tzinfo=UTC)
    deadline = start + timedelta(minutes=100)
    at = [start + timedelta(minutes=m) for m in (0, 79, 80, 100)]
    statuses = [clock_state(deadline, start, now).status for now in at]
    assert statuses == [
        ClockStatus.OK,
        ClockStatus.OK,
        ClockStatus.NEAR_BREACH,
        ClockStatus.NEAR_BREACH,
    ]
    late = clock_state(deadline, start, deadline + timedelta(microseconds=1))
    assert late.status is ClockStatus.BREACHED
    assert late.remaining == timedelta(microseconds=-1)
    met = clock_state(deadline, start, deadline + timedelta(hours=5), met_at=deadline)
    assert (met.status, met.remaining, met.elapsed_fraction) == (ClockStatus.MET, timedelta(0), 1.0)
    missed = clock_state(deadline, start, deadline, met_at=deadline + timedelta(seconds=1))
    assert missed.status is ClockStatus.MISSED
    assert (
        clock_state(deadline, start, start + timedelta(minutes=50), near_fraction=0.5).status
        is ClockStatus.NEAR_BREACH
    )
    with pytest.raises(ValueError, match="near_fraction"):
        clock_state(deadline, start, start, near_fraction=0.0)


@settings(deadline=None)
@given(
    start=instants, minutes=st.integers(1, 5000), a=st.integers(0, 20000), b=st.integers(0, 20000)
)
def test_elapsed_fraction_grows_with_time_and_parts_add_up(
    start: datetime, minutes: int, a: int, b: int
) -> None:
    deadline = add_business_time(SHANGHAI, start, timedelta(minutes=minutes))
    early, late = sorted((a, b))
    s1 = clock_state(deadline, start, start + timedelta(minutes=early), calendar=SHANGHAI)
    s2 = clock_state(deadline, start, start + timedelta(minutes=late), calendar=SHANGHAI)
    assert s1.elapsed_fraction <= s2.elapsed_fraction
    assert s1.remaining >= s2.remaining
    for s in (s1, s2):
        assert s.target == timedelta(minutes=minutes)
        assert s.elapsed + s.remaining == s.target
    order = [ClockStatus.OK, ClockStatus.NEAR_BREACH, ClockStatus.BREACHED]
    assert order.index(s1.status) <= order.index(s2.status)


def test_ticket_clocks_in_business_hours_with_an_open_pause() -> None:
    start = cst(2026, 3, 2, 9, 0)  # Monday 09:00, general, ring_1: respond 2 h, on site 2 h
    now = cst(2026, 3, 2, 10, 0)
    waiting = Pause(cst(2026, 3, 2, 9, 30))  # waiting for the client since 09:30, still open
    clocks = ticket_clocks(RING_OFFICE, "general", "ring_1", start, SHANGHAI, now, pauses=[waiting])
    assert clocks.respond.paused
    assert clocks.respond.elapsed == timedelta(minutes=30)
    assert clocks.deadlines.respond_by == cst(2026, 3, 2, 11, 30)  # moved on by the open pause
    acked = ticket_clocks(
        RING_OFFICE,
        "general",
        "ring_1",
        start,
        SHANGHAI,
        now,
        acknowledged_at=cst(2026, 3, 2, 9, 10),
    )
    assert acked.respond.status is ClockStatus.MET
    assert acked.on_site.status is ClockStatus.OK
    assert acked.state(SlaClock.RESOLVE).deadline == acked.deadlines.resolve_by


def test_ticket_clocks_near_breach_overnight_stays_until_morning() -> None:
    start = cst(2026, 3, 2, 15, 50)  # Monday 15:50; respond 2 h business → Tuesday 08:50
    evening = ticket_clocks(
        RING_OFFICE, "general", "ring_1", start, SHANGHAI, cst(2026, 3, 2, 23, 0)
    )
    assert evening.respond.status is ClockStatus.NEAR_BREACH
    assert evening.respond.remaining == timedelta(minutes=20)
    morning = ticket_clocks(
        RING_OFFICE, "general", "ring_1", start, SHANGHAI, cst(2026, 3, 3, 8, 51)
    )
    assert morning.respond.status is ClockStatus.BREACHED


@settings(deadline=None)
@given(
    start=instants,
    minutes=st.integers(1, 3000),
    now_min=st.integers(0, 9000),
    pauses=st.lists(st.tuples(st.integers(-600, 6000), st.integers(0, 3000)), max_size=3),
)
def test_clock_parts_add_up_under_pauses(
    start: datetime, minutes: int, now_min: int, pauses: list[tuple[int, int]]
) -> None:
    now = start + timedelta(minutes=now_min)
    spans = [
        Pause(start + timedelta(minutes=a), start + timedelta(minutes=a + length))
        for a, length in pauses
    ]
    policy = SlaPolicy(
        name="p",
        cells={
            (Severity.GENERAL, "z"): SlaTargets(
                timedelta(minutes=minutes),
                timedelta(minutes=minutes),
                timedelta(minutes=minutes),
                calendar=CalendarMode.BUSINESS,
                pausable=True,
            )
        },
    )
    clocks = ticket_clocks(policy, "general", "z", start, SHANGHAI, now, pauses=spans)
    state = clocks.respond
    assert state.target == timedelta(minutes=minutes)
    assert state.elapsed + state.remaining == state.target
    assert (state.status is ClockStatus.BREACHED) == (now > clocks.deadlines.respond_by)
    unpaused = compute_deadlines(policy, "general", "z", start, SHANGHAI)
    assert clocks.deadlines.respond_by >= unpaused.respond_by
