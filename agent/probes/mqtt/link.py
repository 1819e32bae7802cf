"""One connection to one broker, shared by every device behind it.

paho runs its network loop in its own thread (`loop_start`); callbacks decode messages there and
update device views under a lock, and wake asyncio waiters with `call_soon_threadsafe`, so the
event loop never blocks on the network or on JSON decoding. With an event sink, event messages
skip the device's view and go to the sink on the event loop (pushed at once, not at the poll).

Acknowledgement is manual: a QoS 1 event message is acknowledged (PUBACK) only when the sink
says it is stored, so an agent killed in between gets it again from its persistent session.
Other messages are acknowledged on arrival. Delivery is at least once: a crash or a lost
connection between the store and the PUBACK reaching the broker stores the event twice, under
two sample ids. MQTT gives no message identity stable beyond one delivery (packet ids are
reused), so an id derived from the message could merge two real, identical events; a rare
duplicate "door forced" is the lesser harm than a lost one.
"""

import asyncio
import contextlib
import hashlib
import logging
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from agent.probes.base import (
    AuthFailed,
    ProbeFailure,
    ProbeResult,
    ProtocolError,
)
from agent.probes.mqtt.mapping import (
    BoundMapping,
    EventReading,
    EventRule,
    MalformedPayload,
    Rule,
    read,
)
from agent.probes.mqtt.options import MqttTls
from agent.probes.mqtt.view import DeviceView, event_of
from wire.enums import ProbeErrorCode
from wire.schema import Event

log = logging.getLogger(__name__)

# CONNACK reason codes (MQTT 5) that mean "your credentials", not "the network".
AUTH_REFUSALS = frozenset({134, 135, 138})  # bad user name or password, not authorized, banned
MAX_UNROUTED = 10_000
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30

# Called on the event loop with (device id, event, stored) for each event message; `stored()`
# (on the event loop too) once the event is committed where a crash does not lose it.
EventSink = Callable[[str, Event, Callable[[], None]], None]
# Called on the event loop with the ids of devices whose liveness just changed (LWT offline or
# back online, broker lost or back), so the agent can report them now, not at the next poll.
LivenessSink = Callable[[list[str]], None]


class BrokerUnreachable(ProbeFailure):
    """The broker, not the device, cannot be reached: a site-level condition, so the server
    marks the device's status unknown rather than down."""

    code = ProbeErrorCode.BROKER_UNREACHABLE
    reachable = False


class _Client(paho.Client):
    """paho's client, keeping why the last connection attempt failed (paho's loop swallows the
    OSError and only calls on_connect_fail, which gets no reason)."""

    last_connect_error: OSError | None = None

    def reconnect(self) -> MQTTErrorCode:
        try:
            rc = super().reconnect()
        except OSError as err:
            self.last_connect_error = err
            raise
        self.last_connect_error = None
        return rc


def connect_failure(where: str, err: OSError | None) -> ProbeFailure:
    """What a failed connection attempt means: a TLS problem is a configuration fault worth
    its own words; anything else is the broker being unreachable."""
    if isinstance(err, ssl.SSLCertVerificationError):
        return ProtocolError(f"TLS: {where} certificate not trusted: {err.verify_message}")
    if isinstance(err, ssl.CertificateError):  # host name mismatch (paho's own check)
        return ProtocolError(f"TLS: {where} certificate does not match: {err}")
    if isinstance(err, ssl.SSLError):
        return ProtocolError(f"TLS handshake with {where} failed: {err.reason or err}")
    reason = f": {err.strerror or err}" if err is not None else ""
    return BrokerUnreachable(f"cannot connect to {where}{reason}")


@dataclass
class _Delivery:
    """One received message: its PUBACK goes out when nothing holds it any more (the arrival
    itself holds it while it is routed, each sink hand-out until stored)."""

    mid: int
    qos: int
    holds: int = 1
    keep_unacked: bool = False  # taken in while stopping: the broker sends it again later


@dataclass(frozen=True)
class BrokerKey:
    """Devices with equal keys share one connection."""

    host: str
    port: int
    username: str | None
    password: str | None
    keepalive: int
    tls: MqttTls | None = None


@dataclass(frozen=True)
class Session:
    """How the agent identifies itself: a persistent session (fixed client id, clean start off,
    session expiry) makes the broker queue QoS 1 messages while the agent is away."""

    client_id: str = ""
    persistent: bool = False
    expiry_s: int = 3 * 24 * 3600

    @classmethod
    def for_agent(cls, site: str) -> "Session":
        return cls(client_id=f"secmon-agent-{site}", persistent=True)


@dataclass
class _Watch:
    device_id: str
    view: DeviceView
    mapping: BoundMapping
    max_payload: int
    since: float
    silence_limit: float | None = None


class BrokerLink:
    """Connection state, subscriptions and the views of the devices behind one broker."""

    def __init__(
        self,
        key: BrokerKey,
        session: Session,
        *,
        loop: asyncio.AbstractEventLoop,
        now: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
        on_event: EventSink | None = None,
        on_liveness: LivenessSink | None = None,
    ) -> None:
        self.key = key
        self._on_event = on_event
        self._on_liveness = on_liveness
        self._session = session
        self._loop = loop
        self._now = now
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._changed = asyncio.Event()
        self._watches: dict[str, _Watch] = {}
        self._routes: dict[str, list[tuple[_Watch, Rule]]] = {}
        self._unrouted: dict[str, list[tuple[bytes, bool, float, datetime]]] = {}
        self._unrouted_count = 0
        self._acked: set[str] = set()
        self._pending_subs: dict[int, list[str]] = {}
        self._early_acks: dict[int, list[ReasonCode]] = {}
        self._unsubacked: set[int] = set()
        self._refused: dict[str, str] = {}
        self.connected = False
        self.failure: ProbeFailure | None = None
        self._attempted = False
        self._closing = False
        self._events_stopped = False
        self._generation = 0  # connections so far; a PUBACK belongs to one (throwaway session)
        self._client = self._make_client()

    def client_id(self) -> str:
        """The session's id plus a digest of the broker key: stable across restarts, and
        distinct per link, so two links never take each other's session over."""
        if not self._session.client_id:
            return ""  # the broker assigns one (throwaway session)
        key = f"{self.key.host}:{self.key.port}:{self.key.username}:{self.key.keepalive}"
        if self.key.tls is not None:
            key += f":tls:{self.key.tls.cert_file}"
        return f"{self._session.client_id}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"

    def _make_client(self) -> _Client:
        client = _Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id(),
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,  # see the module docstring
        )
        if self.key.username is not None:
            client.username_pw_set(self.key.username, self.key.password)
        tls = self.key.tls
        if tls is not None:
            client.tls_set(
                ca_certs=str(tls.ca_file) if tls.ca_file else None,
                certfile=str(tls.cert_file) if tls.cert_file else None,
                keyfile=str(tls.key_file) if tls.key_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_unsubscribe = self._on_unsubscribe
        client.on_message = self._on_message
        # paho logs and re-raises callback errors; ours must never kill its thread.
        client.suppress_exceptions = True
        return client

    def start(self) -> None:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho
        properties.SessionExpiryInterval = self._session.expiry_s if self._session.persistent else 0
        self._client.connect_async(
            self.key.host,
            self.key.port,
            keepalive=self.key.keepalive,
            clean_start=not self._session.persistent,
            properties=properties,
        )
        self._client.loop_start()

    def stop_events(self) -> None:
        """Take no more event messages (left unacknowledged, so sent again at the next start);
        at shutdown, before the sink's last writes are awaited."""
        with self._lock:
            self._events_stopped = True

    def close(self) -> None:
        """Disconnect cleanly (the broker keeps a persistent session) and stop paho's thread."""
        self._closing = True
        self._client.disconnect()
        self._client.loop_stop()

    # ---- asyncio side -------------------------------------------------------------------

    def watch(
        self,
        device_id: str,
        mapping: BoundMapping,
        *,
        max_payload: int,
        silence_limit: float | None = None,
    ) -> None:
        """Start routing the device's topics to its view (idempotent)."""
        with self._lock:
            if device_id in self._watches:
                return
            w = _Watch(
                device_id, DeviceView(), mapping, max_payload, self._monotonic(), silence_limit
            )
            self._watches[device_id] = w
            for topic, rule in mapping.routes.items():
                self._routes.setdefault(topic, []).append((w, rule))
                # Queued messages of a persistent session can arrive before the device's first
                # poll registers it; they were kept for it.
                for payload, retain, at, ts in self._unrouted.pop(topic, []):
                    self._unrouted_count -= 1
                    # Acknowledged when buffered (a topic no device was watching yet).
                    acked = _Delivery(mid=0, qos=0)
                    self._deliver(w, rule, topic, payload, retain, at, ts, acked)
            connected = self.connected
        if connected:
            self._subscribe(list(mapping.routes))

    async def wait_ready(self, device_id: str) -> None:
        """Until connected with the device's topics subscribed; raises the connect failure."""
        while True:
            changed = self._changed
            with self._lock:
                failure = self.failure
                topics = list(self._watches[device_id].mapping.routes)
                refused = [f"{t}: {self._refused[t]}" for t in topics if t in self._refused]
                ready = self.connected and all(t in self._acked for t in topics)
            if refused:
                raise ProtocolError("subscription refused: " + "; ".join(refused))
            if ready:
                return
            if failure is not None and not self.connected:
                raise failure
            await changed.wait()

    async def barrier(self) -> None:
        """One round trip to the broker: retained and queued messages it sent before the reply
        have been handled when this returns (the broker answers in order). An UNSUBSCRIBE of
        a topic we never subscribed changes nothing."""
        result, mid = self._client.unsubscribe(f"secmon/barrier/{uuid.uuid4().hex}")
        if result != paho.MQTT_ERR_SUCCESS or mid is None:
            return
        while True:
            changed = self._changed
            with self._lock:
                if mid in self._unsubacked:
                    self._unsubacked.discard(mid)
                    return
            await changed.wait()

    def take_result(self, device_id: str, silence_timeout: float | None) -> ProbeResult:
        with self._lock:
            w = self._watches[device_id]
            return w.view.take_result(
                now=self._monotonic(), watching_since=w.since, silence_timeout=silence_timeout
            )

    def newly_silent(self) -> list[str]:
        """Devices whose silence has just reached their limit (each once per silence)."""
        now = self._monotonic()
        with self._lock:
            return [
                w.device_id
                for w in self._watches.values()
                if w.view.newly_silent(now=now, watching_since=w.since, limit=w.silence_limit)
            ]

    def messages(self) -> int:
        """Messages taken in (mapped or rejected) by this link's devices: for /metrics-style
        counters and the ingest benchmark."""
        with self._lock:
            return sum(w.view.messages for w in self._watches.values())

    def broker_failure(self) -> ProbeFailure | None:
        """Why devices behind this broker cannot be read right now, if they cannot."""
        with self._lock:
            if self.connected:
                return None
            if self.failure is not None:
                return self.failure
            return BrokerUnreachable(
                f"not connected to broker {self.key.host}:{self.key.port}"
                if self._attempted
                else f"connecting to broker {self.key.host}:{self.key.port}"
            )

    def _wake(self) -> None:
        """Wake every waiter; each took the current event before checking its condition, so a
        change between its check and its wait is not lost."""
        self._changed.set()
        self._changed = asyncio.Event()

    # ---- paho thread ----------------------------------------------------------------------

    def _notify(self) -> None:
        # A closed event loop (`agent check` has finished) raises RuntimeError: nobody waits.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._wake)

    def _liveness_changed(self, device_ids: list[str]) -> None:
        """Tell the agent (on the event loop) that these devices' liveness changed."""
        if self._on_liveness is None or not device_ids or self._closing:
            return
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._on_liveness, device_ids)

    def _subscribe(self, topics: list[str]) -> None:
        if not topics:
            return
        options = SubscribeOptions(qos=1)
        result, mid = self._client.subscribe([(t, options) for t in topics])
        if result == paho.MQTT_ERR_SUCCESS and mid is not None:
            with self._lock:
                early = self._early_acks.pop(mid, None)
                if early is None:
                    self._pending_subs[mid] = topics
                else:  # the SUBACK beat us here (subscribe called from the asyncio thread)
                    self._record_acks(topics, early)
            self._notify()

    def _record_acks(self, topics: list[str], reason_codes: list[ReasonCode]) -> None:
        """Lock held."""
        for topic, code in zip(topics, reason_codes, strict=False):
            if code.is_failure:
                self._refused[topic] = str(code)
            else:
                self._acked.add(topic)

    def _on_connect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        where = f"broker {self.key.host}:{self.key.port}"
        with self._lock:
            self._attempted = True
            was = self.failure
            if reason_code.is_failure:
                self.connected = False
                if reason_code.value in AUTH_REFUSALS:
                    self.failure = AuthFailed(f"{where} refused the credentials: {reason_code}")
                else:
                    self.failure = ProtocolError(f"{where} refused the connection: {reason_code}")
                topics: list[str] = []
            else:
                self.connected = True
                self._generation += 1
                self.failure = None
                self._acked.clear()
                self._refused.clear()
                topics = list(self._routes)
            devices = list(self._watches)
        if reason_code.is_failure:
            log.warning("%s: %s", where, reason_code, extra={"broker": where})
        else:
            if was is not None:
                log.info("%s: connected", where, extra={"broker": where})
            self._subscribe(topics)
        self._notify()
        if reason_code.is_failure or was is not None:
            self._liveness_changed(devices)

    def _on_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        where = f"broker {self.key.host}:{self.key.port}"
        failure = connect_failure(where, self._client.last_connect_error)
        with self._lock:
            self._attempted = True
            was = self.failure
            # Logged once per kind of failure, not at every reconnect attempt.
            first = was is None or str(was) != str(failure)
            self.connected = False
            self.failure = failure
            devices = list(self._watches)
        if first:
            log.warning("%s", failure, extra={"broker": where})
        self._notify()
        if first:
            self._liveness_changed(devices)

    def _on_disconnect(
        self,
        client: paho.Client,
        userdata: Any,
        flags: paho.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        where = f"broker {self.key.host}:{self.key.port}"
        with self._lock:
            was_connected = self.connected
            self.connected = False
            self._acked.clear()
            first = False
            if was_connected:
                if self.failure is None:
                    self.failure = BrokerUnreachable(f"lost {where}: {reason_code}")
            elif not self._closing and not isinstance(self.failure, AuthFailed | ProtocolError):
                # Dropped before its CONNACK (a refused CONNACK keeps its own reason): with
                # TLS, most likely the client certificate.
                failure: ProbeFailure = (
                    ProtocolError(
                        f"TLS: {where} closed the connection before accepting it "
                        "(client certificate missing or refused?)"
                    )
                    if self.key.tls is not None
                    else BrokerUnreachable(f"{where} closed the connection: {reason_code}")
                )
                first = str(failure) != str(self.failure)
                self._attempted = True
                self.failure = failure
            devices = list(self._watches)
        if was_connected and not self._closing:
            log.warning("%s: disconnected: %s", where, reason_code, extra={"broker": where})
        elif first:
            log.warning("%s", self.failure, extra={"broker": where})
        self._notify()
        if was_connected:
            self._liveness_changed(devices)

    def _on_subscribe(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        with self._lock:
            topics = self._pending_subs.pop(mid, None)
            if topics is None:
                self._early_acks[mid] = reason_codes
            else:
                self._record_acks(topics, reason_codes)
        where = f"broker {self.key.host}:{self.key.port}"
        granted = sum(not code.is_failure for code in reason_codes)
        log.info("%s: subscribed %d topic(s)", where, granted, extra={"broker": where})
        self._notify()

    def _on_unsubscribe(
        self,
        client: paho.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        with self._lock:
            self._unsubacked.add(mid)
        self._notify()

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        at = self._monotonic()
        ts = self._now()
        topic = msg.topic
        payload = bytes(msg.payload)
        delivery = _Delivery(mid=msg.mid, qos=msg.qos)
        with self._lock:
            generation = self._generation
            routes = self._routes.get(topic)
            if routes is None:
                if self._unrouted_count < MAX_UNROUTED:
                    self._unrouted.setdefault(topic, []).append((payload, msg.retain, at, ts))
                    self._unrouted_count += 1
            else:
                for w, rule in routes:
                    self._deliver(w, rule, topic, payload, msg.retain, at, ts, delivery)
            changed = [w.device_id for w, _ in routes or () if w.view.take_liveness_change()]
        self._release(delivery, generation)
        self._liveness_changed(changed)

    def _release(self, delivery: _Delivery, generation: int) -> None:
        """Drop one hold; the last one acknowledges the message (any thread)."""
        with self._lock:
            delivery.holds -= 1
            if delivery.holds > 0 or delivery.keep_unacked or delivery.qos == 0:
                return
            # A persistent session keeps a message's packet id across reconnects, so its PUBACK
            # is still right on a later connection; a throwaway session's is not.
            if generation != self._generation and not self._session.persistent:
                return
        self._client.ack(delivery.mid, delivery.qos)

    def _deliver(
        self,
        w: _Watch,
        rule: Rule,
        topic: str,
        payload: bytes,
        retain: bool,
        at: float,
        ts: datetime,
        delivery: _Delivery,
    ) -> None:
        """Apply one message to one view (lock held)."""
        if retain and isinstance(rule, EventRule):
            # A retained event is an old one replayed on subscribe; live and queued events
            # arrive with retain off.
            return
        try:
            reading = read(rule, payload, max_bytes=w.max_payload)
        except MalformedPayload as err:
            if w.view.reject(err, at=at, topic=topic):
                log.warning(
                    "%s: malformed %s on %s: %s",
                    w.device_id,
                    err.kind.value,
                    topic,
                    err,
                    extra={"device": w.device_id},
                )
            return
        if isinstance(reading, EventReading) and self._on_event is not None:
            w.view.heard(at=at)
            if self._events_stopped:
                delivery.keep_unacked = True
                return
            self._emit(w.device_id, event_of(reading, ts=ts), delivery)
            return
        w.view.apply(reading, at=at, ts=ts)

    def _emit(self, device_id: str, event: Event, delivery: _Delivery) -> None:
        """Hand an event to the sink on the event loop; the delivery is held until stored (lock
        held). A closed event loop (the agent is gone) keeps the hold: never acknowledged."""
        assert self._on_event is not None
        delivery.holds += 1
        generation = self._generation

        def stored() -> None:
            self._release(delivery, generation)

        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._on_event, device_id, event, stored)


def utc_now() -> datetime:
    return datetime.now(UTC)
