"""The episode tracker on a simulated clock: confirmation, flapping, recovery (pure)."""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from server.faults.episodes import Change, Track, step
from server.faults.rules import FaultCode, Rule, Unreachable

T0 = datetime(2026, 11, 23, tzinfo=UTC)
RULE = Rule(
    code=FaultCode.DEVICE_UNREACHABLE, condition=Unreachable(), confirm_after=2, recover_after=3
)


def run(
    rule: Rule, verdicts: Sequence[bool | None], every: float = 10
) -> tuple[Track, list[Change]]:
    track, changes = Track(), []
    for i, failing in enumerate(verdicts):
        result = step(track, rule, T0 + timedelta(seconds=every * i), failing)
        track = result.track
        if result.change is not None:
            changes.append(result.change)
    return track, changes


def test_confirmed_after_n_failing_observations_starting_at_the_first() -> None:
    track = Track()
    first = step(track, RULE, T0, True)
    assert first.change is None
    second = step(first.track, RULE, T0 + timedelta(seconds=10), True)
    assert second.change is Change.OPENED
    assert second.at == T0  # the clock starts at the first failing observation
    assert second.track.open


def test_confirmed_by_duration_when_polls_are_sparse() -> None:
    rule = RULE.model_copy(update={"confirm_after": 10, "confirm_seconds": 60.0})
    _, changes = run(rule, [True, True, True], every=30)
    assert changes == [Change.OPENED]


def test_an_old_or_repeated_observation_changes_nothing() -> None:
    opened = step(step(Track(), RULE, T0, True).track, RULE, T0 + timedelta(seconds=10), True)
    again = step(opened.track, RULE, T0 + timedelta(seconds=10), False)
    assert again.track == opened.track
    assert again.change is None


def test_flapping_for_ten_minutes_is_one_episode_counting_occurrences() -> None:
    # Down 20 s / up 20 s with 10 s polls, for 10 minutes; then up for good.
    verdicts = [(i // 2) % 2 == 0 for i in range(60)] + [False] * 3
    track, changes = run(RULE, verdicts)
    assert changes == [Change.OPENED] + [Change.RECURRED] * 14 + [Change.RECOVERED]
    assert not track.open


def test_flapping_faster_than_the_confirmation_count_still_opens_one_episode() -> None:
    rule = RULE.model_copy(update={"confirm_after": 3})  # the down runs are only 2 polls long
    verdicts = [(i // 2) % 2 == 0 for i in range(60)]
    track, changes = run(rule, verdicts)
    assert changes[0] is Change.OPENED
    assert changes.count(Change.OPENED) == 1
    assert Change.RECOVERED not in changes
    assert track.occurrences == 15


@given(st.lists(st.sampled_from([True, False, None]), max_size=200))
def test_changes_alternate_open_and_recovered(verdicts: list[bool | None]) -> None:
    """Whatever the device does: never two opens without a recovery between them, recurrences
    only while open, and the track's open flag agrees with the last change."""
    track, changes = run(RULE, verdicts)
    is_open = False
    for change in changes:
        if change is Change.OPENED:
            assert not is_open
            is_open = True
        elif change is Change.RECURRED:
            assert is_open
        else:
            assert is_open
            is_open = False
    assert track.open is is_open


@given(st.lists(st.sampled_from([True, False, None]), max_size=120), st.integers(0, 119))
def test_the_track_survives_its_json_form(verdicts: list[bool | None], cut: int) -> None:
    """Stored between batches as JSON: splitting a run anywhere gives the same result."""
    whole, _ = run(RULE, verdicts)
    track = Track()
    for i, failing in enumerate(verdicts):
        if i == cut:
            track = Track.from_json(track.to_json())
        track = step(track, RULE, T0 + timedelta(seconds=10 * i), failing).track
    assert track == whole
