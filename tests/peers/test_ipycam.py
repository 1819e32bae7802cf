"""ipycam stays on loopback: every socket it listens on or sends from is bound to 127.0.0.1
(PEERS.md §4.3: unwrapped, it binds 0.0.0.0 and multicasts a WS-Discovery Hello)."""

import os
import time
from pathlib import Path

import pytest

from simulate.peers.ipycam import IpyCam, missing_ipycam

pytestmark = [
    pytest.mark.ipycam,
    pytest.mark.skipif(missing_ipycam() is not None, reason=str(missing_ipycam())),
]


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _local_addresses(pid: int, inodes: set[str]) -> list[tuple[str, str]]:
    """(table, local hex address) of the process's inet sockets."""
    found = []
    for table in ("tcp", "udp", "tcp6", "udp6"):
        lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            if fields[9] in inodes:
                found.append((table, fields[1].split(":")[0]))
    return found


def test_ipycam_binds_loopback_only(tmp_path: Path) -> None:
    with IpyCam(tmp_path) as cam:
        time.sleep(1.0)  # let its threads open whatever they open at start
        addresses = _local_addresses(cam.pid, _socket_inodes(cam.pid))
    assert any(table == "tcp" for table, _ in addresses)  # its ONVIF and RTSP listeners
    loopback = "0100007F"  # 127.0.0.1, little-endian hex as /proc/net shows it
    assert all(table in ("tcp", "udp") and address == loopback for table, address in addresses), (
        addresses
    )
