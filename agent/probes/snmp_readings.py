"""From the raw answers of one poll (scalars by OID, walked columns by row) and what the probe
remembers from the last poll, to flat checks, events and identity. Pure: no I/O, no clock.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from agent.probes import snmp_values as values
from agent.probes.snmp_options import ContactKind, ContactOptions, ContactState, SnmpOptions
from agent.probes.snmp_profiles import (
    OVER_LIMIT,
    SENSOR_LIMITS_C,
    ContactColumns,
    IdentityField,
    Profile,
    Table,
    Value,
    ValueKind,
)
from agent.probes.snmp_values import CounterReading, RawValue, UptimeReading
from wire.schema import MAX_CHECKS_PER_SAMPLE, CheckValue, DeviceIdentity, Event

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"
SYSTEM_OIDS = (SYS_DESCR, SYS_OBJECT_ID, SYS_UPTIME, SYS_NAME)
MAX_CHECK_NAME = 64

Column = dict[str, RawValue]  # row index (OID suffix after the column) → value


@dataclass
class DeviceMemory:
    """What the probe keeps per device between polls: counters for rates, uptime for reboots."""

    counters: dict[str, CounterReading] = field(default_factory=dict)
    uptime: UptimeReading | None = None
    watched: dict[str, CheckValue] = field(default_factory=dict)  # last values of `event:` checks


@dataclass(frozen=True)
class DeviceSettings:
    """What the device config adds to its profile: the storages it records to (as label
    segments) and the site's own event names for checks (dry contacts)."""

    recording: frozenset[str] = frozenset()
    events: dict[str, str] = field(default_factory=dict)
    contacts: dict[str, ContactOptions] = field(default_factory=dict)  # by label segment

    @classmethod
    def of(cls, options: SnmpOptions | None) -> "DeviceSettings":
        if options is None:
            return cls()
        return cls(
            recording=frozenset(
                values.label(name.encode(), fallback="") for name in options.recording_storage
            ),
            events=dict(options.events),
            contacts={
                values.label(name.encode(), fallback=name): contact
                for name, contact in options.contacts.items()
            },
        )


NO_SETTINGS = DeviceSettings()


@dataclass(frozen=True)
class Reading:
    checks: dict[str, CheckValue]
    events: list[Event]
    identity: DeviceIdentity | None
    memory: DeviceMemory


def read(
    profile: Profile,
    *,
    scalars: dict[str, RawValue],
    columns: dict[str, Column],
    previous: DeviceMemory,
    at: float,
    now: datetime,
    options: SnmpOptions | None = None,
) -> Reading:
    """Evaluate a profile over one poll's answers. `at` is monotonic seconds (for rates),
    `now` the wall time stamped on events, `options` the device's `snmp:` block."""
    settings = DeviceSettings.of(options) if options is not None else NO_SETTINGS
    memory = DeviceMemory()
    checks: dict[str, CheckValue] = {"snmp.profile": profile.name}
    events: list[Event] = []

    restarted = False
    ticks = values.number(scalars.get(SYS_UPTIME))
    if isinstance(ticks, int):
        current = UptimeReading(ticks=ticks, at=at)
        restarted = values.rebooted(previous.uptime, current)
        memory.uptime = current
        checks["system.uptime_s"] = ticks // values.TICKS_PER_S
        checks["system.rebooted"] = restarted
        if restarted:
            events.append(
                Event(
                    ts=now,
                    kind="device.rebooted",
                    data={"uptime_s": ticks // values.TICKS_PER_S},
                )
            )
    # After a restart the device's counters began again from zero: no rate this time.
    counters = {} if restarted else previous.counters

    def lookup(oid: str) -> RawValue:
        return scalars.get(oid)

    watch: dict[str, str] = {}  # check name → event kind
    for spec in profile.scalars:
        checks[spec.name] = _value(spec, lookup, spec.name, counters, memory, at)
        if spec.limit is not None:
            checks[_over_name(spec.name)] = _over_limit(spec, checks[spec.name], lookup)
        if spec.event is not None:
            watch[spec.name] = spec.event

    for table in profile.tables:
        _read_table(table, columns, checks, watch, counters, memory, at, settings)
    for name, kind in settings.events.items():  # the site's names win over the profile's
        if name in checks:
            watch[name] = kind

    events += _changes(watch, checks, previous.watched, memory, now)

    if len(checks) > MAX_CHECKS_PER_SAMPLE:
        kept = dict(list(checks.items())[: MAX_CHECKS_PER_SAMPLE - 1])
        kept["snmp.checks_truncated"] = True
        checks = kept
    return Reading(
        checks=checks,
        events=events,
        identity=_identity(profile, scalars),
        memory=memory,
    )


def _read_table(
    table: Table,
    columns: dict[str, Column],
    checks: dict[str, CheckValue],
    watch: dict[str, str],
    counters: dict[str, CounterReading],
    memory: DeviceMemory,
    at: float,
    settings: DeviceSettings = NO_SETTINGS,
) -> None:
    rows: list[str] = []
    for spec in table.columns:
        for row in columns.get(spec.oid, {}):
            if row not in rows:
                rows.append(row)
    if table.where is not None:
        wanted = columns.get(table.where.oid, {})
        rows = [r for r in rows if _row_value(wanted.get(r)) in table.where.values]
    rows.sort(key=_row_key)
    labels = columns.get(table.label, {}) if table.label else {}
    if table.skip_labels:
        skipped = [re.compile(p) for p in table.skip_labels]
        rows = [r for r in rows if not _skipped(values.text(labels.get(r)), skipped)]
    used: set[str] = set()
    for row in rows[: table.max_rows]:
        index = row.replace(".", "_")
        fallback = table.row_prefix + index
        segment = values.label(labels.get(row), fallback=fallback)
        if segment[0].isdigit():
            segment = "n" + segment
        if segment in used:  # two rows with the same name: keep both, told apart by index
            segment = f"{segment}_{index}"
        used.add(segment)
        recording = segment in settings.recording
        if table.recording:
            checks[f"{table.name}.{segment}.recording"[:MAX_CHECK_NAME]] = recording
        row_values: dict[str, CheckValue] = {}
        for spec in table.columns:
            name = f"{table.name}.{segment}.{spec.name}"[:MAX_CHECK_NAME]

            def lookup(oid: str, row: str = row) -> RawValue:
                return columns.get(oid, {}).get(row)

            value = _value(spec, lookup, name, counters, memory, at)
            if spec.only_if_recording and value is True and not recording:
                value = False  # e.g. a disrupted storage nothing records to: no fault
            checks[name] = value
            row_values[spec.name] = value
            if spec.limit is not None:
                checks[_over_name(name)] = _over_limit(spec, value, lookup)
            if spec.event is not None:
                watch[name] = spec.event
        if table.contact is not None:
            site = settings.contacts.get(segment)
            checks.update(contact_checks(table.contact, segment, row_values, site))


CONTACT_WORDS: tuple[tuple[ContactKind, tuple[str, ...]], ...] = (
    (ContactKind.SMOKE, ("smoke", "fire")),
    (ContactKind.FLOOD, ("flood", "water", "leak")),
    (ContactKind.TAMPER, ("tamper", "cover", "case")),
    (ContactKind.DOOR, ("door", "gate", "window")),
)


def contact_kind(label: str) -> ContactKind:
    """What a contact watches, from the name the device gives it ("Lobby Door", "Water
    Leak"): a guess the site config overrides; generic when nothing in the name says."""
    for kind, words in CONTACT_WORDS:
        if any(word in label for word in words):
            return kind
    return ContactKind.GENERIC


def contact_checks(
    spec: ContactColumns,
    segment: str,
    row: dict[str, CheckValue],
    site: ContactOptions | None,
) -> dict[str, CheckValue]:
    """`contact.<kind>.<label>.closed` and `.abnormal` for one contact row. The normal state
    is the site's (config), else the device's own flag, else closed; without a raw state,
    the device's own verdict stands, and the raw state is derived from it when it can be."""

    def flag(column: str | None) -> bool | None:
        value = row.get(column) if column is not None else None
        return value if isinstance(value, bool) else None

    closed, verdict, normal_closed = (
        flag(spec.closed),
        flag(spec.abnormal),
        flag(spec.normal_closed),
    )
    if closed is None and verdict is not None and normal_closed is not None:
        closed = normal_closed != verdict  # abnormal means away from the normal state
    if site is not None and site.normal is not None:
        normal_closed = site.normal is ContactState.CLOSED
    elif normal_closed is None and verdict is None:
        normal_closed = True
    if closed is not None and normal_closed is not None:
        abnormal: bool | None = closed != normal_closed
    else:
        abnormal = verdict
    label = values.label(site.label.encode(), fallback=segment) if site and site.label else segment
    kind = site.kind if site is not None and site.kind is not None else contact_kind(label)
    base = f"contact.{kind.value}.{label}"[: MAX_CHECK_NAME - len(".abnormal")]
    return {f"{base}.closed": closed, f"{base}.abnormal": abnormal}


def _changes(
    watch: dict[str, str],
    checks: dict[str, CheckValue],
    before: dict[str, CheckValue],
    memory: DeviceMemory,
    now: datetime,
) -> list[Event]:
    """An event for each watched check whose value changed since the last poll (a door
    contact, on battery). The first poll only learns the values: no event for old news."""
    events: list[Event] = []
    for name, kind in watch.items():
        value = checks[name]
        if value is None:  # unknown this time: keep the last known value to compare with
            if name in before:
                memory.watched[name] = before[name]
            continue
        memory.watched[name] = value
        if name in before and before[name] != value:
            events.append(
                Event(
                    ts=now,
                    kind=kind,
                    data={"check": name, "value": value, "previous": before[name]},
                )
            )
    return events


def _over_name(name: str) -> str:
    return name[: MAX_CHECK_NAME - len(OVER_LIMIT)] + OVER_LIMIT


def _over_limit(spec: Value, value: CheckValue, lookup: Callable[[str], RawValue]) -> bool | None:
    """Whether a temperature is above the device's own threshold, else its type's limit;
    unknown when the reading is (a threshold the device does not answer falls back)."""
    assert spec.limit is not None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    limit = SENSOR_LIMITS_C[spec.limit.type]
    if spec.limit.oid is not None:
        # the threshold is read as the value is: same scale, unit flag and sentinels
        own = spec.model_copy(update={"oid": spec.limit.oid, "limit": None})
        published = _value(own, lookup, "", {}, DeviceMemory(), 0.0)
        if isinstance(published, int | float) and not isinstance(published, bool):
            limit = float(published)
    return value > limit


def _skipped(label: str | None, patterns: list[re.Pattern[str]]) -> bool:
    return label is not None and any(p.search(label) for p in patterns)


def _row_value(raw: RawValue) -> int | str | None:
    if isinstance(raw, int | str):
        return raw
    return values.text(raw)


def _row_key(row: str) -> tuple[int, ...]:
    return tuple(int(p) for p in row.split(".") if p.isdigit())


def _value(
    spec: Value,
    lookup: Callable[[str], RawValue],
    key: str,
    counters: dict[str, CounterReading],
    memory: DeviceMemory,
    at: float,
) -> CheckValue:
    raw = lookup(spec.oid)
    match spec.kind:
        case ValueKind.NUMBER:
            if spec.minus is not None or spec.times is not None:
                return _arithmetic(spec, lookup)
            reading = values.number(raw, unknown=spec.unknown, scale=spec.scale)
            if spec.unit_flag is not None and reading is not None:
                flag = values.number(lookup(spec.unit_flag.oid))
                if flag is None:
                    return None  # a temperature in an unknown unit is no reading
                if flag in spec.unit_flag.fahrenheit:
                    return values.celsius_from_fahrenheit(reading)
            if spec.precision_of is None or reading is None:
                return reading
            digits = values.number(lookup(spec.precision_of))
            if not isinstance(digits, int) or not 0 <= digits <= 9:
                return reading
            return round(reading / 10**digits, digits) if digits else reading
        case ValueKind.TEXT:
            return values.text(raw)
        case ValueKind.NUMBER_IN_TEXT:
            parsed = values.number_in_text(raw, unit=spec.unit)
            return values.number(parsed, unknown=spec.unknown, scale=spec.scale)
        case ValueKind.ENUM:
            return values.enum(raw, spec.map)
        case ValueKind.FLAG:
            code = values.number(raw, unknown=spec.unknown)  # e.g. a disabled input: no state
            return None if code is None else code in spec.true_when
        case ValueKind.PERCENT:
            assert spec.of is not None
            part = values.number(raw, unknown=spec.unknown)
            for oid in spec.minus_oids():  # each part the device answers; absent ones are 0
                taken = values.number(lookup(oid), unknown=spec.unknown)
                if part is not None and taken is not None:
                    part -= taken
            whole = values.number(lookup(spec.of), unknown=spec.unknown)
            share = values.percent(part, whole)
            if share is None:
                return None
            return round(100.0 - share, 1) if spec.complement else share
        case ValueKind.RATE:
            count = values.number(raw)
            if not isinstance(count, int) or count < 0:
                return None
            current = CounterReading(value=count, at=at)
            memory.counters[key] = current
            rate = values.counter_rate(
                counters.get(key), current, bits=spec.bits, max_rate=spec.max_rate
            )
            return None if rate is None else round(rate * spec.scale, 3)


def _arithmetic(spec: Value, lookup: Callable[[str], RawValue]) -> CheckValue:
    """(oid - minus) * times * scale, e.g. free bytes of an hrStorage row in GiB; unknown when
    any part is unknown, and never negative (a size read while the disk was being filled)."""
    base = values.number(lookup(spec.oid), unknown=spec.unknown)
    minus_oid = next(iter(spec.minus_oids()), None)
    minus = values.number(lookup(minus_oid), unknown=spec.unknown) if minus_oid else 0
    times = values.number(lookup(spec.times), unknown=spec.unknown) if spec.times else 1
    if base is None or minus is None or times is None or times <= 0:
        return None
    result = (base - minus) * times * spec.scale
    return round(max(result, 0), 3)


def _identity(profile: Profile, scalars: dict[str, RawValue]) -> DeviceIdentity | None:
    def field_value(spec: IdentityField | None) -> str | None:
        if spec is None:
            return None
        found = spec.value if spec.value is not None else values.text(scalars.get(spec.oid or ""))
        return found[:128] if found else None

    found = {
        "vendor": field_value(profile.identity.vendor),
        "model": field_value(profile.identity.model),
        "serial": field_value(profile.identity.serial),
        "firmware": field_value(profile.identity.firmware),
    }
    if not any(found.values()):
        return None
    return DeviceIdentity(**found)
