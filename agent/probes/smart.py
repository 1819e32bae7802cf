"""Pure parsers for the host probe: `smartctl --json` documents, /proc/mounts and hwmon readings.

smartctl's JSON (smartmontools 7.x, `json_format_version` 1.0): `smartctl.exit_status` is a bit
mask (bit 0 bad command line, bit 1 device open failed, bit 2 a SMART command failed, bit 3 SMART
says failing, bits 4-7 attributes past thresholds or logged errors) and the document is printed
whatever the status; ATA attributes are in `ata_smart_attributes.table[]` with `id` and
`raw.value`; NVMe health is `nvme_smart_health_information_log`.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wire.schema import CheckValue

UNSUPPORTED = "unsupported"

# ATA attribute id → check name (the raw value is what counts: normalised values hide rises).
ATA_ATTRIBUTES: Mapping[int, str] = {
    5: "reallocated_sectors",
    9: "power_on_hours",
    187: "reported_uncorrect",
    188: "command_timeout",
    194: "celsius",
    197: "pending_sectors",
    198: "offline_uncorrectable",
    199: "crc_errors",
}
EXIT_OPEN_FAILED = 0b10
REAL_FILESYSTEMS = frozenset(
    {"ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs", "vfat", "exfat", "zfs", "ntfs", "ntfs3"}
)


class SmartError(ValueError):
    """A smartctl answer that is not the documented JSON."""


def disk_key(name: str) -> str:
    """`/dev/sda` → `sda`, `/dev/bus/0` with `-d megaraid,3` → `bus_0_megaraid_3`: a check name
    segment."""
    key = name.removeprefix("/dev/")
    return re.sub(r"[^A-Za-z0-9_-]+", "_", key).strip("_") or "disk"


def _object(doc: object) -> Mapping[str, Any]:
    if not isinstance(doc, Mapping):
        raise SmartError("smartctl output is not a JSON object")
    return doc


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def exit_status(doc: Mapping[str, Any]) -> int:
    smartctl = doc.get("smartctl")
    status = _int(smartctl.get("exit_status")) if isinstance(smartctl, Mapping) else None
    if status is None:
        raise SmartError("smartctl output has no smartctl.exit_status")
    return status


def parse_scan(doc: object) -> list[tuple[str, str | None]]:
    """`smartctl --scan-open --json` → (device name, -d type) of each disk."""
    devices = _object(doc).get("devices", [])
    if not isinstance(devices, list):
        raise SmartError("devices is not a list")
    out = []
    for entry in devices:
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
            kind = entry.get("type")
            out.append((entry["name"], kind if isinstance(kind, str) else None))
    return out


def _temperature(raw: Mapping[str, Any]) -> int | None:
    """Attribute 194's raw value packs min/max in its upper bytes; the low byte is now."""
    value = _int(raw.get("value"))
    return None if value is None else value & 0xFF


def parse_smart(doc: object, key: str) -> dict[str, CheckValue]:
    """One disk's `smartctl --json -a` → checks `host.disk.<key>.*`. A disk smartctl cannot open
    or that has no SMART (a virtual disk) is `unsupported`, not an error."""
    doc = _object(doc)
    status = exit_status(doc)
    prefix = f"host.disk.{key}"
    support = doc.get("smart_support")
    available = support.get("available") if isinstance(support, Mapping) else None
    ata = doc.get("ata_smart_attributes")
    nvme = doc.get("nvme_smart_health_information_log")
    if status & EXIT_OPEN_FAILED or available is False or (ata is None and nvme is None):
        return {f"{prefix}.smart": UNSUPPORTED}
    checks: dict[str, CheckValue] = {}
    passed = doc.get("smart_status")
    if isinstance(passed, Mapping) and isinstance(passed.get("passed"), bool):
        checks[f"{prefix}.smart_passed"] = passed["passed"]
    if isinstance(ata, Mapping) and isinstance(ata.get("table"), list):
        for row in ata["table"]:
            if not isinstance(row, Mapping) or not isinstance(row.get("raw"), Mapping):
                continue
            name = ATA_ATTRIBUTES.get(_int(row.get("id")) or -1)
            if name is None:
                continue
            value = _temperature(row["raw"]) if name == "celsius" else _int(row["raw"].get("value"))
            if value is not None:
                checks[f"{prefix}.{name}"] = value
    if isinstance(nvme, Mapping):
        for field, name in (
            ("media_errors", "media_errors"),
            ("percentage_used", "percentage_used"),
            ("temperature", "celsius"),
            ("power_on_hours", "power_on_hours"),
            ("available_spare", "available_spare_percent"),
        ):
            value = _int(nvme.get(field))
            if value is not None:
                checks[f"{prefix}.{name}"] = value
    hours = doc.get("power_on_time")
    if isinstance(hours, Mapping) and _int(hours.get("hours")) is not None:
        checks[f"{prefix}.power_on_hours"] = hours["hours"]
    temperature = doc.get("temperature")
    if isinstance(temperature, Mapping) and _int(temperature.get("current")) is not None:
        checks[f"{prefix}.celsius"] = temperature["current"]
    return checks


@dataclass(frozen=True, slots=True)
class Mount:
    device: str
    path: str
    fstype: str


def parse_mounts(text: str) -> list[Mount]:
    """/proc/mounts → the mounts of real filesystems, each path once (octal escapes decoded)."""
    seen: set[str] = set()
    out = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 3 or fields[2] not in REAL_FILESYSTEMS:
            continue
        path = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[1])
        if path in seen:
            continue
        seen.add(path)
        out.append(Mount(fields[0], path, fields[2]))
    return out


def mount_key(path: str) -> str:
    """`/` → `root`, `/mnt/rec 1` → `mnt_rec_1`."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", path).strip("_") or "root"


def filesystem_checks(path: str, total: int, free: int) -> dict[str, CheckValue]:
    key = mount_key(path)
    if total <= 0:
        return {f"host.fs.{key}.used_percent": None}
    return {
        f"host.fs.{key}.used_percent": round(100.0 * (total - free) / total, 2),
        f"host.fs.{key}.free_gib": round(free / 2**30, 3),
    }


def hwmon_check(chip: str, sensor: str, millidegrees: str) -> tuple[str, CheckValue] | None:
    """One `/sys/class/hwmon/*/tempN_input` reading → (`host.sensor.<chip>_<N>.celsius`, °C)."""
    try:
        value = int(millidegrees.strip())
    except ValueError:
        return None
    name = f"host.sensor.{mount_key(chip)}_{mount_key(sensor)}.celsius"
    return name, value / 1000.0
