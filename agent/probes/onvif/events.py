"""ONVIF events: one PullPoint subscription per camera, its notifications handed to a sink the
moment they are pulled (the agent's EventForwarder: events-only samples, urgent push).

Per camera, a task runs: connect (GetSystemDateAndTime for the clock offset, then GetServices or
GetCapabilities), CreatePullPointSubscription, then PullMessages in a loop; each pull waits on
the camera up to `pull_timeout_s` and returns early when something happens, so an event reaches
us within a round trip. The lease is renewed only when the next pull could outlast it (see
`topics.renew_due`), a subscription the camera forgot (reboot, expiry) is created again, and
Unsubscribe is sent at stop. Topics map to our event kinds in `topics.py`.

The subscription keeps its own connection rather than the probe's session: the camera holds its
pull open, and the probe drops its session after a failed poll. Its other calls wait for the
probe's per-camera lock (`lock_for`), so they never meet a poll's requests on the camera.
"""

import asyncio
import contextlib
import datetime as dt
import inspect
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
from lxml import etree
from zeep.exceptions import Error as ZeepError
from zeep.exceptions import Fault, TransportError

from agent.backoff import full_jitter
from agent.config import DeviceConfig
from agent.probes.base import (
    AuthFailed,
    DeviceUnreachable,
    ProbeFailure,
    ProtocolError,
    Unsupported,
)
from agent.probes.onvif.topics import (
    Notification,
    ignores_relative_time,
    lease_end,
    renew_due,
    termination_request,
    to_event,
)
from wire.enums import ProbeKind
from wire.schema import Event

log = logging.getLogger(__name__)

EVENTS_NS = "http://www.onvif.org/ver10/events/wsdl"
PULLPOINT_KEY = f"{EVENTS_NS}/PullPointSubscription"
DEFAULT_ONVIF_PORT = 80

EventSink = Callable[[str, Event], None]


@dataclass(frozen=True)
class EventSettings:
    """How one camera's subscription is kept. Defaults suit real cameras: a 5 min lease renewed
    about once per lease, pulls held 10 s by the camera (one open request while idle)."""

    lifetime_s: float = 300.0
    pull_timeout_s: float = 10.0
    message_limit: int = 64
    renew_margin_s: float = 10.0
    call_timeout_s: float = 10.0  # every call but the pull's own wait
    stop_timeout_s: float = 2.0  # Unsubscribe at shutdown must not hold the agent up
    retry_base_s: float = 1.0
    retry_cap_s: float = 60.0
    unsupported_retry_s: float = 900.0  # a camera without an event service: look again later

    @classmethod
    def for_device(cls, device: DeviceConfig) -> "EventSettings":
        """The seam for per-camera options (an `onvif:` block) once the probe's options land;
        every camera gets the defaults until then."""
        del device
        return cls()


class SubscriptionLost(ProbeFailure):
    """The camera no longer knows the subscription (rebooted, expired, faulted): make it again."""


class OnvifClient(Protocol):
    """What the subscription needs of `onvif.ONVIFCamera` (the seam for the probe's own client)."""

    xaddrs: dict[str, str]

    async def update_xaddrs(self) -> None: ...
    async def create_events_service(self) -> Any: ...
    async def create_pullpoint_service(self) -> Any: ...
    async def create_subscription_service(self, port_type: str | None = None) -> Any: ...
    async def close(self) -> None: ...


ClientFactory = Callable[[DeviceConfig], OnvifClient]
# The probe's per-camera lock (`OnvifProbe.lock_for`; None before the camera's first poll).
LockFor = Callable[[str], asyncio.Lock | None]


def open_camera(device: DeviceConfig) -> OnvifClient:
    """An onvif-zeep-async client for the device. `adjust_time`: WS-Security timestamps follow
    the camera's own clock (measured with GetSystemDateAndTime), so a camera whose clock
    drifted is not mistaken for one that rejects our password."""
    from onvif import ONVIFCamera  # heavy (zeep, WSDLs), and configures logging on import

    password = device.credentials.password
    camera: OnvifClient = ONVIFCamera(
        device.address,
        device.port or DEFAULT_ONVIF_PORT,
        device.credentials.username,
        password.reveal() if password is not None else None,
        adjust_time=True,
    )
    return camera


def is_onvif_error(err: BaseException) -> bool:
    """The library's own errors (imported late: `onvif` configures logging on import)."""
    from onvif.exceptions import ONVIFError

    return isinstance(err, ONVIFError)


def translate(err: BaseException, what: str) -> ProbeFailure:
    """A library or network error at this boundary → one of our few failures."""
    if isinstance(err, ProbeFailure):
        return err
    if is_onvif_error(err):
        from onvif.exceptions import ONVIFAuthError, ONVIFTimeoutError

        if isinstance(err, ONVIFAuthError):
            return AuthFailed(f"{what}: {err}")
        if isinstance(err, ONVIFTimeoutError):
            return DeviceUnreachable(f"{what}: {err}")
        cause = err.__cause__
        if cause is not None and not is_onvif_error(cause):
            return translate(cause, what)
        return ProtocolError(f"{what}: {err}")
    if isinstance(err, Fault):
        words = " ".join(
            [str(err.message or ""), *(str(c) for c in getattr(err, "subcodes", None) or [])]
        )
        if "notauthorized" in words.replace(" ", "").lower():
            return AuthFailed(f"{what}: {err.message}")
        return ProtocolError(f"{what}: SOAP fault: {err.message}")
    if isinstance(err, TransportError):
        if err.status_code in (401, 403):
            return AuthFailed(f"{what}: HTTP {err.status_code}")
        return ProtocolError(f"{what}: HTTP {err.status_code}")
    if isinstance(err, TimeoutError | aiohttp.ClientError | OSError):
        return DeviceUnreachable(f"{what}: {type(err).__name__}: {err}".rstrip(": "))
    return ProtocolError(f"{what}: {type(err).__name__}: {err}")


# Errors an ONVIF call can end with; anything else is a bug and must surface.
CALL_ERRORS = (
    ZeepError,
    aiohttp.ClientError,
    TimeoutError,
    OSError,
    ValueError,
    AttributeError,
    TypeError,
    etree.LxmlError,
)


def _items(container: Any) -> dict[str, str]:
    """SimpleItems of a tt:Source/tt:Data, from zeep objects or raw lxml (vendor payloads zeep
    did not resolve)."""
    out: dict[str, str] = {}
    if container is None:
        return out
    if isinstance(container, etree._Element):
        for el in container.iter(etree.Element):
            if etree.QName(el).localname == "SimpleItem" and el.get("Name"):
                out[el.get("Name")] = el.get("Value", "")
        return out
    for item in getattr(container, "SimpleItem", None) or []:
        name = getattr(item, "Name", None)
        if name:
            out[str(name)] = str(getattr(item, "Value", "") or "")
    return out


def _time(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return _time(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
    return None


def read_notification(message: Any) -> Notification | None:
    """One wsnt:NotificationMessage as zeep parsed it → Notification; None without a topic."""
    topic_el = getattr(message, "Topic", None)
    topic = getattr(topic_el, "_value_1", topic_el)
    if not isinstance(topic, str) or not topic.strip():
        return None
    body = getattr(getattr(message, "Message", None), "_value_1", None)
    if isinstance(body, etree._Element):
        source = next((e for e in body.iter(etree.Element) if _local(e) == "Source"), None)
        data = next((e for e in body.iter(etree.Element) if _local(e) == "Data"), None)
        return Notification(
            topic=topic.strip(),
            operation=body.get("PropertyOperation"),
            utc_time=_time(body.get("UtcTime")),
            source=_items(source),
            data=_items(data),
        )
    return Notification(
        topic=topic.strip(),
        operation=getattr(body, "PropertyOperation", None),
        utc_time=_time(getattr(body, "UtcTime", None)),
        source=_items(getattr(body, "Source", None)),
        data=_items(getattr(body, "Data", None)),
    )


def _local(el: Any) -> str:
    return str(etree.QName(el).localname)


class PullPointSubscription:
    """One camera's subscription, kept for as long as `run` runs."""

    def __init__(
        self,
        device: DeviceConfig,
        *,
        on_event: EventSink,
        settings: EventSettings | None = None,
        client_factory: ClientFactory = open_camera,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        rng: random.Random | None = None,
        lock_for: LockFor | None = None,
        on_reconnect: Callable[[str], None] | None = None,
    ) -> None:
        self.device = device
        self._on_reconnect = on_reconnect
        self.settings = settings or EventSettings.for_device(device)
        self._lock_for = lock_for
        self._on_event = on_event
        self._client_factory = client_factory
        self._monotonic = monotonic
        self._now = now
        self._rng = rng or random.Random()
        self._absolute = False  # the camera ignores relative termination times
        self._ends_at = 0.0
        self._camera_clock: tuple[dt.datetime, float] | None = None
        self.subscribed = False
        self._reached = False  # this session got as far as a working subscription
        self._ever_reached = False
        self.last_failure: ProbeFailure | None = None
        self.events_seen = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Subscribe, pull, renew, re-create, until `stop`; never raises a device's failure."""
        failures = 0
        while not stop.is_set():
            self._reached = False
            try:
                await self._session(stop)
                failures = 0
                continue
            except SubscriptionLost as err:
                self._note(err)
                # Made again at once after a subscription that worked; then back off.
                delay = 0.0 if failures == 0 or self._reached else self._backoff(failures)
            except Unsupported as err:
                self._note(err)
                delay = self.settings.unsupported_retry_s
            except ProbeFailure as err:
                self._note(err)
                delay = self._backoff(0 if self._reached else failures)
            failures = 1 if self._reached else failures + 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    def _backoff(self, failures: int) -> float:
        base, cap = self.settings.retry_base_s, self.settings.retry_cap_s
        return max(base, full_jitter(failures, base=base, cap=cap, rng=self._rng))

    def _note(self, err: ProbeFailure) -> None:
        """Log a failure once per change of kind, not on every retry."""
        self.subscribed = False
        previous, self.last_failure = self.last_failure, err
        if previous is None or type(previous) is not type(err):
            log.warning(
                "onvif events: %s",
                err,
                extra={
                    "device": self.device.id,
                    "code": err.code.value,
                    "kind": type(err).__name__,
                },
            )

    async def _call(
        self, what: str, call: Any, deadline_s: float | None = None, *, shared: bool = True
    ) -> Any:
        """One call under its deadline. `shared` calls (all but the held pull) wait for the
        camera's lock, which the probe holds while it polls, so the subscription adds at most
        its one waiting pull to the camera's requests in flight."""
        lock = self._lock_for(self.device.id) if shared and self._lock_for is not None else None
        try:
            async with contextlib.AsyncExitStack() as stack:
                if lock is not None:
                    await stack.enter_async_context(lock)
                async with asyncio.timeout(deadline_s or self.settings.call_timeout_s):
                    return await call
        except Exception as err:
            if isinstance(err, CALL_ERRORS) or is_onvif_error(err):
                raise translate(err, what) from err
            raise
        finally:
            if inspect.iscoroutine(call) and inspect.getcoroutinestate(call) == "CORO_CREATED":
                call.close()  # cancelled while waiting for the lock: never sent

    async def _session(self, stop: asyncio.Event) -> None:
        """One subscription's life: returns at stop, raises when it ends otherwise."""
        camera = self._client_factory(self.device)
        try:
            await self._call("connect", camera.update_xaddrs())
            if EVENTS_NS not in camera.xaddrs:
                raise Unsupported("the camera offers no event service")
            events = await self._call("events service", camera.create_events_service())
            requested = self.settings.lifetime_s
            created = await self._call(
                "CreatePullPointSubscription",
                events.CreatePullPointSubscription(
                    {"InitialTerminationTime": self._termination(requested)}
                ),
            )
            granted = self._lease(created)
            try:
                address = created.SubscriptionReference.Address._value_1
            except AttributeError as err:
                raise ProtocolError("subscription without an address") from err
            camera.xaddrs[PULLPOINT_KEY] = str(address).strip()
            pullpoint = await self._call("pullpoint", camera.create_pullpoint_service())
            manager = await self._call(
                "subscription", camera.create_subscription_service("PullPointSubscription")
            )
            if not self._absolute and ignores_relative_time(
                granted_s=granted, requested_s=requested
            ):
                log.info(
                    "onvif events: camera ignores relative lease times, using absolute",
                    extra={"device": self.device.id, "granted_s": round(granted, 1)},
                )
                self._absolute = True
                await self._renew(manager)
            self._up(granted)
            try:
                await self._pull_loop(stop, pullpoint, manager)
            finally:
                if stop.is_set():
                    await self._unsubscribe(manager)
        finally:
            with contextlib.suppress(*CALL_ERRORS):
                await camera.close()

    def _up(self, granted: float) -> None:
        if self.last_failure is not None or not self.subscribed:
            back = self.last_failure is not None
            log.info(
                "onvif events: subscribed" + (" again" if back else ""),
                extra={"device": self.device.id, "lease_s": round(granted, 1)},
            )
            # Made again after one that worked and then failed: the camera rebooted or dropped.
            if back and self._ever_reached and self._on_reconnect is not None:
                self._on_reconnect(self.device.id)
        self.subscribed = True
        self._reached = True
        self._ever_reached = True
        self.last_failure = None

    def _termination(self, lifetime_s: float) -> str:
        camera_now = None
        if self._camera_clock is not None:
            seen, at = self._camera_clock
            camera_now = seen + dt.timedelta(seconds=self._monotonic() - at)
        return termination_request(lifetime_s, absolute=self._absolute, camera_now=camera_now)

    def _lease(self, answer: Any) -> float:
        """Track the lease from an answer carrying CurrentTime/TerminationTime; seconds left."""
        received = self._monotonic()
        current = _time(getattr(answer, "CurrentTime", None))
        termination = _time(getattr(answer, "TerminationTime", None))
        if current is not None:
            self._camera_clock = (current, received)
        self._ends_at = lease_end(
            current=current,
            termination=termination,
            received_at=received,
            requested_s=self.settings.lifetime_s,
        )
        return self._ends_at - received

    async def _renew(self, manager: Any) -> None:
        answer = await self._call_on_subscription(
            "Renew",
            manager.Renew({"TerminationTime": self._termination(self.settings.lifetime_s)}),
        )
        self._lease(answer)

    async def _call_on_subscription(
        self, what: str, call: Any, deadline_s: float | None = None, *, shared: bool = True
    ) -> Any:
        """A call on the subscription itself: a SOAP fault means the camera dropped it."""
        try:
            return await self._call(what, call, deadline_s, shared=shared)
        except (ProtocolError, AuthFailed) as err:
            # Cameras answer a forgotten subscription with a fault (ResourceUnknown, or a
            # vendor's own); some with NotAuthorized, as the resource is not theirs to show.
            raise SubscriptionLost(f"{what}: {err}") from err

    async def _pull_loop(self, stop: asyncio.Event, pullpoint: Any, manager: Any) -> None:
        stopping = asyncio.create_task(stop.wait(), name=f"onvif-stop:{self.device.id}")
        blips = 0
        try:
            while not stop.is_set():
                try:
                    answer = await self._pull_once(pullpoint, manager, stopping)
                except DeviceUnreachable as err:
                    # A blip (timeout, reset) need not end the subscription: pull it again
                    # while its lease lasts, rather than leave it to hold one of the camera's
                    # few subscription slots until it expires and make another.
                    blips += 1
                    delay = self._backoff(blips)
                    if self._monotonic() + delay >= self._ends_at:
                        raise
                    log.debug(
                        "onvif events: %s; pulling again", err, extra={"device": self.device.id}
                    )
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), delay)
                    continue
                if answer is None:
                    return
                blips = 0
                self._lease(answer)
                self._deliver(getattr(answer, "NotificationMessage", None) or [])
        finally:
            stopping.cancel()

    async def _pull_once(self, pullpoint: Any, manager: Any, stopping: asyncio.Task[Any]) -> Any:
        """Renew if due, then one PullMessages; None when `stopping` finished first."""
        settings = self.settings
        if renew_due(
            now=self._monotonic(),
            ends_at=self._ends_at,
            pull_timeout_s=settings.pull_timeout_s,
            margin_s=settings.renew_margin_s,
        ):
            await self._renew(manager)
        pull = asyncio.create_task(
            self._call_on_subscription(
                "PullMessages",
                pullpoint.PullMessages(
                    {
                        "Timeout": dt.timedelta(seconds=settings.pull_timeout_s),
                        "MessageLimit": settings.message_limit,
                    }
                ),
                settings.pull_timeout_s + settings.call_timeout_s,
                shared=False,  # held by the camera until something happens: not under the lock
            ),
            name=f"onvif-pull:{self.device.id}",
        )
        await asyncio.wait({pull, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not pull.done():
            pull.cancel()
            with contextlib.suppress(asyncio.CancelledError, ProbeFailure):
                await pull
            return None
        return pull.result()

    def _deliver(self, messages: Sequence[Any]) -> None:
        received = self._now()
        for message in messages:
            note = read_notification(message)
            if note is None:
                log.debug("onvif events: message without a topic", extra={"device": self.device.id})
                continue
            event = to_event(note, received=received)
            if event is None:
                continue
            self.events_seen += 1
            self._on_event(self.device.id, event)

    async def _unsubscribe(self, manager: Any) -> None:
        """Courtesy at stop: the camera would drop it at the lease's end anyway."""
        try:
            await self._call("Unsubscribe", manager.Unsubscribe(), self.settings.stop_timeout_s)
        except ProbeFailure as err:
            log.debug("onvif events: unsubscribe failed: %s", err, extra={"device": self.device.id})


class OnvifEventSource:
    """A subscription for every ONVIF camera with events on; started and stopped with the agent."""

    def __init__(
        self,
        devices: Sequence[DeviceConfig],
        *,
        on_event: EventSink,
        client_factory: ClientFactory = open_camera,
        settings: Callable[[DeviceConfig], EventSettings] = EventSettings.for_device,
        lock_for: LockFor | None = None,
        on_reconnect: Callable[[str], None] | None = None,
    ) -> None:
        self.subscriptions = [
            PullPointSubscription(
                d,
                on_event=on_event,
                settings=settings(d),
                client_factory=client_factory,
                lock_for=lock_for,
                on_reconnect=on_reconnect,
            )
            for d in devices
            if d.protocol is ProbeKind.ONVIF
        ]
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for sub in self.subscriptions:
            self._tasks.append(
                asyncio.create_task(sub.run(self._stop), name=f"onvif-events:{sub.device.id}")
            )

    def stop_events(self) -> None:
        """Stop pulling; `close` waits for the unsubscribes."""
        self._stop.set()

    async def close(self) -> None:
        """Stop, let each subscription unsubscribe; a camera still connecting (its calls are
        bounded by `call_timeout_s`) is given that long, then cancelled. Idempotent."""
        self._stop.set()
        tasks, self._tasks = self._tasks, []
        if not tasks:
            return
        grace = max(
            s.settings.call_timeout_s + s.settings.stop_timeout_s for s in self.subscriptions
        )
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for task, result in zip(tasks, results, strict=True):
            if isinstance(result, Exception):
                log.error(
                    "onvif events task failed", exc_info=result, extra={"task": task.get_name()}
                )
