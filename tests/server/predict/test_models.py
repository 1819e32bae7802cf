"""The four models on series whose answer is known, and on bad input."""

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.predict import models
from server.predict.evidence import ALARMS, Evidence, Verdict
from server.predict.models import judge_samples
from server.predict.rollup import DAY_S, Rejected, Sample, date_of
from server.predict.signals import Signal
from server.predict.store import numeric_checks
from tests.server.predict.series import DAY0, daily, last_day

SECTORS = "host.disk.sda.reallocated_sectors"
TEMP = "host.disk.sda.celsius"
RUNTIME = "ups.battery.minutes_remaining"
SHARPNESS = "camera.sharpness"
FAN = "switch.fan.fan1.rpm"
UPTIME = "camera.uptime_s"
FILL = "host.fs.recordings.used_percent"


def judged(check: str, samples: list[Sample], today: int | None = None) -> Evidence:
    if today is None:
        today = max(int(s.ts // DAY_S) for s in samples if math.isfinite(s.ts))
    evidence = judge_samples(check, samples, today=today)
    assert evidence is not None
    return evidence


def noisy(level: float, n: int, spread: float, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    return [level + rng.gauss(0, spread) for _ in range(n)]


def test_every_model_states_its_assumptions() -> None:
    for model in (
        models.flat_counter,
        models.trend,
        models.step,
        models.event_rate,
        models.indicator,
    ):
        assert model.__doc__ is not None
        assert "Assumes:" in model.__doc__


# Flat counters


def test_sectors_rising_on_several_days_alarm_with_a_projected_date() -> None:
    values = [0.0] * 40 + [2, 2, 2, 5, 5, 5, 5, 9, 9, 12]
    evidence = judged(SECTORS, daily(values))
    assert evidence.verdict is Verdict.RISING_COUNTER
    assert evidence.confidence >= 0.99
    # 12 sectors over a 30-day window: 0.4/day, 88 more to 100 → 220 days.
    assert evidence.projected_day == last_day(values) + 220
    assert date_of(last_day(values) + 220).isoformat() in evidence.en
    assert evidence.threshold == 100.0
    assert SECTORS in evidence.en
    assert SECTORS in evidence.zh
    assert "天" in evidence.zh


def test_one_off_remap_is_not_a_forecast() -> None:
    evidence = judged(SECTORS, daily([0.0] * 40 + [8.0] * 10))
    assert evidence.verdict is Verdict.STABLE
    assert not evidence.alarm


def test_counter_reset_by_firmware_is_not_a_rise() -> None:
    evidence = judged(SECTORS, daily([30.0] * 20 + [0.0] * 20))
    assert evidence.verdict is Verdict.STABLE


def test_replaced_disk_is_judged_on_its_own_history() -> None:
    old = daily([0, 1, 3, 6, 10, 15, 21, 28, 36, 45], part="SN-OLD")
    new = daily([0.0] * 10, start=DAY0 + 10, part="SN-NEW")
    evidence = judged(SECTORS, old + new)
    assert evidence.verdict is Verdict.STABLE
    assert evidence.part == "SN-NEW"
    assert evidence.days[0] == DAY0 + 10


# Trends


def test_temperature_creeping_towards_its_limit_alarms_with_a_band() -> None:
    values = [40 + 0.5 * i + n for i, n in enumerate(noisy(0, 40, 0.3))]
    evidence = judged(TEMP, daily(values))
    assert evidence.verdict is Verdict.TREND_TO_THRESHOLD
    assert evidence.fit is not None
    assert evidence.fit.slope == pytest.approx(0.5, abs=0.05)
    # At 0.5 °C/day from about 59.5 °C, 65 °C is about 11 days away.
    assert evidence.projected_day is not None
    assert 9 <= evidence.projected_day - last_day(values) <= 13
    assert evidence.earliest_day is not None
    assert evidence.latest_day is not None
    assert evidence.earliest_day <= evidence.projected_day <= evidence.latest_day
    assert len(evidence.days) == len(evidence.values) == 30


def test_steady_noisy_temperature_is_stable() -> None:
    evidence = judged(TEMP, daily(noisy(45, 60, 1.5)))
    assert evidence.verdict in (Verdict.STABLE, Verdict.REVERSED)
    assert not evidence.alarm


def test_slow_drift_far_from_the_limit_is_far_not_an_alarm() -> None:
    evidence = judged(TEMP, daily([30 + 0.1 * i for i in range(60)]))
    assert evidence.verdict is Verdict.FAR


def test_falling_temperature_is_a_reversed_trend() -> None:
    evidence = judged(TEMP, daily([60 - 0.3 * i for i in range(40)]))
    assert evidence.verdict is Verdict.REVERSED


def test_battery_runtime_is_judged_against_its_own_best() -> None:
    values = [30.0] * 60 + [30 - 0.25 * i for i in range(1, 21)]
    evidence = judged(RUNTIME, daily(values))
    assert evidence.baseline == pytest.approx(30.0)
    assert evidence.threshold == pytest.approx(24.0)
    assert evidence.verdict is Verdict.TREND_TO_THRESHOLD


def test_same_fade_on_a_battery_with_a_higher_best_is_further_away() -> None:
    values = [60.0] * 60 + [60 - 0.25 * i for i in range(1, 21)]
    evidence = judged(RUNTIME, daily(values))
    assert evidence.threshold == pytest.approx(48.0)
    assert evidence.projected_day is not None
    assert evidence.projected_day - last_day(values) > 25


def test_storage_already_past_its_limit_alarms_today() -> None:
    values = noisy(96.5, 30, 0.2)
    evidence = judged(FILL, daily(values))
    assert evidence.verdict is Verdict.TREND_TO_THRESHOLD
    assert evidence.projected_day == last_day(values)


def test_sharpness_drifting_down_alarms() -> None:
    values = [0.8] * 30 + [0.8 - 0.006 * i for i in range(1, 31)]
    assert judged(SHARPNESS, daily(values)).verdict is Verdict.TREND_TO_THRESHOLD


# Steps


def test_fan_that_stops_is_a_step() -> None:
    values = [*noisy(3000, 25, 30), 0.0, 0.0, 0.0]
    evidence = judged(FAN, daily(values))
    assert evidence.verdict is Verdict.STEP
    assert evidence.baseline == pytest.approx(3000, rel=0.05)
    assert evidence.projected_day == DAY0 + 25 + 14


def test_one_bad_fan_day_is_not_a_step() -> None:
    values = [*noisy(3000, 25, 30), 2100.0, 3000.0, 3010.0]
    assert judged(FAN, daily(values)).verdict is Verdict.STABLE


# Event rates


def uptime(reboot_days: set[int], days: int) -> list[Sample]:
    """Uptime read every 6 h; a reboot 1 h before the noon sample of each day in the set."""
    samples, booted = [], (DAY0 - 50) * DAY_S
    for day in range(DAY0, DAY0 + days):
        for hour in (0, 6, 12, 18):
            ts = day * DAY_S + hour * 3600
            if hour == 12 and day - DAY0 in reboot_days:
                booted = ts - 3600
            samples.append(Sample(ts, ts - booted))
    return samples


def test_reboots_on_many_recent_days_alarm() -> None:
    evidence = judged(UPTIME, uptime({10, 70, 90, 92, 94, 97, 99}, 100))
    assert evidence.verdict is Verdict.RATE_RISING
    assert "5 events on 5 days" in evidence.en


def test_occasional_reboots_are_normal() -> None:
    evidence = judged(UPTIME, uptime({10, 50, 95}, 100))
    assert evidence.verdict is Verdict.STABLE


def test_a_device_that_always_rebooted_often_is_judged_against_its_own_rate() -> None:
    often = set(range(0, 100, 3))
    assert judged(UPTIME, uptime(often, 100)).verdict is Verdict.STABLE


# Bad input: never a crash, never a forecast, and the evidence says why.


def test_all_nan_says_no_usable_sample() -> None:
    evidence = judged(TEMP, daily([math.nan] * 30))
    assert evidence.verdict is Verdict.NO_DATA
    assert "30 not a number" in evidence.en
    assert "非数值 30 个" in evidence.zh


@pytest.mark.parametrize("sentinel", [-1.0, -273.0, 65535.0])
def test_sentinels_only_say_sentinel(sentinel: float) -> None:
    evidence = judged(TEMP, daily([sentinel] * 30))
    assert evidence.verdict is Verdict.NO_DATA
    assert "30 sentinel value" in evidence.en


def test_negative_counter_says_so() -> None:
    evidence = judged(SECTORS, daily([-3.0] * 30))
    assert evidence.verdict is Verdict.NO_DATA
    assert "negative counter" in evidence.en


def test_one_point_is_too_few_days() -> None:
    evidence = judged(TEMP, daily([70.0]))
    assert evidence.verdict is Verdict.TOO_FEW_DAYS
    assert "1 day(s)" in evidence.en
    assert not evidence.alarm


def test_sentinel_spikes_in_a_flat_counter_do_not_alarm() -> None:
    values = [4.0] * 40
    for i in (5, 17, 33, 38):
        values[i] = 65535.0
    assert judged(SECTORS, daily(values)).verdict is Verdict.STABLE


def test_no_recent_data_is_stale() -> None:
    evidence = judged(TEMP, daily([40.0] * 30), today=DAY0 + 40)
    assert evidence.verdict is Verdict.STALE
    assert date_of(DAY0 + 29).isoformat() in evidence.en


def test_shuffled_and_duplicated_samples_give_the_same_answer() -> None:
    values = [40 + 0.5 * i for i in range(40)]
    ordered = daily(values)
    messy = ordered + ordered[::3]
    random.Random(3).shuffle(messy)
    assert judged(TEMP, messy).projected_day == judged(TEMP, ordered).projected_day


def test_conflicting_duplicates_are_dropped_and_counted() -> None:
    ordered = daily([40.0] * 30)
    conflict = Sample(ordered[-1].ts, 90.0)
    evidence = judged(TEMP, [*ordered, conflict])
    assert evidence.rejected == {Rejected.CONFLICTING_DUPLICATE: 2}
    assert evidence.days[-1] == DAY0 + 28  # the last day had only the conflicting pair
    assert not evidence.alarm


def test_unknown_check_has_no_model() -> None:
    assert judge_samples("camera.stream_ok", daily([1.0] * 30), today=DAY0 + 29) is None


BAD = st.sampled_from([math.nan, math.inf, -math.inf, -1.0, -273.0, 65535.0, -5.0, 1e300])
CHECKS = st.sampled_from([SECTORS, TEMP, RUNTIME, SHARPNESS, FAN, UPTIME, FILL])


@settings(max_examples=150, deadline=None)
@given(
    CHECKS,
    st.integers(1, 60),
    st.lists(st.tuples(st.integers(0, 59), BAD), max_size=30),
    st.randoms(use_true_random=False),
)
def test_flat_series_with_any_bad_points_never_alarms(
    check: str, days: int, bad: list[tuple[int, float]], rnd: random.Random
) -> None:
    level = {UPTIME: 0.0}.get(check, 40.0)
    samples = daily([level] * days)
    if check == UPTIME:
        samples = [Sample(s.ts, s.ts - (DAY0 - 10) * DAY_S) for s in samples]
    for index, value in bad:
        if index < days:
            samples.append(Sample(samples[index].ts + rnd.choice([0, 60]), value))
    rnd.shuffle(samples)
    evidence = judged(check, samples, today=DAY0 + days - 1)
    assert evidence.verdict not in ALARMS
    assert evidence.en
    assert evidence.zh


@settings(max_examples=150, deadline=None)
@given(
    CHECKS,
    st.lists(
        st.tuples(
            st.floats(DAY0 * DAY_S, (DAY0 + 40) * DAY_S, allow_nan=False),
            st.one_of(st.floats(), BAD),
            st.sampled_from([None, "A", "B"]),
        ),
        max_size=60,
    ),
    st.integers(DAY0 - 5, DAY0 + 45),
)
def test_any_series_never_crashes(
    check: str, raw: list[tuple[float, float, str | None]], today: int
) -> None:
    samples = [Sample(ts, value, part) for ts, value, part in raw]
    evidence = judge_samples(check, samples, today=today)
    assert evidence is not None
    assert evidence.at_day == today
    if evidence.verdict in (Verdict.NO_DATA, Verdict.TOO_FEW_DAYS, Verdict.STALE):
        assert "No forecast" in evidence.en
        assert "无法预测" in evidence.zh


# The device's own verdict: a UPS's replace-battery indicator

REPLACE = "ups.battery.replace"


def test_replace_indicator_held_two_days_alarms_due_a_fortnight_after_it_rose() -> None:
    values = [0.0] * 20 + [1.0] * 3
    evidence = judged(REPLACE, daily(values))
    assert evidence.verdict is Verdict.INDICATOR
    assert evidence.alarm
    rose = DAY0 + 20
    assert evidence.projected_day == rose + 14
    assert date_of(rose).isoformat() in evidence.en
    assert date_of(rose + 14).isoformat() in evidence.zh


def test_replace_indicator_on_one_day_only_is_not_an_alarm() -> None:
    assert judged(REPLACE, daily([0.0] * 20 + [1.0])).verdict is Verdict.STABLE
    # Raised, then cleared (battery replaced or the self-test passed again): reversed.
    assert judged(REPLACE, daily([0.0] * 10 + [1.0] * 5 + [0.0])).verdict is Verdict.REVERSED
    assert judged(REPLACE, daily([0.0] * 20)).verdict is Verdict.STABLE


def test_a_new_ups_asking_for_a_battery_is_not_too_young_to_judge() -> None:
    assert judged(REPLACE, daily([1.0, 1.0])).verdict is Verdict.INDICATOR


def test_only_flags_a_signal_reads_are_rolled_up_as_numbers() -> None:
    checks = {REPLACE: True, "ups.on_battery": True, "ups.battery.charge_percent": 97}
    assert dict(numeric_checks(checks)) == {REPLACE: 1.0, "ups.battery.charge_percent": 97.0}


# A battery's temperature against a battery's limit


def test_battery_warming_towards_40_c_alarms_where_a_device_would_not() -> None:
    values = [28 + 0.3 * i for i in range(30)]  # 36.7 °C today, 0.3 °C a day
    battery = judged("ups.battery.temperature_c", daily(values))
    assert battery.verdict is Verdict.TREND_TO_THRESHOLD
    assert battery.threshold == 40.0
    nas = judged("syno.temperature_c", daily(values))
    assert nas.threshold == 65.0
    assert not nas.alarm


# Interface error rates


IF_ERRORS = "if.port_3.in_errors_per_s"


def test_a_lasting_error_rate_on_a_port_is_a_step() -> None:
    values = [0.0] * 25 + [0.05, 0.06, 0.04, 0.05, 0.05]
    evidence = judged(IF_ERRORS, daily(values))
    assert evidence.verdict is Verdict.STEP
    assert evidence.projected_day == DAY0 + 25 + 14


def test_a_burst_of_errors_or_a_trickle_is_not_a_step() -> None:
    burst = [0.0] * 25 + [0.5] + [0.0] * 4
    assert not judged(IF_ERRORS, daily(burst)).alarm
    trickle = [0.0] * 25 + [0.002] * 5  # 173 errored frames a day: below the 0.01/s floor
    assert not judged(IF_ERRORS, daily(trickle)).alarm


# Clock drift


def test_a_camera_clock_running_away_reaches_the_drift_limit() -> None:
    values = [-0.2 - 0.12 * i for i in range(30)]  # running slow, 0.12 s a day
    evidence = judged("clock.offset_s", daily(values))
    assert evidence.verdict is Verdict.TREND_TO_THRESHOLD
    assert evidence.threshold == 5.0
    assert min(evidence.values) >= 0  # the magnitude is judged
    assert evidence.projected_day is not None
    # 3.68 s today, 1.32 s to go at 0.12 s a day: 11 days.
    assert evidence.projected_day - (DAY0 + 29) == 11


def test_an_ntp_synchronised_clock_is_stable() -> None:
    values = noisy(0.0, 30, 0.3)
    assert not judged("clock.offset_s", daily(values)).alarm


# Retention against the client's target


RETENTION = "recording.retention_days"


def test_retention_shrinking_towards_the_target_alarms() -> None:
    values = [45 - 0.4 * i for i in range(30)]  # 33.4 days back today, losing 0.4 a day
    evidence = judged(RETENTION, daily(values))
    assert evidence.verdict is Verdict.TREND_TO_THRESHOLD
    assert evidence.threshold == 30.0


def test_a_new_recorder_filling_its_disks_is_short_but_not_alarmed() -> None:
    values = [1.0 + i for i in range(20)]  # footage reaches one day further each day
    evidence = judged(RETENTION, daily(values))
    assert not evidence.alarm
    # Stuck short of the target, though, is past the limit.
    assert judged(RETENTION, daily([20.0] * 20)).verdict is Verdict.TREND_TO_THRESHOLD


def test_the_configured_retention_target_replaces_the_default() -> None:
    samples = daily([45.0] * 30)
    assert not judged(RETENTION, samples).alarm
    params = models.Params(limits={Signal.RETENTION: 60.0})
    evidence = judge_samples(RETENTION, samples, today=DAY0 + 29, params=params)
    assert evidence is not None
    assert evidence.verdict is Verdict.TREND_TO_THRESHOLD
    assert evidence.threshold == 60.0


# A UPS's own self-test

SELF_TEST = "ups.self_test.failed"


def test_a_failed_self_test_held_to_the_next_day_alarms() -> None:
    evidence = judged(SELF_TEST, daily([0.0] * 20 + [1.0] * 2))
    assert evidence.signal is Signal.SELF_TEST
    assert evidence.verdict is Verdict.INDICATOR
    assert evidence.projected_day == DAY0 + 20 + 14


def test_a_self_test_that_passes_again_reverses_and_one_failed_day_is_no_alarm() -> None:
    assert judged(SELF_TEST, daily([0.0] * 20 + [1.0] * 3 + [0.0])).verdict is Verdict.REVERSED
    assert judged(SELF_TEST, daily([0.0] * 20 + [1.0])).verdict is Verdict.STABLE


# Reconnects counted by the agent (an event counter, not uptime)

RECONNECTS = "onvif.reconnects"


def reconnects(
    event_days: dict[int, int], days: int, restarts: frozenset[int] = frozenset()
) -> list[Sample]:
    """The agent's cumulative count, read every 6 h; `restarts`: days the agent restarted (the
    count starts again from zero, with no reconnect)."""
    samples, count = [], 0
    for day in range(days):
        for hour in (0, 6, 12, 18):
            if hour == 0 and day in restarts:
                count = 0
            if hour == 12:
                count += event_days.get(day, 0)
            samples.append(Sample((DAY0 + day) * DAY_S + hour * 3600, float(count)))
    return samples


def test_reconnects_on_many_recent_days_alarm() -> None:
    evidence = judged(RECONNECTS, reconnects({20: 1, 88: 2, 90: 1, 93: 3, 96: 1, 99: 1}, 100))
    assert evidence.signal is Signal.RECONNECTS
    assert evidence.verdict is Verdict.RATE_RISING
    assert "8 events on 5 days" in evidence.en
    assert judged("mqtt.reconnects", reconnects({90: 1, 92: 1, 94: 1, 97: 1}, 100)).alarm


def test_agent_restarts_are_not_reconnects_and_occasional_ones_are_normal() -> None:
    restarts = frozenset({86, 88, 91, 93, 95, 97, 99})
    evidence = judged(RECONNECTS, reconnects({30: 1, 60: 1, 95: 1}, 100, restarts))
    assert evidence.verdict is Verdict.STABLE
    assert sum(evidence.values) == 1.0  # the one reconnect of the last 14 days


def test_a_device_on_a_flaky_link_is_judged_against_its_own_rate() -> None:
    often = dict.fromkeys(range(0, 100, 3), 1)
    assert judged(RECONNECTS, reconnects(often, 100)).verdict is Verdict.STABLE


# Night brightness against the camera's own best nights

NIGHT = "picture.night_luma_mean"


def test_a_night_picture_fading_from_its_own_best_alarms() -> None:
    # Best nights around 80; an illuminator fading 0.6 a day reaches 70 % (56) within weeks.
    values = noisy(80.0, 40, 1.5) + [80.0 - 0.6 * i + n for i, n in enumerate(noisy(0, 30, 1.5))]
    evidence = judged(NIGHT, daily(values))
    assert evidence.signal is Signal.NIGHT_BRIGHTNESS
    assert evidence.verdict is Verdict.TREND_TO_THRESHOLD
    assert evidence.baseline is not None
    assert evidence.threshold == pytest.approx(0.7 * evidence.baseline)
    assert 76 <= evidence.baseline <= 84


def test_steady_nights_of_a_dark_scene_are_stable() -> None:
    evidence = judged(NIGHT, daily(noisy(22.0, 70, 2.0, seed=3)))
    assert not evidence.alarm
