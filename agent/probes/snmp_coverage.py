"""Whether a poll read anything about a device's health beyond "it answers": pure, no I/O.

A device that answers SNMP but for which no profile reads a health object is `unmonitored`,
never a green light. What counts as reachability only: the probe's own bookkeeping (`snmp.*`),
the system group (`system.*`), and the device's own network interfaces (`if.*`), except on a
switch, whose ports are what it is for. A check that read nothing (None) counts for nothing.
"""

from collections.abc import Mapping

from agent.probes.snmp_detect import Detection
from wire.enums import DeviceClass
from wire.schema import CheckValue

REACHABILITY_ONLY: tuple[str, ...] = ("snmp.", "system.")
INTERFACES = "if."
PORTS_ARE_HEALTH = frozenset({DeviceClass.SWITCH})


def health_checks(checks: Mapping[str, CheckValue], device_class: DeviceClass) -> list[str]:
    """The names of checks that say something about the device's health."""
    skipped = REACHABILITY_ONLY
    if device_class not in PORTS_ARE_HEALTH:
        skipped = (*skipped, INTERFACES)
    return [
        name for name, value in checks.items() if value is not None and not name.startswith(skipped)
    ]


def unmonitored_reason(
    detection: Detection, checks: Mapping[str, CheckValue], device_class: DeviceClass
) -> str | None:
    """Why the device is unmonitored, or None when the poll read some health check."""
    if health_checks(checks, device_class):
        return None
    if detection.matched:
        return f"profiles {detection.names} read no health object; {detection.reason}"[:300]
    return detection.reason[:300]
