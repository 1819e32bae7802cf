"""SNMP device profiles as data: which OIDs to read, how to turn them into checks, and which
devices a profile is for. The YAML files live in `agent/profiles/snmp/`; this module validates
them once (failing with the file and field) and chooses one for a device. No network I/O.
"""

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PROFILE_DIR = Path(__file__).resolve().parent.parent / "profiles" / "snmp"
FALLBACK_PROFILE = "generic"

Oid = Annotated[str, Field(pattern=r"^[0-2](\.\d+)+$", max_length=200)]
Segment = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.]*$", max_length=40)]


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
    minus: Oid | None = None  # NUMBER: (oid - minus) …, e.g. hrStorageSize - hrStorageUsed
    times: Oid | None = None  # NUMBER: … * times, e.g. * hrStorageAllocationUnits (bytes)
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
        if (self.minus or self.times) and self.kind is not ValueKind.NUMBER:
            raise ValueError("minus:/times: are for kind number")
        if self.only_if_recording and self.kind is not ValueKind.FLAG:
            raise ValueError("only_if_recording: is for kind flag")
        return self

    def oids(self) -> list[str]:
        extra = (self.of, self.precision_of, self.minus, self.times)
        return [self.oid, *(o for o in extra if o is not None)]


class RowFilter(_Model):
    """Keep rows whose `oid` column has one of `values`: integers (ifType ethernetCsmacd) or
    dotted OIDs (hrStorageType hrStorageFixedDisk)."""

    oid: Oid
    values: frozenset[int | str]


class Table(_Model):
    """A table walked with GETBULK, one walk per column; checks are `<name>.<row>.<column>`."""

    name: Segment
    label: Oid | None = None
    where: RowFilter | None = None
    max_rows: int = Field(default=32, ge=1, le=256)
    row_prefix: Segment = "row"  # names rows without a label column: row1, row2 …
    # Rows are storages the device may record to: adds `<row>.recording`, true when the
    # device config lists the row's name in snmp.recording_storage.
    recording: bool = False
    columns: list[Value] = Field(min_length=1)

    @model_validator(mode="after")
    def _recording_needs_label(self) -> "Table":
        gated = any(c.only_if_recording for c in self.columns)
        if (self.recording or gated) and self.label is None:
            raise ValueError("recording:/only_if_recording: need a label: column (storage name)")
        if gated and not self.recording:
            raise ValueError("only_if_recording: needs recording: true on the table")
        return self

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


class Match(_Model):
    """How a device is recognised; `exists` is for vendors whose sysObjectID is the generic
    net-snmp one (Synology DSM reports 1.3.6.1.4.1.8072.3.2.10): an OID only they answer."""

    sys_object_id: list[Oid] = Field(default_factory=list)
    exists: list[Oid] = Field(default_factory=list)
    sys_descr: list[str] = Field(default_factory=list)

    @field_validator("sys_descr")
    @classmethod
    def _regex(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as err:
                raise ValueError(f"bad regular expression {pattern!r}: {err}") from err
        return patterns


class Profile(_Model):
    name: Segment
    description: str = ""
    extends: str | None = None
    match: Match = Field(default_factory=Match)
    identity: Identity = Field(default_factory=Identity)
    scalars: list[Value] = Field(default_factory=list)
    tables: list[Table] = Field(default_factory=list)
    traps: list[TrapRule] = Field(default_factory=list)

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


class ProfileError(Exception):
    """A profile file that cannot be used; the message names the file and field."""


@dataclass(frozen=True)
class ProfileBook:
    """Every profile by name, `extends` already merged in."""

    profiles: dict[str, Profile]

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
        """OIDs whose presence picks a profile: asked once, with the system group."""
        return sorted({oid for p in self.profiles.values() for oid in p.match.exists})

    def choose(
        self,
        *,
        sys_object_id: str | None,
        sys_descr: str | None,
        present: frozenset[str] = frozenset(),
    ) -> Profile:
        """The profile for a device: longest matching sysObjectID prefix, else the first
        profile one of whose `exists` OIDs answered, else the first sysDescr pattern that
        matches (profiles in name order), else the generic one."""
        best: tuple[int, str] | None = None
        if sys_object_id:
            for profile in self.profiles.values():
                for prefix in profile.match.sys_object_id:
                    if (sys_object_id == prefix or sys_object_id.startswith(prefix + ".")) and (
                        best is None or len(prefix) > best[0]
                    ):
                        best = (len(prefix), profile.name)
        if best is not None:
            return self.profiles[best[1]]
        for name in sorted(self.profiles):
            if any(oid in present for oid in self.profiles[name].match.exists):
                return self.profiles[name]
        if sys_descr:
            for name in sorted(self.profiles):
                profile = self.profiles[name]
                if any(re.search(p, sys_descr) for p in profile.match.sys_descr):
                    return profile
        return self.profiles[FALLBACK_PROFILE]


def parse_profiles(sources: dict[str, str]) -> ProfileBook:
    """Validate YAML texts (file name → text) and merge each profile with what it extends."""
    raw: dict[str, Profile] = {}
    for file, text_ in sorted(sources.items()):
        try:
            data = yaml.safe_load(text_)
            profile = Profile.model_validate(data)
        except yaml.YAMLError as err:
            raise ProfileError(f"{file}: YAML: {err}") from err
        except ValidationError as err:
            first = err.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ProfileError(f"{file}: {where}: {first['msg']}") from err
        if profile.name in raw:
            raise ProfileError(f"{file}: duplicate profile name {profile.name!r}")
        raw[profile.name] = profile
    if FALLBACK_PROFILE not in raw:
        raise ProfileError(f"no {FALLBACK_PROFILE!r} profile")
    return ProfileBook({name: _merged(name, raw, ()) for name in raw})


def _merged(name: str, raw: dict[str, Profile], seen: tuple[str, ...]) -> Profile:
    profile = raw[name]
    if profile.extends is None:
        return profile
    if profile.extends in (*seen, name):
        raise ProfileError(f"profile {name!r}: extends loop through {profile.extends!r}")
    if profile.extends not in raw:
        raise ProfileError(f"profile {name!r}: extends unknown profile {profile.extends!r}")
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
    return parse_profiles(
        {str(path): path.read_text(encoding="utf-8") for path in sorted(directory.glob("*.yaml"))}
    )
