"""Predictive maintenance backtest: secmon's models against two peers on one synthetic fleet.

The fleet (bench/predict_fleet.py, written without the models) goes to a CSV, is read back the
way `secmon predict backtest` reads it, and every system's alarms go through the same ticket
decision (server/predict/decision.py) and the same scoring. Peers:

- static: fixed limits as monitoring templates ship them, on raw samples (NaN skipped):
  sectors > 0, temperature > 60 °C, fan < 500 rpm, battery runtime < 10 min, sharpness < 0.3,
  used space > 90 %, uptime < 600 s ("has been restarted"). An alert that clears closes its
  ticket; a new alert opens a new one.
- predict_linear: least squares over the last 14 days of raw samples projected 30 days ahead
  against the limits secmon's models use (sectors 100, temperature 65 °C, fan 500 rpm,
  runtime 10 min, sharpness 0.3, used space 95 %), and for uptime `resets(uptime[7d]) >= 3`.

Each peer also runs at four stricter settings (`STATIC`, `LINEAR_AHEAD_DAYS`, `RESETS_LIMIT`)
and is reported at its best recall among the settings with no more false tickets than ours.

Tune on seed 1, report seeds 2 and 3: `python bench/predict_backtest.py --seeds 2 3`.
"""

import argparse
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from predict_fleet import FleetSpec, build, write  # bench/ is scripts, not a package

from server.predict.backtest import Figures, Forecaster, Score, ours, replay, score, spans_of
from server.predict.csvfile import Fleet, read_fleet
from server.predict.evidence import Evidence, Verdict
from server.predict.models import Params
from server.predict.rollup import DAY_S, Sample, day_of
from server.predict.signals import Direction, Model, Signal, spec_for

RUNGS = 5  # each peer is run at five settings, from its shipped limits to much stricter ones


@dataclass(frozen=True, slots=True)
class Limit:
    above: bool
    values: tuple[float, ...]  # one per rung


STATIC: dict[Signal, Limit] = {
    Signal.DISK_SECTORS: Limit(True, (0.0, 10.0, 50.0, 100.0, 200.0)),
    Signal.TEMPERATURE: Limit(True, (60.0, 65.0, 70.0, 75.0, 80.0)),
    Signal.FAN: Limit(False, (500.0, 300.0, 100.0, 50.0, 1.0)),
    Signal.BATTERY: Limit(False, (10.0, 8.0, 6.0, 5.0, 4.0)),
    Signal.SHARPNESS: Limit(False, (0.3, 0.25, 0.2, 0.15, 0.1)),
    Signal.STORAGE_FILL: Limit(True, (90.0, 93.0, 95.0, 97.0, 99.0)),
    Signal.REBOOTS: Limit(False, (600.0, 300.0, 120.0, 60.0, 10.0)),
}
# From rung 2 on, the static peer alerts only when every sample of the day is past the limit
# (Zabbix `min(/host/key,24h)`), not on any one sample.
STATIC_WHOLE_DAY_FROM = 2
LINEAR: dict[Signal, float] = {
    Signal.DISK_SECTORS: 100.0,
    Signal.TEMPERATURE: 65.0,
    Signal.FAN: 500.0,
    Signal.BATTERY: 10.0,
    Signal.SHARPNESS: 0.3,
    Signal.STORAGE_FILL: 95.0,
}
LINEAR_WINDOW_DAYS = 14
LINEAR_AHEAD_DAYS = (30, 14, 7, 3, 1)
RESETS_WINDOW_DAYS = 7
RESETS_LIMIT = (3, 4, 6, 8, 12)


def _verdict_evidence(check: str, today: int, alarm: bool, part: str | None) -> Evidence | None:
    spec = spec_for(check)
    if spec is None:
        return None
    return Evidence(
        check=check,
        signal=spec.signal,
        model=spec.model,
        verdict=Verdict.TREND_TO_THRESHOLD if alarm else Verdict.REVERSED,
        at_day=today,
        projected_day=today,
        part=part,
    )


def _by_day(samples: Sequence[Sample]) -> tuple[dict[int, list[Sample]], list[Sample]]:
    finite = sorted((s for s in samples if not math.isnan(s.value)), key=lambda s: s.ts)
    days: dict[int, list[Sample]] = {}
    for sample in finite:
        days.setdefault(day_of(sample.ts), []).append(sample)
    return days, finite


def static_peer(rung: int) -> Forecaster:
    """Alert while a sample of the day (from rung 2: every sample) is past the fixed limit."""

    def forecast(check: str, samples: Sequence[Sample], days: range) -> Iterable[Evidence]:
        spec = spec_for(check)
        if spec is None:
            return
        limit = STATIC[spec.signal]
        value = limit.values[rung]
        by_day, _ = _by_day(samples)
        whole_day = rung >= STATIC_WHOLE_DAY_FROM
        for today in days:
            todays = by_day.get(today)
            if not todays:
                continue
            past = [(s.value > value) if limit.above else (s.value < value) for s in todays]
            alarm = all(past) if whole_day else any(past)
            evidence = _verdict_evidence(check, today, alarm, todays[-1].part)
            if evidence is not None:
                yield evidence

    return forecast


def linear_peer(rung: int) -> Forecaster:
    """predict_linear(x[14d], ahead) past the limit; for uptime, resets(x[7d]) >= limit."""

    def forecast(check: str, samples: Sequence[Sample], days: range) -> Iterable[Evidence]:
        spec = spec_for(check)
        if spec is None:
            return
        by_day, finite = _by_day(samples)
        ts = np.array([s.ts for s in finite])
        values = np.array([s.value for s in finite])
        for today in days:
            if today not in by_day:
                continue
            end = (today + 1) * DAY_S
            part = by_day[today][-1].part
            if spec.model is Model.EVENT_RATE:
                mask = (ts >= end - RESETS_WINDOW_DAYS * DAY_S) & (ts < end)
                window = values[mask]
                resets = int(np.sum(np.diff(window) < 0)) if len(window) > 1 else 0
                alarm = resets >= RESETS_LIMIT[rung]
            else:
                mask = (ts >= end - LINEAR_WINDOW_DAYS * DAY_S) & (ts < end)
                if np.count_nonzero(mask) < 2:
                    continue
                slope, intercept = np.polyfit(ts[mask] - end, values[mask], 1)
                ahead = intercept + slope * LINEAR_AHEAD_DAYS[rung] * DAY_S
                limit = LINEAR[spec.signal]
                up = spec.direction is Direction.UP
                alarm = bool(ahead > limit) if up else bool(ahead < limit)
            evidence = _verdict_evidence(check, today, alarm, part)
            if evidence is not None:
                yield evidence

    return forecast


PEERS: dict[str, Callable[[int], Forecaster]] = {
    "static": static_peer,
    "predict_linear": linear_peer,
}
SYSTEMS = ("secmon", *PEERS)


def _brief(figures: Figures) -> dict[str, Any]:
    return {
        "recall": round(figures.recall, 3),
        "precision": round(figures.precision, 3),
        "median_lead_days": figures.median_lead_days,
        "false_per_1000_device_months": round(figures.false_per_1000_device_months, 2),
        "failures": figures.failures,
        "detected": figures.detected,
        "false_tickets": figures.false_tickets,
    }


def _run(fleet: Fleet, forecaster: Forecaster) -> tuple[Score, float]:
    started = time.process_time()
    tickets = replay(fleet.series, forecaster)
    result = score(tickets, fleet.failures, spans_of(fleet.series), fleet.causes)
    return result, time.process_time() - started


def run_seed(seed: int, spec: FleetSpec, workdir: Path, params: Params) -> dict[str, Any]:
    """Ours once; each peer at every rung, reported at its best recall among the rungs with no
    more false tickets than ours; when no rung gets there, its shipped rung is shown and its
    recall within our false-ticket count is 0."""
    devices = build(seed, spec)
    samples, failures = workdir / f"fleet-{seed}.csv", workdir / f"failures-{seed}.csv"
    write(devices, samples, failures, seed)
    fleet = read_fleet(samples, failures)
    out: dict[str, Any] = {
        "seed": seed,
        "devices": len(devices),
        "failing": len(fleet.failures),
        "rows": sum(len(v) for v in fleet.series.values()),
    }
    result, cpu = _run(fleet, ours(params))
    out["healthy_device_months"] = round(result.overall.healthy_device_months, 1)
    out["secmon"] = _brief(result.overall) | {"cpu_s": round(cpu, 1)}
    out["secmon"]["per_cause"] = {c: _brief(f) for c, f in result.per_cause.items()}
    out["secmon"]["per_signal"] = {s: _brief(f) for s, f in result.per_signal.items()}
    budget = result.overall.false_tickets
    for name, make in PEERS.items():
        ladder = [
            _brief(_run(fleet, make(rung))[0].overall) | {"rung": rung} for rung in range(RUNGS)
        ]
        within = [r for r in ladder if r["false_tickets"] <= budget]
        if within:
            best = max(within, key=lambda r: r["recall"])
            out[name] = best | {"within_false_budget": True, "recall_within_budget": best["recall"]}
        else:
            # No setting reaches our false-ticket count: its recall there is nothing.
            out[name] = ladder[0] | {"within_false_budget": False, "recall_within_budget": 0.0}
        out[name]["ladder"] = ladder
    return out


def _print_seed(result: dict[str, Any]) -> None:
    print(
        f"seed {result['seed']}: {result['devices']} devices, {result['failing']} failing, "
        f"{result['rows']} samples, {result['healthy_device_months']} healthy device-months"
    )
    for name in SYSTEMS:
        r = result[name]
        print(
            f"  {name:<15} recall {r['recall']:.3f}  precision {r['precision']:.3f}  "
            f"lead {r['median_lead_days']}  false/1000dm {r['false_per_1000_device_months']:.2f}"
            f"  ({r['false_tickets']} false)" + (f"  rung {r['rung']}" if "rung" in r else "")
        )
        for rung in r.get("ladder", []):
            print(
                f"      rung {rung['rung']}: recall {rung['recall']:.3f} "
                f"lead {rung['median_lead_days']} false {rung['false_tickets']}"
            )
    for cause, r in result["secmon"]["per_cause"].items():
        print(
            f"    secmon {cause:<20} {r['detected']}/{r['failures']}  lead {r['median_lead_days']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--days", type=int, default=210)
    parser.add_argument("--failing-per-shape", type=int, default=8)
    parser.add_argument(
        "--out", type=Path, help="Keep the CSVs here (for `secmon predict backtest --csv`)."
    )
    args = parser.parse_args()
    spec = FleetSpec(days=args.days, failing_per_shape=args.failing_per_shape)
    results = []
    with tempfile.TemporaryDirectory(prefix="secmon-bench-predict-") as tmp:
        workdir = args.out or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for seed in args.seeds:
            result = run_seed(seed, spec, workdir, Params())
            _print_seed(result)
            results.append(result)

    def pooled(name: str, key: str) -> float:
        values = [r[name][key] for r in results if r[name][key] is not None]
        return float(np.mean(values)) if values else 0.0

    ours_recall = round(pooled("secmon", "recall"), 3)
    peer_recall = round(max(pooled(name, "recall_within_budget") for name in PEERS), 3)
    line = {
        "bench": "predict_backtest",
        "metric": "recall",
        "unit": "share of failures",
        "ours": ours_recall,
        "peer": "best of static thresholds and predict_linear, each at its best setting "
        "with no more false tickets than ours",
        "peer_value": peer_recall,
        "ratio": round(ours_recall / peer_recall, 3) if peer_recall else None,
        "better": "higher",
        "recall": ours_recall,
        "precision": round(pooled("secmon", "precision"), 3),
        "median_lead_days": round(pooled("secmon", "median_lead_days"), 1),
        "false_per_1000_device_months": round(pooled("secmon", "false_per_1000_device_months"), 2),
        "seeds": [
            {k: v for k, v in r.items() if k in ("seed", "devices", "failing", "rows")}
            | {
                name: {k: v for k, v in r[name].items() if k not in ("per_signal", "ladder")}
                for name in SYSTEMS
            }
            for r in results
        ],
    }
    print(json.dumps(line))


if __name__ == "__main__":
    main()
