"""Status page cost: a client with 2,000 devices over 20 sites and 90 days of history.

Ours: the page as the server builds it (queries + view + Jinja2 render) from daily rollups, with
30 and 365 days of history in the database. Peer, in the same run: the same 90 days of
per-subsystem daily availability computed naively from raw samples (one aggregate query over
the samples table), the way a page without rollups would. The raw samples are one per device
per hour, which flatters the peer: a real 60 s poll interval stores 60 times as many.

Ends with one JSON line (see README.md). Nothing here asserts on speed.
"""

import argparse
import json
import math
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, text

from server import migrate
from server.commands import tune_gc
from server.db import make_engine, session_factory, write_session
from server.models import Client, Device, FaultEpisode, Site
from server.status.query import status_view
from server.status.render import render_status
from server.status.rollup import rollup_all
from server.status.words import Words

SUBSYSTEM_MIX = [("camera", "video")] * 7 + [
    ("nvr", "video"),
    ("alarm_panel", "alarm"),
    ("access_controller", "access"),
    ("ups", "power"),
    ("switch", "network"),
]


def build(url: str, *, sites: int, devices: int, days: int, now: datetime, seed: int) -> int:
    """Tenant, devices and `days` of fault history (an outage per device every ~10 days)."""
    rng = random.Random(seed)
    migrate.upgrade(database_url=url)
    engine = make_engine(url)
    start = now - timedelta(days=days)
    try:
        with write_session(engine) as session:
            client = Client(name="bench", created_at=start)
            session.add(client)
            session.flush()
            site_rows = [
                Site(client_id=client.id, name=f"site-{i:02d}", zone="default",
                     timezone="Asia/Shanghai", created_at=start)
                for i in range(sites)
            ]  # fmt: skip
            session.add_all(site_rows)
            session.flush()
            device_rows = []
            for n in range(devices):
                cls, sub = SUBSYSTEM_MIX[n % len(SUBSYSTEM_MIX)]
                device_rows.append({
                    "site_id": site_rows[n % sites].id, "ext_id": f"d{n}", "name": f"{cls} {n}",
                    "device_class": cls, "subsystem": sub, "protocol": "tcp",
                    "first_registered_at": start, "last_registered_at": now,
                })  # fmt: skip
            session.execute(insert(Device), device_rows)
            ids = session.execute(text("SELECT id, site_id FROM devices")).all()
            episodes = []
            for device_id, site_id in ids:
                t = start + timedelta(hours=rng.uniform(0, 240))
                while t < now:
                    length = timedelta(minutes=rng.uniform(5, 360))
                    end = t + length
                    key = f"{device_id}:{t.timestamp()}"
                    episodes.append({
                        "key": key, "open_key": None if end < now else key, "site_id": site_id,
                        "device_id": device_id, "code": "device.unreachable",
                        "severity": "general", "started_at": t, "confirmed_at": t,
                        "recovered_at": end if end < now else None,
                        "last_failing_at": min(end, now), "occurrences": 1, "flapping": False,
                    })  # fmt: skip
                    t = end + timedelta(hours=rng.uniform(24, 480))
            for chunk in range(0, len(episodes), 5000):
                session.execute(insert(FaultEpisode), episodes[chunk : chunk + 5000])
        with session_factory(engine)() as session:
            rollup_all(session=session, now=now)
        return int(client.id)
    finally:
        engine.dispose()


def add_samples(path: Path, *, days: int, now: datetime, seed: int) -> int:
    """One raw sample per device per hour, reachable unless inside one of its outages."""
    rng = random.Random(seed)
    conn = sqlite3.connect(path)
    try:
        devices = [row[0] for row in conn.execute("SELECT id FROM devices")]
        outages: dict[int, list[tuple[str, str | None]]] = {}
        for device_id, started, recovered in conn.execute(
            "SELECT device_id, started_at, recovered_at FROM fault_episodes"
        ):
            outages.setdefault(device_id, []).append((started, recovered))
        start = now - timedelta(days=days)
        hours = [start + timedelta(hours=h) for h in range(days * 24)]
        stamps = [h.strftime("%Y-%m-%d %H:%M:%S.%f") for h in hours]
        total = 0
        for device_id in devices:
            spans = outages.get(device_id, [])
            rows = []
            for stamp in stamps:
                down = any(a <= stamp and (b is None or stamp < b) for a, b in spans)
                rows.append((uuid.UUID(int=rng.getrandbits(128)).hex, device_id, stamp, stamp,
                             "tcp", 0 if down else 1, "{}", 0))  # fmt: skip
            conn.executemany(
                "INSERT INTO samples (id, device_id, ts, received_at, probe, reachable, checks,"
                " events_only) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            total += len(rows)
        conn.commit()
        return total
    finally:
        conn.close()


def naive_page(url: str, client_id: int, now: datetime) -> Callable[[], object]:
    """Per site, subsystem and day: the share of reachable samples, straight from raw rows."""
    engine = make_engine(url)
    since = (now - timedelta(days=90)).strftime("%Y-%m-%d %H:%M:%S")
    query = text(
        "SELECT d.site_id, d.subsystem, substr(s.ts, 1, 10) AS day,"
        " sum(s.reachable), count(*) FROM samples s JOIN devices d ON d.id = s.device_id"
        " JOIN sites t ON t.id = d.site_id WHERE t.client_id = :client AND s.ts >= :since"
        " GROUP BY d.site_id, d.subsystem, day"
    )

    def run() -> object:
        with engine.connect() as conn:
            return conn.execute(query, {"client": client_id, "since": since}).all()

    return run


def our_page(url: str, client_id: int, now: datetime) -> Callable[[], object]:
    engine = make_engine(url)
    sessions = session_factory(engine)
    words = Words("en")

    def run() -> object:
        with sessions() as session:
            view = status_view(session=session, client_id=client_id, words=words, now=now)
        return render_status(view, words, shared=True)

    return run


CPU_MS: dict[int, float] = {}


def timed(fn: Callable[[], object], rounds: int) -> tuple[float, float]:
    """Wall-clock p50 and p95 (nearest rank) in ms; the CPU median goes to CPU_MS, since this
    machine's other load moves wall time but not CPU time."""
    fn()  # warm caches and the template
    tune_gc()  # as `secmon server run` does at start
    samples, cpu = [], []
    for _ in range(rounds):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    samples.sort()
    CPU_MS[id(fn)] = statistics.median(cpu)
    return statistics.median(samples), samples[math.ceil(len(samples) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sites", type=int, default=20)
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--naive-rounds", type=int, default=5)
    args = parser.parse_args()
    now = datetime.now(UTC).replace(microsecond=0)
    print(f"machine: {platform.node()} {platform.machine()} python {platform.python_version()}",
          file=sys.stderr)  # fmt: skip
    results: dict[str, tuple[float, float]] = {}
    cpu: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for days in (30, 90, 365):
            path = Path(tmp) / f"status-{days}.sqlite"
            url = f"sqlite:///{path}"
            t0 = time.perf_counter()
            client_id = build(url, sites=args.sites, devices=args.devices, days=days, now=now,
                              seed=days)  # fmt: skip
            print(f"{days} days: built and rolled up in {time.perf_counter() - t0:.1f} s",
                  file=sys.stderr)  # fmt: skip
            page = our_page(url, client_id, now)
            results[f"ours_{days}"] = timed(page, args.rounds)
            cpu[f"ours_{days}"] = CPU_MS[id(page)]
            print(f"{days} days: ours p50 {results[f'ours_{days}'][0]:.1f} ms"
                  f" p95 {results[f'ours_{days}'][1]:.1f} ms"
                  f" (CPU {cpu[f'ours_{days}']:.1f} ms)", file=sys.stderr)  # fmt: skip
            if days == 90:
                t0 = time.perf_counter()
                rows = add_samples(path, days=days, now=now, seed=days)
                print(f"90 days: {rows:,} raw samples written in {time.perf_counter() - t0:.1f} s",
                      file=sys.stderr)  # fmt: skip
                naive = naive_page(url, client_id, now)
                results["naive_90"] = timed(naive, args.naive_rounds)
                cpu["naive_90"] = CPU_MS[id(naive)]
                print(f"90 days: naive p50 {results['naive_90'][0]:.1f} ms"
                      f" p95 {results['naive_90'][1]:.1f} ms", file=sys.stderr)  # fmt: skip
    ours_p95, peer_p95 = results["ours_90"][1], results["naive_90"][1]
    line = {
        "bench": "status_page",
        "metric": "p95 server time of a 90-day status page, 2,000 devices over 20 sites",
        "unit": "ms",
        "ours": round(ours_p95, 1),
        "peer": "same figures computed from raw samples (1 per device per hour)",
        "peer_value": round(peer_p95, 1),
        "ratio": round(ours_p95 / peer_p95, 4),
        "better": "lower",
        "ours_p50_ms": {k[5:]: round(v[0], 1) for k, v in results.items() if k.startswith("ours")},
        "ours_p95_ms": {k[5:]: round(v[1], 1) for k, v in results.items() if k.startswith("ours")},
        "naive_p50_ms": round(results["naive_90"][0], 1),
        "cpu_median_ms": {k: round(v, 1) for k, v in cpu.items()},
    }
    print(json.dumps(line))


if __name__ == "__main__":
    main()
