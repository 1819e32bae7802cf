"""ONVIF picture health cost: CPU ms to analyse one snapshot (decode + all five checks).

Snapshots are rendered by Debian's ffmpeg (testsrc2 with sensor-like noise, JPEG quality 4) at
1920x1080, 1280x720 and 640x360. Ours: `agent.probes.onvif.picture.analyse` with a learned
baseline and the previous fingerprint, as a poll runs it. Peer: Pillow decoding the same JPEG at
full size into an RGB (uint8) numpy array and nothing else, which a straightforward
implementation pays before it has computed anything. CPU time of this process
(time.process_time), median of N runs.
Run: `.venv/bin/python bench/onvif_picture.py [--runs N]`. Ends with one JSON line; lower is better.
"""

import argparse
import io
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

import numpy as np
from PIL import Image

from agent.probes.onvif.picture import Baseline, Fingerprint, PictureOptions, analyse
from tests.agent.probes.onvif.frames import FFMPEG, render

SIZES = ("1920x1080", "1280x720", "640x360")


def cpu_ms(fn: Callable[[bytes], object], frames: list[bytes], runs: int) -> float:
    """Median CPU ms per call over `runs` calls cycling through `frames`."""
    times = []
    for i in range(runs):
        jpeg = frames[i % len(frames)]
        start = time.process_time()
        fn(jpeg)
        times.append((time.process_time() - start) * 1000)
    return statistics.median(times)


def full_decode(jpeg: bytes) -> object:
    with Image.open(io.BytesIO(jpeg)) as img:
        return np.asarray(img.convert("RGB"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    if FFMPEG is None:
        sys.exit("needs Debian ffmpeg")
    options = PictureOptions()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="secmon-bench-picture-") as tmp:
        for size in SIZES:
            frames = render("testsrc2", Path(tmp), frames=10, size=size)
            first = analyse(frames[0], None, None, options)
            baseline = Baseline(samples=100, sharpness=first.sharpness)
            previous = first.fingerprint

            def ours(jpeg: bytes, b: Baseline = baseline, p: Fingerprint = previous) -> object:
                return analyse(jpeg, b, p, options)

            cpu_ms(ours, frames, 10)  # warm up (imports, allocator)
            ours_ms = cpu_ms(ours, frames, args.runs)
            peer_ms = cpu_ms(full_decode, frames, args.runs)
            kib = statistics.mean(len(f) for f in frames) / 1024
            rows.append(
                {"size": size, "jpeg_kib": round(kib, 1), "ours_ms": ours_ms, "peer_ms": peer_ms}
            )
            print(
                f"{size:>9}  JPEG {kib:6.1f} KiB  analyse {ours_ms:6.2f} ms CPU  "
                f"peer (full decode only) {peer_ms:6.2f} ms  ratio {ours_ms / peer_ms:.2f}"
            )
    print(f"python {platform.python_version()}, {platform.machine()}, runs={args.runs}")
    full_hd = rows[0]
    line = {
        "bench": "onvif_picture",
        "metric": "cpu_ms_per_snapshot_1920x1080",
        "unit": "ms",
        "ours": round(full_hd["ours_ms"], 2),
        "peer": "pillow full-size decode, no analysis",
        "peer_value": round(full_hd["peer_ms"], 2),
        "ratio": round(full_hd["ours_ms"] / full_hd["peer_ms"], 3),
        "better": "lower",
        "sizes": rows,
    }
    print(json.dumps(line))


if __name__ == "__main__":
    main()
