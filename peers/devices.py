"""A valid agent device config, changed only where the caller says (tests and benchmarks)."""

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
