"""SNMP device profiles as data: which OIDs to read, how to turn them into checks, and which
devices a profile is for. The shipped YAML files live in `agent/profiles/snmp/`, the operator's
in `agent.profiles_dir`; this module validates them once (failing with the file, line and
field). Which ones read a device is `snmp_detect`'s business. No network I/O.
"""

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from configfile import ConfigError, ConfigProblem, parse_yaml

PROFILE_DIR = Path(__file__).resolve().parent.parent / "profiles" / "snmp"
FALLBACK_PROFILE = "generic"

Oid = Annotated[str, Field(pattern=r"^[0-2](\.\d+)+$", max_length=200)]
Segment = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.]*$", max_length=40)]
# Units a reading may carry inside a string ("28 C/82 F", "15 PERCENT"), compared
# case-insensitively: a unit outside this set is a typo in the profile, refused at start.
UNITS = frozenset(
    {"c", "f", "k", "percent", "%", "v", "mv", "a", "ma", "w", "kw", "va", "kva", "hz", "rpm"}
    | {"b", "kb", "mb", "gb", "tb", "s", "sec", "min", "h", "db", "dbm", "rh", "%rh"}
)


class ValueKind(StrEnum):
    NUMBER = "number"  # gauge/integer, sentinels → None, optional scale
    TEXT = "text"  # display string
    NUMBER_IN_TEXT = "number_in_text"  # "28 C/82 F", optional unit
    ENUM = "enum"  # integer code → mapped name
    FLAG = "flag"  # integer code → True when in true_when
    RATE = "rate"  # counter → per-second increase since the last poll
    PERCENT = "percent"  # oid / of * 100 (same row for table columns)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SensorType(StrEnum):
    """What a temperature is of: each has its own limit (a CPU runs hotter than a room)."""

    AMBIENT = "ambient"
    BOARD = "board"
    CPU = "cpu"
    PHY = "phy"
    SFP = "sfp"
    BATTERY = "battery"
    DISK = "disk"


# °C above which a sensor of each type is too hot, where the device publishes no limit of its
# own: starting points from common datasheets (VRLA batteries age fast above 40-45 °C, disks
# are specified to 55-60 °C, SFP modules to 70-85 °C, switch PHYs and CPUs to 100 °C or so).
SENSOR_LIMITS_C: dict[SensorType, float] = {
    SensorType.AMBIENT: 40.0,
    SensorType.BOARD: 70.0,
    SensorType.CPU: 90.0,
    SensorType.PHY: 100.0,
    SensorType.SFP: 75.0,
    SensorType.BATTERY: 45.0,
    SensorType.DISK: 55.0,
}
OVER_LIMIT = "_over_limit"  # suffix of the check a limited reading adds


class SensorLimit(_Model):
    """A temperature judged by the limit of its type, or by the device's own threshold (`oid`,
    same row and unit as the reading) where it publishes one: adds `<check>_over_limit`."""

    type: SensorType
    oid: Oid | None = None


class UnitFlag(_Model):
    """Where the device says which unit a temperature is in (AKCP sensorProbeTempDegreeType:
    fahr(0), celsius(1)): readings whose flag is one of `fahrenheit` are turned into °C."""

    oid: Oid
    fahrenheit: frozenset[int]


class Value(_Model):
    """One check: where its raw value comes from and how it is read."""

    name: Segment
    oid: Oid
    kind: ValueKind = ValueKind.NUMBER
    scale: float = 1.0
    unknown: frozenset[int] = frozenset()
    unit: str | None = None
    map: dict[int, str | bool | int] = Field(default_factory=dict)
    true_when: frozenset[int] = frozenset()
    bits: int = Field(default=32, ge=32, le=64)
    max_rate: float | None = Field(default=None, gt=0)
    of: Oid | None = None
    precision_of: Oid | None = None  # NUMBER: divide by 10^(that column), ENTITY-SENSOR style
    # NUMBER: (oid - minus) …, e.g. hrStorageSize - hrStorageUsed. PERCENT: the part is oid
    # minus each of these the device answers (memTotalReal - memAvailReal - buffers - cached).
    minus: Oid | list[Oid] | None = None
    times: Oid | None = None  # NUMBER: … * times, e.g. * hrStorageAllocationUnits (bytes)
    unit_flag: UnitFlag | None = None  # NUMBER: °F → °C when the device's flag says °F
    limit: SensorLimit | None = None  # NUMBER: a temperature with its own limit
    # FLAG in a table of storages: true only when the row is a storage the device config says
    # it records to (snmp.recording_storage); a flag on an unused storage is no fault.
    only_if_recording: bool = False
    complement: bool = False  # PERCENT: 100 - oid/of (free → used)
    event: Annotated[str, Field(min_length=1, max_length=64)] | None = None  # kind, on change

    @model_validator(mode="after")
    def _kind_needs(self) -> "Value":
        if self.kind is ValueKind.ENUM and not self.map:
            raise ValueError("kind enum needs map:")
        if self.kind is ValueKind.FLAG and not self.true_when:
            raise ValueError("kind flag needs true_when:")
        if self.kind is ValueKind.PERCENT and self.of is None:
            raise ValueError("kind percent needs of:")
        if self.bits not in (32, 64):
            raise ValueError("bits must be 32 or 64")
        if (self.times or self.unit_flag or self.limit) and self.kind not in (
            ValueKind.NUMBER,
            ValueKind.NUMBER_IN_TEXT,
        ):
            raise ValueError("times:/unit_flag:/limit: are for kind number")
        if self.minus and self.kind not in (ValueKind.NUMBER, ValueKind.PERCENT):
            raise ValueError("minus: is for kind number or percent")
        if isinstance(self.minus, list) and self.kind is ValueKind.NUMBER and len(self.minus) > 1:
            raise ValueError("kind number takes one minus: OID")
        if self.only_if_recording and self.kind is not ValueKind.FLAG:
            raise ValueError("only_if_recording: is for kind flag")
        if self.unit is not None and self.unit.lower().lstrip("°") not in UNITS:
            raise ValueError(f"unknown unit {self.unit!r} (known: {', '.join(sorted(UNITS))})")
        return self

    def oids(self) -> list[str]:
        flag = self.unit_flag.oid if self.unit_flag is not None else None
        limit = self.limit.oid if self.limit is not None else None
        extra = (self.of, self.precision_of, self.times, flag, limit)
        return [self.oid, *self.minus_oids(), *(o for o in extra if o is not None)]

    def minus_oids(self) -> list[str]:
        if self.minus is None:
            return []
        return [self.minus] if isinstance(self.minus, str) else list(self.minus)


class RowFilter(_Model):
    """Keep rows whose `oid` column has one of `values`: integers (ifType ethernetCsmacd) or
    dotted OIDs (hrStorageType hrStorageFixedDisk)."""

    oid: Oid
    values: frozenset[int | str]


class ContactColumns(_Model):
    """A table whose rows are dry contacts: which of its (flag) columns say the contact is
    closed, that the device judges it abnormal, and that its normal state is closed. Each row
    adds `contact.<kind>.<label>.abnormal` and `.closed` (see snmp_readings)."""

    closed: Segment | None = None
    abnormal: Segment | None = None
    normal_closed: Segment | None = None

    @model_validator(mode="after")
    def _something(self) -> "ContactColumns":
        if self.closed is None and self.abnormal is None:
            raise ValueError("a contact needs closed: or abnormal: (a flag column)")
        return self

    def columns(self) -> list[str]:
        return [c for c in (self.closed, self.abnormal, self.normal_closed) if c is not None]


class Table(_Model):
    """A table walked with GETBULK, one walk per column; checks are `<name>.<row>.<column>`."""

    name: Segment
    label: Oid | None = None
    where: RowFilter | None = None
    max_rows: int = Field(default=32, ge=1, le=256)
    row_prefix: Segment = "row"  # names rows without a label column: row1, row2 …
    # Rows whose label matches one of these patterns are left out (pseudo file systems).
    skip_labels: list[str] = Field(default_factory=list)
    # Rows are storages the device may record to: adds `<row>.recording`, true when the
    # device config lists the row's name in snmp.recording_storage.
    recording: bool = False
    contact: ContactColumns | None = None
    columns: list[Value] = Field(min_length=1)

    @model_validator(mode="after")
    def _recording_needs_label(self) -> "Table":
        gated = any(c.only_if_recording for c in self.columns)
        if (self.recording or gated) and self.label is None:
            raise ValueError("recording:/only_if_recording: need a label: column (storage name)")
        if gated and not self.recording:
            raise ValueError("only_if_recording: needs recording: true on the table")
        if self.contact is not None:
            flags = {c.name for c in self.columns if c.kind is ValueKind.FLAG}
            for name in self.contact.columns():
                if name not in flags:
                    raise ValueError(f"contact: {name!r} is not a flag column of this table")
        return self

    @field_validator("skip_labels")
    @classmethod
    def _patterns(cls, patterns: list[str]) -> list[str]:
        return _regexes(patterns)

    def walk_oids(self) -> list[str]:
        oids: list[str] = []
        for oid in [
            self.label,
            self.where.oid if self.where else None,
            *(o for c in self.columns for o in c.oids()),
        ]:
            if oid is not None and oid not in oids:
                oids.append(oid)
        return oids


class TrapRule(_Model):
    """A notification (snmpTrapOID) turned into an event `kind`; `data` names varbinds by OID
    prefix (a column, so the row index does not matter). With `when`, the rule applies only
    if each named varbind (by OID prefix) has one of the values: one notification can mean
    several things (RFC 1628 upsTrapAlarmEntryAdded carries the alarm in upsAlarmDescr)."""

    oid: Oid
    kind: Annotated[str, Field(min_length=1, max_length=64)]
    data: dict[Segment, Oid] = Field(default_factory=dict)
    when: dict[Oid, list[int | str]] = Field(default_factory=dict)


class IdentityField(_Model):
    oid: Oid | None = None
    value: str | None = None

    @model_validator(mode="after")
    def _one(self) -> "IdentityField":
        if (self.oid is None) == (self.value is None):
            raise ValueError("give exactly one of oid: or value:")
        return self


class Identity(_Model):
    vendor: IdentityField | None = None
    model: IdentityField | None = None
    serial: IdentityField | None = None
    firmware: IdentityField | None = None


class Layer(StrEnum):
    """Where a profile sits in a device's stack: generic under everything, any number of
    standard MIBs a vendor may implement (UPS-MIB, POWER-ETHERNET-MIB), one vendor's MIB."""

    GENERIC = "generic"
    STANDARD = "standard"
    VENDOR = "vendor"


class SentinelType(StrEnum):
    INTEGER = "integer"  # INTEGER, Gauge, Counter, TimeTicks
    TEXT = "text"  # OCTET STRING, not empty
    OID = "oid"  # OBJECT IDENTIFIER


class Sentinel(_Model):
    """An object the MIB defines and the device must answer sanely for the profile to apply:
    a GET of it is the capability test. `min`/`max` bound an integer (an enumeration's codes)."""

    oid: Oid
    type: SentinelType = SentinelType.INTEGER
    min: int | None = None
    max: int | None = None

    @model_validator(mode="after")
    def _bounds(self) -> "Sentinel":
        if (self.min is not None or self.max is not None) and self.type is not SentinelType.INTEGER:
            raise ValueError("min:/max: are for type integer")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min: is above max:")
        return self


class Match(_Model):
    """How a device is recognised. `sentinels` test what it answers (the capability); the
    identity keys (`sys_object_id` prefixes, vendor `enterprises` numbers, old and new, and
    `sys_descr` patterns) rank candidates and choose profiles that have no sentinels. `exists`
    is a sentinel of any type (Synology DSM reports the net-snmp sysObjectID)."""

    sys_object_id: list[Oid] = Field(default_factory=list)
    enterprises: list[Annotated[int, Field(ge=1, le=2**32 - 1)]] = Field(default_factory=list)
    sentinels: list[Sentinel] = Field(default_factory=list)
    exists: list[Oid] = Field(default_factory=list)
    sys_descr: list[str] = Field(default_factory=list)

    @field_validator("sys_descr")
    @classmethod
    def _regex(cls, patterns: list[str]) -> list[str]:
        return _regexes(patterns)


class Profile(_Model):
    name: Segment
    description: str = ""
    layer: Layer = Layer.VENDOR
    extends: str | None = None
    match: Match = Field(default_factory=Match)
    identity: Identity = Field(default_factory=Identity)
    scalars: list[Value] = Field(default_factory=list)
    tables: list[Table] = Field(default_factory=list)
    traps: list[TrapRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> "Profile":
        """Two checks of the same name would hide one another: refused."""
        _no_duplicates("scalars", [v.name for v in self.scalars])
        _no_duplicates("tables", [t.name for t in self.tables])
        for table in self.tables:
            _no_duplicates(f"table {table.name} columns", [c.name for c in table.columns])
        return self

    def scalar_oids(self) -> list[str]:
        oids: list[str] = []
        fields = [self.identity.vendor, self.identity.model]
        fields += [self.identity.serial, self.identity.firmware]
        candidates = [f.oid for f in fields if f is not None and f.oid is not None]
        candidates += [o for v in self.scalars for o in v.oids()]
        for oid in candidates:
            if oid not in oids:
                oids.append(oid)
        return oids


def _regexes(patterns: list[str]) -> list[str]:
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as err:
            raise ValueError(f"bad regular expression {pattern!r}: {err}") from err
    return patterns


def _no_duplicates(where: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"duplicate check name {name!r} in {where}")
        seen.add(name)


class ProfileError(ConfigError):
    """A profile file that cannot be used; each problem names the file, line and field."""

    @classmethod
    def one(cls, file: str, message: str, line: int = 0, path: str = "") -> "ProfileError":
        return cls([ConfigProblem(file, line, path, message)])


@dataclass(frozen=True)
class ProfileBook:
    """Every profile by name, `extends` already merged in."""

    profiles: dict[str, Profile]
    local: frozenset[str] = frozenset()  # names that come from the operator's profiles_dir

    def get(self, name: str) -> Profile | None:
        return self.profiles.get(name)

    def trap_rules(self) -> dict[str, list[TrapRule]]:
        """Every profile's trap rules by notification OID (these OIDs are globally unique),
        conditional rules (`when`) first, each OID's unconditional rule last."""
        rules: dict[str, list[TrapRule]] = {}
        for profile in self.profiles.values():
            for rule in profile.traps:
                found = rules.setdefault(rule.oid, [])
                if rule not in found:  # a rule inherited by several profiles counts once
                    found.append(rule)
        for found in rules.values():
            found.sort(key=lambda rule: not rule.when)
        return rules

    def probe_oids(self) -> list[str]:
        """OIDs whose answers pick profiles (sentinels): asked once, with the system group."""
        oids = {oid for p in self.profiles.values() for oid in p.match.exists}
        oids |= {s.oid for p in self.profiles.values() for s in p.match.sentinels}
        return sorted(oids)


def parse_profiles(sources: dict[str, str], *, local: dict[str, str] | None = None) -> ProfileBook:
    """Validate YAML texts (file name → text) and merge each profile with what it extends.
    `local` are the operator's files: a local profile of a shipped profile's name replaces it."""
    shipped = _parse_files(sources)
    operators = _parse_files(local or {})
    raw = {name: profile for name, (profile, _file) in shipped.items()}
    raw |= {name: profile for name, (profile, _file) in operators.items()}
    if FALLBACK_PROFILE not in raw:
        raise ProfileError.one("(profiles)", f"no {FALLBACK_PROFILE!r} profile")
    files = {name: file for name, (_profile, file) in (shipped | operators).items()}
    merged: dict[str, Profile] = {}
    for name in raw:
        try:
            merged[name] = _merged(name, raw, ())
        except ValueError as err:
            raise ProfileError.one(files[name], str(err), 1, "extends") from err
    return ProfileBook(merged, local=frozenset(operators))


def _parse_files(sources: dict[str, str]) -> dict[str, tuple[Profile, str]]:
    """Profiles by name, with the file each came from; a name used twice is refused."""
    found: dict[str, tuple[Profile, str]] = {}
    for file, text_ in sorted(sources.items()):
        try:
            parsed = parse_yaml(file, text_)
            profile = parsed.validate(Profile)
        except ConfigError as err:
            raise ProfileError(err.problems) from err
        if profile.name in found:
            other = found[profile.name][1]
            raise ProfileError.one(
                file,
                f"duplicate profile name {profile.name!r} (also in {other})",
                parsed.lines.get(("name",), 1),
                "name",
            )
        found[profile.name] = (profile, file)
    return found


def _merged(name: str, raw: dict[str, Profile], seen: tuple[str, ...]) -> Profile:
    profile = raw[name]
    if profile.extends is None:
        return profile
    if profile.extends in (*seen, name):
        raise ValueError(f"profile {name!r}: extends loop through {profile.extends!r}")
    if profile.extends not in raw:
        raise ValueError(f"profile {name!r}: extends unknown profile {profile.extends!r}")
    base = _merged(profile.extends, raw, (*seen, name))
    identity = Identity(
        vendor=profile.identity.vendor or base.identity.vendor,
        model=profile.identity.model or base.identity.model,
        serial=profile.identity.serial or base.identity.serial,
        firmware=profile.identity.firmware or base.identity.firmware,
    )
    return profile.model_copy(
        update={
            "identity": identity,
            "scalars": [*base.scalars, *profile.scalars],
            "tables": [*base.tables, *profile.tables],
            "traps": [*base.traps, *profile.traps],
        }
    )


@cache
def builtin_profiles(directory: Path = PROFILE_DIR) -> ProfileBook:
    """The profiles shipped with the agent (read once per process)."""
    return parse_profiles(_texts(directory))


@cache
def load_profiles(profiles_dir: Path | None = None) -> ProfileBook:
    """The shipped profiles plus the operator's (`agent.profiles_dir`, every *.yaml in it),
    read once per process; ProfileError names the file, line and field of a bad one."""
    if profiles_dir is None:
        return builtin_profiles()
    if not profiles_dir.is_dir():
        raise ProfileError.one(str(profiles_dir), "profiles_dir is not a directory")
    return parse_profiles(_texts(PROFILE_DIR), local=_texts(profiles_dir))


def _texts(directory: Path) -> dict[str, str]:
    texts: dict[str, str] = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            texts[str(path)] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise ProfileError.one(str(path), f"cannot read: {err}") from err
    return texts
