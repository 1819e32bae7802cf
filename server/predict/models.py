"""The four models. Each reads one check's daily rollups up to `today` and returns Evidence;
none of them raises on any series the rollup can produce.

Shared rules: only the latest part's rows count (a replaced disk or battery starts afresh); no
rows in the last `stale_days` → no forecast; fewer than `min_days` days → no forecast.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from server.predict.evidence import Evidence, Verdict, as_date, sentences
from server.predict.robust import (
    Floats,
    mad,
    mann_kendall_z,
    normal_cdf,
    poisson_sf,
    rank_sum_z,
    theil_sen,
)
from server.predict.rollup import DayRollup, Rejected, Sample, clean, roll_up
from server.predict.signals import Direction, Model, Signal, SignalSpec, Statistic, spec_for

MAX_AHEAD_DAYS = 3650  # a crossing further away than this is "never"


def ahead(today: int, gap: float, slope: float) -> int | None:
    """The day a line `gap` away, moving `slope` per day towards it, gets there; None when it
    moves away or takes longer than MAX_AHEAD_DAYS."""
    if slope == 0 or not math.isfinite(gap / slope):
        return None
    days = gap / slope
    if days < 0 or days > MAX_AHEAD_DAYS:
        return None if days > MAX_AHEAD_DAYS else today
    return today + math.ceil(days)


@dataclass(frozen=True, slots=True)
class Params:
    """Tuning knobs, one set for every signal (tuned on one seed of the backtest fleet)."""

    window_days: int = 30
    min_days: int = 14
    stale_days: int = 3
    horizon_days: int = 60
    latest_horizon_days: int = 120
    trend_confidence: float = 0.999
    past_threshold_days: int = 7
    baseline_days: int = 14
    baseline_lookback_days: int = 180
    counter_base_rate: float = 1 / 365  # rise-days per day on a healthy disk
    counter_confidence: float = 0.99
    counter_min_rise: float = 2.0
    step_min_after: int = 2
    step_confidence: float = 0.99
    step_noise_factor: float = 4.0
    rate_window_days: int = 14
    rate_baseline_days: int = 90
    rate_floor: float = 1 / 60  # events per day assumed at least, however quiet before
    rate_min_days: int = 4
    rate_confidence: float = 0.999
    indicator_days: int = 2  # days in a row a device's own flag must hold
    # Configured limits that replace a signal's default threshold (the required retention).
    limits: Mapping[Signal, float] = field(default_factory=dict)


def judge(
    check: str,
    spec: SignalSpec,
    rows: Sequence[DayRollup],
    *,
    today: int,
    rejected: Mapping[Rejected, int] | None = None,
    params: Params = Params(),
) -> Evidence:
    """The model of `spec` on the rows of days ≤ today (older-first)."""
    rejected = dict(rejected or {})
    if rows and rows[-1].day > today:
        rows = [row for row in rows if row.day <= today]
    base: dict[str, Any] = {
        "check": check,
        "signal": spec.signal,
        "model": spec.model,
        "at_day": today,
    }
    if not rows:
        return _no(base, Verdict.NO_DATA, rejected)
    part = rows[-1].part
    first = len(rows)
    while first > 0 and rows[first - 1].part == part:
        first -= 1
    segment = rows[first:]
    base["part"] = part
    if today - segment[-1].day > params.stale_days:
        return _no(base, Verdict.STALE, rejected, since=as_date(segment[-1].day))
    needed = {Model.FLAT_COUNTER: params.min_days // 2, Model.INDICATOR: 1}.get(
        spec.model, params.min_days
    )
    if len(segment) < needed:
        return _no(
            base,
            Verdict.TOO_FEW_DAYS,
            rejected,
            days=len(segment),
            since=as_date(segment[0].day),
            needed=needed,
        )
    if spec.model is Model.FLAT_COUNTER:
        return flat_counter(base, spec, segment, today, rejected, params)
    if spec.model is Model.TREND:
        return trend(base, spec, segment, today, rejected, params)
    if spec.model is Model.STEP:
        return step(base, spec, segment, today, rejected, params)
    if spec.model is Model.INDICATOR:
        return indicator(base, spec, segment, today, rejected, params)
    return event_rate(base, spec, segment, today, rejected, params)


def judge_samples(
    check: str, samples: Sequence[Sample], *, today: int, params: Params = Params()
) -> Evidence | None:
    """Raw samples of one check → evidence on `today`; None when no signal reads the check."""
    spec = spec_for(check)
    if spec is None:
        return None
    cleaned = clean(samples, counter=spec.counter)
    rows = roll_up(cleaned.samples, counter=spec.counter)
    return judge(check, spec, rows, today=today, rejected=cleaned.rejected, params=params)


def _no(
    base: dict[str, Any], verdict: Verdict, rejected: dict[Rejected, int], **facts: object
) -> Evidence:
    words = sentences(verdict, rejected, check=base["check"], **facts)
    return Evidence(**base, verdict=verdict, rejected=rejected, en=words["en"], zh=words["zh-CN"])


def _series(
    rows: Sequence[DayRollup], statistic: Statistic, *, absolute: bool = False
) -> tuple[Floats, Floats]:
    days = np.array([row.day for row in rows], dtype=np.float64)
    if statistic is Statistic.MEAN:
        values = [row.mean for row in rows]
    elif statistic is Statistic.LAST:
        values = [row.last for row in rows]
    else:
        values = [_events(row, statistic) for row in rows]
    array = np.array(values, dtype=np.float64)
    return days, np.abs(array) if absolute else array


def _events(row: DayRollup, statistic: Statistic) -> float:
    """A day's events: the counter's resets (uptime going back to zero) or its increase (a
    counter of events the agent keeps)."""
    return row.delta if statistic is Statistic.DELTA else float(row.resets)


def _evidence(
    base: dict[str, Any],
    verdict: Verdict,
    rejected: dict[Rejected, int],
    facts: dict[str, Any],
    **fields: Any,
) -> Evidence:
    words = sentences(verdict, rejected, check=base["check"], **facts)
    return Evidence(
        **base, **fields, verdict=verdict, rejected=rejected, en=words["en"], zh=words["zh-CN"]
    )


def flat_counter(
    base: dict[str, Any],
    spec: SignalSpec,
    segment: Sequence[DayRollup],
    today: int,
    rejected: dict[Rejected, int],
    params: Params,
) -> Evidence:
    """Counters that stay flat on a healthy part (reallocated, pending, uncorrectable sectors).

    Assumes: the counter is cumulative and never decreases except on a reset (its increase then
    counts from zero, as Prometheus' increase()); a healthy part has a rise on at most
    `counter_base_rate` of its days (a one-off remap is normal). Alarms when the number of days
    with a rise in the window is improbable under that rate (Poisson), and projects the date the
    counter reaches the threshold at the window's rate of rise.
    """
    window = [row for row in segment if row.day > today - params.window_days]
    rise = math.fsum(row.delta for row in window)
    rise_days = sum(1 for row in window if row.delta > 0)
    confidence = 1.0 - poisson_sf(rise_days, params.counter_base_rate * params.window_days)
    days, values = _series(window, Statistic.LAST)
    last = float(values[-1])
    rate = rise / params.window_days
    projected = earliest = latest = None
    fit = theil_sen(days, values) if len(window) >= 2 else None
    if rate > 0:
        gap = spec.threshold - last
        projected = ahead(today, gap, rate)
        if fit is not None and fit.slope_high > 0:
            earliest = ahead(today, gap, fit.slope_high)
        if fit is not None and fit.slope_low > 0:
            latest = ahead(today, gap, fit.slope_low)
    alarm = confidence >= params.counter_confidence and rise >= params.counter_min_rise
    verdict = Verdict.RISING_COUNTER if alarm else Verdict.STABLE
    facts = {
        "rise": rise,
        "rise_days": rise_days,
        "window": params.window_days,
        "threshold": spec.threshold,
        "projected": as_date(projected),
    }
    return _evidence(
        base,
        verdict,
        rejected,
        facts,
        days=tuple(int(d) for d in days),
        values=tuple(float(v) for v in values),
        fit=fit,
        threshold=spec.threshold,
        projected_day=projected,
        earliest_day=earliest,
        latest_day=latest,
        confidence=confidence,
    )


def baseline_of(segment: Sequence[DayRollup], today: int, params: Params) -> float:
    """The part's best sustained level: the highest median over `baseline_days` consecutive
    rows in the lookback (a fading battery or a drifting lens is judged against its own best)."""
    rows = [row for row in segment if row.day > today - params.baseline_lookback_days]
    values = np.array([row.mean for row in rows], dtype=np.float64)
    n = params.baseline_days
    if len(values) <= n:
        return float(np.median(values))
    windows = np.lib.stride_tricks.sliding_window_view(values, n)
    return float(np.max(np.median(windows, axis=1)))


def trend(
    base: dict[str, Any],
    spec: SignalSpec,
    segment: Sequence[DayRollup],
    today: int,
    rejected: dict[Rejected, int],
    params: Params,
) -> Evidence:
    """Gauges that drift towards a limit (temperature, runtime, sharpness, storage fill).

    Assumes: over the window the drift is close to linear (an accelerating drift is
    under-projected, so dates err late, not early); daily means remove the daily cycle; noise
    and the odd outlier do not move a Theil-Sen slope. Alarms when the Mann-Kendall test says the
    drift towards the limit is real (one-sided confidence), the projected crossing is within the
    horizon and even the slow end of Sen's 95 % band crosses within the longer horizon; or when
    the last week's median is already past the limit (for `past_needs_worsening` signals, only
    while the fit does not improve). An `absolute` signal judges the magnitude of each day's
    mean, which assumes the value does not cross zero within a day in a way that hides drift.
    """
    window = [row for row in segment if row.day > today - params.window_days]
    if len(window) < params.min_days:
        return _no(
            base,
            Verdict.TOO_FEW_DAYS,
            rejected,
            days=len(window),
            since=as_date(window[0].day if window else segment[-1].day),
            needed=params.min_days,
        )
    sign = 1.0 if spec.direction is Direction.UP else -1.0
    baseline = baseline_of(segment, today, params) if spec.relative else None
    limit = params.limits.get(spec.signal, spec.threshold)
    threshold = limit * baseline if baseline is not None else limit
    days, values = _series(window, spec.statistic, absolute=spec.absolute)
    fit = theil_sen(days, values)
    z = mann_kendall_z(values)
    confidence = normal_cdf(sign * z)
    current = fit.at(today)
    recent = values[days > today - params.past_threshold_days]
    fields: dict[str, Any] = {
        "days": tuple(int(d) for d in days),
        "values": tuple(float(v) for v in values),
        "fit": fit,
        "threshold": threshold,
        "baseline": baseline,
        "confidence": confidence,
    }
    facts: dict[str, Any] = {
        "threshold": threshold,
        "slope": fit.slope,
        "low": fit.slope_low,
        "high": fit.slope_high,
    }
    worsening = not spec.past_needs_worsening or sign * fit.slope >= 0
    if len(recent) and sign * (float(np.median(recent)) - threshold) >= 0 and worsening:
        facts.update(projected=as_date(today), earliest=as_date(today), latest=as_date(today))
        return _evidence(
            base,
            Verdict.TREND_TO_THRESHOLD,
            rejected,
            facts,
            **fields,
            projected_day=today,
            earliest_day=today,
            latest_day=today,
        )
    toward = sign * fit.slope
    if toward <= 0:
        verdict = Verdict.REVERSED if normal_cdf(-sign * z) >= 0.99 else Verdict.STABLE
        return _evidence(base, verdict, rejected, facts, **fields)
    gap = threshold - current
    projected = ahead(today, gap, fit.slope)
    slow, fast = (fit.slope_low, fit.slope_high) if sign > 0 else (fit.slope_high, fit.slope_low)
    latest = ahead(today, gap, slow) if sign * slow > 0 else None
    earliest = ahead(today, gap, fast) if sign * fast > 0 else None
    facts.update(projected=as_date(projected), earliest=as_date(earliest), latest=as_date(latest))
    fields.update(projected_day=projected, earliest_day=earliest, latest_day=latest)
    if confidence < params.trend_confidence:
        return _evidence(base, Verdict.STABLE, rejected, facts, **fields)
    soon = projected is not None and projected - today <= params.horizon_days
    sure = latest is not None and latest - today <= params.latest_horizon_days
    verdict = Verdict.TREND_TO_THRESHOLD if soon and sure else Verdict.FAR
    return _evidence(base, verdict, rejected, facts, **fields)


def step(
    base: dict[str, Any],
    spec: SignalSpec,
    segment: Sequence[DayRollup],
    today: int,
    rejected: dict[Rejected, int],
    params: Params,
) -> Evidence:
    """Levels that fail by jumping (a fan stopping, a temperature stepping up after it).

    Assumes: one change of level in the window at most; before it, the level is stable up to
    noise measured by its MAD. Alarms when the best split (Mann-Whitney rank score) moves the
    median towards the bad side by at least `min_step` (absolute or relative to the level before),
    by more than `step_noise_factor` noise widths, and every day after it stays on the far side of
    the midpoint: a step that holds, not a bad day.
    """
    window = [row for row in segment if row.day > today - params.window_days]
    days, values = _series(window, spec.statistic)
    sign = 1.0 if spec.direction is Direction.UP else -1.0
    best: tuple[float, int] | None = None
    for k in range(3, len(values) - params.step_min_after + 1):
        score = sign * rank_sum_z(values[:k], values[k:])
        if best is None or score > best[0]:
            best = (score, k)
    fields: dict[str, Any] = {
        "days": tuple(int(d) for d in days),
        "values": tuple(float(v) for v in values),
        "threshold": spec.threshold,
    }
    facts: dict[str, Any] = {"threshold": spec.threshold}
    if best is None:
        return _evidence(base, Verdict.STABLE, rejected, facts, **fields)
    score, k = best
    before, after = values[:k], values[k:]
    level_before, level_after = float(np.median(before)), float(np.median(after))
    change = sign * (level_after - level_before)
    needed = spec.min_step * abs(level_before) if spec.min_step_relative else spec.min_step
    noise = max(mad(before), 1e-9 + 0.01 * abs(level_before))
    midpoint = (level_before + level_after) / 2.0
    holds = bool(np.all(sign * (after - midpoint) > 0))
    confidence = normal_cdf(score)
    step_day = int(days[k])
    fields.update(confidence=confidence, baseline=level_before)
    if (
        change > 0
        and change >= needed
        and change >= params.step_noise_factor * noise
        and holds
        and confidence >= params.step_confidence
    ):
        facts.update(before=level_before, after=level_after, step_date=as_date(step_day))
        deadline = step_day + spec.step_deadline_days
        return _evidence(base, Verdict.STEP, rejected, facts, **fields, projected_day=deadline)
    reverse = normal_cdf(-score) if score < 0 else 0.0
    verdict = Verdict.REVERSED if change < 0 and reverse >= 0.99 else Verdict.STABLE
    return _evidence(base, verdict, rejected, facts, **fields)


def indicator(
    base: dict[str, Any],
    spec: SignalSpec,
    segment: Sequence[DayRollup],
    today: int,
    rejected: dict[Rejected, int],
    params: Params,
) -> Evidence:
    """A device's own verdict as a flag (a UPS's replace-battery indicator).

    Assumes: the device's test is better informed than any trend we could fit, and a flag that
    holds at the end of `indicator_days` days in a row is meant (one misread poll is not). The
    deadline is `step_deadline_days` after the first day of the run. A flag that was raised and
    is now down means the part was replaced or the test passed again: reversed.
    """
    window = [row for row in segment if row.day > today - params.window_days]
    days, values = _series(window, Statistic.LAST)
    raised = values >= 0.5
    run = 0
    while run < len(raised) and raised[len(raised) - 1 - run]:
        run += 1
    fields: dict[str, Any] = {
        "days": tuple(int(d) for d in days),
        "values": tuple(float(v) for v in values),
        "threshold": spec.threshold,
    }
    facts: dict[str, Any] = {"threshold": spec.threshold}
    if run >= params.indicator_days:
        since = int(days[len(days) - run])
        deadline = since + spec.step_deadline_days
        facts.update(since=as_date(since), projected=as_date(deadline))
        return _evidence(
            base,
            Verdict.INDICATOR,
            rejected,
            facts,
            **fields,
            projected_day=deadline,
            confidence=1.0,
        )
    verdict = Verdict.REVERSED if run == 0 and bool(np.any(raised)) else Verdict.STABLE
    return _evidence(base, verdict, rejected, facts, **fields)


def event_rate(
    base: dict[str, Any],
    spec: SignalSpec,
    segment: Sequence[DayRollup],
    today: int,
    rejected: dict[Rejected, int],
    params: Params,
) -> Evidence:
    """Events that come singly on a healthy device and in bursts before it dies (reboots, seen
    as uptime resets; reconnects, counted by the agent).

    Assumes: events are Poisson at the device's own earlier rate, never taken below
    `rate_floor` (a quiet device is not alarmed by its second reboot of the year). Alarms when
    the number of days with an event in the recent window is improbable under that rate.
    """
    recent = [row for row in segment if row.day > today - params.rate_window_days]
    start = today - params.rate_window_days - params.rate_baseline_days
    earlier = [row for row in segment if start < row.day <= today - params.rate_window_days]
    days, values = _series(recent, spec.statistic)
    _, before = _series(earlier, spec.statistic)
    events = round(math.fsum(values))
    event_days = int(np.count_nonzero(values > 0))
    observed = math.fsum(before) / len(before) if len(before) else 0.0
    rate = max(observed, params.rate_floor)
    confidence = 1.0 - poisson_sf(event_days, rate * params.rate_window_days)
    facts: dict[str, Any] = {
        "events": events,
        "event_days": event_days,
        "window": params.rate_window_days,
        "baseline": rate,
        "threshold": float(params.rate_min_days),
    }
    alarm = event_days >= params.rate_min_days and confidence >= params.rate_confidence
    verdict = Verdict.RATE_RISING if alarm else Verdict.STABLE
    return _evidence(
        base,
        verdict,
        rejected,
        facts,
        days=tuple(int(d) for d in days),
        values=tuple(float(v) for v in values),
        threshold=float(params.rate_min_days),
        baseline=rate,
        confidence=confidence,
        projected_day=today + spec.step_deadline_days if alarm else None,
    )
