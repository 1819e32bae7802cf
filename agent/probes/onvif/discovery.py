"""`secmon agent discover`: find ONVIF devices on one network interface with WS-Discovery and
list them, or write them as a config snippet to paste into the agent config.

The Probe goes to the WS-Discovery group (239.255.255.250:3702) out of the given interface
only, with TTL 1 so it never leaves the segment; devices answer by unicast to our socket.
Two probe types are sent (NetworkVideoTransmitter and Device: firmware answers one or the
other) twice each (UDP may drop one), and answers are merged by endpoint.
"""

import fcntl
import ipaddress
import re
import socket
import struct
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from agent.probes.onvif.wsd import (
    DEVICE_TYPE,
    MAX_MESSAGE_BYTES,
    NVT_TYPE,
    WSD_GROUP,
    WSD_PORT,
    ProbeMatch,
    parse_matches,
    probe_message,
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
SIOCGIFADDR = 0x8915  # Linux: an interface's IPv4 address
PROBE_ROUNDS = 2
PROBE_GAP_S = 0.1


class DiscoveryError(Exception):
    """Discovery cannot run as asked (unknown interface, no IPv4 address, socket refused)."""


def interface_address(interface: str) -> str:
    """IPv4 address of an interface name, or the address itself when given one."""
    try:
        return str(ipaddress.IPv4Address(interface))
    except ValueError:
        pass
    name = interface.encode()
    if not name or len(name) > 15:
        raise DiscoveryError(f"{interface!r} is neither an IPv4 address nor an interface name")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            packed = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, struct.pack("256s", name))
        except OSError as err:
            raise DiscoveryError(
                f"interface {interface}: {err.strerror or err} (no such interface, or no IPv4 "
                "address on it)"
            ) from err
    return socket.inet_ntoa(packed[20:24])


def discover(
    interface: str, *, wait_s: float = 3.0, monotonic: Callable[[], float] = time.monotonic
) -> list[ProbeMatch]:
    """Probe out of `interface` and collect answers for `wait_s` seconds, merged by endpoint."""
    local = interface_address(interface)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.bind((local, 0))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(local))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        probes = [probe_message(NVT_TYPE)[1], probe_message(DEVICE_TYPE)[1]]
        for round_ in range(PROBE_ROUNDS):
            for datagram in probes:
                sock.sendto(datagram, (WSD_GROUP, WSD_PORT))
            if round_ + 1 < PROBE_ROUNDS:
                time.sleep(PROBE_GAP_S)
        found: dict[str, ProbeMatch] = {}
        deadline = monotonic() + wait_s
        while (left := deadline - monotonic()) > 0:
            sock.settimeout(left)
            try:
                data, (sender, _port) = sock.recvfrom(MAX_MESSAGE_BYTES)
            except TimeoutError:
                break
            for match in parse_matches(data, sender=sender):
                found.setdefault(match.endpoint, match)
    except OSError as err:
        raise DiscoveryError(f"WS-Discovery on {interface} ({local}): {err}") from err
    finally:
        sock.close()
    return sorted(found.values(), key=lambda m: (_ip_key(m.host), m.port or 0, m.endpoint))


def _ip_key(host: str) -> tuple[int, str]:
    try:
        return int(ipaddress.ip_address(host)), host
    except ValueError:
        return 1 << 128, host


def table(matches: Sequence[ProbeMatch]) -> str:
    """One line per device: address, port, name, model, location, endpoint."""
    head = ("ADDRESS", "PORT", "NAME", "MODEL", "LOCATION", "ENDPOINT")
    rows = [head] + [
        (m.host, str(m.port or "-"), m.name or "-", m.model or "-", m.location or "-", m.endpoint)
        for m in matches
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    )


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def config_snippet(matches: Sequence[ProbeMatch], *, interface: str, now: datetime) -> str:
    """The found devices as an agent config `devices:` list (add credentials, check names)."""
    devices: list[dict[str, Any]] = []
    used: set[str] = set()
    for m in matches:
        base = "cam-" + (_slug(m.name or "") or _slug(m.host) or "onvif")
        ident, n = base[:60], 2
        while ident in used:
            ident, n = f"{base[:56]}-{n}", n + 1
        used.add(ident)
        entry: dict[str, Any] = {
            "id": ident,
            "name": (m.name or f"ONVIF device {m.host}")[:200],
            "class": "camera",
            "subsystem": "video",
            "protocol": "onvif",
            "address": m.host,
        }
        if m.port is not None:
            entry["port"] = m.port
        devices.append(entry)
    header = (
        f"# Found by `secmon agent discover` on {interface} at {now:%Y-%m-%d %H:%M} UTC.\n"
        "# Add credentials (username, password: {env: ...} or {file: ...}) and check ids\n"
        "# and names, then paste under `devices:` in the agent config.\n"
    )
    body = yaml.safe_dump({"devices": devices}, sort_keys=False, allow_unicode=True)
    return header + body


def run(interface: str, *, wait_s: float, write: Path | None) -> int:
    """The CLI command: 0 when discovery ran (even if nothing answered), 2 for a bad
    interface, 1 when the snippet cannot be written (an existing file is never replaced)."""
    if write is not None and write.exists():
        print(f"secmon: {write} exists; not overwriting it", file=sys.stderr)
        return EXIT_FAILED
    try:
        matches = discover(interface, wait_s=wait_s)
    except DiscoveryError as err:
        print(f"secmon: {err}", file=sys.stderr)
        return EXIT_USAGE
    if not matches:
        print(f"no ONVIF device answered on {interface} within {wait_s:g} s")
    else:
        print(table(matches))
    if write is not None:
        snippet = config_snippet(matches, interface=interface, now=datetime.now(UTC))
        try:
            with write.open("x", encoding="utf-8") as out:
                out.write(snippet)
        except OSError as err:
            print(f"secmon: cannot write {write}: {err.strerror or err}", file=sys.stderr)
            return EXIT_FAILED
        print(f"wrote {len(matches)} device(s) to {write}")
    return EXIT_OK
