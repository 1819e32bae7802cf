"""Every protocol maps to a built-in probe, shared by its devices; a registered factory wins."""

from agent.config import DeviceConfig
from agent.probes.base import ProbeResult
from agent.probes.onvif.probe import OnvifProbe
from agent.probes.registry import DEFAULT_FACTORIES, ProbeRegistry
from agent.probes.tcp import TcpProbe
from peers.devices import make_device
from wire.enums import ProbeKind


class FakeSnmp:
    async def poll(self, device: DeviceConfig) -> ProbeResult:
        return ProbeResult(checks={"snmp.up": True})


def test_every_protocol_has_a_built_in_probe() -> None:
    assert set(DEFAULT_FACTORIES) == set(ProbeKind)


def test_tcp_is_built_in_and_shared() -> None:
    registry = ProbeRegistry()
    probe = registry.probe_for(ProbeKind.TCP)
    assert isinstance(probe, TcpProbe)
    assert registry.probe_for(ProbeKind.TCP) is probe


def test_onvif_is_built_in() -> None:
    assert isinstance(ProbeRegistry().probe_for(ProbeKind.ONVIF), OnvifProbe)


async def test_registered_factory_is_used() -> None:
    registry = ProbeRegistry()
    registry.register(ProbeKind.SNMP, FakeSnmp)
    result = await registry.probe_for(ProbeKind.SNMP).poll(make_device(protocol="snmp"))
    assert result.checks == {"snmp.up": True}
