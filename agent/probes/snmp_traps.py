"""A received notification (already in v2 form: sysUpTime.0, snmpTrapOID.0, then varbinds) →
one Event, by the profiles' trap rules; an unknown notification is kept as a raw `snmp.trap`
event rather than dropped. Pure: the receiver does the network part."""

from typing import Any

from agent.probes.snmp_profiles import TrapRule
from agent.probes.snmp_values import RawValue, text

SNMP_TRAP_OID = "1.3.6.1.6.3.1.1.4.1.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
# Added by the v1 → v2 translation (RFC 3584) and by some senders; noise in event data.
_HOUSEKEEPING = (SYS_UPTIME, SNMP_TRAP_OID, "1.3.6.1.6.3.18.1.3.0", "1.3.6.1.6.3.18.1.4.0")
UNKNOWN_TRAP_KIND = "snmp.trap"
MAX_RAW_VARBINDS = 32
MAX_VALUE_CHARS = 256

Varbinds = list[tuple[str, RawValue]]


def trap_event(
    var_binds: Varbinds, rules: dict[str, list[TrapRule]]
) -> tuple[str, dict[str, Any]] | None:
    """(event kind, event data) for a notification, or None when it carries no snmpTrapOID
    (not a notification at all)."""
    values = dict(var_binds)
    trap_oid = values.get(SNMP_TRAP_OID)
    if not isinstance(trap_oid, str):
        return None
    candidates = rules.get(trap_oid) or rules.get(_v2_form(trap_oid), [])
    rule = next((r for r in candidates if _applies(r, var_binds)), None)
    if rule is None:
        kept = [(oid, value) for oid, value in var_binds if oid not in _HOUSEKEEPING]
        raw = {oid: _plain(value) for oid, value in kept[:MAX_RAW_VARBINDS]}
        return UNKNOWN_TRAP_KIND, {"trap_oid": trap_oid, "varbinds": raw}
    data: dict[str, Any] = {"trap_oid": trap_oid}
    for name, prefix in rule.data.items():
        found = _varbind(var_binds, prefix)
        if found is not None:
            data[name] = _plain(found[0])
    return rule.kind, data


def _v2_form(trap_oid: str) -> str:
    """An SMIv2 notification `E.N` sent by a v1 agent arrives as enterprise E, specific N, and
    the v1 → v2 translation (RFC 3584 §3.1) makes it `E.0.N`: the rule is under `E.N`."""
    head, sep, last = trap_oid.rpartition(".0.")
    return f"{head}.{last}" if sep and last.isdigit() else trap_oid


def _varbind(var_binds: Varbinds, prefix: str) -> tuple[RawValue] | None:
    """(value,) of the first varbind at `prefix` or in the column under it; None if absent."""
    for oid, value in var_binds:
        if oid == prefix or oid.startswith(prefix + "."):
            return (value,)
    return None


def _applies(rule: TrapRule, var_binds: Varbinds) -> bool:
    for prefix, wanted in rule.when.items():
        found = _varbind(var_binds, prefix)
        if found is None or _plain(found[0]) not in wanted:
            return False
    return True


def _plain(value: RawValue) -> int | str | None:
    if value is None or isinstance(value, int):
        return value
    found = text(value)
    return found[:MAX_VALUE_CHARS] if found is not None else None
