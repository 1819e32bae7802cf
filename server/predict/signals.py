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
    BATTERY_REPLACE = "battery_replace"
    BATTERY_TEMPERATURE = "battery_temperature"
    INTERFACE_ERRORS = "interface_errors"
    CLOCK_DRIFT = "clock_drift"
    RETENTION = "retention"
    SELF_TEST = "self_test"
    RECONNECTS = "reconnects"
    NIGHT_BRIGHTNESS = "night_brightness"


class Model(StrEnum):
    FLAT_COUNTER = "flat_counter"
    TREND = "trend"
    STEP = "step"
    EVENT_RATE = "event_rate"
    INDICATOR = "indicator"


class Direction(StrEnum):
    """Which way is worse."""

    UP = "up"
    DOWN = "down"


class Statistic(StrEnum):
    """Which field of the daily rollup a model reads."""

    MEAN = "mean"
    LAST = "last"
    RESETS = "resets"
    DELTA = "delta"


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
    # A flag (the device's own verdict), rolled up as 0/1: only flags a signal reads are kept.
    flag: bool = False
    # The magnitude is what wears (a clock offset either side of zero).
    absolute: bool = False
    # A level already past the limit alarms only while it is not improving (a recorder filling
    # its new disks has short retention that grows by itself).
    past_needs_worsening: bool = False


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
    # Before `temperature`: a battery has its own, lower limit. VRLA service life halves for
    # each ~8-10 °C above 25 °C (Arrhenius; IEEE 1188 and makers' data sheets), and 40 °C is
    # the top of the float-service range most UPS batteries are rated for.
    SignalSpec(
        Signal.BATTERY_TEMPERATURE,
        Model.TREND,
        ("ups.battery.temperature_c",),
        Direction.UP,
        Statistic.MEAN,
        threshold=40.0,
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
        ("*.rpm",),
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
        ("ups.battery.minutes_remaining",),
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
    # Mean picture brightness of the IR (night) snapshots, against the camera's own best
    # nights: an IR illuminator losing output (LED lumen maintenance is rated to L70, 70 % of
    # the first output) darkens the night picture once the camera's gain is at its limit.
    SignalSpec(
        Signal.NIGHT_BRIGHTNESS,
        Model.TREND,
        ("picture.night_luma_mean",),
        Direction.DOWN,
        Statistic.MEAN,
        threshold=0.7,
        relative=True,
    ),
    SignalSpec(
        Signal.REBOOTS,
        Model.EVENT_RATE,
        ("*.uptime_s",),
        Direction.UP,
        Statistic.RESETS,
        threshold=0.0,
        counter=True,
    ),
    # Reconnects the agent counted (ONVIF sessions and event subscriptions made again after
    # they failed, MQTT devices back online after their last will said offline): a device that
    # reboots or drops off the network without its uptime telling us.
    SignalSpec(
        Signal.RECONNECTS,
        Model.EVENT_RATE,
        ("onvif.reconnects", "mqtt.reconnects"),
        Direction.UP,
        Statistic.DELTA,
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
    # APC upsAdvBatteryReplaceIndicator, CyberPower upsAdvanceBatteryReplaceIndicator: the
    # UPS's own battery test says replace. Held on two days in a row (not one misread poll).
    SignalSpec(
        Signal.BATTERY_REPLACE,
        Model.INDICATOR,
        ("ups.battery.replace",),
        Direction.UP,
        Statistic.LAST,
        threshold=1.0,
        flag=True,
    ),
    # RFC 1628 upsTestResultsSummary, APC upsAdvTestDiagnosticsResults: the last self-test
    # warned or failed. The result is held until the next test, so a failure no passing test
    # replaced within a day is read on two days in a row.
    SignalSpec(
        Signal.SELF_TEST,
        Model.INDICATOR,
        ("ups.self_test.failed",),
        Direction.UP,
        Statistic.LAST,
        threshold=1.0,
        flag=True,
    ),
    # IF-MIB ifInErrors/ifOutErrors as rates: a healthy copper link has none; a failing cable,
    # connector or PoE port gives a lasting level. 0.01/s is 864 errored frames a day.
    SignalSpec(
        Signal.INTERFACE_ERRORS,
        Model.STEP,
        ("if.*.in_errors_per_s", "if.*.out_errors_per_s"),
        Direction.UP,
        Statistic.MEAN,
        threshold=0.01,
        min_step=0.01,
    ),
    # ONVIF GetSystemDateAndTime offset (camera minus agent), either side of zero: a clock that
    # runs away reaches the drift fault's limit (the ONVIF `clock_drift_threshold`, 5 s by
    # default) around this date.
    SignalSpec(
        Signal.CLOCK_DRIFT,
        Model.TREND,
        ("clock.offset_s",),
        Direction.UP,
        Statistic.MEAN,
        threshold=5.0,
        absolute=True,
    ),
    # How many days back a recorder's footage reaches (ONVIF Search), against the required
    # retention (30 days unless `SECMON_PREDICT_RETENTION_DAYS` says otherwise): recording that
    # fills the disks faster (more cameras, higher bit rates, a lost disk) shortens it.
    SignalSpec(
        Signal.RETENTION,
        Model.TREND,
        ("recording.retention_days",),
        Direction.DOWN,
        Statistic.MEAN,
        threshold=30.0,
        past_needs_worsening=True,
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
