"""Pre-fill verdicts from rollups, episodes and tickets; time without data is never up."""

from datetime import UTC, date, datetime, timedelta

from server.faults.picture import parse
from server.faults.rules import FaultCode
from server.inspections.evidence import (
    EpisodeFact,
    PictureFault,
    ReadingFact,
    RowResult,
    SnapshotFact,
    TicketFact,
    UptimeTotals,
    Window,
    availability,
    judge,
    no_open_fault,
    reading,
    snapshots,
    tickets,
)
from server.inspections.template import Availability, NoOpenFault, Reading, Snapshots
from server.tickets.states import TicketState

T0 = datetime(2026, 12, 1, tzinfo=UTC)
DAY = 86400
WINDOW = Window(T0, T0 + timedelta(days=10))
RULE = Availability(rule="availability", min_percent=99.0)


def _ep(code: str, start_h: float, end_h: float | None, ticket: int | None = None) -> EpisodeFact:
    end = None if end_h is None else T0 + timedelta(hours=end_h)
    return EpisodeFact(1, code, T0 + timedelta(hours=start_h), end, ticket)


def test_availability_passes_fails_and_counts_outages() -> None:
    up = UptimeTotals(up_s=10 * DAY)
    good = availability(RULE, WINDOW, up, [])
    assert good.result is RowResult.PASS
    assert good.evidence["availability_percent"] == 100.0
    down = UptimeTotals(up_s=10 * DAY - 7200, down_s=7200)
    outages = [
        _ep(FaultCode.DEVICE_UNREACHABLE, 5, 6, ticket=7),
        _ep(FaultCode.DEVICE_UNREACHABLE, 30, 31),
    ]
    ok = availability(RULE, WINDOW, down, outages)  # 2 h of 240 h: 99.17 %
    assert ok.result is RowResult.PASS
    assert (ok.evidence["outages"], ok.evidence["outage_s"]) == (2, 7200)
    assert ok.ticket_ids == (7,)
    bad = availability(RULE, WINDOW, UptimeTotals(up_s=9 * DAY, down_s=DAY), [])
    assert bad.result is RowResult.FAIL
    assert bad.evidence["availability_percent"] == 90.0
    assert "90.00%" in bad.sentence


def test_agent_offline_gap_is_unknown_never_up() -> None:
    # 1 day the server heard nothing (agent offline): 90 % known up, and the gap decides.
    gap = availability(RULE, WINDOW, UptimeTotals(up_s=9 * DAY, nodata_s=DAY), [])
    assert gap.result is RowResult.UNKNOWN
    assert gap.evidence["unknown_s"] == DAY
    assert gap.evidence["availability_percent"] == 90.0
    # Days the rollups do not hold at all count the same way.
    missing = availability(RULE, WINDOW, UptimeTotals(up_s=9 * DAY), [])
    assert missing.result is RowResult.UNKNOWN
    assert missing.evidence["unknown_s"] == DAY
    # Down time alone breaks the threshold whatever the gap was: fail.
    assert (
        availability(RULE, WINDOW, UptimeTotals(up_s=8 * DAY, down_s=DAY, nodata_s=DAY), []).result
        is RowResult.FAIL
    )
    # Maintenance is left out of the base.
    maint = availability(RULE, WINDOW, UptimeTotals(up_s=9 * DAY, maintenance_s=DAY), [])
    assert maint.result is RowResult.PASS
    assert availability(RULE, Window(T0, T0), UptimeTotals(), []).result is RowResult.UNKNOWN


def test_no_open_fault_fails_only_while_a_fault_is_open_at_the_end() -> None:
    rule = NoOpenFault(rule="no_open_fault", codes=(FaultCode.STORAGE_DISK_FAILED,))
    known = UptimeTotals(up_s=10 * DAY)
    recovered = no_open_fault(rule, WINDOW, known, [_ep("storage.disk_failed", 10, 13, 4)])
    assert recovered.result is RowResult.PASS
    assert (recovered.evidence["episodes"], recovered.evidence["fault_s"]) == (1, 3 * 3600)
    assert recovered.ticket_ids == (4,)
    still = no_open_fault(rule, WINDOW, known, [_ep("storage.disk_failed", 100, None, 5)])
    assert still.result is RowResult.FAIL
    assert still.evidence["open_at_end"] == 1
    # recovered after the window's end: open at the end
    late = no_open_fault(rule, WINDOW, known, [_ep("storage.disk_failed", 200, 300)])
    assert late.result is RowResult.FAIL
    other = no_open_fault(rule, WINDOW, known, [_ep("camera.tamper", 1, None)])
    assert other.result is RowResult.PASS
    assert other.evidence["episodes"] == 0
    assert (
        no_open_fault(rule, WINDOW, UptimeTotals(nodata_s=10 * DAY), []).result is RowResult.UNKNOWN
    )


def test_tickets_row_counts_the_period_and_fails_on_overdue_open_tickets() -> None:
    def at(hours: float | None) -> datetime | None:
        return None if hours is None else T0 + timedelta(hours=hours)

    def t(
        i: int, state: TicketState, created_h: float, resolved_h: float | None, by_h: float | None
    ) -> TicketFact:
        return TicketFact(i, state, T0 + timedelta(hours=created_h), at(resolved_h), at(by_h))

    facts = [
        t(1, TicketState.CLOSED, -500, -400, None),  # finished before the period: not shown
        t(2, TicketState.CLOSED, 10, 20, 30),
        t(3, TicketState.NEW, -10, None, 500),  # open, deadline after the window
        t(4, TicketState.NEW, 400, None, None),  # created after the window
    ]
    fine = tickets(WINDOW, facts)
    assert fine.result is RowResult.PASS
    assert fine.evidence == {"opened": 1, "resolved": 1, "open_at_end": 1, "overdue": 0}
    assert fine.ticket_ids == (2, 3)
    late = tickets(WINDOW, [*facts, t(5, TicketState.DISPATCHED, 50, None, 100)])
    assert late.result is RowResult.FAIL
    assert late.evidence["overdue"] == 1


def test_reading_uses_rollup_extremes_then_the_latest_value() -> None:
    clock = Reading(rule="reading", check="clock.offset_s", max_abs=5)
    assert reading(clock, ReadingFact(low=-1.0, high=6.5)).result is RowResult.FAIL
    drifted = reading(clock, ReadingFact(low=-7.0, high=2.0, latest=0.1, latest_at=T0))
    assert drifted.result is RowResult.FAIL  # the period's worst, not today's value
    assert drifted.evidence["source"] == "daily rollups"
    fine = reading(clock, ReadingFact(latest=-0.4, latest_at=T0))
    assert fine.result is RowResult.PASS
    assert fine.evidence == {
        "check": "clock.offset_s",
        "low": -0.4,
        "high": -0.4,
        "source": "latest reading",
    }
    assert reading(clock, ReadingFact()).result is RowResult.UNKNOWN
    retention = Reading(rule="reading", check="recording.retention_days", min=30)
    short = reading(retention, ReadingFact(latest=12.5, latest_at=T0))
    assert short.result is RowResult.FAIL
    assert "below 30" in short.sentence
    assert reading(retention, ReadingFact(latest=30.0, latest_at=T0)).result is RowResult.PASS


def test_snapshot_share_against_the_threshold() -> None:
    rule = Snapshots(rule="snapshots", min_percent=95)
    assert snapshots(rule, SnapshotFact()).result is RowResult.UNKNOWN
    assert snapshots(rule, SnapshotFact(judged=100, good=95)).result is RowResult.PASS
    low = snapshots(rule, SnapshotFact(judged=100, good=94))
    assert low.result is RowResult.FAIL
    assert low.evidence["good_percent"] == 94
    assert "94.0% of 100 snapshot(s)" in low.sentence


def test_picture_faults_give_numbers_and_name_five_then_count() -> None:
    rule = Snapshots(rule="snapshots", min_percent=95)
    covered = parse("covered: edge_ratio=0.14 brightness_ratio=0.59")
    faults = [PictureFault(i, date(2026, 12, 1 + i), tuple(covered)) for i in range(7)]
    judged = judge(
        rule,
        WINDOW,
        uptime=UptimeTotals(),
        episodes=[],
        site_tickets=[],
        readings={},
        snapshot=SnapshotFact(judged=100, good=99),
        pictures=faults,
    )
    assert judged.result is RowResult.PASS  # the share decides; the faults are evidence
    assert len(judged.evidence["picture_faults"]) == 7
    assert judged.evidence["picture_faults"][6] == {
        "episode_id": 6,
        "day": "2026-12-07",
        "reasons": [
            {"reason": "covered", "measures": {"edge_ratio": 0.14, "brightness_ratio": 0.59}}
        ],
    }
    assert judged.sentence.startswith(
        "99.0% of 100 snapshot(s) judged a good picture; threshold 95.0%. 7 picture fault(s) in "
        "the period: covered on 12-01 (edge density 14 % of baseline; brightness -41 %), "
    )
    assert judged.sentence.count("covered on") == 5
    assert judged.sentence.endswith(", and 2 more.")
