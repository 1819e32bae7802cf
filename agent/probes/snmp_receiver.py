"""Trap and inform receiver: one UDP socket, v1/v2c communities and v3 users (with the
sender's engine id for traps, ours for informs) taken from the configured SNMP devices. Each
notification from a configured device becomes an Event handed to `on_event` at once (the
caller stores and pushes it, not waiting for the next poll). Notifications from other
addresses are counted and logged once per address.
"""

import asyncio
import logging
import socket
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from pyasn1.type.univ import OctetString
from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.entity import config as snmp_config
from pysnmp.entity import engine as snmp_engine
from pysnmp.entity.rfc3413 import ntfrcv

from agent.config import DeviceConfig
from agent.probes.snmp import AUTH_PROTOCOLS, DEFAULT_COMMUNITY, PRIV_PROTOCOLS, raw_value
from agent.probes.snmp_options import SnmpOptions, SnmpVersion
from agent.probes.snmp_profiles import ProfileBook, builtin_profiles
from agent.probes.snmp_traps import trap_event
from wire.enums import ProbeKind
from wire.schema import Event

log = logging.getLogger(__name__)

OnEvent = Callable[[str, Event], None]


class TrapReceiver:
    """Start with `await start(host, port)`; `close()` at shutdown."""

    def __init__(
        self,
        devices: Sequence[DeviceConfig],
        *,
        on_event: OnEvent,
        profiles: ProfileBook | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._devices = [d for d in devices if d.protocol is ProbeKind.SNMP]
        self._on_event = on_event
        self._rules = (profiles or builtin_profiles()).trap_rules()
        self._now = now
        self._by_address: dict[str, str] = {}
        self._engine: Any = None
        self._transport: Any = None
        self.unknown_sources: Counter[str] = Counter()
        self.port: int | None = None

    async def start(self, host: str = "0.0.0.0", port: int = 162) -> int:
        """Bind, configure credentials, and listen; returns the bound port."""
        loop = asyncio.get_running_loop()
        for device in self._devices:
            for info in await loop.getaddrinfo(device.address, None, family=socket.AF_INET):
                self._by_address.setdefault(str(info[4][0]), device.id)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        self.port = int(sock.getsockname()[1])
        self._engine = snmp_engine.SnmpEngine()
        self._transport = udp.UdpTransport().open_server_mode(sock=sock)
        snmp_config.add_transport(self._engine, udp.DOMAIN_NAME, self._transport)
        self._add_credentials()
        ntfrcv.NotificationReceiver(self._engine, self._received)
        return self.port

    def _add_credentials(self) -> None:
        """Communities for v1/v2c; for v3, each user twice: under the sender's engine id
        (traps: the sender is authoritative) and under ours (informs: we are)."""
        communities: set[str] = set()
        inform_users: set[str] = set()
        for device in self._devices:
            options = device.snmp or SnmpOptions()
            if options.version is not SnmpVersion.V3:
                communities.add(
                    options.community.reveal() if options.community else DEFAULT_COMMUNITY
                )
                continue
            assert options.user is not None
            keys: dict[str, Any] = {}
            if options.auth_key is not None:
                keys |= {
                    "authProtocol": AUTH_PROTOCOLS[options.auth_protocol],
                    "authKey": options.auth_key.reveal(),
                }
            if options.priv_key is not None:
                keys |= {
                    "privProtocol": PRIV_PROTOCOLS[options.priv_protocol],
                    "privKey": options.priv_key.reveal(),
                }
            if options.user not in inform_users:  # one entry per user name at our engine
                inform_users.add(options.user)
                snmp_config.add_v3_user(self._engine, options.user, **keys)
            if options.trap_engine_id is not None:
                engine_id = OctetString(hexValue=options.trap_engine_id.removeprefix("0x"))
                snmp_config.add_v3_user(
                    self._engine, options.user, securityEngineId=engine_id, **keys
                )
        for i, community in enumerate(sorted(communities)):
            snmp_config.add_v1_system(self._engine, f"secmon-{i}", community)

    def _received(
        self,
        engine: Any,
        state_reference: Any,
        context_engine_id: Any,
        context_name: Any,
        var_binds: Any,
        cb_ctx: Any,
    ) -> None:
        context = engine.observer.get_execution_context("rfc3412.receiveMessage:request")
        address = str(context["transportAddress"][0])
        device_id = self._by_address.get(address)
        if device_id is None:
            self.unknown_sources[address] += 1
            if self.unknown_sources[address] == 1:
                log.warning("SNMP trap from %s, which is no configured device: ignored", address)
            return
        found = trap_event([(str(oid), raw_value(value)) for oid, value in var_binds], self._rules)
        if found is None:
            log.debug("notification without snmpTrapOID from %s", device_id)
            return
        kind, data = found
        self._on_event(device_id, Event(ts=self._now(), kind=kind, data=data))

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close_dispatcher()
            self._engine = None
