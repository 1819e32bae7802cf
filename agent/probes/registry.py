"""Which probe serves which protocol; ONVIF/SNMP/MQTT modules register here when they land."""

from collections.abc import Callable, Mapping

from agent.config import DeviceConfig
from agent.probes.base import Probe, ProbeResult, Unsupported
from agent.probes.host import HostProbe
from agent.probes.mqtt.probe import MqttProbe
from agent.probes.onvif.probe import OnvifProbe
from agent.probes.snmp import SnmpProbe
from agent.probes.tcp import TcpProbe
from wire.enums import ProbeKind

ProbeFactory = Callable[[], Probe]

DEFAULT_FACTORIES: Mapping[ProbeKind, ProbeFactory] = {
    ProbeKind.TCP: TcpProbe,
    ProbeKind.MQTT: MqttProbe,
    ProbeKind.SNMP: SnmpProbe,
    ProbeKind.ONVIF: OnvifProbe,
    ProbeKind.HOST: HostProbe,
}


class MissingProbe:
    """A protocol without a probe yet: the device stays listed and its samples say why."""

    def __init__(self, kind: ProbeKind) -> None:
        self.kind = kind

    async def poll(self, device: DeviceConfig) -> ProbeResult:
        raise Unsupported(f"this agent has no {self.kind.value} probe yet")


class ProbeRegistry:
    """Maps a protocol to a probe factory; one probe instance per protocol is shared by devices."""

    def __init__(self, factories: Mapping[ProbeKind, ProbeFactory] = DEFAULT_FACTORIES) -> None:
        self._factories = dict(factories)
        self._instances: dict[ProbeKind, Probe] = {}

    def register(self, kind: ProbeKind, factory: ProbeFactory) -> None:
        self._factories[kind] = factory
        self._instances.pop(kind, None)

    async def aclose(self) -> None:
        """Close what probes hold open across polls (those with an async `aclose`: ONVIF's
        HTTP sessions), on the loop that made them."""
        for probe in self._instances.values():
            aclose = getattr(probe, "aclose", None)
            if aclose is not None:
                await aclose()

    def probe_for(self, kind: ProbeKind) -> Probe:
        probe = self._instances.get(kind)
        if probe is None:
            factory = self._factories.get(kind)
            probe = factory() if factory is not None else MissingProbe(kind)
            self._instances[kind] = probe
        return probe
