"""The pure state update: order-independent within a batch, idempotent, never backwards."""

import random
from datetime import UTC, datetime, timedelta
from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from server.state import CurrentState, DeviceStatus, apply_sample, apply_samples
from wire.enums import ProbeErrorCode, ProbeKind
from wire.schema import Event, ProbeError, Sample

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def make(
    second: int,
    *,
    reachable: bool = True,
    checks: dict[str, bool | int | float | str | None] | None = None,
    uid: int | None = None,
) -> Sample:
    return Sample(
        id=UUID(int=uid if uid is not None else second),
        device_id="cam-1",
        ts=T0 + timedelta(seconds=second),
        probe=ProbeKind.ONVIF,
        reachable=reachable,
        error=None if reachable else ProbeError(code=ProbeErrorCode.UNREACHABLE),
        checks=checks or {},
    )


check_values = st.one_of(st.booleans(), st.integers(-3, 3), st.sampled_from(["ok", "bad"]))
samples_strategy = st.lists(
    st.builds(
        make,
        second=st.integers(0, 50),
        reachable=st.booleans(),
        checks=st.dictionaries(st.sampled_from(["stream_ok", "disk", "temp"]), check_values),
        uid=st.integers(0, 2**64),
    ),
    max_size=25,
    unique_by=lambda s: s.id,
)


@given(samples_strategy, st.randoms())
def test_batch_order_does_not_matter(samples: list[Sample], rnd: random.Random) -> None:
    shuffled = list(samples)
    rnd.shuffle(shuffled)
    assert apply_samples(CurrentState(), shuffled) == apply_samples(CurrentState(), samples)


@given(samples_strategy)
def test_applying_twice_changes_nothing(samples: list[Sample]) -> None:
    once = apply_samples(CurrentState(), samples)
    assert apply_samples(once, samples) == once


@given(samples_strategy, st.integers(0, 25))
def test_chronological_batches_equal_one_batch(samples: list[Sample], cut: int) -> None:
    ordered = sorted(samples, key=lambda s: (s.ts, s.id))
    in_two = apply_samples(apply_samples(CurrentState(), ordered[:cut]), ordered[cut:])
    assert in_two == apply_samples(CurrentState(), samples)


@given(samples_strategy)
def test_one_at_a_time_in_any_order_never_goes_backwards(samples: list[Sample]) -> None:
    state = CurrentState()
    for s in samples:
        after = apply_sample(state, s)
        if state.last_sample_at is not None and after.last_sample_at is not None:
            assert after.last_sample_at >= state.last_sample_at
        state = after
    if samples:
        newest = max(samples, key=lambda s: (s.ts, s.id))
        assert (state.last_sample_id, state.reachable) == (newest.id, newest.reachable)


def test_status_change_time_is_the_first_sample_of_the_new_status() -> None:
    state = apply_samples(
        CurrentState(),
        [make(0), make(10, reachable=False), make(20, reachable=False), make(30)],
    )
    assert state.status == DeviceStatus.UP
    assert state.status_changed_at == T0 + timedelta(seconds=30)
    assert state.last_seen_at == T0 + timedelta(seconds=30)

    down = apply_samples(
        CurrentState(), [make(0), make(10, reachable=False), make(20, reachable=False)]
    )
    assert (down.status, down.status_changed_at) == (DeviceStatus.DOWN, T0 + timedelta(seconds=10))
    assert down.last_seen_at == T0
    assert down.error_code == "device.unreachable"


def test_check_keeps_changed_at_while_value_holds_and_moves_on_change() -> None:
    state = apply_samples(
        CurrentState(),
        [
            make(0, checks={"disk": "ok", "temp": 40}),
            make(10, checks={"disk": "ok", "temp": 41}),
            make(20, checks={"disk": "ok"}),
        ],
    )
    assert state.checks["disk"].changed_at == T0
    assert state.checks["disk"].updated_at == T0 + timedelta(seconds=20)
    assert state.checks["temp"].value == 41
    assert state.checks["temp"].changed_at == T0 + timedelta(seconds=10)
    assert state.checks["temp"].updated_at == T0 + timedelta(seconds=10)


def test_true_to_one_is_a_change() -> None:
    state = apply_samples(CurrentState(), [make(0, checks={"x": True}), make(1, checks={"x": 1})])
    assert state.checks["x"].value == 1
    assert state.checks["x"].changed_at == T0 + timedelta(seconds=1)


def test_older_sample_leaves_state_as_is() -> None:
    state = apply_samples(CurrentState(), [make(10)])
    assert apply_sample(state, make(5, reachable=False)) is state


# --- events-only samples (traps, pushed the moment they arrive) ---------------------------------


def trap(second: int, *, uid: int | None = None) -> Sample:
    """What the agent sends for a trap: reachable (the device did send it), events, nothing else."""
    return Sample(
        id=UUID(int=uid if uid is not None else 10_000 + second),
        device_id="cam-1",
        ts=T0 + timedelta(seconds=second),
        probe=ProbeKind.SNMP,
        reachable=True,
        events=[Event(ts=T0 + timedelta(seconds=second), kind="device.cold_start")],
        events_only=True,
    )


def test_trap_from_a_device_whose_polls_fail_leaves_it_down_with_its_error() -> None:
    down = apply_samples(CurrentState(), [make(0), make(10, reachable=False)])
    assert apply_sample(down, trap(12)) is down  # nothing to write
    assert down.status == DeviceStatus.DOWN
    assert down.error_code == "device.unreachable"


def test_poll_that_started_before_a_trap_still_applies_when_it_arrives_after() -> None:
    """Polls are stamped when they start; a trap pushed at once overtakes a poll in flight."""
    state = apply_samples(CurrentState(), [make(0)])
    state = apply_sample(state, trap(12))
    state = apply_sample(state, make(10, reachable=False))
    assert (state.status, state.last_sample_at) == (DeviceStatus.DOWN, T0 + timedelta(seconds=10))


@given(samples_strategy, st.lists(st.integers(0, 50), max_size=5))
def test_traps_in_a_batch_change_nothing_in_the_state(samples: list[Sample], at: list[int]) -> None:
    traps = [trap(second, uid=2**65 + i) for i, second in enumerate(at)]
    assert apply_samples(CurrentState(), [*samples, *traps]) == apply_samples(
        CurrentState(), samples
    )


def test_broker_unreachable_makes_the_device_unknown_not_down_and_keeps_last_seen() -> None:
    """An MQTT device whose broker is down: nothing is known about the device itself."""
    up = make(1)
    broker_down = make(2, reachable=False).model_copy(
        update={"error": ProbeError(code=ProbeErrorCode.BROKER_UNREACHABLE, message="broker")}
    )
    state = apply_samples(CurrentState(), [up, broker_down])
    assert state.status is DeviceStatus.UNKNOWN
    assert state.status_changed_at == broker_down.ts
    assert state.error_code == "broker.unreachable"
    assert state.last_seen_at == up.ts
    back = apply_sample(state, make(3))
    assert back.status is DeviceStatus.UP
    down = apply_sample(state, make(4, reachable=False))
    assert down.status is DeviceStatus.DOWN


def test_a_device_that_answers_but_is_unmonitored_is_not_up_and_keeps_the_reason() -> None:
    reason = "no profile matched what the device answers; sysObjectID 1.3.6.1.4.1.99999.77"
    unread = make(1).model_copy(update={"unmonitored": reason})
    state = apply_samples(CurrentState(), [unread])
    assert state.status is DeviceStatus.UNMONITORED
    assert state.error_code is None
    assert state.error_message == reason
    assert state.last_seen_at == unread.ts  # it answered
    read = apply_sample(state, make(2))
    assert (read.status, read.error_message) == (DeviceStatus.UP, None)
    down = apply_sample(state, make(3, reachable=False))
    assert down.status is DeviceStatus.DOWN


def test_unmonitored_is_left_out_of_the_json_when_unset() -> None:
    assert "unmonitored" not in make(1).model_dump_json()
    assert (
        '"unmonitored":"why"' in make(1).model_copy(update={"unmonitored": "why"}).model_dump_json()
    )
