"""SNMP polling cost: our agent's SnmpProbe vs Prometheus snmp_exporter on the same devices.

N simulated devices (default 200) served by snmpsim processes of 25 devices each (one community
per device; the data files are generated here: system group, 4 interfaces, 8 hrStorage rows).
Each poll reads the same OIDs on both sides: a GET of system scalars, a bulk walk of
ifOperStatus, and bulk walks of hrStorage. Ours: one sweep over all devices with 20 polls in
flight, CPU seconds of this process per 1,000 device polls. Peer: `prometheus-snmp-exporter`
(Debian) with a hand-written numeric-OID module per device, scraped by 20 concurrent HTTP
requests; CPU seconds of the exporter process per 1,000 scrapes (the HTTP client's CPU is not
counted). Run: `.venv/bin/python bench/snmp_poll.py [--devices N] [--sweeps K]`; `--engine
pysnmp` polls v2c with pysnmp as before the lean codec, `--no-peer` skips snmp_exporter (for
1,000-device sweeps). `--fleet vendors`: a mixed fleet of the vendor families instead (UPS cards,
environmental monitors with contacts, industrial and PoE switches, a midspan), each device a
copy of one of our fixtures (tests/fixtures/snmp), read by the shipped profiles as detection
stacks them; snmp_exporter gets a module per family that GETs the same scalars and walks the
same columns the stack reads. Ends with one JSON line; lower is better.
"""

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from agent.probes.snmp import SnmpProbe
from agent.probes.snmp_detect import detect
from agent.probes.snmp_profiles import builtin_profiles, parse_profiles
from agent.probes.snmp_readings import SYS_DESCR, SYS_OBJECT_ID, SYSTEM_OIDS
from agent.probes.snmp_values import RawValue
from peers.devices import make_device
from simulate.peers.net import free_port
from simulate.peers.snmp import Snmpsim

PER_SIMULATOR = 25
IN_FLIGHT = 20
EXPORTER = shutil.which("prometheus-snmp-exporter")

# The same work on both sides: system scalars, ifOperStatus, hrStorage (type, descr, size, used).
BENCH_PROFILE = """\
name: generic
tables:
  - name: if
    columns: [{name: oper_up, oid: 1.3.6.1.2.1.2.2.1.8, kind: flag, true_when: [1]}]
  - name: hr_storage
    label: 1.3.6.1.2.1.25.2.3.1.3
    where: {oid: 1.3.6.1.2.1.25.2.3.1.2, values: [1.3.6.1.2.1.25.2.1.4]}
    columns:
      - {name: used_percent, oid: 1.3.6.1.2.1.25.2.3.1.6, kind: percent, of: 1.3.6.1.2.1.25.2.3.1.5}
"""
HR_COLUMNS = (2, 3, 5, 6)
FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "snmp"
# The mixed fleet: the vendor families of the field (fixture name → how many in 12 devices).
FLEET = {
    "ups-eaton": 2,
    "ups-tripplite": 1,
    "ups-apc": 1,
    "sensor-apc-ems": 1,
    "sensor-netbotz": 1,
    "switch-moxa": 1,
    "switch-cisco-poe": 1,
    "switch-tplink-poe": 2,
    "switch-netgear-poe": 1,
    "poe-midspan": 1,
}


def device_record(i: int) -> str:
    """A Linux-NVR-like device: our own synthetic data, numbered so values differ per device."""
    lines = [
        f"1.3.6.1.2.1.1.1.0|4|Linux nvr-{i:03d} 5.10.0 armv7l (secmon bench)",
        "1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.8072.3.2.10",
        f"1.3.6.1.2.1.1.3.0|67|{100000 + i}",
        f"1.3.6.1.2.1.1.5.0|4|nvr-{i:03d}",
    ]
    lines += [f"1.3.6.1.2.1.2.2.1.8.{n}|2|{1 if n != 4 else 2}" for n in range(1, 5)]
    rows = range(1, 9)
    types = {1: 2, 2: 3, 3: 1, 4: 4, 5: 4, 6: 4, 7: 4, 8: 4}  # ram, virtual, other, fixed disks
    descr = {1: "Physical memory", 2: "Virtual memory", 3: "Memory buffers"}
    for col in HR_COLUMNS:
        for r in rows:
            if col == 2:
                value = f"6|1.3.6.1.2.1.25.2.1.{types[r]}"
            elif col == 3:
                value = "4|" + descr.get(r, f"/mnt/disk{r}")
            elif col == 5:
                value = f"2|{1_000_000 * r}"
            else:
                value = f"2|{(1_000_000 * r * (i % 90 + 5)) // 100}"
            lines.append(f"1.3.6.1.2.1.25.2.3.1.{col}.{r}|{value}")
    return "\n".join(lines) + "\n"


def exporter_config(communities: list[str]) -> str:
    """snmp_exporter 0.21 format: `auth` inside each module; one module per device."""
    out: list[str] = []
    for community in communities:
        out += [
            f"{community}:",
            "  version: 2",
            f"  auth: {{community: {community}}}",
            "  get: [1.3.6.1.2.1.1.3.0, 1.3.6.1.2.1.1.1.0, 1.3.6.1.2.1.1.2.0, 1.3.6.1.2.1.1.5.0]",
            "  walk: [1.3.6.1.2.1.2.2.1.8, "
            + ", ".join(f"1.3.6.1.2.1.25.2.3.1.{c}" for c in HR_COLUMNS)
            + "]",
            "  metrics:",
            "    - {name: sysUpTime, oid: 1.3.6.1.2.1.1.3, type: gauge}",
            "    - name: ifOperStatus",
            "      oid: 1.3.6.1.2.1.2.2.1.8",
            "      type: gauge",
            "      indexes: [{labelname: ifIndex, type: gauge}]",
            "    - name: hrStorageUsed",
            "      oid: 1.3.6.1.2.1.25.2.3.1.6",
            "      type: gauge",
            "      indexes: [{labelname: hrStorageIndex, type: gauge}]",
            "      lookups: [{labels: [hrStorageIndex], labelname: hrStorageDescr,"
            " oid: 1.3.6.1.2.1.25.2.3.1.3, type: DisplayString}]",
            "    - name: hrStorageSize",
            "      oid: 1.3.6.1.2.1.25.2.3.1.5",
            "      type: gauge",
            "      indexes: [{labelname: hrStorageIndex, type: gauge}]",
        ]
    return "\n".join(out) + "\n"


def fixture_answers(text: str) -> dict[str, tuple[str, RawValue]]:
    """An snmprec file as OID → (tag, value): integers, strings as bytes, OIDs as text."""
    out: dict[str, tuple[str, RawValue]] = {}
    for line in text.splitlines():
        oid, tag, value = line.split("|", 2)
        tag = tag.split(":")[0]
        if value.startswith("value="):  # a writecache variation's initial value
            value = value.removeprefix("value=")
        parsed: RawValue = value.encode() if tag == "4" else value if tag == "6" else int(value)
        out[oid] = (tag, parsed)
    return out


def fleet_module(name: str, community: str) -> list[str]:
    """An snmp_exporter module reading what the detected stack reads for this family: a GET
    of the system group and every scalar, a walk of every column (gauges and strings)."""
    answers = fixture_answers((FIXTURES / f"{name}.snmprec").read_text())
    raw = {oid: value for oid, (_tag, value) in answers.items()}
    descr, object_id = raw.get(SYS_DESCR), raw.get(SYS_OBJECT_ID)
    profile = detect(
        builtin_profiles(),
        sys_object_id=object_id if isinstance(object_id, str) else None,
        sys_descr=descr.decode() if isinstance(descr, bytes) else None,
        answers=raw,
    ).profile()
    gets = list(dict.fromkeys([*SYSTEM_OIDS, *profile.scalar_oids()]))
    walks = list(dict.fromkeys(oid for table in profile.tables for oid in table.walk_oids()))
    metrics: list[str] = []
    for oid in gets:
        tag = answers.get(oid, ("", None))[0]
        column, _, last = oid.rpartition(".")
        kind = {"4": "DisplayString", "": ""}.get(tag, "gauge" if tag != "6" else "")
        if kind:
            index = "" if last == "0" else ", indexes: [{labelname: i, type: gauge}]"
            metrics.append(f"    - {{name: g{len(metrics)}, oid: {column}, type: {kind}{index}}}")
    for column in walks:
        rows = [o for o in answers if o.startswith(column + ".")]
        if not rows:
            continue
        arity = len(rows[0].removeprefix(column + ".").split("."))
        tag = answers[rows[0]][0]
        kind = "DisplayString" if tag == "4" else "gauge" if tag != "6" else "OctetString"
        indexes = ", ".join(f"{{labelname: i{n}, type: gauge}}" for n in range(arity))
        metrics.append(
            f"    - {{name: w{len(metrics)}, oid: {column}, type: {kind}, indexes: [{indexes}]}}"
        )
    return [
        f"{community}:",
        "  version: 2",
        f"  auth: {{community: {community}}}",
        f"  get: [{', '.join(gets)}]",
        f"  walk: [{', '.join(walks)}]",
        "  metrics:",
        *metrics,
    ]


def fleet_names(devices: int) -> list[str]:
    """Which fixture each device of the mixed fleet copies, in the FLEET proportions."""
    cycle = [name for name, count in FLEET.items() for _ in range(count)]
    return [cycle[i % len(cycle)] for i in range(devices)]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def ours(
    targets: list[tuple[int, str]],
    sweeps: int,
    engine: str,
    in_flight: int = IN_FLIGHT,
    *,
    shipped: bool = False,
) -> dict[str, Any]:
    """`shipped`: the shipped profiles, chosen by detection (the mixed fleet); else the
    bench's own profile reading what the exporter module reads."""
    book = builtin_profiles() if shipped else parse_profiles({"bench.yaml": BENCH_PROFILE})
    probe = SnmpProbe(book, fast=engine == "fast")
    os.environ.update({f"BENCH_{c.upper().replace('-', '_')}": c for _, c in targets})
    devices = [
        make_device(
            id=community,
            protocol="snmp",
            port=port,
            timeout=4,
            interval=30,
            snmp={"community": {"env": f"BENCH_{community.upper().replace('-', '_')}"}},
        )
        for port, community in targets
    ]
    semaphore = asyncio.Semaphore(in_flight)
    failures = 0
    why: dict[str, int] = {}

    async def one(device: Any) -> None:
        nonlocal failures
        async with semaphore:
            try:
                await probe.poll(device)
            except Exception as err:  # counted: a bench reports failures, it does not stop
                failures += 1
                kind = f"{device.id.rsplit('-', 1)[0]}: {type(err).__name__}"
                why[kind] = why.get(kind, 0) + 1

    async def sweep() -> None:
        async with asyncio.TaskGroup() as group:
            for device in devices:
                group.create_task(one(device), name=f"bench:{device.id}")

    await sweep()  # warm-up: MIB loading, profile choice (the first poll is special)
    failures = 0
    why.clear()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(sweeps):
        await sweep()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    probe.close()
    polls = sweeps * len(devices)
    return {
        "cpu_s_per_1000": round(cpu * 1000 / polls, 3),
        "sweep_wall_s": round(wall / sweeps, 3),
        "sweep_cpu_s": round(cpu / sweeps, 3),
        "failures": failures,
        "failed": why,
    }


async def peer(
    targets: list[tuple[int, str]], sweeps: int, workdir: Path, config_text: str, marker: str
) -> dict[str, Any] | None:
    """`marker`: text every good scrape holds (a metric the module reads)."""
    if EXPORTER is None:
        return None
    config = workdir / "snmp.yml"
    config.write_text(config_text)
    port = free_port()
    log = (workdir / "exporter.log").open("wb")
    process = subprocess.Popen(  # noqa: ASYNC220 - started once, before the timed part
        [EXPORTER, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(timeout=30) as client:
            for _ in range(100):
                try:
                    await client.get(base + "/")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            semaphore = asyncio.Semaphore(IN_FLIGHT)
            failures = 0

            async def scrape(target_port: int, community: str) -> None:
                nonlocal failures
                async with semaphore:
                    params = {"target": f"127.0.0.1:{target_port}", "module": community}
                    response = await client.get(base + "/snmp", params=params)
                    if response.status_code != 200 or marker not in response.text:
                        failures += 1

            async def sweep() -> None:
                async with asyncio.TaskGroup() as group:
                    for target_port, community in targets:
                        group.create_task(scrape(target_port, community))

            await sweep()
            failures = 0
            cpu0, wall0 = cpu_seconds(process.pid), time.perf_counter()
            for _ in range(sweeps):
                await sweep()
            cpu, wall = cpu_seconds(process.pid) - cpu0, time.perf_counter() - wall0
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
    polls = sweeps * len(targets)
    return {
        "cpu_s_per_1000": round(cpu * 1000 / polls, 3),
        "sweep_wall_s": round(wall / sweeps, 3),
        "failures": failures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--sweeps", type=int, default=3)
    parser.add_argument("--engine", choices=["fast", "pysnmp"], default="fast")
    parser.add_argument("--no-peer", action="store_true", help="skip snmp_exporter")
    parser.add_argument("--per-simulator", type=int, default=PER_SIMULATOR)
    parser.add_argument("--in-flight", type=int, default=IN_FLIGHT, help="our polls at once")
    parser.add_argument(
        "--fleet", choices=["nvr", "vendors"], default="nvr", help="generated NVRs or vendors"
    )
    args = parser.parse_args()
    vendors = args.fleet == "vendors"
    print(f"machine: {platform.node()} {platform.machine()} python {platform.python_version()}",
          file=sys.stderr)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="secmon-snmp-bench-") as tmp:
        root = Path(tmp)
        simulators: list[Snmpsim] = []
        targets: list[tuple[int, str]] = []
        try:
            per_simulator = args.per_simulator
            for first in range(0, args.devices, per_simulator):
                data = root / f"data{first}"
                data.mkdir()
                numbers = range(first, min(first + per_simulator, args.devices))
                families = fleet_names(args.devices)
                names = [f"{families[i] if vendors else 'nvr'}-{i:03d}" for i in numbers]
                for i, name in zip(numbers, names, strict=True):
                    record = (
                        (FIXTURES / f"{families[i]}.snmprec").read_text()
                        if vendors
                        else device_record(i)
                    )
                    (data / f"{name}.snmprec").write_text(record)
                sim = Snmpsim(root / f"sim{first}", data, ready_community=names[0])
                sim.start()
                simulators.append(sim)
                targets += [(sim.port, name) for name in names]
            ours_result = asyncio.run(
                ours(targets, args.sweeps, args.engine, args.in_flight, shipped=vendors)
            )
            if vendors:
                families = fleet_names(args.devices)
                config_text = (
                    "\n".join(
                        line
                        for i, (_port, community) in enumerate(targets)
                        for line in fleet_module(families[i], community)
                    )
                    + "\n"
                )
            else:
                config_text = exporter_config([c for _, c in targets])
            peer_result = (
                None
                if args.no_peer
                else asyncio.run(
                    peer(
                        targets,
                        args.sweeps,
                        root,
                        config_text,
                        "g0{" if vendors else "ifOperStatus",
                    )
                )
            )
        finally:
            for sim in simulators:
                sim.stop()
    print(f"ours: {ours_result}", file=sys.stderr)
    missing = "not installed (apt-get install prometheus-snmp-exporter)"
    if args.no_peer:
        missing = "skipped (--no-peer)"
    print(f"snmp_exporter: {peer_result or missing}", file=sys.stderr)
    ours_value = ours_result["cpu_s_per_1000"]
    peer_value = peer_result["cpu_s_per_1000"] if peer_result else None
    print(
        json.dumps(
            {
                "bench": "snmp_poll",
                "metric": "cpu_s_per_1000_device_polls",
                "unit": "CPU s",
                "ours": ours_value,
                "peer": "prometheus-snmp-exporter",
                "peer_value": peer_value,
                "ratio": round(ours_value / peer_value, 2) if peer_value else None,
                "better": "lower",
                "devices": args.devices,
                "fleet": args.fleet,
                "engine": args.engine,
                "in_flight": args.in_flight,
                "ours_sweep_cpu_s": ours_result["sweep_cpu_s"],
                "ours_sweep_wall_s": ours_result["sweep_wall_s"],
                "peer_sweep_wall_s": peer_result["sweep_wall_s"] if peer_result else None,
                "failures": {"ours": ours_result["failures"],
                             "peer": peer_result["failures"] if peer_result else None},
            }
        )
    )  # fmt: skip


if __name__ == "__main__":
    main()
