"""The simulated SNMP devices' data: a device's state → the `.snmprec` text snmpsim serves.

Written from the MIBs (object, index and type as each MIB defines them), never from a recording:
SNMPv2-MIB and IF-MIB (RFC 3418, 2863), HOST-RESOURCES-MIB (RFC 2790), UCD-SNMP-MIB,
SYNOLOGY-SYSTEM/DISK/RAID-MIB, UPS-MIB (RFC 1628), POWER-ETHERNET-MIB (RFC 3621) and AKCP's
SPAGENT-MIB. Pure: the site module writes the text; snmpsim re-reads a file whose mtime moved.

snmprec lines are `OID|TAG|VALUE`, TAG the BER type: 2 INTEGER, 4 OCTET STRING, 6 OBJECT
IDENTIFIER, 65 Counter32, 66 Gauge32, 67 TimeTicks.
"""

import math
from dataclasses import dataclass, field

INTEGER, STRING, OID, COUNTER32, GAUGE32, TIMETICKS = 2, 4, 6, 65, 66, 67
NET_SNMP_LINUX = "1.3.6.1.4.1.8072.3.2.10"  # what embedded-Linux recorders report (net-snmp)


@dataclass(frozen=True)
class Record:
    oid: str
    tag: int
    value: str | int


def render(records: list[Record]) -> str:
    """snmpsim wants the file in OID order (it answers GETNEXT by walking it)."""
    ordered = sorted(records, key=lambda r: tuple(int(part) for part in r.oid.split(".")))
    return "".join(f"{r.oid}|{r.tag}|{r.value}\n" for r in ordered)


def _system(descr: str, object_id: str, name: str, uptime_s: float) -> list[Record]:
    base = "1.3.6.1.2.1.1"  # SNMPv2-MIB system group
    return [
        Record(f"{base}.1.0", STRING, descr),
        Record(f"{base}.2.0", OID, object_id),
        Record(f"{base}.3.0", TIMETICKS, int(uptime_s * 100)),
        Record(f"{base}.4.0", STRING, "service desk, simulated site"),
        Record(f"{base}.5.0", STRING, name),
        Record(f"{base}.6.0", STRING, "simulated site, rack 1"),
    ]


def _interfaces(ports: list[tuple[str, bool]]) -> list[Record]:
    """IF-MIB ifTable: ethernetCsmacd(6) ports, oper status up(1)/down(2), zero error counters."""
    base = "1.3.6.1.2.1.2.2.1"
    out = [Record("1.3.6.1.2.1.2.1.0", INTEGER, len(ports))]  # ifNumber
    for i, (descr, up) in enumerate(ports, start=1):
        out += [
            Record(f"{base}.1.{i}", INTEGER, i),
            Record(f"{base}.2.{i}", STRING, descr),
            Record(f"{base}.3.{i}", INTEGER, 6),
            Record(f"{base}.5.{i}", GAUGE32, 1_000_000_000),
            Record(f"{base}.7.{i}", INTEGER, 1),  # ifAdminStatus up
            Record(f"{base}.8.{i}", INTEGER, 1 if up else 2),
        ]
        out += [Record(f"{base}.{col}.{i}", COUNTER32, 0) for col in (13, 14, 19, 20)]
    return out


def _load(load_1m: float, mem_used_share: float) -> list[Record]:
    """UCD-SNMP-MIB laLoad (text) and memory (kB)."""
    total = 4_096_000
    avail = int(total * (1 - mem_used_share))
    return [
        Record("1.3.6.1.4.1.2021.10.1.3.1", STRING, f"{load_1m:.2f}"),
        Record("1.3.6.1.4.1.2021.10.1.3.2", STRING, f"{load_1m * 0.9:.2f}"),
        Record("1.3.6.1.4.1.2021.10.1.3.3", STRING, f"{load_1m * 0.8:.2f}"),
        Record("1.3.6.1.4.1.2021.4.5.0", INTEGER, total),
        Record("1.3.6.1.4.1.2021.4.6.0", INTEGER, avail),
        Record("1.3.6.1.4.1.2021.4.14.0", INTEGER, 0),
        Record("1.3.6.1.4.1.2021.4.15.0", INTEGER, 0),
    ]


def wave(elapsed_s: float, period_s: float, low: float, high: float) -> float:
    """A smooth value moving between `low` and `high` (load over a compressed day)."""
    return low + (high - low) * (0.5 + 0.5 * math.sin(2 * math.pi * elapsed_s / period_s))


@dataclass
class Disk:
    name: str
    bad_sectors: float = 0.0  # grows in fractions between writes; served whole
    failed: bool = False


@dataclass
class Recorder:
    """An NVR on a NAS (Synology-style: SYNOLOGY-*-MIB beside HOST-RESOURCES-MIB)."""

    name: str
    disks: list[Disk] = field(default_factory=lambda: [Disk("Disk 1"), Disk("Disk 2")])
    volume_used_share: float = 0.62


def recorder_records(device: Recorder, elapsed_s: float) -> list[Record]:
    uptime = 86_400 * 12 + elapsed_s
    temp = round(wave(elapsed_s, 90, 38, 44))
    out = _system("Linux nvr 5.10.55+ #1 SMP x86_64", NET_SNMP_LINUX, device.name, uptime)
    out += _interfaces([("eth0", True), ("eth1", True)])
    out += _load(wave(elapsed_s, 60, 0.4, 2.2), 0.35 + 0.05 * math.sin(elapsed_s / 20))
    out.append(Record("1.3.6.1.2.1.25.1.1.0", TIMETICKS, int(uptime * 100)))  # hrSystemUptime
    # hrStorageTable: one recording volume, 4 KiB units, ~7.3 TB
    storage = "1.3.6.1.2.1.25.2.3.1"
    size = 1_953_000_000
    out += [
        Record(f"{storage}.1.1", INTEGER, 1),
        Record(f"{storage}.2.1", OID, "1.3.6.1.2.1.25.2.1.4"),  # hrStorageFixedDisk
        Record(f"{storage}.3.1", STRING, "/volume1"),
        Record(f"{storage}.4.1", INTEGER, 4096),
        Record(f"{storage}.5.1", INTEGER, size),
        Record(f"{storage}.6.1", INTEGER, int(size * device.volume_used_share)),
    ]
    device_row, disk_kb = "1.3.6.1.2.1.25.3.2.1", "1.3.6.1.2.1.25.3.6.1.4"
    syno_disk, syno_raid = "1.3.6.1.4.1.6574.2.1.1", "1.3.6.1.4.1.6574.3.1.1"
    for i, disk in enumerate(device.disks, start=1):
        index = 195 + i  # hrDeviceIndex: net-snmp numbers disks from 196
        out += [
            Record(f"{device_row}.1.{index}", INTEGER, index),
            Record(f"{device_row}.2.{index}", OID, "1.3.6.1.2.1.25.3.1.6"),  # hrDeviceDiskStorage
            Record(f"{device_row}.3.{index}", STRING, f"disk{i}"),
            Record(f"{device_row}.5.{index}", INTEGER, 5 if disk.failed else 2),  # down/running
            Record(f"{disk_kb}.{index}", INTEGER, 3_907_018_584),
            Record(f"{syno_disk}.1.{i - 1}", INTEGER, i - 1),
            Record(f"{syno_disk}.2.{i - 1}", STRING, disk.name),
            Record(f"{syno_disk}.3.{i - 1}", STRING, "WD40PURZ"),
            Record(f"{syno_disk}.5.{i - 1}", INTEGER, 5 if disk.failed else 1),  # crashed/normal
            Record(f"{syno_disk}.6.{i - 1}", INTEGER, temp - 2 + i),
            Record(f"{syno_disk}.9.{i - 1}", INTEGER, int(disk.bad_sectors)),
            Record(f"{syno_disk}.11.{i - 1}", INTEGER, -1),  # no remaining-life estimate (HDD)
            Record(f"{syno_disk}.13.{i - 1}", INTEGER, 4 if disk.failed else 1),
        ]
    degraded = any(d.failed for d in device.disks)
    out += [
        Record("1.3.6.1.4.1.6574.1.1.0", INTEGER, 1),  # systemStatus normal
        Record("1.3.6.1.4.1.6574.1.2.0", INTEGER, temp),
        Record("1.3.6.1.4.1.6574.1.3.0", INTEGER, 1),  # powerStatus normal
        Record("1.3.6.1.4.1.6574.1.5.1.0", STRING, "NVR-SIM 1618"),
        Record("1.3.6.1.4.1.6574.1.5.2.0", STRING, "SIM0001NVR"),
        Record("1.3.6.1.4.1.6574.1.5.3.0", STRING, "DSM 7.2-64570"),
        Record(f"{syno_raid}.1.0", INTEGER, 0),
        Record(f"{syno_raid}.2.0", STRING, "Storage Pool 1"),
        Record(f"{syno_raid}.3.0", INTEGER, 11 if degraded else 1),  # degraded/normal
    ]
    return out


@dataclass
class Ups:
    """An RFC 1628 UPS card; `runtime_min` is the full-charge runtime, which fades with age."""

    name: str
    on_battery: bool = False
    seconds_on_battery: float = 0.0
    runtime_min: float = 30.0
    charge_percent: float = 100.0


def ups_records(device: Ups, elapsed_s: float) -> list[Record]:
    base = "1.3.6.1.2.1.33.1"
    load = round(wave(elapsed_s, 75, 28, 41))
    remaining = device.runtime_min * device.charge_percent / 100
    out = _system("Simulated UPS 1500VA network card", "1.3.6.1.2.1.33", device.name, elapsed_s)
    out += [
        Record(f"{base}.1.1.0", STRING, "SimPower"),  # upsIdentManufacturer
        Record(f"{base}.1.2.0", STRING, "SP-1500RM"),  # upsIdentModel
        Record(f"{base}.1.3.0", STRING, "2.4.1"),  # upsIdentUPSSoftwareVersion
        Record(f"{base}.2.1.0", INTEGER, 3 if device.charge_percent < 25 else 2),  # low/normal
        Record(f"{base}.2.2.0", INTEGER, int(device.seconds_on_battery)),
        Record(f"{base}.2.3.0", INTEGER, round(remaining)),  # upsEstimatedMinutesRemaining
        Record(f"{base}.2.4.0", INTEGER, round(device.charge_percent)),
        Record(f"{base}.2.5.0", INTEGER, 272 if device.on_battery else 276),  # 0.1 V
        Record(f"{base}.2.7.0", INTEGER, round(wave(elapsed_s, 120, 24, 27))),
        Record(f"{base}.3.3.1.2.1", INTEGER, 0 if device.on_battery else 500),  # 0.1 Hz
        Record(f"{base}.3.3.1.3.1", INTEGER, 0 if device.on_battery else 229),  # V
        Record(f"{base}.4.1.0", INTEGER, 5 if device.on_battery else 3),  # battery/normal
        Record(f"{base}.4.4.1.5.1", INTEGER, load),  # upsOutputPercentLoad
        Record(f"{base}.6.1.0", GAUGE32, 1 if device.on_battery else 0),  # upsAlarmsPresent
    ]
    return out


@dataclass
class PoePort:
    camera: str | None  # the device id it feeds, or None for a free port
    delivering: bool = True


@dataclass
class PoeSwitch:
    name: str
    ports: list[PoePort] = field(default_factory=list)


def switch_records(device: PoeSwitch, elapsed_s: float) -> list[Record]:
    out = _system(
        "Simulated 8-port Gigabit PoE+ switch",
        "1.3.6.1.4.1.99999.2.1",  # an unregistered arc: no vendor profile claims it
        device.name,
        86_400 * 40 + elapsed_s,
    )
    out += _interfaces(
        [
            (f"port {i}", p.camera is not None and p.delivering)
            for i, p in enumerate(device.ports, 1)
        ]
    )
    port_row, pse = "1.3.6.1.2.1.105.1.1.1", "1.3.6.1.2.1.105.1.3.1.1"
    used = 0.0
    for i, port in enumerate(device.ports, start=1):
        delivering = port.camera is not None and port.delivering
        watts = wave(elapsed_s + 7 * i, 50, 4.5, 6.5) if delivering else 0.0
        used += watts
        out += [
            Record(f"{port_row}.1.1.{i}", INTEGER, 1),  # pethPsePortGroupIndex
            Record(f"{port_row}.2.1.{i}", INTEGER, i),  # pethPsePortIndex
            Record(f"{port_row}.3.1.{i}", INTEGER, 1),  # AdminEnable true
            Record(f"{port_row}.6.1.{i}", INTEGER, 3 if delivering else 2),  # delivering/search
            Record(f"{port_row}.7.1.{i}", INTEGER, 3),  # priority low
            Record(f"{port_row}.8.1.{i}", COUNTER32, 0),  # MPS absent
            Record(f"{port_row}.9.1.{i}", STRING, port.camera or ""),
            Record(f"{port_row}.10.1.{i}", INTEGER, 4 if delivering else 1),  # class 3 / 0
            Record(f"{port_row}.12.1.{i}", COUNTER32, 0),
            Record(f"{port_row}.13.1.{i}", COUNTER32, 0),
            Record(f"{port_row}.14.1.{i}", COUNTER32, 0),
        ]
    out += [
        Record(f"{pse}.2.1", GAUGE32, 120),  # pethMainPsePower, W
        Record(f"{pse}.3.1", INTEGER, 1),  # on
        Record(f"{pse}.4.1", GAUGE32, round(used)),
        Record(f"{pse}.5.1", INTEGER, 90),
    ]
    return out


@dataclass
class Contact:
    label: str  # what the monitor calls it: its check segment
    alarm: bool = False


@dataclass
class SiteMonitor:
    """An AKCP sensorProbe: one temperature probe and dry contacts (all normally closed)."""

    name: str
    contacts: list[Contact] = field(default_factory=list)
    hot: bool = False


def monitor_records(device: SiteMonitor, elapsed_s: float) -> list[Record]:
    base = "1.3.6.1.4.1.3854.1"
    temp = 58 if device.hot else round(wave(elapsed_s, 100, 22, 27))
    out = _system("sensorProbe8 simulated", f"{base}", device.name, 86_400 * 90 + elapsed_s)
    worst = 4 if device.hot or any(c.alarm for c in device.contacts) else 2
    out += [
        Record(f"{base}.1.2.0", INTEGER, worst),  # spStatus
        Record(f"{base}.1.6.0", STRING, "AKCP"),  # spManufName
        Record(f"{base}.1.8.0", STRING, "sensorProbe8"),  # spProductName
    ]
    temps = f"{base}.2.2.1.16.1"
    out += [
        Record(f"{temps}.1.0", STRING, "Rack"),
        Record(f"{temps}.3.0", INTEGER, temp),
        Record(f"{temps}.4.0", INTEGER, 4 if device.hot else 2),  # highCritical/normal
        Record(f"{temps}.5.0", INTEGER, 1),  # online
        Record(f"{temps}.8.0", INTEGER, 45),  # HighCritical, °C
        Record(f"{temps}.12.0", INTEGER, 1),  # celsius
    ]
    switches = f"{base}.2.2.1.18.1"
    for i, contact in enumerate(device.contacts):
        out += [
            Record(f"{switches}.1.{i}", STRING, contact.label),
            Record(f"{switches}.3.{i}", INTEGER, 4 if contact.alarm else 2),
            Record(f"{switches}.4.{i}", INTEGER, 1),  # online
            Record(f"{switches}.6.{i}", INTEGER, 0),  # input
            Record(f"{switches}.7.{i}", INTEGER, 0),  # normally closed
        ]
    return out
