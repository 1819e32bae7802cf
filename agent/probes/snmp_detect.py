"""Which profiles read a device, chosen by what it answers: pure, no I/O.

The probe GETs the system group and every profile's sentinel OIDs once; from those answers a
device gets a stack: the generic profile, each standard MIB whose sentinel answered sanely
(HOST-RESOURCES-MIB, ENTITY-SENSOR-MIB, UPS-MIB, POWER-ETHERNET-MIB …), and at most one
vendor profile. A profile with sentinels is
chosen only when one of them answers with a value of the right type and range: an identity
(sysObjectID, enterprise number, sysDescr) alone does not make a device speak a MIB. A sentinel
answering garbage rules its profile out, and the next candidate is taken, with a note saying so.
Vendor candidates rank by an answering sentinel, then identity: sysObjectID prefix (longer
first), enterprise number, sysDescr. A profile named in the device config wins.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum

from agent.probes import snmp_values as values
from agent.probes.snmp_profiles import (
    FALLBACK_PROFILE,
    Identity,
    Layer,
    Profile,
    ProfileBook,
    Sentinel,
    SentinelType,
    Table,
    Value,
)
from agent.probes.snmp_values import RawValue

ENTERPRISES = "1.3.6.1.4.1."
STACK_SEPARATOR = "+"


class Evidence(IntEnum):
    """What the device's identity says for a candidate, weakest first."""

    NONE = 0
    SYS_DESCR = 1
    ENTERPRISE = 2
    SYS_OBJECT_ID = 3


@dataclass(frozen=True)
class Detection:
    """The chosen stack (generic first, vendor last), why, and the candidates passed over."""

    stack: tuple[Profile, ...]
    reasons: tuple[str, ...]
    notes: tuple[str, ...] = ()

    @property
    def names(self) -> str:
        return STACK_SEPARATOR.join(p.name for p in self.stack)

    @property
    def reason(self) -> str:
        return "; ".join((*self.reasons, *self.notes))

    @property
    def matched(self) -> bool:
        """False when nothing beyond the generic profile fits what the device answers."""
        return any(p.layer is not Layer.GENERIC for p in self.stack)

    def profile(self) -> Profile:
        """The stack as one profile: later layers' checks of the same name replace earlier
        ones (the vendor's reading of a value beats the standard MIB's), identity likewise."""
        return combine(self.stack)


def judge(sentinel: Sentinel, raw: RawValue) -> str | None:
    """None when the answer is sane for the sentinel, else what is wrong with it ("absent"
    when the device does not have the object)."""
    if raw is None:
        return "absent"
    match sentinel.type:
        case SentinelType.INTEGER:
            if not isinstance(raw, int):
                return f"not an integer: {_shown(raw)}"
            if sentinel.min is not None and raw < sentinel.min:
                return f"{raw} below {sentinel.min}"
            if sentinel.max is not None and raw > sentinel.max:
                return f"{raw} above {sentinel.max}"
        case SentinelType.TEXT:
            if not isinstance(raw, bytes):
                return f"not a string: {_shown(raw)}"
            if values.text(raw) is None:
                return "an empty string"
        case SentinelType.OID:
            if not isinstance(raw, str) or not re.fullmatch(r"[0-2](\.\d+)+", raw):
                return f"not an OID: {_shown(raw)}"
    return None


def _shown(raw: RawValue) -> str:
    return repr(raw)[:40]


def _sentinels(profile: Profile, answers: Mapping[str, RawValue]) -> tuple[str | None, str | None]:
    """(the OID of a sentinel that answered sanely, what was wrong with a garbage one)."""
    garbage: str | None = None
    for oid in profile.match.exists:
        if answers.get(oid) is not None:
            return oid, None
    for sentinel in profile.match.sentinels:
        wrong = judge(sentinel, answers.get(sentinel.oid))
        if wrong is None:
            return sentinel.oid, None
        if wrong != "absent" and garbage is None:
            garbage = f"{sentinel.oid} answered {wrong}"
    return None, garbage


def _identity(
    profile: Profile, sys_object_id: str | None, sys_descr: str | None
) -> tuple[Evidence, int, str] | None:
    """The strongest identity evidence for a profile: (kind, strength, reason)."""
    if sys_object_id:
        best = max(
            (
                len(prefix)
                for prefix in profile.match.sys_object_id
                if sys_object_id == prefix or sys_object_id.startswith(prefix + ".")
            ),
            default=0,
        )
        if best:
            return Evidence.SYS_OBJECT_ID, best, f"sysObjectID {sys_object_id}"
        arcs = sys_object_id.removeprefix(ENTERPRISES).split(".")
        if sys_object_id.startswith(ENTERPRISES) and arcs[0].isdigit():
            number = int(arcs[0])
            if number in profile.match.enterprises:
                return Evidence.ENTERPRISE, 0, f"enterprise number {number}"
    if sys_descr:
        for pattern in profile.match.sys_descr:
            if re.search(pattern, sys_descr):
                return Evidence.SYS_DESCR, 0, f"sysDescr matches {pattern!r}"
    return None


def detect(
    book: ProfileBook,
    *,
    sys_object_id: str | None,
    sys_descr: str | None,
    answers: Mapping[str, RawValue],
    configured: str | None = None,
) -> Detection:
    """The stack for a device from its system group and sentinel answers."""
    generic = book.profiles[FALLBACK_PROFILE]
    if configured is not None and (named := book.get(configured)) is not None:
        return Detection(stack=(named,), reasons=(f"{named.name}: named in the device config",))
    standards: list[Profile] = []
    reasons: list[str] = []
    notes: list[str] = []
    # (a sentinel answered, identity evidence, its strength): the ranking of vendor candidates
    vendors: list[tuple[tuple[int, int, int], Profile, str]] = []
    for name in sorted(book.profiles):
        profile = book.profiles[name]
        if profile.layer is Layer.GENERIC:
            continue
        sane, garbage = _sentinels(profile, answers)
        identity = _identity(profile, sys_object_id, sys_descr)
        has_sentinels = bool(profile.match.sentinels or profile.match.exists)
        if garbage is not None and sane is None:
            if identity is not None or profile.layer is Layer.STANDARD:
                notes.append(f"{name} passed over: sentinel {garbage}")
            continue
        if has_sentinels and sane is None:
            continue  # it does not speak the MIB, whatever its identity says
        if sane is None and identity is None:
            continue
        why = f"sentinel {sane} answered" if sane is not None else ""
        if identity is not None:
            why = f"{why}, {identity[2]}" if why else identity[2]
        if profile.layer is Layer.STANDARD:
            standards.append(profile)
            reasons.append(f"{name}: {why}")
            continue
        kind, strength = (identity[0], identity[1]) if identity is not None else (Evidence.NONE, 0)
        vendors.append(((int(sane is not None), int(kind), strength), profile, why))
    stack: list[Profile] = [generic, *standards]
    if vendors:
        vendors.sort(key=lambda c: c[0], reverse=True)  # stable: equal ranks in name order
        _rank, chosen, why = vendors[0]
        stack.append(chosen)
        reasons.append(f"{chosen.name}: {why}")
        notes += [f"{profile.name} also fits ({w})" for _r, profile, w in vendors[1:3]]
    if not reasons:
        reasons.append(_no_match(sys_object_id, sys_descr))
    return Detection(stack=tuple(stack), reasons=tuple(reasons), notes=tuple(notes))


def _no_match(sys_object_id: str | None, sys_descr: str | None) -> str:
    descr = f", sysDescr {sys_descr[:60]!r}" if sys_descr else ""
    return (
        f"no profile matched what the device answers; sysObjectID {sys_object_id or 'none'}{descr}"
    )


def combine(stack: tuple[Profile, ...]) -> Profile:
    """One profile reading everything the stack reads, each check name once."""
    if len(stack) == 1:
        return stack[0]
    scalars: dict[str, Value] = {}
    tables: dict[str, Table] = {}
    identity = Identity()
    traps = []
    for profile in stack:
        for value in profile.scalars:
            scalars.pop(value.name, None)
            scalars[value.name] = value
        for table in profile.tables:
            tables.pop(table.name, None)
            tables[table.name] = table
        for rule in profile.traps:
            if rule not in traps:
                traps.append(rule)
        identity = Identity(
            vendor=profile.identity.vendor or identity.vendor,
            model=profile.identity.model or identity.model,
            serial=profile.identity.serial or identity.serial,
            firmware=profile.identity.firmware or identity.firmware,
        )
    top = stack[-1]
    return top.model_copy(
        update={
            "scalars": list(scalars.values()),
            "tables": list(tables.values()),
            "traps": traps,
            "identity": identity,
        }
    )
