"""Turning raw SNMP values into honest check values: no I/O here, so every firmware quirk can be
unit-tested. The probe converts pysnmp objects into `RawValue` (int, bytes, dotted OID str, or None
for noSuchObject/noSuchInstance/endOfMibView) and calls these functions.
"""

import math
import re
from dataclasses import dataclass

RawValue = int | bytes | str | None

# Values that firmwares put in a gauge to mean "I don't know" rather than a reading.
# 4294967295 / 2147483647: unsigned/signed 32-bit all-ones (APC, Eaton and many NVRs when a
# sensor is absent); -2147483648: signed minimum (Synology DSM 6 disk temperature, unread).
ALWAYS_UNKNOWN: frozenset[int] = frozenset({4294967295, 2147483647, -2147483648})

TICKS_PER_S = 100
UPTIME_WRAP = 2**32  # sysUpTime is TimeTicks (32 bit): it wraps after 497 days

_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)?")
_NUMBER_WITH_UNIT = re.compile(r"([-+]?\d+(?:[.,]\d+)?)\s*([A-Za-z%°]*)")


def text(raw: RawValue) -> str | None:
    """A display string: decoded, NUL padding and blanks removed, None when empty or absent.

    Quirk: Hikvision DS-7600 NVR firmware pads fixed-width strings with NUL bytes.
    """
    if raw is None:
        return None
    if isinstance(raw, bytes):
        value = raw.replace(b"\x00", b"").decode("utf-8", errors="replace")
    else:
        value = str(raw)
    value = value.strip()
    return value or None


def number(
    raw: RawValue | float, *, unknown: frozenset[int] = frozenset(), scale: float = 1.0
) -> float | int | None:
    """A numeric reading, or None for absent values and sentinels.

    `unknown` adds the profile's own sentinels (e.g. -1 for "no battery", -273 for "no probe").
    Strings holding a number are read as well: some agents send gauges as OCTET STRING.
    """
    if raw is None:
        return None
    if isinstance(raw, bool):
        return int(raw)
    if isinstance(raw, int):
        if raw in ALWAYS_UNKNOWN or raw in unknown:
            return None
        return _scaled(raw, scale)
    if isinstance(raw, float):
        return _scaled(raw, scale) if math.isfinite(raw) else None
    parsed = number_in_text(raw)
    if parsed is None:
        return None
    if parsed == int(parsed) and int(parsed) in (ALWAYS_UNKNOWN | unknown):
        return None
    return _scaled(parsed, scale)


def _scaled(value: float | int, scale: float) -> float | int:
    if scale == 1.0:
        return value
    result = value * scale
    return round(result, 6)


def number_in_text(raw: RawValue, *, unit: str | None = None) -> float | int | None:
    """The number inside a string such as "15 PERCENT", "512 MB" or "28 C/82 F".

    With `unit`, the number followed by that unit (case-insensitive) is taken, so "28 C/82 F"
    gives 28 for unit "C" and 82 for unit "F"; without it, the first number. A decimal comma is
    accepted ("12,5 V"): seen on Hikvision DS-96xx NVRs set to a European locale.
    """
    if isinstance(raw, int):
        return raw
    value = text(raw)
    if value is None:
        return None
    if unit is None:
        match = _NUMBER.search(value)
        found = match.group(0) if match else None
    else:
        found = None
        wanted = unit.lower().lstrip("°")
        for m in _NUMBER_WITH_UNIT.finditer(value):
            if m.group(2).lower().lstrip("°") == wanted:
                found = m.group(1)
                break
    if found is None:
        return None
    found = found.replace(",", ".")
    if "." in found:
        result = float(found)
        return result if math.isfinite(result) else None
    return int(found)


def enum(raw: RawValue, mapping: dict[int, str | bool | int]) -> str | bool | int | None:
    """A mapped enumeration; an unmapped code becomes "unknown(<code>)" rather than a guess."""
    code = number(raw)
    if code is None or isinstance(code, float):
        return None
    if code in mapping:
        return mapping[code]
    return f"unknown({code})"


@dataclass(frozen=True)
class CounterReading:
    """A counter as seen at one poll: kept by the probe between polls of the same device."""

    value: int
    at: float  # monotonic seconds


def counter_rate(
    previous: CounterReading | None,
    current: CounterReading,
    *,
    bits: int = 32,
    max_rate: float | None = None,
) -> float | None:
    """Per-second increase between two polls, across one wrap of a `bits`-wide counter.

    None when there is no previous reading, time did not advance, or the increase is
    implausible (above `max_rate`): then the counter was reset (agent restart) rather than
    wrapped, and a rate would be a lie.
    """
    if previous is None:
        return None
    elapsed = current.at - previous.at
    if elapsed <= 0:
        return None
    delta = current.value - previous.value
    if delta < 0:
        delta += 2**bits
        if delta < 0:
            return None
    rate = delta / elapsed
    if max_rate is not None and rate > max_rate:
        return None
    return rate


@dataclass(frozen=True)
class UptimeReading:
    ticks: int
    at: float  # monotonic seconds


def rebooted(
    previous: UptimeReading | None, current: UptimeReading, *, slack_s: float = 5.0
) -> bool:
    """True when sysUpTime went backwards since the last poll, i.e. the device restarted.

    A wrap of the 32-bit TimeTicks after 497 days also goes backwards: it is told apart by the
    uptime having advanced by about the wall time that passed (±`slack_s`).
    """
    if previous is None or current.ticks >= previous.ticks:
        return False
    elapsed = current.at - previous.at
    advanced = (current.ticks + UPTIME_WRAP - previous.ticks) / TICKS_PER_S
    return abs(advanced - elapsed) > slack_s + elapsed * 0.01


_LABEL_JUNK = re.compile(r"[^a-z0-9_]+")


def label(raw: RawValue, *, fallback: str) -> str:
    """A check-name segment from a row's name ("GigabitEthernet1/0/1" → "gigabitethernet1_0_1");
    the row index when the name is empty or absent. The caller puts the table prefix before it,
    so the check name still starts with a letter."""
    value = text(raw)
    if value is None:
        return fallback
    if value == "/":  # the root mount point (hrStorageDescr, dskPath on Linux NVRs)
        return "root"
    segment = _LABEL_JUNK.sub("_", value.lower()).strip("_")
    return segment[:24].rstrip("_") or fallback


def percent(part: float | int | None, whole: float | int | None) -> float | None:
    """part / whole as a percentage rounded to 0.1; None when either is unknown or whole is 0."""
    if part is None or whole is None or whole <= 0 or part < 0:
        return None
    return round(part * 100.0 / whole, 1)


def celsius_from_fahrenheit(degrees: float) -> float:
    """°F → °C, to a tenth of a degree (what any site sensor resolves)."""
    return round((degrees - 32.0) * 5.0 / 9.0, 1)
