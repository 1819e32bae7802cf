"""The month's inspections for 20 sites x 100 devices, and the client's quarterly PDF.

Ours: `generate_all` (one inspection per site, its rows, the pre-fill from the daily uptime and
check rollups, fault episodes and tickets, an `inspection` ticket per uncovered failure), then
`load_quarterly` + HTML + WeasyPrint PDF for the one client that owns the 2,000 devices.
Peer: the same pre-fill computed naively from the raw samples: per device, every sample of the
window read and decoded, uptime, readings and snapshot shares summed from them, judged by the
same rules (episodes and tickets are read as ours reads them; they are not samples).
The synthetic month is written once: raw samples every `--sample-minutes` (the agent polls
every 60 s; the peer's cost grows with the sample count, ours does not) and the daily rollups
made from those same samples, so both sides must reach the same verdicts (checked).
Run: `.venv/bin/python bench/inspection.py [--sample-minutes N] [--database-url URL]`.
Ends with one JSON line.
"""

import argparse
import json
import platform
import random
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server import migrate
from server.db import make_engine
from server.inspections.evidence import (
    ReadingFact,
    SnapshotFact,
    UptimeTotals,
    judge,
)
from server.inspections.models import Inspection, InspectionRow
from server.inspections.store import (
    EVIDENCE,
    PICTURE_OK,
    _episodes,
    _matches,
    _tickets,
    generate_all,
    window_of,
)
from server.inspections.template import Contracts, Reading, shipped_template
from server.models import CheckDay, Client, Device, SampleRow, Ticket, UptimeDay
from server.reports.quarterly import load_quarterly
from server.reports.render import PdfUnavailableError, html_to_pdf, quarterly_html
from server.tenancy import create_client, create_site
from wire.ids import uuid7

SITES = 20
MIX = {"camera": 84, "nvr": 6, "switch": 6, "ups": 2, "alarm_panel": 2}  # 100 a site
SUBSYSTEM = {"camera": "video", "nvr": "video", "switch": "network", "ups": "power"}
PERIOD = date(2026, 12, 1)
DAYS = 28  # complete days behind NOW
NOW = datetime(2026, 12, 29, 2, 0, tzinfo=UTC)
DAY_S = 86_400


@dataclass
class Fleet:
    client_id: int
    client_name: str
    devices: list[tuple[int, int, str]]  # id, site id, class
    samples: int


def _checks(cls: str, rng: random.Random, bias: float) -> dict[str, Any]:
    if cls == "camera":
        return {
            "clock.offset_s": round(rng.gauss(0, 1.2) + bias, 2),
            PICTURE_OK: rng.random() > 0.01 + bias / 50,
        }
    if cls == "nvr":
        return {"recording.retention_days": 32 + rng.random() * 20 - bias * 4}
    if cls == "ups":
        return {"ups.battery.minutes_remaining": 25 + rng.random() * 10 - bias * 10}
    if cls == "switch":
        return {"poe.pse.pse1.budget_used_percent": 40 + rng.random() * 30 + bias * 10}
    return {}


def _uptime(device_id: int, day: date, up: int, down: int) -> dict[str, Any]:
    """A day's rollup: what the samples did not cover is time without data."""
    return {"device_id": device_id, "day": day, "up_s": up, "down_s": down, "unknown_s": 0,
            "maintenance_s": 0, "nodata_s": DAY_S - up - down}  # fmt: skip


def _sample(
    device_id: int, ts: datetime, reachable: bool, checks: dict[str, Any]
) -> dict[str, Any]:
    error = None if reachable else "device.unreachable"
    return {"id": uuid7(), "device_id": device_id, "ts": ts, "received_at": ts, "probe": "snmp",
            "reachable": reachable, "latency_ms": 3.0, "error_code": error, "error_message": None,
            "checks": checks, "events": None, "events_only": False}  # fmt: skip


def build(url: str, minutes: int) -> Fleet:
    """Client, sites, devices; raw samples and, from the same samples, the daily rollups."""
    rng = random.Random(15)
    engine = make_engine(url)
    interval = minutes * 60
    start = datetime.combine(PERIOD, datetime.min.time(), tzinfo=UTC)
    with Session(engine) as session:
        client = create_client(session=session, name="Bench Holdings", now=start)
        devices: list[tuple[int, int, str]] = []
        for s in range(SITES):
            site = create_site(session=session, client_id=client.id, name=f"site-{s:02d}",
                               zone="default", timezone="UTC", now=start)  # fmt: skip
            rows = [
                {"site_id": site.id, "ext_id": f"{cls}-{i:03d}", "name": f"{cls}-{i:03d}",
                 "device_class": cls, "subsystem": SUBSYSTEM.get(cls, "intrusion"),
                 "protocol": "snmp", "parent_ext_id": None, "vendor": None, "model": None,
                 "serial": None, "firmware": None, "first_registered_at": start,
                 "last_registered_at": start}
                for cls, n in MIX.items()
                for i in range(n)
            ]  # fmt: skip
            session.execute(insert(Device), rows)
            devices += [
                (d.id, site.id, d.device_class)
                for d in session.scalars(select(Device).where(Device.site_id == site.id))
            ]
        session.commit()
        client_id, client_name = client.id, client.name
    offline_site = devices[0][1] + 3  # that site's agent was offline for day 10
    total = 0
    per_poll = DAY_S // interval
    with Session(engine) as session:
        for device_id, site_id, cls in devices:
            bias = 3.0 if rng.random() < 0.02 else 0.0  # a few devices in bad shape
            outage_day = rng.randrange(DAYS) if rng.random() < 0.05 else None
            samples: list[dict[str, Any]] = []
            uptime: list[dict[str, Any]] = []
            rolled: dict[tuple[str, date], list[float]] = defaultdict(list)
            for d in range(DAYS):
                day = PERIOD + timedelta(days=d)
                up = down = 0
                if site_id == offline_site and d == 9:
                    uptime.append(_uptime(device_id, day, 0, 0))
                    continue
                for k in range(per_poll):
                    ts = start + timedelta(days=d, seconds=k * interval)
                    reachable = not (outage_day == d and k < per_poll // 4)
                    checks = _checks(cls, rng, bias) if reachable else {}
                    samples.append(_sample(device_id, ts, reachable, checks))
                    up, down = (up + interval, down) if reachable else (up, down + interval)
                    for name, value in checks.items():
                        rolled[(name, day)].append(float(value))
                uptime.append(_uptime(device_id, day, up, down))
            session.execute(insert(SampleRow), samples)
            session.execute(insert(UptimeDay), uptime)
            if rolled:
                session.execute(
                    insert(CheckDay),
                    [
                        {"device_id": device_id, "check": name, "day": day, "part": "",
                         "count": len(v), "min": min(v), "max": max(v), "mean": sum(v) / len(v),
                         "last": v[-1], "last_ts": start + timedelta(days=(day - PERIOD).days + 1),
                         "delta": 0.0, "resets": 0, "rejected": 0}
                        for (name, day), v in rolled.items()
                    ],
                )  # fmt: skip
            total += len(samples)
        session.commit()
    engine.dispose()
    return Fleet(client_id, client_name, devices, total)


def peer_prefill(session: Session, step: int) -> dict[tuple[int, str], str]:
    """Every rule row judged from the raw samples of its device (read once per device)."""
    verdicts: dict[tuple[int, str], str] = {}
    for inspection in session.scalars(select(Inspection)):
        window = window_of(inspection, ZoneInfo("UTC"), NOW)
        episodes = _episodes(session, inspection.site_id, window)
        tickets = _tickets(session, inspection.site_id, window)
        rows = session.scalars(
            select(InspectionRow).where(InspectionRow.inspection_id == inspection.id)
        ).all()
        by_device: dict[int, list[InspectionRow]] = defaultdict(list)
        for row in rows:
            if row.rule is not None:
                by_device[row.device_id or 0].append(row)
        for device_id, device_rows in by_device.items():
            up = down = judged = good = 0
            values: dict[str, list[float]] = defaultdict(list)
            if device_id:
                for reachable, checks in session.execute(
                    select(SampleRow.reachable, SampleRow.checks).where(
                        SampleRow.device_id == device_id,
                        SampleRow.ts >= window.start,
                        SampleRow.ts < window.end,
                    )
                ):
                    if reachable:
                        up += 1
                    else:
                        down += 1
                    for name, value in (checks or {}).items():
                        if name == PICTURE_OK:
                            judged += 1
                            good += bool(value)
                        else:
                            values[name].append(float(value))
            for row in device_rows:
                rule = EVIDENCE.validate_python(row.rule)
                readings = {}
                if isinstance(rule, Reading):
                    seen = [v for name, vs in values.items() if _matches(rule, name) for v in vs]
                    if seen:
                        readings[rule.check] = ReadingFact(low=min(seen), high=max(seen))
                verdict = judge(
                    rule,
                    window,
                    uptime=UptimeTotals(up_s=up * step, down_s=down * step),
                    episodes=episodes.get(device_id, []),
                    site_tickets=tickets,
                    readings=readings,
                    snapshot=SnapshotFact(judged, float(good)),
                )
                verdicts[(row.id, row.item_id)] = verdict.result.value
    return verdicts


def measure(url: str, minutes: int) -> dict[str, Any]:
    migrate.upgrade(database_url=url)
    t0 = time.perf_counter()
    fleet = build(url, minutes)
    setup_s = time.perf_counter() - t0
    print(f"setup: {len(fleet.devices)} devices, {fleet.samples:,} samples in {setup_s:.1f} s",
          file=sys.stderr)  # fmt: skip
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            t0 = time.perf_counter()
            handled = generate_all(
                session=session, contracts=Contracts(shipped_template()), now=NOW
            )
            ours_s = time.perf_counter() - t0
            opened = session.scalar(
                select(func.count()).select_from(Ticket).where(Ticket.kind == "inspection")
            )
            t0 = time.perf_counter()
            generate_all(
                session=session,
                contracts=Contracts(shipped_template()),
                now=NOW + timedelta(hours=1),
            )
            again_s = time.perf_counter() - t0
            ours = {
                (r.id, r.item_id): r.prefill or ""
                for r in session.scalars(select(InspectionRow))
                if r.rule is not None
            }
            t0 = time.perf_counter()
            peer = peer_prefill(session, minutes * 60)
            peer_s = time.perf_counter() - t0
            differ = sum(1 for key, value in ours.items() if peer.get(key) != value)
            counts: dict[str, int] = defaultdict(int)
            for value in ours.values():
                counts[value] += 1
            client = session.get(Client, fleet.client_id)
            assert client is not None
            t0 = time.perf_counter()
            report = load_quarterly(session=session, client=client, year=2026, quarter=4)
            html = quarterly_html(report)
            html_s = time.perf_counter() - t0
            try:
                pdf = html_to_pdf(html)
                pdf_s: float | None = time.perf_counter() - t0
                pdf_bytes: int | None = len(pdf)
            except PdfUnavailableError as err:
                print(f"pdf: skipped ({err})", file=sys.stderr)
                pdf_s = pdf_bytes = None
            rows = session.query(InspectionRow).count()
    finally:
        engine.dispose()
    result = {
        "bench": "inspection",
        "metric": "generate_prefill_seconds",
        "unit": "s",
        "ours": round(ours_s, 3),
        "peer": "pre-fill computed from raw samples",
        "peer_value": round(peer_s, 3),
        "ratio": round(ours_s / peer_s, 3),
        "better": "lower",
        "database": url.split(":", 1)[0].split("+")[0],
        "sites": SITES,
        "devices": len(fleet.devices),
        "rows": rows,
        "rule_rows": len(ours),
        "sample_minutes": minutes,
        "samples": fleet.samples,
        "inspections": handled,
        "inspection_tickets_opened": opened,
        "ours_next_round_s": round(again_s, 3),
        "verdicts_differ": differ,
        "verdicts": dict(counts),
        "quarterly_html_s": round(html_s, 3),
        "quarterly_pdf_s": None if pdf_s is None else round(pdf_s, 3),
        "quarterly_pdf_bytes": pdf_bytes,
        "goal_prefill_s": 5.0,
        "goal_pdf_s": 10.0,
    }
    print(
        f"ours: generation + pre-fill {ours_s:.2f} s for {len(fleet.devices)} devices "
        f"({rows:,} rows, {opened} inspection tickets opened; the next round {again_s:.2f} s); "
        f"peer from raw samples {peer_s:.2f} s; verdicts differing {differ}; "
        f"quarterly HTML {html_s:.2f} s, PDF {pdf_s if pdf_s is None else round(pdf_s, 2)} s",
        file=sys.stderr,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sample-minutes", type=int, default=60,
                        help="minutes between raw samples in the synthetic month")  # fmt: skip
    parser.add_argument("--database-url", help="an empty database (default: a temp SQLite file)")
    args = parser.parse_args()
    print(f"machine: {platform.node()} {platform.machine()} python {platform.python_version()}",
          file=sys.stderr)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="secmon-bench-") as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        result = measure(url, args.sample_minutes)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
