"""The preventive ticket decision: open, note, close, or leave."""

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from server.predict.decision import Action, OpenPreventive, Policy, decide
from server.predict.evidence import UNJUDGED, Evidence, Verdict
from server.predict.signals import Model, Signal

TODAY = 20_000


def evidence(
    verdict: Verdict, projected: int | None = TODAY + 30, part: str | None = "A"
) -> Evidence:
    return Evidence(
        check="host.disk.sda.celsius",
        signal=Signal.TEMPERATURE,
        model=Model.TREND,
        verdict=verdict,
        at_day=TODAY,
        projected_day=projected,
        part=part,
        en="why",
    )


def test_alarm_without_ticket_opens_with_deadline_a_margin_before_the_date() -> None:
    decision = decide(evidence(Verdict.TREND_TO_THRESHOLD), None)
    assert decision.action is Action.OPEN
    assert decision.deadline_day == TODAY + 30 - Policy().margin_days
    assert decision.why == "why"


def test_deadline_is_never_sooner_than_the_notice() -> None:
    decision = decide(evidence(Verdict.TREND_TO_THRESHOLD, projected=TODAY), None)
    assert decision.deadline_day == TODAY + Policy().min_notice_days
    no_date = decide(evidence(Verdict.RATE_RISING, projected=None), None)
    assert no_date.deadline_day == TODAY + Policy().min_notice_days


def test_nothing_to_do_without_alarm_or_ticket() -> None:
    for verdict in (Verdict.STABLE, Verdict.FAR, Verdict.REVERSED, Verdict.NO_DATA):
        assert decide(evidence(verdict), None).action is Action.NONE


def test_moving_forecast_takes_a_note_not_a_new_ticket() -> None:
    ticket = OpenPreventive(opened_day=TODAY - 5, projected_day=TODAY + 30, part="A")
    same = decide(evidence(Verdict.TREND_TO_THRESHOLD, projected=TODAY + 33), ticket)
    assert same.action is Action.NONE
    moved = decide(evidence(Verdict.TREND_TO_THRESHOLD, projected=TODAY + 15), ticket)
    assert moved.action is Action.NOTE
    assert moved.deadline_day == TODAY + 8


def test_reversed_trend_or_replaced_part_closes() -> None:
    ticket = OpenPreventive(opened_day=TODAY - 5, projected_day=TODAY + 30, part="A")
    assert decide(evidence(Verdict.REVERSED), ticket).action is Action.CLOSE
    replaced = decide(evidence(Verdict.STABLE, part="B"), ticket)
    assert replaced.action is Action.CLOSE
    assert replaced.why == "part replaced"


def test_missing_data_neither_closes_nor_notes() -> None:
    ticket = OpenPreventive(opened_day=TODAY - 5, projected_day=TODAY + 30, part="A")
    for verdict in (Verdict.NO_DATA, Verdict.STALE, Verdict.TOO_FEW_DAYS):
        # No data: the part is unknown, which is not a replaced part.
        assert decide(replace(evidence(verdict), part=None), ticket).action is Action.NONE
    assert decide(evidence(Verdict.STABLE), ticket).action is Action.NONE


@given(
    st.sampled_from(list(Verdict)),
    st.none() | st.integers(TODAY - 10, TODAY + 400),
    st.none()
    | st.builds(
        OpenPreventive,
        st.integers(TODAY - 100, TODAY),
        st.none() | st.integers(TODAY - 10, TODAY + 400),
        st.sampled_from([None, "A", "B"]),
    ),
    st.sampled_from([None, "A", "B"]),
)
def test_decision_invariants(
    verdict: Verdict, projected: int | None, ticket: OpenPreventive | None, part: str | None
) -> None:
    e = replace(evidence(verdict, projected=projected), part=part)
    decision = decide(e, ticket)
    if decision.action is Action.OPEN:
        assert ticket is None
        assert e.alarm
    if decision.action in (Action.OPEN, Action.NOTE):
        assert decision.deadline_day is not None
        assert decision.deadline_day >= TODAY + Policy().min_notice_days
    if decision.action is Action.CLOSE:
        assert ticket is not None
        assert verdict not in UNJUDGED
    if ticket is None:
        assert decision.action in (Action.OPEN, Action.NONE)
