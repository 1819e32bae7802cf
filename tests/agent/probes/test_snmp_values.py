"""Pure SNMP value parsing: sentinels, numbers inside strings, counter wraps, reboots."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.probes.snmp_values import (
    CounterReading,
    UptimeReading,
    counter_rate,
    enum,
    label,
    number,
    number_in_text,
    percent,
    rebooted,
    text,
)


@pytest.mark.parametrize("sentinel", [4294967295, 2147483647, -2147483648])
def test_all_ones_and_extremes_are_unknown_not_numbers(sentinel: int) -> None:
    assert number(sentinel) is None


@pytest.mark.parametrize(("raw", "unknown"), [(-1, {-1}), (-273, {-273})])
def test_profile_sentinels_are_unknown(raw: int, unknown: set[int]) -> None:
    assert number(raw, unknown=frozenset(unknown)) is None
    assert number(raw) == raw  # without the profile saying so, -1 °C is a real reading


def test_sentinel_sent_as_string_is_unknown_too() -> None:
    assert number(b"4294967295") is None
    assert number(b"-273", unknown=frozenset({-273})) is None


def test_absent_values_are_unknown() -> None:
    assert number(None) is None
    assert number(b"") is None
    assert number(b"n/a") is None
    assert text(None) is None
    assert text(b"   ") is None


def test_scale_turns_tenths_into_units() -> None:
    assert number(482, scale=0.1) == pytest.approx(48.2)
    assert number(2147483647, scale=0.1) is None


@pytest.mark.parametrize(
    ("raw", "unit", "expected"),
    [
        (b"15 PERCENT", None, 15),
        (b"15 PERCENT", "percent", 15),
        (b"512 MB", "MB", 512),
        (b"0.0 GB", "GB", 0.0),
        (b"28 C/82 F", None, 28),
        (b"28 C/82 F", "C", 28),
        (b"28 C/82 F", "F", 82),
        (b"28 C/82 F", "\u00b0F", 82),
        (b"-5 C/23 F", "C", -5),
        (b"12,5 V", "V", 12.5),
        (b"41 %RH", "%RH", 41),
        (b"V5.5.3 build 171025", None, 5.5),
        (b"no number", None, None),
        (b"28 C", "F", None),
        (b"23.7C", "C", 23.7),
        (17, "C", 17),
        (None, None, None),
    ],
)
def test_number_inside_string(raw: bytes | int | None, unit: str | None, expected: object) -> None:
    assert number_in_text(raw, unit=unit) == expected


def test_nul_padded_strings_are_trimmed() -> None:
    assert text(b"DS-7608NI\x00\x00\x00") == "DS-7608NI"
    assert text(b"\xff\xfeabc") is not None  # undecodable bytes are replaced, never raise


@given(st.binary(max_size=64), st.sampled_from([None, "C", "F", "MB", "PERCENT"]))
def test_number_in_text_never_raises_and_is_finite(raw: bytes, unit: str | None) -> None:
    value = number_in_text(raw, unit=unit)
    assert value is None or isinstance(value, int | float)
    if isinstance(value, float):
        assert math.isfinite(value)


def test_enum_maps_known_codes_and_names_unknown_ones() -> None:
    mapping: dict[int, str | bool | int] = {2: "normal", 3: "low"}
    assert enum(3, mapping) == "low"
    assert enum(9, mapping) == "unknown(9)"
    assert enum(None, mapping) is None


def test_counter_rate_needs_a_previous_reading() -> None:
    assert counter_rate(None, CounterReading(10, 5.0)) is None


def test_counter_rate_per_second() -> None:
    assert counter_rate(CounterReading(100, 0.0), CounterReading(700, 60.0)) == 10.0


def test_counter32_wrap_gives_the_true_increase() -> None:
    before = CounterReading(2**32 - 100, 0.0)
    after = CounterReading(50, 10.0)
    assert counter_rate(before, after) == 15.0


def test_counter64_wrap_uses_64_bits() -> None:
    before = CounterReading(2**64 - 10, 0.0)
    after = CounterReading(10, 2.0)
    assert counter_rate(before, after, bits=64) == 10.0


def test_counter_reset_is_not_a_huge_rate_when_capped() -> None:
    before = CounterReading(1_000_000, 0.0)
    after = CounterReading(10, 60.0)  # agent restarted: looks like a wrap of ~4e9 in 60 s
    assert counter_rate(before, after, max_rate=1_000_000) is None


def test_counter_rate_without_elapsed_time_is_unknown() -> None:
    assert counter_rate(CounterReading(1, 5.0), CounterReading(2, 5.0)) is None


@given(
    st.integers(min_value=0, max_value=2**32 - 1),
    st.integers(min_value=0, max_value=2**32 - 1),
    st.floats(min_value=0.001, max_value=1e6),
)
def test_counter32_rate_is_never_negative(first: int, second: int, elapsed: float) -> None:
    rate = counter_rate(CounterReading(first, 0.0), CounterReading(second, elapsed))
    assert rate is not None
    assert rate >= 0
    assert rate * elapsed == pytest.approx((second - first) % 2**32, rel=1e-9, abs=1e-6)


def test_uptime_going_backwards_is_a_reboot() -> None:
    assert rebooted(UptimeReading(500_000, 0.0), UptimeReading(1_000, 60.0))


def test_uptime_going_forward_is_not_a_reboot() -> None:
    assert not rebooted(UptimeReading(500_000, 0.0), UptimeReading(506_000, 60.0))
    assert not rebooted(None, UptimeReading(1_000, 0.0))


def test_timeticks_wrap_after_497_days_is_not_a_reboot() -> None:
    before = UptimeReading(2**32 - 3_000, 0.0)  # 30 s before the wrap
    after = UptimeReading(3_000, 60.0)  # 30 s after it, one minute later
    assert not rebooted(before, after)


def test_small_uptime_after_wrap_window_is_a_reboot() -> None:
    before = UptimeReading(2**32 - 3_000, 0.0)
    after = UptimeReading(3_000, 3600.0)  # an hour passed but uptime says one minute
    assert rebooted(before, after)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"GigabitEthernet1/0/1", "gigabitethernet1_0_1"),
        (b"/", "root"),
        (b"/dev/shm", "dev_shm"),
        (b"", "row7"),
        (None, "row7"),
        (b"---", "row7"),
        (b"A" * 60, "a" * 24),
    ],
)
def test_row_labels_are_check_name_segments(raw: bytes | None, expected: str) -> None:
    assert label(raw, fallback="row7") == expected


def test_percent() -> None:
    assert percent(25, 200) == 12.5
    assert percent(None, 200) is None
    assert percent(5, 0) is None
