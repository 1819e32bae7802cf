"""Raw samples of one numeric check → clean daily rollups (min, max, mean, last, count, counter
delta and resets), with every rejected sample counted by reason.

Days are UTC calendar days numbered from 1970-01-01. A rollup row belongs to one part (the
device's serial at that time): a replaced part starts a fresh history.
"""

import itertools
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

DAY_S = 86_400
EPOCH = date(1970, 1, 1)
# No reading we forecast comes near this; beyond it sums and fits lose all precision.
LARGEST = 1e12
# Values devices report when they have no reading: "unknown", an unset 16-bit register, 0 K in C.
SENTINELS: frozenset[float] = frozenset({-1.0, -273.0, -273.15, 65535.0, 4294967295.0})


class Rejected(StrEnum):
    """Why a sample was not used."""

    NOT_A_NUMBER = "not_a_number"
    SENTINEL = "sentinel"
    NEGATIVE_COUNTER = "negative_counter"
    CONFLICTING_DUPLICATE = "conflicting_duplicate"
    GLITCH = "glitch"
    OUT_OF_RANGE = "out_of_range"


@dataclass(frozen=True, slots=True)
class Sample:
    ts: float  # seconds since the epoch, UTC
    value: float
    part: str | None = None


@dataclass(frozen=True, slots=True)
class DayRollup:
    """One check's clean samples of one UTC day. `delta` is the counter's increase over the day
    (a decrease is a reset: the new value counts as the increase since zero) and `resets` how many
    decreases there were; both count from the previous day's last value of the same part."""

    day: int
    part: str | None
    count: int
    min: float
    max: float
    mean: float
    last: float
    delta: float = 0.0
    resets: int = 0


@dataclass(frozen=True, slots=True)
class Cleaned:
    samples: tuple[Sample, ...]
    rejected: Mapping[Rejected, int] = field(default_factory=dict)
    reordered: bool = False


def day_of(ts: float) -> int:
    return math.floor(ts / DAY_S)


def date_of(day: int) -> date:
    return EPOCH + timedelta(days=day)


def clean(samples: Iterable[Sample], *, counter: bool) -> Cleaned:
    """Drop what cannot be a reading, order by time, resolve duplicate timestamps, and (for
    counters) drop one-sample spikes that return to the level around them."""
    rejected: Counter[Rejected] = Counter()
    kept: list[Sample] = []
    for sample in samples:
        value = sample.value
        if (
            not isinstance(value, int | float)
            or not math.isfinite(value)
            or not (math.isfinite(sample.ts))
        ):
            rejected[Rejected.NOT_A_NUMBER] += 1
        elif float(value) in SENTINELS:
            rejected[Rejected.SENTINEL] += 1
        elif abs(value) > LARGEST:
            rejected[Rejected.OUT_OF_RANGE] += 1
        elif counter and value < 0:
            rejected[Rejected.NEGATIVE_COUNTER] += 1
        else:
            kept.append(sample)
    reordered = any(b.ts < a.ts for a, b in itertools.pairwise(kept))
    kept.sort(key=lambda s: s.ts)
    unique: list[Sample] = []
    i = 0
    while i < len(kept):
        j = i
        while j + 1 < len(kept) and kept[j + 1].ts == kept[i].ts:
            j += 1
        group = kept[i : j + 1]
        if len({(s.value, s.part) for s in group}) == 1:
            unique.append(group[0])
        else:
            rejected[Rejected.CONFLICTING_DUPLICATE] += len(group)
        i = j + 1
    if counter:
        unique = _drop_spikes(unique, rejected)
    return Cleaned(tuple(unique), dict(rejected), reordered)


def _drop_spikes(samples: list[Sample], rejected: Counter[Rejected]) -> list[Sample]:
    """A counter sample above both neighbours of the same part that come back to within the
    earlier level is a misread, not a rise (a real rise stays)."""
    out: list[Sample] = []
    for i, sample in enumerate(samples):
        if 0 < i < len(samples) - 1:
            before, after = samples[i - 1], samples[i + 1]
            same_part = before.part == sample.part == after.part
            if same_part and sample.value > before.value and after.value <= before.value:
                rejected[Rejected.GLITCH] += 1
                continue
        out.append(sample)
    return out


def roll_up(
    samples: Sequence[Sample], *, counter: bool, before: Sample | None = None
) -> list[DayRollup]:
    """Clean samples (sorted) → one row per (day, part), in time order. `before` is the last
    sample ahead of them (a stored day's last value), so a counter's first delta is known."""
    rows: list[DayRollup] = []
    previous: Sample | None = before
    start = 0
    while start < len(samples):
        day, part = day_of(samples[start].ts), samples[start].part
        end = start
        while end < len(samples) and day_of(samples[end].ts) == day and samples[end].part == part:
            end += 1
        group = samples[start:end]
        values = [s.value for s in group]
        delta, resets = 0.0, 0
        if counter:
            last_value = previous.value if previous is not None and previous.part == part else None
            for value in values:
                if last_value is not None:
                    if value >= last_value:
                        delta += value - last_value
                    else:
                        resets += 1
                        delta += value
                last_value = value
        rows.append(
            DayRollup(
                day=day,
                part=part,
                count=len(values),
                min=min(values),
                max=max(values),
                mean=math.fsum(values) / len(values),
                last=values[-1],
                delta=delta,
                resets=resets,
            )
        )
        previous = group[-1]
        start = end
    return rows
