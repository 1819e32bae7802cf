"""Server ingest throughput vs a plain SQLAlchemy Core bulk insert of the same rows.

Ours: `POST /api/v1/ingest` on one `secmon server run` process, gzip JSON batches of 500 samples
sent by two client threads (two agents), with validation, duplicate handling, device state and
fault detection: a round ends when the server's detector has drained the detection queue.
Peer: the same rows inserted with SQLAlchemy Core executemany into the same table of the same
database, one commit per batch of 500, no HTTP, no validation, no state.
Run: `.venv/bin/python bench/ingest.py [--batches N] [--no-postgres]`. Ends with one JSON line.
"""

import argparse
import gzip
import json
import platform
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from peers.postgres import PostgresServer, PostgresUnavailableError
from peers.server import ServerProcess, provision
from server.db import make_engine
from server.ingest import sample_rows
from server.models import detect_queue, samples
from wire.ids import uuid7
from wire.schema import IngestBatch

BATCH = 500
DEVICES = 200
SENDERS = 2


def make_batch(start: datetime, n: int = BATCH, devices: int = DEVICES) -> IngestBatch:
    """A realistic batch: camera/NVR health checks, ~300 bytes a sample as stored."""
    samples = []
    for i in range(n):
        dev = i % devices
        up = i % 17 != 0
        samples.append(
            {
                "id": str(uuid7()),
                "device_id": f"cam-{dev:03d}",
                "ts": (start + timedelta(milliseconds=i)).isoformat(),
                "probe": "onvif",
                "reachable": up,
                "latency_ms": 3.5 + (i % 7),
                "error": None if up else {"code": "device.unreachable", "message": "timed out"},
                "checks": {
                    "uptime_s": 86400 + i,
                    "temperature_c": 41.5,
                    "clock_offset_s": 0.12,
                    "stream_ok": up,
                    "disk_1_state": "ok",
                }
                if up
                else {},
            }
        )
    return IngestBatch.model_validate({"samples": samples})


def bodies(count: int, devices: int) -> list[bytes]:
    start = datetime.now(UTC)
    return [
        gzip.compress(
            make_batch(start + timedelta(seconds=b), devices=devices).model_dump_json().encode(), 6
        )
        for b in range(count)
    ]


def run_ours(server: ServerProcess, token: str, payloads: list[bytes]) -> float:
    """Samples/s through HTTP ingest, SENDERS clients in parallel, until detection is done."""
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
    }
    errors: list[str] = []

    def send(chunk: list[bytes]) -> None:
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=60) as client:
            for body in chunk:
                response = client.post("/api/v1/ingest", content=body)
                if response.status_code != 200 or response.json()["accepted"] != BATCH:
                    errors.append(f"{response.status_code} {response.text[:200]}")

    chunks = [payloads[i::SENDERS] for i in range(SENDERS)]
    threads = [threading.Thread(target=send, args=(c,)) for c in chunks]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait_detected(server.database_url)
    elapsed = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"ingest failed: {errors[:3]}")
    return len(payloads) * BATCH / elapsed


def wait_detected(database_url: str, timeout: float = 300.0) -> None:
    """Until the detection queue is empty (the detector runs in the server process)."""
    engine = make_engine(database_url)
    deadline = time.monotonic() + timeout
    try:
        with engine.connect() as conn:
            while conn.scalar(select(func.count()).select_from(detect_queue)):
                conn.rollback()  # a fresh snapshot for the next look
                if time.monotonic() > deadline:
                    raise RuntimeError("the detector did not drain the queue in time")
                time.sleep(0.005)
    finally:
        engine.dispose()


def run_peer(database_url: str, device_pks: dict[str, int], n_batches: int, devices: int) -> float:
    """Rows/s of a plain Core executemany of the same rows into the same table."""
    start = datetime.now(UTC) + timedelta(days=1)
    row_batches = [
        sample_rows(make_batch(start + timedelta(seconds=b), devices=devices), device_pks)
        for b in range(n_batches)
    ]
    engine = make_engine(database_url)
    try:
        t0 = time.perf_counter()
        for rows in row_batches:
            with engine.begin() as conn:
                conn.execute(insert(samples), rows)
        elapsed = time.perf_counter() - t0
    finally:
        engine.dispose()
    return n_batches * BATCH / elapsed


def stored(database_url: str) -> int:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(samples)) or 0)
    finally:
        engine.dispose()


def measure(
    name: str, database_url: str, workdir: Path, n_batches: int, devices: int, rounds: int
) -> dict[str, object]:
    """Alternate ours and the peer `rounds` times and keep each one's median: on a shared VM
    the speed drifts by a third within minutes, and alternating keeps the ratio honest."""
    ours_runs: list[float] = []
    peer_runs: list[float] = []
    server = ServerProcess(database_url, workdir=workdir).start()
    try:
        tenant = provision(database_url, devices=[f"cam-{i:03d}" for i in range(devices)])
        run_ours(server, tenant.token, bodies(4, devices))  # warm-up: imports, caches, pages
        for _ in range(rounds):
            before = stored(database_url)
            ours_runs.append(run_ours(server, tenant.token, bodies(n_batches, devices)))
            if stored(database_url) - before != n_batches * BATCH:
                raise RuntimeError("ingest stored a different number of rows than it was sent")
            peer_runs.append(run_peer(database_url, tenant.device_pks, n_batches, devices))
    finally:
        server.stop()
    ours, peer = statistics.median(ours_runs), statistics.median(peer_runs)
    result = {
        "bench": f"ingest-{name}",
        "metric": "samples_per_second",
        "unit": "samples/s",
        "ours": round(ours),
        "peer": f"sqlalchemy-core-bulk-insert-{name}",
        "peer_value": round(peer),
        "ratio": round(ours / peer, 3),
        "better": "higher",
    }
    print(
        f"{name}: ingest {ours:,.0f} samples/s over HTTP ({SENDERS} senders, batches of {BATCH} "
        f"over {devices} devices; rounds {', '.join(f'{x:,.0f}' for x in ours_runs)}); "
        f"plain Core insert {peer:,.0f} rows/s (rounds {', '.join(f'{x:,.0f}' for x in peer_runs)}"
        f"); ratio of medians {ours / peer:.2f}",
        file=sys.stderr,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=100, help="batches of 500 per round")
    parser.add_argument(
        "--devices", type=int, default=DEVICES, help="devices the samples of a batch spread over"
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternations of ours and peer")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    print(f"machine: {platform.node()} {platform.machine()} python {platform.python_version()}",
          file=sys.stderr)  # fmt: skip
    results = []
    shape = {"n_batches": args.batches, "devices": args.devices, "rounds": args.rounds}
    with tempfile.TemporaryDirectory(prefix="secmon-bench-") as tmp:
        if not args.no_postgres:
            try:
                pg = PostgresServer()
            except PostgresUnavailableError as err:
                print(f"postgresql: skipped ({err})", file=sys.stderr)
            else:
                try:
                    url = pg.create_database()
                    results.append(measure("postgresql", url, Path(tmp) / "pg", **shape))
                finally:
                    pg.close()
        sqlite_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        results.append(measure("sqlite", sqlite_url, Path(tmp) / "sqlite", **shape))
    for result in results:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
