"""The device list the server needs: configured devices plus what probes learned about them."""

import hashlib
from collections.abc import Sequence

from agent.config import DeviceConfig
from wire.schema import DeviceIdentity, Inventory, InventoryDevice


class InventoryBook:
    """Keeps learned identities; `digest` changes exactly when the inventory body would."""

    def __init__(self, devices: Sequence[DeviceConfig], *, agent_version: str) -> None:
        self._devices = list(devices)
        self._agent_version = agent_version
        self._identities: dict[str, DeviceIdentity] = {}

    def learn(self, device_id: str, identity: DeviceIdentity) -> bool:
        """Merge what a probe reported (known fields only); True when something changed."""
        known = self._identities.get(device_id, DeviceIdentity())
        learned = {k: v for k, v in identity.model_dump().items() if v is not None}
        merged = known.model_copy(update=learned)
        if merged == known:
            return False
        self._identities[device_id] = merged
        return True

    def snapshot(self) -> Inventory:
        return Inventory(
            agent_version=self._agent_version,
            devices=[
                InventoryDevice(
                    id=d.id,
                    name=d.name,
                    device_class=d.device_class,
                    subsystem=d.subsystem,
                    protocol=d.protocol,
                    parent_id=d.parent,
                    identity=self._identities.get(d.id, DeviceIdentity()),
                )
                for d in self._devices
            ],
        )

    def digest(self) -> str:
        return hashlib.sha256(self.snapshot().model_dump_json().encode()).hexdigest()
