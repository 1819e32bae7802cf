"""`secmon agent discover` for real: two network namespaces made here, joined by a veth pair on
192.0.2.0/24 (RFC 5737, exists only inside them). A responder answering as three devices
(conforming, bare ipycam-style and reordered ProbeMatches, plus one garbage datagram) runs in
one; the real CLI probes from the other. Nothing is multicast on the host's interfaces."""

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from agent.config import DeviceConfig

REPO = Path(__file__).resolve().parents[4]
SECMON = Path(sys.executable).with_name("secmon")
IP = shutil.which("ip")
CAMERA_ADDRESS = "192.0.2.1"
CLIENT_ADDRESS = "192.0.2.2"


@dataclass(frozen=True)
class Segment:
    camera_ns: str
    client_ns: str
    client_if: str


def _ip(*args: str) -> None:
    subprocess.run([IP or "ip", *args], check=True, capture_output=True, timeout=10)


def _in_ns(ns: str, command: str) -> None:
    _ip("netns", "exec", ns, "sh", "-c", command)


@pytest.fixture
def segment() -> Iterator[Segment]:
    if os.geteuid() != 0:
        pytest.skip("needs root to create network namespaces")
    if IP is None:
        pytest.skip("iproute2 (`ip`) is not installed")
    tag = uuid.uuid4().hex[:6]
    seg = Segment(f"secmon-cam-{tag}", f"secmon-cli-{tag}", f"smc{tag}")
    camera_if = f"smd{tag}"
    made: list[str] = []
    try:
        for ns in (seg.camera_ns, seg.client_ns):
            try:
                _ip("netns", "add", ns)
            except subprocess.CalledProcessError as err:
                pytest.skip(f"cannot create a network namespace: {err.stderr.decode().strip()}")
            made.append(ns)
        _ip("link", "add", camera_if, "type", "veth", "peer", "name", seg.client_if)
        _ip("link", "set", camera_if, "netns", seg.camera_ns)
        _ip("link", "set", seg.client_if, "netns", seg.client_ns)
        for ns, dev, addr in (
            (seg.camera_ns, camera_if, CAMERA_ADDRESS),
            (seg.client_ns, seg.client_if, CLIENT_ADDRESS),
        ):
            _in_ns(
                ns,
                f"ip link set lo up; ip addr add {addr}/24 dev {dev}; ip link set {dev} up; "
                f"ip route add 224.0.0.0/4 dev {dev}",
            )
        yield seg
    finally:
        for ns in made:  # deleting the namespaces removes the veth pair too
            subprocess.run([IP or "ip", "netns", "del", ns], capture_output=True, timeout=10)


@pytest.fixture
def responder(segment: Segment) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [IP or "ip", "netns", "exec", segment.camera_ns, sys.executable, "-m",
         "tests.peers.onvif_fake", "discovery", "--address", CAMERA_ADDRESS,
         "--variants", "conforming,bare,reordered,garbage"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("ready"), line + (proc.stdout.read() if proc.poll() else "")
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)


def discover(segment: Segment, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [IP or "ip", "netns", "exec", segment.client_ns, str(SECMON), "agent", "discover",
         "--interface", segment.client_if, "--wait", "2", *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_discover_lists_every_device_that_answered(
    segment: Segment, responder: subprocess.Popen[str], tmp_path: Path
) -> None:
    snippet = tmp_path / "cameras.yaml"
    result = discover(segment, "--write", str(snippet))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["ADDRESS", "PORT", "NAME", "MODEL"]
    rows = [line.split() for line in lines[1:4]]
    assert [(r[0], r[1], r[5]) for r in rows] == [
        (CAMERA_ADDRESS, "8000", "FK-100"),
        (CAMERA_ADDRESS, "8001", "FK-101"),  # the bare, namespace-less one
        (CAMERA_ADDRESS, "8002", "FK-102"),  # reordered, no Types
    ]
    assert lines[4] == f"wrote 3 device(s) to {snippet}"
    devices = yaml.safe_load(snippet.read_text())["devices"]
    assert [(d["id"], d["address"], d["port"]) for d in devices] == [
        ("cam-fake-cam-0", CAMERA_ADDRESS, 8000),
        ("cam-fake-cam-1", CAMERA_ADDRESS, 8001),
        ("cam-fake-cam-2", CAMERA_ADDRESS, 8002),
    ]
    for device in devices:
        DeviceConfig.model_validate(device)


def test_nothing_answering_is_said_and_an_existing_file_is_kept(
    segment: Segment, tmp_path: Path
) -> None:
    result = discover(segment)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (f"no ONVIF device answered on {segment.client_if} within 2 s")
    existing = tmp_path / "cameras.yaml"
    existing.write_text("keep me\n")
    refused = discover(segment, "--write", str(existing))
    assert refused.returncode == 1
    assert "exists; not overwriting" in refused.stderr
    assert existing.read_text() == "keep me\n"
