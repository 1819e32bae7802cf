"""The signals we forecast, which model judges each, and the check names that feed them.

A signal is a kind of wear (disk sectors, battery fade, …); a check name is matched to at most one
signal by the last segments of its name, so `syno.disk.disk1.bad_sectors` and
`host.disk.sda.reallocated_sectors` both feed `disk_sectors`.
"""

import re
from dataclasses import dataclass
from enum import StrEnum
from fnmatch import translate


class Signal(StrEnum):
    DISK_SECTORS = "disk_sectors"
    TEMPERATURE = "temperature"
    FAN = "fan"
    BATTERY = "battery"
    SHARPNESS = "sharpness"
    REBOOTS = "reboots"
    STORAGE_FILL = "storage_fill"


class Model(StrEnum):
    FLAT_COUNTER = "flat_counter"
    TREND = "trend"
    STEP = "step"
    EVENT_RATE = "event_rate"


class Direction(StrEnum):
    """Which way is worse."""

    UP = "up"
    DOWN = "down"


class Statistic(StrEnum):
    """Which field of the daily rollup a model reads."""

    MEAN = "mean"
    LAST = "last"
    RESETS = "resets"


@dataclass(frozen=True, slots=True)
class SignalSpec:
    """How one signal is judged. `threshold` is absolute, or a fraction of the part's own best
    14-day level when `relative` (a battery's runtime, a camera's sharpness)."""

    signal: Signal
    model: Model
    patterns: tuple[str, ...]
    direction: Direction
    statistic: Statistic
    threshold: float
    relative: bool = False
    counter: bool = False
    # Deadline for a step (no projected date): days after the step is seen.
    step_deadline_days: int = 14
    # Smallest step that matters: absolute units, or a fraction of the level before it.
    min_step: float = 0.0
    min_step_relative: bool = False


CATALOGUE: tuple[SignalSpec, ...] = (
    SignalSpec(
        Signal.DISK_SECTORS,
        Model.FLAT_COUNTER,
        (
            "*.reallocated_sectors",
            "*.pending_sectors",
            "*.offline_uncorrectable",
            "*.reported_uncorrect",
            "*.bad_sectors",
            "*.media_errors",
        ),
        Direction.UP,
        Statistic.LAST,
        threshold=100.0,
        counter=True,
    ),
    SignalSpec(
        Signal.TEMPERATURE,
        Model.TREND,
        ("*.celsius", "*.temperature_c"),
        Direction.UP,
        Statistic.MEAN,
        threshold=65.0,
    ),
    SignalSpec(
        Signal.FAN,
        Model.STEP,
        ("*.fan_rpm", "*.rpm"),
        Direction.DOWN,
        Statistic.MEAN,
        threshold=0.0,
        min_step=0.4,
        min_step_relative=True,
    ),
    # IEEE 1188 replaces a VRLA battery below 80 % of its capacity; runtime at comparable load
    # stands in for capacity.
    SignalSpec(
        Signal.BATTERY,
        Model.TREND,
        ("*.runtime_min", "ups.battery.minutes_remaining"),
        Direction.DOWN,
        Statistic.MEAN,
        threshold=0.8,
        relative=True,
    ),
    SignalSpec(
        Signal.SHARPNESS,
        Model.TREND,
        ("*.sharpness",),
        Direction.DOWN,
        Statistic.MEAN,
        threshold=0.7,
        relative=True,
    ),
    SignalSpec(
        Signal.REBOOTS,
        Model.EVENT_RATE,
        ("*.uptime_s", "sys_uptime_s", "uptime_s"),
        Direction.UP,
        Statistic.RESETS,
        threshold=0.0,
        counter=True,
    ),
    SignalSpec(
        Signal.STORAGE_FILL,
        Model.TREND,
        ("hr_storage.*.used_percent", "*disk*.used_percent", "host.fs.*.used_percent"),
        Direction.UP,
        Statistic.MEAN,
        threshold=95.0,
    ),
)

SPEC_OF: dict[Signal, SignalSpec] = {spec.signal: spec for spec in CATALOGUE}
_MATCHERS: tuple[tuple[re.Pattern[str], SignalSpec], ...] = tuple(
    (re.compile(translate(pattern)), spec) for spec in CATALOGUE for pattern in spec.patterns
)


def spec_for(check: str) -> SignalSpec | None:
    """The signal a check feeds, or None when no model reads it."""
    for matcher, spec in _MATCHERS:
        if matcher.match(check):
            return spec
    return None
