"""A lean asyncio SNMP v1/v2c client for the polling hot path (GET, GETNEXT, GETBULK): one UDP
socket per address family shared by every device, answers matched to requests by request-id and
source address, one timer per request for its retries. pysnmp remains the engine for SNMPv3,
traps, and devices whose answers this client refuses (`FastPathRefused`).

Failures are the probe's domain errors: no answer after the retries is `DeviceUnreachable` (a
wrong community too: agents drop it silently), an answer that cannot be read is `ProtocolError`.
A datagram too broken to name its request is blamed on the requests waiting for its sender: they
fail with `ProtocolError` instead of `DeviceUnreachable` if no good answer follows.
"""

import asyncio
import ipaddress
import logging
import random
import socket
from dataclasses import dataclass
from typing import Any

from agent.probes.base import DeviceUnreachable, ProtocolError
from agent.probes.snmp_ber import (
    BerCodec,
    BerError,
    Message,
    Pdu,
    PduType,
    UnsupportedBerError,
    Version,
)

log = logging.getLogger(__name__)

RECEIVE_BUFFER = 1 << 20  # bytes: answers of many devices may arrive in one loop iteration
MAX_REQUEST_ID = 2**31 - 1


class FastPathRefused(Exception):  # noqa: N818 - a decision, not an error: pysnmp takes over
    """The device answered in legal SNMP that this client leaves to pysnmp."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where and how to ask one device: `address` is a resolved (ip, port)."""

    address: tuple[str, int]
    version: Version
    community: bytes
    timeout: float  # seconds per try
    retries: int


async def resolve(host: str, port: int) -> tuple[str, int]:
    """(ip, port) for a device address; IP literals need no lookup (and no thread)."""
    try:
        return str(ipaddress.ip_address(host)), port
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except OSError as err:
        raise DeviceUnreachable(f"{host}: {err}") from err
    if not infos:
        raise DeviceUnreachable(f"{host}: no address")
    return str(infos[0][4][0]), port


class _Pending:
    __slots__ = ("future", "garbled", "payload", "target", "timer", "transport", "tries_left")

    def __init__(
        self,
        future: "asyncio.Future[Pdu]",
        target: Target,
        payload: bytes,
        transport: asyncio.DatagramTransport,
    ) -> None:
        self.future = future
        self.target = target
        self.payload = payload
        self.transport = transport
        self.tries_left = target.retries
        self.timer: asyncio.TimerHandle | None = None
        self.garbled: str | None = None  # why an undecodable datagram came from this device


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self, client: "SnmpClient") -> None:
        self._client = client

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self._client._received(data, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("SNMP socket error: %s", exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._client._lost(self)


class SnmpClient:
    """Bound to the event loop it first runs in; `close()` when done."""

    def __init__(self, codec: BerCodec | None = None, *, rng: random.Random | None = None) -> None:
        self._codec = codec or BerCodec()
        self._rng = rng or random.Random()
        self._next_id = self._rng.randint(1, MAX_REQUEST_ID)
        self._pending: dict[int, _Pending] = {}
        self._transports: dict[int, asyncio.DatagramTransport] = {}
        self._endpoints: dict[int, _Endpoint] = {}
        self._opening: dict[int, asyncio.Lock] = {}
        self.strays = 0  # answers that matched no waiting request (late, duplicate, foreign)

    @property
    def in_flight(self) -> int:
        """Requests waiting for an answer (each holds a timer)."""
        return len(self._pending)

    async def get(self, target: Target, oids: list[str]) -> Pdu:
        return await self._request(target, PduType.GET, oids)

    async def get_next(self, target: Target, oids: list[str]) -> Pdu:
        return await self._request(target, PduType.GET_NEXT, oids)

    async def get_bulk(
        self, target: Target, oids: list[str], *, max_repetitions: int, non_repeaters: int = 0
    ) -> Pdu:
        if target.version is Version.V1:
            raise ValueError("SNMPv1 has no GETBULK")
        return await self._request(
            target,
            PduType.GET_BULK,
            oids,
            non_repeaters=non_repeaters,
            max_repetitions=max_repetitions,
        )

    async def _request(
        self,
        target: Target,
        pdu_type: PduType,
        oids: list[str],
        *,
        non_repeaters: int = 0,
        max_repetitions: int = 0,
    ) -> Pdu:
        transport = await self._transport(target.address[0])
        request_id = self._take_id()
        payload = self._codec.request(
            version=target.version,
            community=target.community,
            pdu_type=pdu_type,
            request_id=request_id,
            oids=oids,
            non_repeaters=non_repeaters,
            max_repetitions=max_repetitions,
        )
        future: asyncio.Future[Pdu] = asyncio.get_running_loop().create_future()
        pending = _Pending(future, target, payload, transport)
        self._pending[request_id] = pending
        try:
            self._send(request_id, pending)
            return await future
        finally:
            # Answered, failed, or the caller's deadline cancelled us: no timer may outlive it.
            if self._pending.get(request_id) is pending:
                del self._pending[request_id]
            if pending.timer is not None:
                pending.timer.cancel()

    def _take_id(self) -> int:
        """Sequential from a random start (a blind spoofer must guess), never one in use."""
        while True:
            request_id = self._next_id
            self._next_id = request_id + 1 if request_id < MAX_REQUEST_ID else 1
            if request_id not in self._pending:
                return request_id

    def _send(self, request_id: int, pending: _Pending) -> None:
        """Send (again) under the same request-id, so a late answer to a try still counts."""
        pending.transport.sendto(pending.payload, pending.target.address)
        pending.timer = asyncio.get_running_loop().call_later(
            pending.target.timeout, self._expired, request_id, pending
        )

    def _expired(self, request_id: int, pending: _Pending) -> None:
        if self._pending.get(request_id) is not pending or pending.future.done():
            return
        if pending.tries_left > 0:
            pending.tries_left -= 1
            self._send(request_id, pending)
            return
        del self._pending[request_id]
        host, port = pending.target.address
        if pending.garbled is not None:
            failure: Exception = ProtocolError(
                f"SNMP: undecodable answers from {host}:{port} ({pending.garbled})"
            )
        else:
            tries = pending.target.retries + 1
            failure = DeviceUnreachable(f"SNMP: no answer from {host}:{port} after {tries} tries")
        pending.future.set_exception(failure)

    def _received(self, data: bytes, addr: Any) -> None:
        try:
            message = self._codec.decode(data)
        except BerError as err:
            self._undecodable(err, addr)
            return
        pending = self._pending.get(message.pdu.request_id)
        if pending is None or not _answers(message, pending.target, addr):
            self.strays += 1
            log.debug("SNMP: ignored a datagram from %s (no request waits for it)", addr[0])
            return
        del self._pending[message.pdu.request_id]
        if not pending.future.done():
            pending.future.set_result(message.pdu)

    def _undecodable(self, err: BerError, addr: Any) -> None:
        source = (addr[0], addr[1])
        pending = self._pending.get(err.request_id) if err.request_id is not None else None
        if pending is not None and pending.target.address == source:
            del self._pending[err.request_id]  # type: ignore[arg-type] # not None: just looked up
            if pending.future.done():
                return
            if isinstance(err, UnsupportedBerError):
                pending.future.set_exception(FastPathRefused(err.reason))
            else:
                host, port = source
                pending.future.set_exception(
                    ProtocolError(f"SNMP: malformed answer from {host}:{port}: {err.reason}")
                )
            return
        # Too broken to name its request: every request waiting for this sender is suspect. An
        # agent that writes legal BER we do not read (indefinite lengths) is left to pysnmp.
        log.debug("SNMP: undecodable datagram from %s: %s", addr[0], err.reason)
        for request_id, waiting in list(self._pending.items()):
            if waiting.target.address != source:
                continue
            if isinstance(err, UnsupportedBerError):
                del self._pending[request_id]
                if not waiting.future.done():
                    waiting.future.set_exception(FastPathRefused(err.reason))
            else:
                waiting.garbled = err.reason

    async def _transport(self, ip: str) -> asyncio.DatagramTransport:
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        transport = self._transports.get(family)
        if transport is not None:
            return transport
        lock = self._opening.setdefault(family, asyncio.Lock())
        async with lock:
            transport = self._transports.get(family)
            if transport is None:
                transport = await self._open(family)
            return transport

    async def _open(self, family: int) -> asyncio.DatagramTransport:
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            # An ephemeral client port; only answers from the polled address are accepted.
            sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
            sock.setblocking(False)
            endpoint = _Endpoint(self)
            transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                lambda: endpoint, sock=sock
            )
        except OSError as err:
            sock.close()
            raise DeviceUnreachable(f"SNMP: cannot open a UDP socket: {err}") from err
        self._transports[family] = transport
        self._endpoints[family] = endpoint
        return transport

    def _lost(self, endpoint: _Endpoint) -> None:
        for family, known in list(self._endpoints.items()):
            if known is endpoint:
                del self._endpoints[family]
                self._transports.pop(family, None)

    def close(self) -> None:
        """Close the sockets; requests still waiting fail as unreachable."""
        for request_id, pending in list(self._pending.items()):
            del self._pending[request_id]
            if pending.timer is not None:
                pending.timer.cancel()
            if not pending.future.done():
                pending.future.set_exception(DeviceUnreachable("SNMP client closed"))
        for transport in list(self._transports.values()):
            transport.close()
        self._transports.clear()


def _answers(message: Message, target: Target, addr: Any) -> bool:
    """A Response from the polled address and port, in its version and community."""
    return (
        message.pdu.type is PduType.RESPONSE
        and addr[0] == target.address[0]
        and addr[1] == target.address[1]
        and message.version is target.version
        and message.community == target.community
    )
