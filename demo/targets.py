"""Local stand-ins for site devices: TCP services that answer, stay closed, or flap."""

import asyncio
import logging
import socket
from dataclasses import dataclass

log = logging.getLogger("secmon.demo")


@dataclass(frozen=True)
class Target:
    """One simulated device: `behaviour` is up, down or flapping."""

    device_id: str
    name: str
    device_class: str
    subsystem: str
    port: int
    behaviour: str


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()
    await writer.wait_closed()


async def serve_target(target: Target, flap_period: float = 45.0) -> None:
    """Keep `target` listening (up), never listening (down), or alternating (flapping)."""
    if target.behaviour == "down":
        await asyncio.Event().wait()
    while True:
        server = await asyncio.start_server(_accept, "127.0.0.1", target.port)
        log.info("demo device %s listening on 127.0.0.1:%d", target.device_id, target.port)
        if target.behaviour != "flapping":
            async with server:
                await server.serve_forever()
        await asyncio.sleep(flap_period)
        server.close()
        await server.wait_closed()
        log.info("demo device %s stopped answering", target.device_id)
        await asyncio.sleep(flap_period)
