"""ONVIF picture health: detection and false alarms on the realistic scene suite, and CPU ms to
analyse one snapshot, for our analyser and the one it replaced, in the same run.

Detection: the suite of `peers/picture/suite.py` (seeded renders, see
`tests/fixtures/README.md`): per scene kind (outdoor with cloud light, night colour with glare,
IR, low-texture corridor, rain) and per tampering (hand, wrap, partial cover, defocus, turned,
ceiling, frozen), `--seeds` cameras each learn 12 normal snapshots and are then tampered with for
6. A tampering is caught when its reason is given by the third tampered snapshot. Normal runs:
200 snapshots per kind, an outdoor camera through day/IR switches (240), and a re-aim with an
operator re-learn (200); every abnormal verdict on them is a false alarm. Peer: the analyser as
it stood before the suite (`bench/onvif_picture_peer.py`), its baseline learned the same way.

Cost: snapshots rendered by Debian's ffmpeg (testsrc2 with sensor-like noise, JPEG quality 4)
at 1920x1080 and 640x360; `PictureOptions()` defaults; a learned baseline and previous snapshot,
as a poll runs it. CPU time of this process (time.process_time), median of N runs.
Run: `.venv/bin/python bench/onvif_picture.py [--runs N] [--seeds N]`. Ends with one JSON line.
"""

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import onvif_picture_peer as peer

from agent.probes.onvif.baseline import BaselineStore, CameraMemory
from agent.probes.onvif.picture import PictureOptions, analyse
from peers.picture import suite
from peers.picture.frames import FFMPEG, render
from peers.picture.scenes import Kind, Tamper

SIZES = ("1920x1080", "640x360")
DEVICE = "bench-cam"


class Ours:
    """Our analyser as the probe's hook drives it (mode picked from the picture)."""

    def __init__(self) -> None:
        self.store = BaselineStore(Path("/nonexistent"), read_only=True)
        self.options = PictureOptions()

    def observe(self, jpeg: bytes, *, ir: bool | None) -> tuple[str, ...]:
        return tuple(str(r) for r in self.store.observe(DEVICE, jpeg, self.options).reasons)

    def relearn(self) -> None:
        self.store.relearn(DEVICE)


class Peer:
    """The analyser before the suite: one baseline, learned by mean then EWMA."""

    def __init__(self) -> None:
        self.options = peer.PictureOptions()
        self.baseline = peer.Baseline()
        self.previous: peer.Fingerprint | None = None

    def observe(self, jpeg: bytes, *, ir: bool | None) -> tuple[str, ...]:
        report = peer.analyse(jpeg, self.baseline, self.previous, self.options)
        self.baseline = self.baseline.learned(report, self.options)
        self.previous = report.fingerprint
        return tuple(str(r) for r in report.reasons)

    def relearn(self) -> None:
        self.baseline = peer.Baseline()


def sequences(seeds: int) -> list[suite.Sequence]:
    out = [
        suite.tampered(kind, seed, tamper)
        for kind in Kind
        for tamper in Tamper
        for seed in range(1, seeds + 1)
    ]
    out += [suite.normal(kind, 1) for kind in Kind]
    out += [suite.day_ir_switch(1), suite.relearn(Kind.OUTDOOR, 1), suite.relearn(Kind.IR, 1)]
    return out


def detection(seeds: int) -> dict[str, dict[str, Any]]:
    """Per analyser, per expected reason: episodes caught within 3 snapshots, tampered snapshots
    flagged, median latency; and false alarms over the normal snapshots."""
    results: dict[str, dict[str, Any]] = {}
    for name, make in (("ours", Ours), ("peer", Peer)):
        scores: dict[str, suite.Score] = {}
        per_tamper: dict[str, list[int]] = {}
        for sequence in sequences(seeds):
            verdicts = suite.run(sequence, make())
            suite.score(sequence, verdicts, scores)
            if sequence.onset is not None:
                tamper = sequence.name.split("/")[0]
                hits = [bool(sequence.accepted & set(v)) for v in verdicts[sequence.onset :]]
                caught = any(hits[: suite.LATENCY_MAX + 1])
                per_tamper.setdefault(tamper, []).append(int(caught))
        row: dict[str, Any] = {}
        for reason, s in scores.items():
            if reason == "normal":
                row["false_alarms"] = s.false_alarms
                row["normal_snapshots"] = s.normal_shots
                row["false_reasons"] = s.false_reasons
                continue
            row[reason] = {
                "episodes": s.episodes,
                "caught_within_3": round(s.caught / s.episodes, 3),
                "snapshots_flagged": round(s.flagged_shots / s.tampered_shots, 3),
                "median_latency": statistics.median(s.latencies) if s.latencies else None,
            }
        row["per_tamper_caught"] = {t: round(sum(v) / len(v), 3) for t, v in per_tamper.items()}
        results[name] = row
    return results


def cpu_ms(fn: Callable[[bytes], object], frames: list[bytes], runs: int) -> float:
    """Median CPU ms per call over `runs` calls cycling through `frames`."""
    times = []
    for i in range(runs):
        jpeg = frames[i % len(frames)]
        start = time.process_time()
        fn(jpeg)
        times.append((time.process_time() - start) * 1000)
    return statistics.median(times)


def cost(runs: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="secmon-bench-picture-") as tmp:
        for size in SIZES:
            frames = render("testsrc2", Path(tmp), frames=12, size=size)
            ours, before = Ours(), Peer()
            for jpeg in frames:  # learn, as a poll would
                ours.observe(jpeg, ir=None)
                before.observe(jpeg, ir=None)
            memory = ours.store.memory(DEVICE)
            options = ours.options

            def ours_one(
                jpeg: bytes, m: CameraMemory = memory, o: PictureOptions = options
            ) -> object:
                return analyse(jpeg, m.baseline, m.previous, o)

            def peer_one(jpeg: bytes, p: Peer = before) -> object:
                return peer.analyse(jpeg, p.baseline, p.previous, p.options)

            cpu_ms(ours_one, frames, 10)  # warm up (imports, allocator)
            ours_ms = cpu_ms(ours_one, frames, runs)
            peer_ms = cpu_ms(peer_one, frames, runs)
            rows.append({"size": size, "ours_ms": ours_ms, "peer_ms": peer_ms})
            print(f"{size:>9}  analyse {ours_ms:6.2f} ms CPU  before {peer_ms:6.2f} ms")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    if FFMPEG is None:
        sys.exit("needs Debian ffmpeg")
    found = detection(args.seeds)
    for name, row in found.items():
        print(f"{name}: false alarms {row['false_alarms']} / {row['normal_snapshots']} normal")
        for reason in ("covered", "blurred", "moved", "frozen"):
            r = row.get(reason)
            if r:
                print(
                    f"  {reason:8s} caught within 3: {r['caught_within_3']:.3f}  snapshots "
                    f"flagged {r['snapshots_flagged']:.3f}  median latency {r['median_latency']}"
                )
        print(f"  per tampering: {row['per_tamper_caught']}")
    sizes = cost(args.runs)
    print(f"python {platform.python_version()}, {platform.machine()}, runs={args.runs}")
    full_hd = sizes[0]
    line = {
        "bench": "onvif_picture",
        "metric": "cpu_ms_per_snapshot_1920x1080",
        "unit": "ms",
        "ours": round(full_hd["ours_ms"], 2),
        "peer": "the analyser before the scene suite (bench/onvif_picture_peer.py)",
        "peer_value": round(full_hd["peer_ms"], 2),
        "ratio": round(full_hd["ours_ms"] / full_hd["peer_ms"], 3),
        "better": "lower",
        "sizes": sizes,
        "detection": found,
    }
    print(json.dumps(line))


if __name__ == "__main__":
    main()
