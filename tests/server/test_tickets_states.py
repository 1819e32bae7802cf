"""The ticket flow's allowed moves (pure)."""

import itertools

import pytest

from server.tickets.states import (
    OPEN_STATES,
    TRANSITIONS,
    RepairPath,
    TicketState,
    TransitionError,
    check_dispatch,
    check_transition,
)

S = TicketState


def test_the_seed_repair_flow_is_a_path() -> None:
    path = [S.NEW, S.ACKNOWLEDGED, S.DISPATCHED, S.ON_SITE, S.RESOLVED, S.CLOSED]
    for a, b in itertools.pairwise(path):
        check_transition(a, b)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.NEW, S.ON_SITE),
        (S.NEW, S.CLOSED),
        (S.CLOSED, S.ACKNOWLEDGED),
        (S.CANCELLED, S.NEW),
        (S.ON_SITE, S.CLOSED),
        (S.RESOLVED, S.DISPATCHED),
    ],
)
def test_skipping_steps_is_refused_with_the_allowed_moves(current: S, target: S) -> None:
    with pytest.raises(TransitionError, match=f"cannot go from {current.value} to {target.value}"):
        check_transition(current, target)


def test_every_state_can_end_and_only_closed_and_cancelled_are_not_open() -> None:
    assert set(TicketState) - OPEN_STATES == {S.CLOSED, S.CANCELLED}
    for state in TicketState:  # from every state a closed or cancelled ticket is reachable
        seen, frontier = {state}, [state]
        while frontier:
            for nxt in TRANSITIONS[frontier.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        assert seen & {S.CLOSED, S.CANCELLED}


def test_not_satisfied_reopens_and_recovered_can_come_back() -> None:
    check_transition(S.RESOLVED, S.REOPENED)
    check_transition(S.CLOSED, S.REOPENED)
    check_transition(S.RECOVERED, S.NEW)
    check_transition(S.RECOVERED, S.CLOSED)


def test_a_complex_fault_waits_for_its_approved_plan_only_where_the_policy_asks() -> None:
    with pytest.raises(TransitionError, match="approved"):
        check_dispatch(RepairPath.COMPLEX, plan_approved=False, approval_required=True)
    check_dispatch(RepairPath.COMPLEX, plan_approved=True, approval_required=True)
    check_dispatch(RepairPath.COMPLEX, plan_approved=False, approval_required=False)
    check_dispatch(RepairPath.SIMPLE, plan_approved=False, approval_required=True)
    check_dispatch(None, plan_approved=False, approval_required=True)
