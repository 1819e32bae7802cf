"""Builders for agent test inputs: valid devices and configs, changed only where a test says."""

import random
import socket
from typing import Any

from agent.config import DeviceConfig


def make_device(**overrides: Any) -> DeviceConfig:
    data: dict[str, Any] = {
        "id": "cam-01",
        "name": "Lobby camera",
        "class": "camera",
        "subsystem": "video",
        "protocol": "tcp",
        "address": "127.0.0.1",
        "port": 9,
        "interval": 5,
        "timeout": 1,
    }
    data.update(overrides)
    return DeviceConfig.model_validate(data)


def closed_port() -> int:
    """A 127.0.0.1 port with nothing listening (bound once to get a free number, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class NoJitter(random.Random):
    """First polls start at once, so tests need not wait out a random spread."""

    def uniform(self, a: float, b: float) -> float:
        return a
