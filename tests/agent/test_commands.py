"""`secmon agent check` and `run` end to end on 127.0.0.1: real sockets, a real HTTP listener."""

import asyncio
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import cast

import pytest
from prometheus_client import CollectorRegistry

from agent.commands import (
    EXIT_CONFIG,
    EXIT_OK,
    EventForwarder,
    check,
    command_runner,
    picture_dir,
    relearn,
    run_agent,
)
from agent.config import load_config
from agent.outbox import AsyncOutbox, Outbox
from agent.pusher import Pusher
from simulate.peers.snmp import free_udp_port
from tests.agent.factories import NoJitter, closed_port
from wire.enums import CommandKind, ProbeKind
from wire.ids import uuid7
from wire.schema import AgentCommand, Event, IngestBatch, Inventory, Sample

SECMON = Path(sys.executable).parent / "secmon"
SNMPTRAP = shutil.which("snmptrap")


def config_text(*, open_port: int, shut_port: int, server_url: str, outbox: str) -> str:
    return f"""\
site: test-site
server:
  url: {server_url}
  token: {{env: SECMON_TEST_TOKEN}}
agent:
  outbox_path: {outbox}
  batch_max_age: 0.05
devices:
  - {{id: nvr-01, name: NVR, class: nvr, subsystem: video, protocol: tcp,
     address: 127.0.0.1, port: {open_port}, interval: 5, timeout: 2}}
  - {{id: cam-01, name: Cam, class: camera, subsystem: video, protocol: tcp,
     address: 127.0.0.1, port: {shut_port}, interval: 5, timeout: 2, parent: nvr-01}}
"""


class Received:
    """What the little HTTP listener got from the agent."""

    def __init__(self) -> None:
        self.inventories: list[Inventory] = []
        self.batches: list[IngestBatch] = []
        self.auth: list[str] = []
        self.got_batch = threading.Event()
        self.got_inventory = threading.Event()


@pytest.fixture
def ingest_server() -> Iterator[tuple[str, Received]]:
    """A real HTTP server on 127.0.0.1 standing in for the API (the server half is built apart)."""
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.auth.append(self.headers.get("Authorization", ""))
            if self.path == "/api/v1/inventory":
                received.inventories.append(Inventory.model_validate_json(body))
                received.got_inventory.set()
                reply = b'{"registered": 2, "updated": 0}'
            else:
                assert self.headers["Content-Encoding"] == "gzip"
                received.batches.append(IngestBatch.model_validate_json(gzip.decompress(body)))
                received.got_batch.set()
                reply = b'{"accepted": 1, "duplicates": 0}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, name="ingest-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield int(sock.getsockname()[1])


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECMON_TEST_TOKEN", "tok-abc")


def write_config(
    tmp_path: Path, listening_port: int, server_url: str = "http://127.0.0.1:9"
) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(
        config_text(
            open_port=listening_port,
            shut_port=closed_port(),
            server_url=server_url,
            outbox="outbox.sqlite",
        )
    )
    return path


def test_check_prints_one_row_per_device_and_touches_no_outbox(
    tmp_path: Path, listening_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, listening_port)
    assert check(path, as_json=False) == EXIT_OK
    rows = capsys.readouterr().out.splitlines()
    assert len(rows) == 2
    assert rows[0].split()[:4] == ["nvr-01", "nvr", f"127.0.0.1:{listening_port}", "ok"]
    assert rows[1].split()[:5][3:] == ["ERROR", "device.unreachable"]
    assert not (tmp_path / "outbox.sqlite").exists()


def test_check_json_gives_one_object_per_line(
    tmp_path: Path, listening_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, listening_port)
    assert check(path, as_json=True) == EXIT_OK
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["device_id"], r["ok"], r["error"]) for r in rows] == [
        ("nvr-01", True, None),
        ("cam-01", False, "device.unreachable"),
    ]
    assert rows[0]["latency_ms"] >= 0


def test_check_shows_the_outbox_queue_and_its_quarantine(
    tmp_path: Path, listening_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, listening_port)
    outbox = Outbox(tmp_path / "outbox.sqlite", max_bytes=1_000_000)
    ts = datetime.now(UTC)
    outbox.put(
        [Sample(id=uuid7(), device_id="cam-01", ts=ts, probe=ProbeKind.TCP, reachable=True)] * 3
    )
    outbox.quarantine([p.seq for p in outbox.peek(1)], "HTTP 500 5 times")
    outbox.close()
    assert check(path, as_json=False) == EXIT_OK
    last = capsys.readouterr().out.splitlines()[-1]
    assert "2 queued, 1 quarantined" in last


async def test_run_sends_inventory_and_samples_then_stops_cleanly(
    tmp_path: Path, listening_port: int, ingest_server: tuple[str, Received]
) -> None:
    url, received = ingest_server
    cfg = load_config(write_config(tmp_path, listening_port, url))
    stop = asyncio.Event()

    async def stop_after_both_devices() -> None:
        while {s.device_id for b in received.batches for s in b.samples} != {"nvr-01", "cam-01"}:
            await asyncio.to_thread(received.got_batch.wait, 30)
            received.got_batch.clear()
        stop.set()

    watcher = asyncio.create_task(stop_after_both_devices())
    await asyncio.wait_for(
        run_agent(
            cfg,
            stop=stop,
            metrics_registry=CollectorRegistry(),
            signals=(),
            rng=NoJitter(),
        ),
        timeout=60,
    )
    await watcher
    assert [d.id for d in received.inventories[0].devices] == ["nvr-01", "cam-01"]
    assert set(received.auth) == {"Bearer tok-abc"}
    by_device = {s.device_id: s for b in received.batches for s in b.samples}
    assert by_device["nvr-01"].reachable
    assert by_device["cam-01"].error is not None
    outbox = Outbox(cfg.agent.outbox_path, max_bytes=cfg.agent.outbox_max_bytes)
    assert outbox.depth() == 0
    assert outbox.total_enqueued() >= 2


def test_real_cli_run_stops_cleanly_on_sigterm(tmp_path: Path, listening_port: int) -> None:
    path = write_config(tmp_path, listening_port)
    child = subprocess.Popen(
        [str(SECMON), "agent", "run", "--config", str(path)],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "SECMON_TEST_TOKEN": "tok", "SECMON_LOG_LEVEL": "INFO"},
    )
    assert child.stderr is not None
    for line in child.stderr:
        if "agent starting" in line:
            break
    child.send_signal(signal.SIGTERM)
    rest = child.stderr.read()
    assert child.wait(timeout=30) == 0, rest
    assert "agent stopped" in rest
    assert "site=test-site" in rest
    assert (tmp_path / "outbox.sqlite").exists()


def test_agent_imports_no_server_side_packages() -> None:
    code = (
        "import sys, agent.commands; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('fastapi', 'sqlalchemy', 'server')]; "
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def trap_config(tmp_path: Path, *, server_url: str, trap_port: int) -> Path:
    """One SNMP device (nothing answers its polls) and the trap listener; batches age 10 min."""
    path = tmp_path / "agent-traps.yaml"
    path.write_text(
        f"""\
site: test-site
server: {{url: {server_url}, token: {{env: SECMON_TEST_TOKEN}}}}
agent:
  outbox_path: outbox.sqlite
  batch_max_age: 600
  snmp_trap_listen: 127.0.0.1:{trap_port}
devices:
  - {{id: ups-01, name: UPS, class: ups, subsystem: power, protocol: snmp,
     address: 127.0.0.1, port: {free_udp_port()}, interval: 600, timeout: 1}}
"""
    )
    return path


@pytest.mark.filterwarnings("ignore:.* is deprecated. Please use:DeprecationWarning")  # pysnmp
async def test_run_pushes_a_trap_at_once_as_an_events_only_sample(
    tmp_path: Path, ingest_server: tuple[str, Received]
) -> None:
    if SNMPTRAP is None:
        pytest.skip("net-snmp snmptrap not installed (apt-get install snmp)")
    url, received = ingest_server
    trap_port = free_udp_port()
    cfg = load_config(trap_config(tmp_path, server_url=url, trap_port=trap_port))
    stop = asyncio.Event()
    agent = asyncio.create_task(
        run_agent(cfg, stop=stop, metrics_registry=CollectorRegistry(), signals=(), rng=NoJitter())
    )

    def events_only() -> list[Sample]:
        return [s for b in received.batches for s in b.samples if s.events_only]

    try:
        async with asyncio.timeout(30):
            # The listener is up before the pusher starts, so before the inventory arrives.
            assert await asyncio.to_thread(received.got_inventory.wait, 30)
            sent = await asyncio.create_subprocess_exec(
                SNMPTRAP, "-v2c", "-c", "public", f"127.0.0.1:{trap_port}", "",
                "1.3.6.1.6.3.1.1.5.1",
                env={**os.environ, "MIBS": ""},
            )  # fmt: skip
            assert await sent.wait() == 0
            while not events_only():
                await asyncio.to_thread(received.got_batch.wait, 1)
                received.got_batch.clear()
    finally:
        stop.set()
        await asyncio.wait_for(agent, timeout=30)
    [trap] = events_only()
    assert (trap.device_id, trap.probe, trap.checks, trap.error) == ("ups-01", "snmp", {}, None)
    assert [e.kind for e in trap.events] == ["device.cold_start"]


async def test_run_refuses_to_start_when_the_trap_port_is_taken(
    tmp_path: Path, ingest_server: tuple[str, Received]
) -> None:
    url, _ = ingest_server
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        path = trap_config(tmp_path, server_url=url, trap_port=taken.getsockname()[1])
        with pytest.raises(OSError, match="in use"):
            await run_agent(
                load_config(path), metrics_registry=CollectorRegistry(), signals=(), rng=NoJitter()
            )


class WakeLog:
    """Stands in for the pusher: records how it was woken."""

    def __init__(self) -> None:
        self.wakes: list[bool] = []

    def wake(self, *, urgent: bool = False) -> None:
        self.wakes.append(urgent)


async def test_event_forwarder_stores_events_only_samples_in_arrival_order_then_wakes_urgently(
    tmp_path: Path,
) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite", max_bytes=10_000_000)
    pusher = WakeLog()
    forwarder = EventForwarder(
        outbox=AsyncOutbox(outbox), pusher=cast(Pusher, pusher), probe=ProbeKind.MQTT
    )
    ts = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    for n in range(50):
        forwarder(f"door-{n % 3}", Event(ts=ts, kind="door.forced", data={"n": n}))
    await forwarder.drain()
    samples = [Sample.model_validate_json(p.body) for p in outbox.peek(100)]
    outbox.close()
    assert [s.events[0].data["n"] for s in samples] == list(range(50))
    assert {(s.probe, s.events_only, s.reachable) for s in samples} == {("mqtt", True, True)}
    assert [s.device_id for s in samples[:3]] == ["door-0", "door-1", "door-2"]
    assert len({s.id for s in samples}) == 50
    assert pusher.wakes
    assert all(pusher.wakes)  # urgent, after each committed write


async def test_event_forwarder_reports_stored_only_after_the_commit(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.sqlite", max_bytes=10_000_000)
    forwarder = EventForwarder(
        outbox=AsyncOutbox(outbox), pusher=cast(Pusher, WakeLog()), probe=ProbeKind.MQTT
    )
    ts = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    stored: list[str] = []
    forwarder("door-1", Event(ts=ts, kind="door.forced"), lambda: stored.append("door-1"))
    assert stored == []  # not before the write
    await forwarder.drain()
    assert stored == ["door-1"]
    assert outbox.depth() == 1
    outbox.close()  # a write that fails (sqlite3.ProgrammingError) reports nothing
    forwarder("door-2", Event(ts=ts, kind="door.forced"), lambda: stored.append("door-2"))
    await forwarder.drain()
    assert stored == ["door-1"]


def onvif_camera_config(tmp_path: Path, port: int) -> Path:
    """The test config with cam-01 an ONVIF camera (never polled here)."""
    path = write_config(tmp_path, port)
    path.write_text(
        path.read_text().replace(
            "{id: cam-01, name: Cam, class: camera, subsystem: video, protocol: tcp,",
            "{id: cam-01, name: Cam, class: camera, subsystem: video, protocol: onvif,",
        )
    )
    return path


def test_relearn_asks_the_agent_to_forget_an_onvif_cameras_picture(
    tmp_path: Path, listening_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    path = onvif_camera_config(tmp_path, listening_port)
    cfg = load_config(path)

    assert relearn(path, "cam-01") == EXIT_OK
    assert (picture_dir(cfg) / "cam-01.picture.relearn").exists()
    assert relearn(path, "nvr-01") == EXIT_CONFIG  # not a camera with a picture
    assert relearn(path, "cam-99") == EXIT_CONFIG
    assert "no onvif device 'cam-99'" in capsys.readouterr().err


def test_server_relearn_command_leaves_the_request_file_for_its_own_cameras_only(
    tmp_path: Path, listening_port: int
) -> None:
    cfg = load_config(onvif_camera_config(tmp_path, listening_port))
    run = command_runner(cfg)

    def relearn_of(device: str) -> bool:
        return run(AgentCommand(id=uuid7(), kind=CommandKind.PICTURE_RELEARN, device=device))

    assert relearn_of("cam-01") is True
    assert (picture_dir(cfg) / "cam-01.picture.relearn").exists()
    assert relearn_of("nvr-01") is False  # polled, but has no picture
    assert relearn_of("cam-99") is False  # another agent's camera
    assert sorted(p.name for p in picture_dir(cfg).iterdir()) == ["cam-01.picture.relearn"]
