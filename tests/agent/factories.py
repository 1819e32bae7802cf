"""Builders for agent test inputs (`make_device` lives in `peers.devices`, benches use it too)."""

import random
import socket


def closed_port() -> int:
    """A 127.0.0.1 port with nothing listening (bound once to get a free number, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class NoJitter(random.Random):
    """First polls start at once, so tests need not wait out a random spread."""

    def uniform(self, a: float, b: float) -> float:
        return a
