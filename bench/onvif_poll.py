"""ONVIF polling cost: CPU ms of our agent per camera per poll, against ipycam on 127.0.0.1.

Ours: `OnvifProbe` polls one ipycam K times in a row (clock, GetDeviceInformation, GetProfiles,
GetStreamUri, RTSP OPTIONS+DESCRIBE), CPU of this process per poll; the same with a snapshot
(GetSnapshotUri once, HTTP GET with auth, header check) on every poll; and the first poll of a
camera (session and WSDL set-up). Peer for the stream part: `ffprobe -rtsp_transport tcp` on the
same stream URI, the usual way to ask "does this stream play and what is it", CPU of the child
processes per run. ipycam's own CPU is not counted on either side.
Run: `.venv/bin/python bench/onvif_poll.py [--polls K]`. Ends with one JSON line; lower is better.
"""

import argparse
import asyncio
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.probes.onvif.probe import OnvifProbe
from agent.sampling import poll_device
from peers.devices import make_device
from simulate.peers.ipycam import PASSWORD, USERNAME, IpyCam

FFPROBE = shutil.which("ffprobe")


class Ticker:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def ours(cam: IpyCam, polls: int) -> dict[str, Any]:
    os.environ["BENCH_CAM_PASSWORD"] = PASSWORD
    credentials = {"username": USERNAME, "password": {"env": "BENCH_CAM_PASSWORD"}}
    result: dict[str, Any] = {}
    for label, interval in (("poll", 0), ("poll_with_snapshot", 1)):
        ticker = Ticker()
        probe = OnvifProbe(monotonic=ticker)
        device = make_device(
            protocol="onvif",
            port=cam.onvif_port,
            interval=60,
            timeout=10,
            credentials=credentials,
            onvif={"snapshot_interval": interval},
        )
        started = time.process_time()
        first = await poll_device(probe, device)
        result[f"first_{label}_cpu_ms"] = round((time.process_time() - started) * 1000, 1)
        failures = int(first.sample.error is not None)
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(polls):
            ticker.now += 10  # a snapshot is due on every poll of the second run
            poll = await poll_device(probe, device)
            failures += (
                poll.sample.error is not None or poll.sample.checks.get("stream.ok") is not True
            )
        result[f"{label}_cpu_ms"] = round((time.process_time() - cpu) * 1000 / polls, 2)
        result[f"{label}_wall_ms"] = round((time.perf_counter() - wall) * 1000 / polls, 2)
        result[f"{label}_failures"] = failures
        await probe.aclose()
    return result


def peer(cam: IpyCam, runs: int) -> dict[str, Any] | None:
    if FFPROBE is None:
        return None
    url = f"rtsp://127.0.0.1:{cam.rtsp_port}/video_main"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    failures = 0
    for _ in range(runs):
        done = subprocess.run(
            [
                *(FFPROBE, "-v", "error", "-rtsp_transport", "tcp"),
                *("-show_entries", "stream=codec_name,width,height", "-of", "compact", url),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        failures += "codec_name=h264" not in done.stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {
        "stream_check_cpu_ms": round(cpu * 1000 / runs, 1),
        "stream_check_wall_ms": round((time.perf_counter() - wall) * 1000 / runs, 1),
        "failures": failures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=200)
    parser.add_argument("--ffprobe-runs", type=int, default=10)
    args = parser.parse_args()
    print(f"machine: {platform.node()} {platform.machine()} python {platform.python_version()}",
          file=sys.stderr)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="secmon-onvif-bench-") as tmp, IpyCam(Path(tmp)) as cam:
        ours_result = asyncio.run(ours(cam, args.polls))
        peer_result = peer(cam, args.ffprobe_runs)
    print(f"ours: {ours_result}", file=sys.stderr)
    print(f"ffprobe: {peer_result or 'not installed (apt-get install ffmpeg)'}", file=sys.stderr)
    ours_value = ours_result["poll_cpu_ms"]
    peer_value = peer_result["stream_check_cpu_ms"] if peer_result else None
    print(
        json.dumps(
            {
                "bench": "onvif_poll",
                "metric": "cpu_ms_per_camera_poll",
                "unit": "CPU ms",
                "ours": ours_value,
                "peer": "ffprobe stream check alone",
                "peer_value": peer_value,
                "ratio": round(ours_value / peer_value, 3) if peer_value else None,
                "better": "lower",
                **{k: v for k, v in ours_result.items() if k != "poll_cpu_ms"},
                "peer_detail": peer_result,
            }
        )
    )


if __name__ == "__main__":
    main()
