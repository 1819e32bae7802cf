"""Protocols map to probes; one without a probe yet gives an `unsupported` error, not a crash."""

import pytest

from agent.config import DeviceConfig
from agent.probes.base import ProbeResult, Unsupported
from agent.probes.onvif.probe import OnvifProbe
from agent.probes.registry import ProbeRegistry
from agent.probes.tcp import TcpProbe
from tests.agent.factories import make_device
from wire.enums import ProbeErrorCode, ProbeKind


class FakeSnmp:
    async def poll(self, device: DeviceConfig) -> ProbeResult:
        return ProbeResult(checks={"snmp.up": True})


def test_tcp_is_built_in_and_shared() -> None:
    registry = ProbeRegistry()
    probe = registry.probe_for(ProbeKind.TCP)
    assert isinstance(probe, TcpProbe)
    assert registry.probe_for(ProbeKind.TCP) is probe


def test_onvif_is_built_in() -> None:
    assert isinstance(ProbeRegistry().probe_for(ProbeKind.ONVIF), OnvifProbe)


async def test_protocol_without_probe_reports_unsupported() -> None:
    probe = ProbeRegistry(factories={}).probe_for(ProbeKind.ONVIF)
    with pytest.raises(Unsupported) as info:
        await probe.poll(make_device(protocol="onvif"))
    assert info.value.code is ProbeErrorCode.UNSUPPORTED


async def test_registered_factory_is_used() -> None:
    registry = ProbeRegistry()
    registry.register(ProbeKind.SNMP, FakeSnmp)
    result = await registry.probe_for(ProbeKind.SNMP).poll(make_device(protocol="snmp"))
    assert result.checks == {"snmp.up": True}
