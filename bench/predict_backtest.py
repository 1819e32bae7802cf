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

from bench.predict_fleet import FleetSpec, build, write
from server.predict.backtest import Figures, Forecaster, ours, replay, score, spans_of
from server.predict.csvfile import read_fleet
from server.predict.evidence import Evidence, Verdict
from server.predict.rollup import DAY_S, Sample, day_of
from server.predict.signals import Direction, Model, Signal, spec_for


@dataclass(frozen=True, slots=True)
class Limit:
    above: bool
    value: float


STATIC: dict[Signal, Limit] = {
    Signal.DISK_SECTORS: Limit(True, 0.0),
    Signal.TEMPERATURE: Limit(True, 60.0),
    Signal.FAN: Limit(False, 500.0),
    Signal.BATTERY: Limit(False, 10.0),
    Signal.SHARPNESS: Limit(False, 0.3),
    Signal.STORAGE_FILL: Limit(True, 90.0),
    Signal.REBOOTS: Limit(False, 600.0),
}
LINEAR: dict[Signal, Limit] = {
    Signal.DISK_SECTORS: Limit(True, 100.0),
    Signal.TEMPERATURE: Limit(True, 65.0),
    Signal.FAN: Limit(False, 500.0),
    Signal.BATTERY: Limit(False, 10.0),
    Signal.SHARPNESS: Limit(False, 0.3),
    Signal.STORAGE_FILL: Limit(True, 95.0),
}
LINEAR_WINDOW_DAYS = 14
LINEAR_AHEAD_DAYS = 30
RESETS_WINDOW_DAYS = 7
RESETS_LIMIT = 3


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


def static_peer(check: str, samples: Sequence[Sample], days: range) -> Iterable[Evidence]:
    """Alert while any sample of the day is past the fixed limit."""
    spec = spec_for(check)
    if spec is None:
        return
    limit = STATIC[spec.signal]
    by_day, _ = _by_day(samples)
    for today in days:
        todays = by_day.get(today)
        if not todays:
            continue
        past = [(s.value > limit.value) if limit.above else (s.value < limit.value) for s in todays]
        evidence = _verdict_evidence(check, today, any(past), todays[-1].part)
        if evidence is not None:
            yield evidence


def linear_peer(check: str, samples: Sequence[Sample], days: range) -> Iterable[Evidence]:
    """predict_linear(x[14d], 30d) past the limit; for uptime, resets over 7 days."""
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
            alarm = resets >= RESETS_LIMIT
        else:
            mask = (ts >= end - LINEAR_WINDOW_DAYS * DAY_S) & (ts < end)
            if np.count_nonzero(mask) < 2:
                continue
            x, y = ts[mask], values[mask]
            slope, intercept = np.polyfit(x - end, y, 1)
            ahead = intercept + slope * LINEAR_AHEAD_DAYS * DAY_S
            limit = LINEAR[spec.signal]
            alarm = bool(ahead > limit.value) if limit.above else bool(ahead < limit.value)
        evidence = _verdict_evidence(check, today, alarm, part)
        if evidence is not None:
            yield evidence


SYSTEMS: dict[str, Callable[[], Forecaster]] = {
    "secmon": ours,
    "static": lambda: static_peer,
    "predict_linear": lambda: linear_peer,
}


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


def run_seed(seed: int, spec: FleetSpec, workdir: Path) -> dict[str, Any]:
    devices = build(seed, spec)
    samples, failures = workdir / f"fleet-{seed}.csv", workdir / f"failures-{seed}.csv"
    write(devices, samples, failures, seed)
    fleet = read_fleet(samples, failures)
    spans = spans_of(fleet.series)
    out: dict[str, Any] = {
        "seed": seed,
        "devices": len(devices),
        "failing": len(fleet.failures),
        "rows": sum(len(v) for v in fleet.series.values()),
    }
    for name, make in SYSTEMS.items():
        started = time.process_time()
        tickets = replay(fleet.series, make())
        result = score(tickets, fleet.failures, spans, fleet.causes)
        out[name] = _brief(result.overall)
        out[name]["cpu_s"] = round(time.process_time() - started, 1)
        out[name]["per_cause"] = {c: _brief(f) for c, f in result.per_cause.items()}
        out[name]["per_signal"] = {s: _brief(f) for s, f in result.per_signal.items()}
        out["healthy_device_months"] = round(result.overall.healthy_device_months, 1)
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
            f"  ({r['false_tickets']} false, {r['cpu_s']} CPU-s)"
        )
    for cause, r in result["secmon"]["per_cause"].items():
        print(
            f"    secmon {cause:<20} {r['detected']}/{r['failures']}  lead {r['median_lead_days']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--days", type=int, default=FleetSpec.days)
    parser.add_argument("--failing-per-shape", type=int, default=FleetSpec.failing_per_shape)
    args = parser.parse_args()
    spec = FleetSpec(days=args.days, failing_per_shape=args.failing_per_shape)
    results = []
    with tempfile.TemporaryDirectory(prefix="secmon-bench-predict-") as tmp:
        for seed in args.seeds:
            result = run_seed(seed, spec, Path(tmp))
            _print_seed(result)
            results.append(result)

    def pooled(name: str, key: str) -> float:
        return float(np.mean([r[name][key] for r in results]))

    line = {
        "bench": "predict_backtest",
        "metric": "recall",
        "unit": "share of failures",
        "ours": round(pooled("secmon", "recall"), 3),
        "peer": "static thresholds; predict_linear (least squares 14 d, 30 d ahead)",
        "peer_value": round(max(pooled("static", "recall"), pooled("predict_linear", "recall")), 3),
        "ratio": 0.0,
        "better": "higher",
        "recall": round(pooled("secmon", "recall"), 3),
        "precision": round(pooled("secmon", "precision"), 3),
        "median_lead_days": round(pooled("secmon", "median_lead_days"), 1),
        "false_per_1000_device_months": round(pooled("secmon", "false_per_1000_device_months"), 2),
        "seeds": [
            {k: v for k, v in r.items() if k in ("seed", "devices", "failing", "rows")}
            | {name: {k: v for k, v in r[name].items() if k != "per_signal"} for name in SYSTEMS}
            for r in results
        ],
    }
    line["ratio"] = round(line["ours"] / line["peer_value"], 3) if line["peer_value"] else None
    print(json.dumps(line))


if __name__ == "__main__":
    main()
