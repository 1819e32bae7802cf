"""Which probe serves which protocol: one shared probe instance per protocol, built on first use."""

from collections.abc import Callable, Mapping

from agent.probes.base import Probe
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
            probe = self._factories[kind]()
            self._instances[kind] = probe
        return probe
