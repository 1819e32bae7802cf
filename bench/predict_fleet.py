"""A synthetic fleet for the predictive-maintenance backtest, written without the models.

Nothing here imports secmon's forecasting code: the shapes follow how hardware is documented to
wear, the failure day follows from each shape's own physics, and the models must find it.

Classes and their checks (samples every 6 h, hours 0/6/12/18 UTC, a few minutes' jitter):
- disk: `host.disk.sda.reallocated_sectors`, `.pending_sectors` (cumulative counters), `.celsius`
- ups: `ups.battery.minutes_remaining` (runtime at the current load)
- camera: `camera.sharpness` (0..1), `camera.uptime_s`
- recorder: `host.fs.recordings.used_percent`, `host.uptime_s`
- switch: `switch.fan.fan1.rpm`, `switch.board.celsius`

Degradation shapes (one per failing device; `cause` in the failures file):
- sector_linear: from onset (30-90 days before failure) remap events come on a fixed share of
  days (5-20 %), each adding a geometric number of sectors (mean 6); pending sectors follow.
- sector_accelerating: the share of days with remaps grows exponentially from 2 % to 60 %.
- battery_knee: capacity fades 2-6 %/year, then after a knee falls quadratically; the battery
  fails (self-test) when capacity reaches 55 % of new. Runtime = capacity x nominal runtime,
  ±5 % noise, 8 % lower by day under load.
- thermal_creep: temperature creeps 0.15-0.5 °C/day from onset; the device shuts down at
  72-78 °C. Daily cycle ±3 °C and a seasonal swing of ±5 °C.
- fan_stop: the fan's rpm becomes erratic for a week, then stops (0 rpm) 15-45 days before
  failure; board temperature steps up 10-15 °C when it stops.
- focus_drift: sharpness falls linearly to 45 % of the camera's own level over 40-110 days;
  failure (picture unusable) at the end. Night samples read 30 % lower (IR).
- reboot_loop: reboots per day grow exponentially from 0.05 to 4 over 20-40 days.
- storage_fill: overwrite stops; used space grows linearly from the steady level to 100 %
  over 30-90 days; failure when full.

Healthy devices (10x the failing ones and more) get the same noise, daily cycles and seasons,
and the glitches of real fleets: sentinels (65535, -1, -273) on 0.2 % of samples, NaN on 0.1 %,
one-sample spikes, agent gaps of 1-10 days, counters reset to 0 by firmware, one-off remaps of a
few sectors on 8 % of disks, reboots every ~90 days, and part replacements (disk swapped with a
new serial, UPS battery replaced) on 5 % of devices.
"""

import csv
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

START = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
DAY = 86_400.0
HOURS = (0, 6, 12, 18)
NIGHT = frozenset({0, 18})
SENTINELS = (65535.0, -1.0, -273.0)

SHAPES = (
    "sector_linear",
    "sector_accelerating",
    "battery_knee",
    "thermal_creep",
    "fan_stop",
    "focus_drift",
    "reboot_loop",
    "storage_fill",
)
CLASS_OF_SHAPE = {
    "sector_linear": "disk",
    "sector_accelerating": "disk",
    "battery_knee": "ups",
    "thermal_creep": "disk",
    "fan_stop": "switch",
    "focus_drift": "camera",
    "reboot_loop": "camera",
    "storage_fill": "recorder",
}
CLASSES = ("disk", "ups", "camera", "recorder", "switch")


@dataclass(slots=True)
class Row:
    device: str
    ts: float
    check: str
    value: float
    part: str


@dataclass(slots=True)
class Device:
    name: str
    kind: str
    shape: str | None
    failed_day: int | None
    rows: list[Row] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class FleetSpec:
    days: int = 210
    failing_per_shape: int = 8
    healthy_factor: int = 11


def _moments(rng: random.Random, days: int) -> Iterator[tuple[int, int, float]]:
    """(day, hour, ts) of every sample slot, minus the agent's offline gaps."""
    gaps: list[tuple[int, int]] = []
    if rng.random() < 0.3:
        begin = rng.randrange(days)
        gaps.append((begin, begin + rng.randint(1, 10)))
    for day in range(days):
        if any(a <= day < b for a, b in gaps):
            continue
        for hour in HOURS:
            yield day, hour, START + day * DAY + hour * 3600 + rng.uniform(0, 300)


def _glitch(rng: random.Random, value: float) -> float:
    roll = rng.random()
    if roll < 0.002:
        return rng.choice(SENTINELS)
    if roll < 0.003:
        return math.nan
    return value


def _seasonal(day: int, phase: float) -> float:
    return 5.0 * math.sin(2 * math.pi * (day / 365.0) + phase)


class Builder:
    """Writes one device's rows; `end` is the last day it reports (the failure day, exclusive)."""

    def __init__(self, rng: random.Random, spec: FleetSpec) -> None:
        self.rng = rng
        self.spec = spec

    def device(self, name: str, kind: str, shape: str | None) -> Device:
        rng, days = self.rng, self.spec.days
        failed = None
        if shape is not None:
            failed = rng.randint(110, days - 5)
        device = Device(name, kind, shape, failed)
        end = failed if failed is not None else days
        builder: dict[str, Callable[[Device, int], None]] = {
            "disk": self._disk,
            "ups": self._ups,
            "camera": self._camera,
            "recorder": self._recorder,
            "switch": self._switch,
        }
        builder[kind](device, end)
        return device

    def _emit(self, device: Device, ts: float, check: str, value: float, part: str) -> None:
        device.rows.append(Row(device.name, ts, check, _glitch(self.rng, value), part))

    def _disk(self, device: Device, end: int) -> None:
        rng = self.rng
        failed, shape = device.failed_day, device.shape
        serial = f"SN{rng.randrange(10**8):08d}"
        replaced_on = rng.randrange(30, end) if shape is None and rng.random() < 0.05 else None
        remap_day = rng.randrange(end) if rng.random() < 0.08 else None
        firmware_reset = rng.randrange(end) if rng.random() < 0.03 else None
        onset = failed - rng.randint(30, 90) if failed is not None else None
        share = rng.uniform(0.05, 0.2)
        creep = rng.uniform(0.15, 0.5)
        phase = rng.uniform(0, 2 * math.pi)
        base_temp = rng.uniform(32, 42)
        shutdown = rng.uniform(72, 78)
        if shape == "thermal_creep" and failed is not None:
            # Failure when the creep reaches the shutdown temperature.
            onset = failed - int((shutdown - base_temp - 4) / creep)
        realloc = pending = 0.0
        day_seen = -1
        for day, hour, ts in _moments(rng, end):
            if day != day_seen:
                day_seen = day
                if replaced_on is not None and day == replaced_on:
                    serial = f"SN{rng.randrange(10**8):08d}"
                    realloc = pending = 0.0
                if day == remap_day:
                    realloc += rng.randint(1, 24)
                if day == firmware_reset:
                    realloc = 0.0
                sectors = shape in ("sector_linear", "sector_accelerating")
                if sectors and onset is not None and failed is not None and day >= onset:
                    if shape == "sector_linear":
                        p = share
                    else:
                        p = 0.02 * math.exp(math.log(30) * (day - onset) / (failed - onset))
                    if rng.random() < min(p, 0.9):
                        realloc += 1 + int(rng.expovariate(1 / 6))
                        if rng.random() < 0.5:
                            pending += 1 + int(rng.expovariate(1 / 3))
            temp = base_temp + _seasonal(day, phase) + (3.0 if 6 <= hour <= 12 else -1.0)
            if shape == "thermal_creep" and onset is not None and day >= onset:
                temp += creep * (day - onset)
            temp += rng.gauss(0, 0.8)
            value_r = realloc if rng.random() > 0.001 else realloc + 4000  # a misread spike
            self._emit(device, ts, "host.disk.sda.reallocated_sectors", value_r, serial)
            self._emit(device, ts, "host.disk.sda.pending_sectors", pending, serial)
            self._emit(device, ts, "host.disk.sda.celsius", round(temp), serial)

    def _ups(self, device: Device, end: int) -> None:
        rng = self.rng
        failed = device.failed_day
        battery = f"BAT{rng.randrange(10**6):06d}"
        nominal = rng.uniform(15, 40)
        fade = rng.uniform(0.02, 0.06) / 365
        age = rng.uniform(0, 1.5) * 365
        replaced_on = rng.randrange(30, end) if failed is None and rng.random() < 0.05 else None
        knee = span = 0.0
        if failed is not None:
            span = rng.randint(30, 80)
            knee = failed - span
        for day, hour, ts in _moments(rng, end):
            if replaced_on is not None and day == replaced_on:
                battery, age = f"BAT{rng.randrange(10**6):06d}", -day
                replaced_on = None
            capacity = 1.0 - fade * (age + day)
            if failed is not None and day >= knee:
                fall_at_failure = (1.0 - fade * (age + failed)) - 0.55
                capacity -= fall_at_failure * ((day - knee) / span) ** 2
            load = 1.08 if 8 <= hour <= 18 else 0.97
            runtime = nominal * capacity / load * (1 + rng.gauss(0, 0.05))
            self._emit(device, ts, "ups.battery.minutes_remaining", round(runtime, 1), battery)

    def _uptime(self, device: Device, end: int, check: str, part: str) -> None:
        rng = self.rng
        loop_start = end - rng.randint(20, 40) if device.shape == "reboot_loop" else None
        booted = START - rng.uniform(0, 200) * DAY
        last_ts = START
        for day, _, ts in _moments(rng, end):
            rate = 1 / 90
            if loop_start is not None and day >= loop_start:
                rate = 0.05 * math.exp(math.log(80) * (day - loop_start) / (end - loop_start))
            if rng.random() < 1 - math.exp(-rate * (ts - last_ts) / DAY):
                booted = rng.uniform(last_ts, ts)
            last_ts = ts
            self._emit(device, ts, check, round(ts - booted), part)

    def _camera(self, device: Device, end: int) -> None:
        rng = self.rng
        serial = f"CAM{rng.randrange(10**6):06d}"
        level = rng.uniform(0.4, 0.9)
        drift_start = end - rng.randint(40, 110) if device.shape == "focus_drift" else None
        for day, hour, ts in _moments(rng, end):
            value = level
            if drift_start is not None and day >= drift_start:
                value *= 1 - 0.55 * (day - drift_start) / (end - drift_start)
            if hour in NIGHT:
                value *= 0.7
            value *= 1 + rng.gauss(0, 0.04)
            self._emit(device, ts, "camera.sharpness", round(value, 4), serial)
        self._uptime(device, end, "camera.uptime_s", serial)

    def _recorder(self, device: Device, end: int) -> None:
        rng = self.rng
        serial = f"NVR{rng.randrange(10**6):06d}"
        steady = rng.uniform(70, 92)
        fill_start = end - rng.randint(30, 90) if device.shape == "storage_fill" else None
        for day, hour, ts in _moments(rng, end):
            used = steady + 0.8 * math.sin(2 * math.pi * hour / 24) + rng.gauss(0, 0.3)
            if fill_start is not None and day >= fill_start:
                used = steady + (100 - steady) * (day - fill_start) / (end - fill_start)
                used += rng.gauss(0, 0.3)
            self._emit(
                device, ts, "host.fs.recordings.used_percent", round(min(used, 100.0), 2), serial
            )
        self._uptime(device, end, "host.uptime_s", serial)

    def _switch(self, device: Device, end: int) -> None:
        rng = self.rng
        serial = f"SW{rng.randrange(10**6):06d}"
        rpm = rng.uniform(2500, 4500)
        base_temp = rng.uniform(35, 45)
        phase = rng.uniform(0, 2 * math.pi)
        stop = end - rng.randint(15, 45) if device.shape == "fan_stop" else None
        jump = rng.uniform(10, 15)
        for day, hour, ts in _moments(rng, end):
            speed = rpm * (1 + rng.gauss(0, 0.02))
            temp = base_temp + _seasonal(day, phase) + (2.0 if 8 <= hour <= 16 else -1.0)
            if stop is not None and day >= stop - 7:
                speed *= rng.uniform(0.6, 1.1)
            if stop is not None and day >= stop:
                speed = 0.0
                temp += jump
            if rng.random() < 0.002:
                speed = 0.0  # a tachometer misread
            self._emit(device, ts, "switch.fan.fan1.rpm", round(speed), serial)
            self._emit(device, ts, "switch.board.celsius", round(temp + rng.gauss(0, 0.5)), serial)


def build(seed: int, spec: FleetSpec = FleetSpec()) -> list[Device]:
    rng = random.Random(seed)
    builder = Builder(rng, spec)
    devices: list[Device] = []
    for shape in SHAPES:
        for i in range(spec.failing_per_shape):
            devices.append(builder.device(f"{shape}-{i:02d}", CLASS_OF_SHAPE[shape], shape))
    failing = len(devices)
    for i in range(failing * spec.healthy_factor):
        devices.append(builder.device(f"healthy-{i:04d}", CLASSES[i % len(CLASSES)], None))
    return devices


def write(devices: list[Device], samples: Path, failures: Path, seed: int) -> None:
    """Samples in time order per device, with a few rows out of order and duplicated, as an
    agent's retried batches would deliver them."""
    rng = random.Random(seed + 1)
    with samples.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["device", "ts", "check", "value", "part"])
        for device in devices:
            rows = device.rows
            for i in range(len(rows) - 1):
                if rng.random() < 0.001:
                    rows[i], rows[i + 1] = rows[i + 1], rows[i]
            for row in rows:
                value = "nan" if math.isnan(row.value) else repr(row.value)
                out.writerow([row.device, f"{row.ts:.0f}", row.check, value, row.part])
                if rng.random() < 0.001:
                    out.writerow([row.device, f"{row.ts:.0f}", row.check, value, row.part])
    with failures.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["device", "failed_at", "cause"])
        for device in devices:
            if device.failed_day is not None and device.shape is not None:
                moment = datetime.fromtimestamp(START + device.failed_day * DAY, UTC)
                out.writerow([device.name, moment.isoformat(), device.shape])
