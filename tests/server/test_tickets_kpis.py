"""KPI formulas (seed §6) on hand-made ticket facts, and a property: every ratio is a share."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.settings import Settings
from server.tickets.kpis import (
    KpiGroup,
    KpiTargets,
    Ratio,
    Standing,
    TicketFacts,
    compute,
    grouped,
    kpi_targets,
    standing,
)

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 15, tzinfo=UTC)
H = timedelta(hours=1)


def facts(n: int, **kw: object) -> TicketFacts:
    base: dict[str, object] = {
        "id": n,
        "client_id": 1,
        "site_id": 10,
        "technician_id": 7,
        "created_at": T0,
        "first_failure_at": T0,
        "respond_by": T0 + H / 2,
        "on_site_by": T0 + 4 * H,
    }
    base.update(kw)
    return TicketFacts(**base)  # type: ignore[arg-type]  # test data by keyword


def test_seed_formulas_on_a_month_of_tickets() -> None:
    k = compute(
        [
            # acknowledged in time, on site late, resolved, not reopened, complete, rated 5
            facts(
                1,
                acknowledged_at=T0 + H / 4,
                dispatched_at=T0 + H / 3,
                on_site_at=T0 + 5 * H,
                first_resolved_at=T0 + 6 * H,
                closed=True,
                record_complete=True,
                rating=5,
            ),
            # acknowledged late, resolved and reopened 10 days later, record missing a signature
            facts(
                2,
                acknowledged_at=T0 + H,
                first_resolved_at=T0 + 2 * H,
                reopened_at=(T0 + 10 * 24 * H,),
                closed=True,
                record_complete=False,
                rating=2,
            ),
            # never acknowledged and the deadline has passed: late
            facts(3),
            # recovered on its own before anyone acted: no response was needed
            facts(4, recovered_unattended=True, closed=True),
            # merged into another ticket: counts nowhere
            facts(5, cancelled=True, acknowledged_at=T0 + 9 * H),
            # reopened after more than 30 days: still a successful repair
            facts(
                6,
                acknowledged_at=T0 + H / 6,
                first_resolved_at=T0 + H,
                reopened_at=(T0 + 40 * 24 * H,),
            ),
        ],
        now=NOW,
    )
    assert k.tickets == 5
    assert (k.response_timeliness.numerator, k.response_timeliness.denominator) == (2, 4)
    assert (k.on_site_timeliness.numerator, k.on_site_timeliness.denominator) == (0, 1)
    assert (k.repair_success.numerator, k.repair_success.denominator) == (2, 3)
    assert (k.record_completeness.numerator, k.record_completeness.denominator) == (1, 2)
    assert k.mtta_minutes == (15 + 60 + 10) / 3
    assert k.mttr_minutes == (360 + 120 + 60) / 3
    assert k.satisfaction_mean == 3.5
    assert k.satisfaction_share.value == 0.5


def test_nothing_to_measure_is_none_not_zero() -> None:
    k = compute([], now=NOW)
    assert k.response_timeliness.value is None
    assert k.mtta_minutes is None
    assert k.satisfaction_mean is None


def test_grouped_by_technician_and_month() -> None:
    rows = grouped(
        [
            facts(1, technician_id=7),
            facts(2, technician_id=8),
            facts(3, technician_id=7, created_at=T0 + 31 * 24 * H),
        ],
        by=KpiGroup.TECHNICIAN,
        now=NOW,
    )
    assert sorted(rows) == [(7, "2026-11"), (7, "2026-12"), (8, "2026-11")]
    assert rows[(7, "2026-11")].ticket_ids == (1,)


moments = st.integers(0, 10_000).map(lambda m: T0 + timedelta(minutes=m))


@given(
    st.lists(
        st.builds(
            TicketFacts,
            id=st.integers(1, 10**6),
            client_id=st.just(1),
            site_id=st.just(1),
            technician_id=st.none() | st.integers(1, 3),
            created_at=moments,
            first_failure_at=moments,
            cancelled=st.booleans(),
            closed=st.booleans(),
            respond_by=st.none() | moments,
            on_site_by=st.none() | moments,
            acknowledged_at=st.none() | moments,
            dispatched_at=st.none() | moments,
            on_site_at=st.none() | moments,
            first_resolved_at=st.none() | moments,
            reopened_at=st.lists(moments, max_size=3).map(tuple),
            recovered_unattended=st.booleans(),
            record_complete=st.none() | st.booleans(),
            rating=st.none() | st.integers(1, 5),
        ),
        max_size=30,
    )
)
def test_every_ratio_is_a_share_of_the_tickets_counted(items: list[TicketFacts]) -> None:
    k = compute(items, now=NOW)
    counted = sum(1 for f in items if not f.cancelled)
    assert k.tickets == counted
    for ratio in (
        k.response_timeliness,
        k.on_site_timeliness,
        k.repair_success,
        k.record_completeness,
        k.satisfaction_share,
    ):
        assert 0 <= ratio.numerator <= ratio.denominator <= counted
    if k.satisfaction_mean is not None:
        assert 1 <= k.satisfaction_mean <= 5


def test_response_timeliness_is_timely_responses_over_all_decided_reports() -> None:
    k = compute(
        [
            facts(1, dispatched_at=T0 + H / 4),  # dispatched first, in time: a timely response
            facts(2, first_action_at=T0 + H / 5),  # fixed remotely by a person, in time
            facts(3, on_site_at=T0 + H / 3),  # straight on site, in time
            facts(4, acknowledged_at=T0 + H),  # late
            facts(5),  # deadline passed, nobody answered: late
            facts(6, recovered_unattended=True, recovered_at=T0 + H),  # recovered after it
        ],
        now=NOW,
    )
    assert (k.response_timeliness.numerator, k.response_timeliness.denominator) == (3, 6)
    assert k.mtta_minutes == (15 + 12 + 20 + 60) / 4


def test_undecided_reports_and_reports_without_deadline_are_counted_apart() -> None:
    now = T0 + H / 4
    k = compute(
        [
            facts(1, acknowledged_at=T0 + H / 6),
            facts(2),  # deadline not passed, no answer yet: pending, decided later
            facts(3, respond_by=None, on_site_by=None),  # no SLA deadline
            facts(4, recovered_unattended=True, recovered_at=T0 + H / 5),
        ],
        now=now,
    )
    assert (k.response_timeliness.numerator, k.response_timeliness.denominator) == (1, 1)
    assert (k.response_pending, k.without_deadline, k.recovered_unattended) == (1, 1, 1)
    later = compute([facts(2)], now=T0 + H)
    assert (later.response_timeliness.denominator, later.response_pending) == (1, 0)


def test_kpi_months_are_the_sites_local_months() -> None:
    evening = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)  # 1 December, 01:00 in Shanghai
    rows = grouped(
        [
            facts(1, created_at=evening, timezone="Asia/Shanghai"),
            facts(2, created_at=evening, site_id=11, timezone="UTC"),
        ],
        by=KpiGroup.SITE,
        now=NOW,
    )
    assert sorted(rows) == [(10, "2026-12"), (11, "2026-11")]


def test_each_kpi_is_rated_against_its_own_target() -> None:
    targets = KpiTargets()
    assert (targets.response_timeliness, targets.satisfaction, targets.repair_success) == (
        0.90,
        0.85,
        0.95,
    )
    eighty_five = Ratio(17, 20)
    assert standing(eighty_five, targets.satisfaction) is Standing.MET
    assert standing(eighty_five, targets.response_timeliness) is Standing.NEAR
    assert standing(Ratio(92, 100), targets.repair_success) is Standing.NEAR
    assert standing(Ratio(80, 100), targets.repair_success) is Standing.BELOW
    assert standing(Ratio(0, 0), targets.repair_success) is Standing.NONE
    with pytest.raises(ValueError, match="between 0 and 1"):
        KpiTargets(satisfaction=85)


def test_kpi_targets_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECMON_KPI_TARGET_SATISFACTION", "80")
    targets = kpi_targets(Settings())
    assert targets.satisfaction == 0.80
    assert targets.response_timeliness == 0.90


def test_a_repeated_repair_is_not_a_repair_success() -> None:
    fixed = {"first_resolved_at": T0 + H, "closed": True}
    k = compute([facts(1, **fixed), facts(2, repeated=True, **fixed)], now=NOW)
    assert (k.repair_success.numerator, k.repair_success.denominator) == (1, 2)
