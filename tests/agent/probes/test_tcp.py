"""TCP reachability against real sockets on 127.0.0.1."""

import asyncio
from collections.abc import AsyncIterator

import pytest

from agent.probes.base import DeviceUnreachable, ProtocolError
from agent.probes.tcp import TcpProbe
from peers.devices import make_device
from tests.agent.factories import closed_port
from wire.enums import ProbeErrorCode


@pytest.fixture
async def listening_port() -> AsyncIterator[tuple[int, asyncio.Event]]:
    """A real listener; the event is set once it accepted a connection."""
    accepted = asyncio.Event()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield port, accepted


async def test_open_port_is_reachable_with_latency(
    listening_port: tuple[int, asyncio.Event],
) -> None:
    port, accepted = listening_port
    result = await TcpProbe().poll(make_device(port=port))
    assert result.checks == {"tcp.open": True}
    assert result.latency_ms is not None
    assert result.latency_ms >= 0
    await asyncio.wait_for(accepted.wait(), timeout=30)


async def test_closed_port_is_unreachable() -> None:
    port = closed_port()
    with pytest.raises(DeviceUnreachable) as info:
        await TcpProbe().poll(make_device(port=port))
    assert info.value.code is ProbeErrorCode.UNREACHABLE
    assert not info.value.reachable
    assert f"127.0.0.1:{port}" in str(info.value)


async def test_unresolvable_name_is_unreachable() -> None:
    with pytest.raises(DeviceUnreachable):
        await TcpProbe().poll(make_device(address="no-such-host.invalid", port=80))


async def test_missing_port_is_a_protocol_error() -> None:
    device = make_device(protocol="onvif", port=None)
    with pytest.raises(ProtocolError):
        await TcpProbe().poll(device)
