"""Built-in reachability probe: can we open a TCP connection to address:port, and how fast."""

import asyncio
import contextlib
import time
from collections.abc import Callable

from agent.config import DeviceConfig
from agent.probes.base import DeviceUnreachable, ProbeResult, ProtocolError


class TcpProbe:
    """Connect, measure, close. Latency is the connect time (SYN to established)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock

    async def poll(self, device: DeviceConfig) -> ProbeResult:
        if device.port is None:
            raise ProtocolError("tcp probe needs a port")
        started = self._clock()
        try:
            async with asyncio.timeout(device.timeout):
                _, writer = await asyncio.open_connection(device.address, device.port)
        except TimeoutError as err:
            raise DeviceUnreachable(
                f"no TCP answer from {device.address}:{device.port} within {device.timeout:g} s"
            ) from err
        except OSError as err:
            if err.strerror:
                raise DeviceUnreachable(f"{device.address}:{device.port}: {err.strerror}") from err
            raise DeviceUnreachable(str(err) or type(err).__name__) from err
        latency_ms = (self._clock() - started) * 1000.0
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return ProbeResult(checks={"tcp.open": True}, latency_ms=latency_ms)
