"""The MQTT probe: a device's poll reports what its broker link heard since the last poll.

Devices do not answer polls; they publish. The poll therefore never talks to the device: it
makes sure the shared broker connection is up and subscribed, then reads the device's view.
"""

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from agent.config import DeviceConfig
from agent.probes.base import ProbeResult, ProtocolError
from agent.probes.mqtt.link import (
    BrokerKey,
    BrokerLink,
    BrokerUnreachable,
    EventSink,
    LivenessSink,
    Session,
    utc_now,
)
from agent.probes.mqtt.mapping import Template, builtin_templates
from agent.probes.mqtt.options import DEFAULT_MQTT_PORT

# Share of the device's timeout spent waiting for the broker (the rest is poll_device's margin).
READY_SHARE = 0.8


class MqttProbe:
    """One broker link per (broker, credentials), created at the first poll of its first device.

    The default session is throwaway (random client id, clean start) so that `secmon agent
    check` never takes over the running agent's persistent session and its queued messages.
    `devices` (the agent's whole list) are watched as soon as their broker link starts, so a
    persistent session's backlog for a device is routed before that device's first poll.
    With `on_event`, event messages go there at once instead of riding on the next poll;
    `on_liveness` hears of devices whose LWT flipped or whose broker went or came back.
    """

    def __init__(
        self,
        session: Session | None = None,
        *,
        devices: Sequence[DeviceConfig] = (),
        now: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        on_event: EventSink | None = None,
        on_liveness: LivenessSink | None = None,
        templates: Mapping[str, Template] | None = None,
    ) -> None:
        self._on_event = on_event
        # the shipped templates and the operator's (agent.mqtt_templates_dir), by name
        self._templates = templates if templates is not None else builtin_templates()
        self._on_liveness = on_liveness
        self._session = session or Session()
        self._now = now
        self._monotonic = monotonic
        self._devices = [d for d in devices if d.mqtt is not None]
        self._links: dict[BrokerKey, BrokerLink] = {}
        self._seen: set[str] = set()

    async def poll(self, device: DeviceConfig) -> ProbeResult:
        options = device.mqtt
        if options is None:
            raise ProtocolError("an mqtt device needs an mqtt: block")
        key = broker_key(device)
        link = self._link(key)
        _watch(link, device, self._templates)
        budget = device.timeout * READY_SHARE
        try:
            async with asyncio.timeout(budget):
                await link.wait_ready(device.id)
                if device.id not in self._seen:
                    # First poll: let the retained state that follows the SUBACK arrive.
                    await link.barrier()
                    self._seen.add(device.id)
        except TimeoutError as err:
            failure = link.broker_failure()
            if failure is not None:
                raise failure from err
            raise BrokerUnreachable(
                f"broker {key.host}:{key.port} did not answer within {budget:g} s"
            ) from err
        return link.take_result(device.id, options.silence_limit())

    def start(self) -> None:
        """Connect to every broker of the devices given up front now (on the event loop), not
        at each broker's first poll: event messages flow from the start."""
        for device in self._devices:
            self._link(broker_key(device))

    def _link(self, key: BrokerKey) -> BrokerLink:
        link = self._links.get(key)
        if link is None:
            link = BrokerLink(
                key,
                self._session,
                loop=asyncio.get_running_loop(),
                now=self._now,
                monotonic=self._monotonic,
                on_event=self._on_event,
                on_liveness=self._on_liveness,
            )
            self._links[key] = link
            for other in self._devices:
                assert other.mqtt is not None
                if broker_key(other) == key and other.mqtt.template in self._templates:
                    _watch(link, other, self._templates)
            link.start()
        return link

    def newly_silent(self) -> list[str]:
        """Devices whose silence limit has just passed, over every broker link."""
        return [d for link in self._links.values() for d in link.newly_silent()]

    def stop_events(self) -> None:
        """Take no more event messages (they stay with the broker for the next start)."""
        for link in self._links.values():
            link.stop_events()

    def messages_received(self) -> int:
        """Messages taken in so far over every broker link."""
        return sum(link.messages() for link in self._links.values())

    def close(self) -> None:
        """Disconnect every broker link (clean DISCONNECT; persistent sessions stay)."""
        for link in self._links.values():
            link.close()
        self._links.clear()


def broker_key(device: DeviceConfig) -> BrokerKey:
    """Which shared connection serves the device: its broker address and credentials."""
    assert device.mqtt is not None
    password = device.credentials.password
    return BrokerKey(
        host=device.address,
        port=device.port or DEFAULT_MQTT_PORT,
        username=device.credentials.username,
        password=password.reveal() if password is not None else None,
        keepalive=device.mqtt.keepalive,
        tls=device.mqtt.tls,
    )


def _watch(link: BrokerLink, device: DeviceConfig, templates: Mapping[str, Template]) -> None:
    assert device.mqtt is not None
    mapping = templates.get(device.mqtt.template)
    if mapping is None:  # load_config refuses it; a device built without it must not crash
        raise ProtocolError(f"unknown MQTT template {device.mqtt.template!r}")
    link.watch(
        device.id,
        mapping.bind(device.mqtt.topic),
        max_payload=device.mqtt.max_payload_bytes,
        silence_limit=device.mqtt.silence_limit(),
    )
