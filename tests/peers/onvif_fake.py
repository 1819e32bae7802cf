"""A small fake ONVIF camera/NVR for what ipycam lacks: events (PullPoint), recording search,
WS-Discovery answers, a device that faults on GetServices and one with a skewed clock.

Written from the ONVIF Core/Events/Search specs and WS-BaseNotification. The client (zeep, in
onvif-zeep-async) parses every answer against the WSDL/XSD shipped with the package, so a
malformed answer here fails loudly instead of passing by accident.

    cam = FakeOnvifCamera(clock_skew_s=3600).start()      # HTTP on 127.0.0.1:<free port>
    cam.inject("tns1:VideoSource/SignalLoss", source={"Source": "vs0"}, data={"State": "true"})
    cam.stats.renews, cam.drop_subscriptions(), cam.close()

`python -m tests.peers.onvif_fake discovery --address 192.0.2.1 --devices 3` answers
WS-Discovery probes (run it inside a network namespace; see tests/agent/probes/onvif).
"""

import argparse
import asyncio
import base64
import hashlib
import itertools
import socket
import struct
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from xml.sax.saxutils import escape, quoteattr

from aiohttp import web
from lxml import etree

from peers.net import free_port

SOAP_ENV = "http://www.w3.org/2003/05/soap-envelope"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
NAMESPACES = {
    "env": SOAP_ENV,
    "tt": "http://www.onvif.org/ver10/schema",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "tev": "http://www.onvif.org/ver10/events/wsdl",
    "tse": "http://www.onvif.org/ver10/search/wsdl",
    "wsnt": "http://docs.oasis-open.org/wsn/b-2",
    "wsa": "http://www.w3.org/2005/08/addressing",
    "tns1": "http://www.onvif.org/ver10/topics",
    "ter": "http://www.onvif.org/ver10/error",
    "wsrf-rw": "http://docs.oasis-open.org/wsrf/rw-2",
}
_XMLNS = " ".join(f"xmlns:{k}={quoteattr(v)}" for k, v in NAMESPACES.items())
TOPIC_DIALECT = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"
PULL_TIMEOUT_CAP_S = 60.0
T = TypeVar("T")
_DROPPED = "<dropped/>"  # queued to wake a waiting pull when the camera "reboots"
Handler = Callable[[web.Request, etree._Element], Awaitable[str | web.Response]]


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_duration(text: str) -> float:
    """xs:duration as ONVIF clients send it (PT10S, PT1M, PT0.5S); 0 for what it cannot read."""
    text = text.strip().upper()
    if not text.startswith("PT"):
        return 0.0
    total, number = 0.0, ""
    for char in text[2:]:
        if char.isdigit() or char == ".":
            number += char
        elif number:
            total += float(number) * {"H": 3600, "M": 60, "S": 1}.get(char, 0)
            number = ""
    return total


def envelope(body: str) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<env:Envelope {_XMLNS}>'
        f"<env:Header/><env:Body>{body}</env:Body></env:Envelope>"
    )


def fault(code: str, subcode: str, reason: str) -> str:
    return envelope(
        f"<env:Fault><env:Code><env:Value>{code}</env:Value>"
        f"<env:Subcode><env:Value>{subcode}</env:Value></env:Subcode></env:Code>"
        f'<env:Reason><env:Text xml:lang="en">{escape(reason)}</env:Text></env:Reason>'
        "</env:Fault>"
    )


@dataclass(frozen=True)
class Recording:
    """One recording on the fake NVR; times are in the device's own clock."""

    token: str
    earliest: datetime
    latest: datetime
    status: str = "Recording"
    name: str = "Camera"


@dataclass
class Stats:
    """What the fake was asked, for tests that bound how often the client calls."""

    creates: int = 0
    renews: int = 0
    pulls: int = 0
    unsubscribes: int = 0
    lost_pulls: int = 0  # pulls on a subscription that no longer exists
    expired: int = 0  # subscriptions that reached their termination time un-renewed
    auth_failures: int = 0
    max_in_flight: int = 0  # most requests answered at once, the held pulls not counted
    operations: list[str] = field(default_factory=list)


@dataclass
class _Subscription:
    id: int
    terminates: float  # monotonic
    queue: asyncio.Queue[str]


class FakeOnvifCamera:
    """The fake's HTTP service, run in a thread with its own event loop."""

    def __init__(
        self,
        *,
        username: str = "admin",
        password: str = "fake-cam-pw",
        clock_skew_s: float = 0.0,
        max_auth_skew_s: float = 300.0,
        get_services: bool = True,
        events: bool = True,
        recordings: list[Recording] | None = None,
        max_lifetime_s: float = 3600.0,
        extend_on_pull: bool = False,
        broken_relative_time: bool = False,
        unsupported: tuple[str, ...] = (),
        answer_delay_s: float = 0.0,
        delayed: tuple[str, ...] = (),
        serial: str = "FAKE-0001",
        port: int | None = None,
    ) -> None:
        self.username = username
        self.password = password
        self.clock_skew = timedelta(seconds=clock_skew_s)
        self.max_auth_skew_s = max_auth_skew_s
        self.get_services = get_services
        self.events = events
        self.recordings = recordings
        self.max_lifetime_s = max_lifetime_s
        self.extend_on_pull = extend_on_pull
        self.broken_relative_time = broken_relative_time
        self.unsupported = unsupported  # actions answered "not supported", like older firmware
        self.answer_delay_s = answer_delay_s  # a slow camera: each answer but a pull's waits
        self.delayed = delayed  # only these actions' answers wait (empty: all)
        self._in_flight = 0
        self.serial = serial
        self.port = port or free_port()
        self.stats = Stats()
        self._subs: dict[int, _Subscription] = {}
        self._ids = itertools.count(1)
        self._searches: dict[str, int] = {}
        self._stalls: list[float] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()

    # -- control, from the test's thread -------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def now(self) -> datetime:
        """The device's clock (skewed on purpose by `clock_skew_s`)."""
        return datetime.now(UTC) + self.clock_skew

    def start(self) -> "FakeOnvifCamera":
        self._thread = threading.Thread(target=self._run, name=f"onvif-fake-{self.port}")
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("fake ONVIF camera did not start")
        return self

    def close(self) -> None:
        if self._loop is not None and self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def inject(
        self,
        topic: str,
        *,
        source: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        operation: str = "Changed",
        raw_message: str | None = None,
    ) -> int:
        """Queue a notification on every live subscription; returns how many got it.
        `raw_message` replaces the tt:Message element (for vendor payloads)."""
        message = raw_message or self._message(topic, source or {}, data or {}, operation)
        notification = (
            f"<wsnt:NotificationMessage><wsnt:Topic Dialect={quoteattr(TOPIC_DIALECT)}>"
            f"{escape(topic)}</wsnt:Topic><wsnt:Message>{message}</wsnt:Message>"
            "</wsnt:NotificationMessage>"
        )
        return self._call(self._deliver, notification)

    def drop_subscriptions(self) -> None:
        """Forget every subscription, as a camera does when it reboots (a pull waiting on one
        gets the fault at once)."""

        def drop() -> None:
            for sub in self._subs.values():
                sub.queue.put_nowait(_DROPPED)
            self._subs.clear()

        self._call(drop)

    def stall_pulls(self, count: int, seconds: float) -> None:
        """The next `count` pulls hang `seconds` before answering (a network blip)."""

        def stall() -> None:
            self._stalls = [seconds] * count

        self._call(stall)

    def live_subscriptions(self) -> int:
        return self._call(lambda: len(self._live()))

    def _call(self, fn: Callable[..., T], *args: object) -> T:
        """Run `fn` on the fake's loop (its state belongs to that thread)."""
        assert self._loop is not None

        async def run() -> T:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(5)

    # -- the service ------------------------------------------------------------------------

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_post("/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        loop.run_until_complete(site.start())
        self._started.set()
        loop.run_forever()
        loop.close()

    def _message(
        self, topic: str, source: Mapping[str, str], data: Mapping[str, str], operation: str
    ) -> str:
        def items(values: Mapping[str, str]) -> str:
            return "".join(
                f"<tt:SimpleItem Name={quoteattr(k)} Value={quoteattr(v)}/>"
                for k, v in values.items()
            )

        return (
            f'<tt:Message UtcTime="{iso(self.now())}" PropertyOperation="{operation}">'
            f"<tt:Source>{items(source)}</tt:Source><tt:Data>{items(data)}</tt:Data>"
            "</tt:Message>"
        )

    def _live(self) -> list[_Subscription]:
        now = time.monotonic()
        for sub_id, sub in list(self._subs.items()):
            if sub.terminates <= now:
                self.stats.expired += 1
                del self._subs[sub_id]
        return list(self._subs.values())

    def _deliver(self, notification: str) -> int:
        live = self._live()
        for sub in live:
            sub.queue.put_nowait(notification)
        return len(live)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if b"PullMessages" in body:
            return await self._answer(request, body)
        self._in_flight += 1
        self.stats.max_in_flight = max(self.stats.max_in_flight, self._in_flight)
        try:
            return await self._answer(request, body, delay=self.answer_delay_s)
        finally:
            self._in_flight -= 1

    async def _answer(
        self, request: web.Request, body: bytes, *, delay: float = 0.0
    ) -> web.Response:
        try:
            root = etree.fromstring(body)
        except etree.XMLSyntaxError:
            return self._reply(fault("env:Sender", "ter:WellFormed", "not XML"), 400)
        operation = root.find(f"{{{SOAP_ENV}}}Body/*")
        if operation is None:
            return self._reply(fault("env:Sender", "ter:InvalidArgs", "empty body"), 400)
        name = etree.QName(operation).localname
        self.stats.operations.append(name)
        if delay and (not self.delayed or name in self.delayed):
            await asyncio.sleep(delay)
        if name != "GetSystemDateAndTime" and not self._authorized(root):
            self.stats.auth_failures += 1
            return self._reply(fault("env:Sender", "ter:NotAuthorized", "Sender not authorized"))
        handler = self._operations().get(name)
        if (
            handler is None
            or (name == "GetServices" and not self.get_services)
            or name in self.unsupported
        ):
            return self._reply(
                fault("env:Receiver", "ter:ActionNotSupported", f"{name} not supported")
            )
        answer = await handler(request, operation)
        return answer if isinstance(answer, web.Response) else self._reply(envelope(answer), 200)

    def _operations(self) -> dict[str, Handler]:
        return {
            "GetSystemDateAndTime": self._get_system_date_and_time,
            "GetServices": self._get_services,
            "GetCapabilities": self._get_capabilities,
            "GetDeviceInformation": self._get_device_information,
            "CreatePullPointSubscription": self._create_pull_point_subscription,
            "PullMessages": self._pull_messages,
            "Renew": self._renew,
            "Unsubscribe": self._unsubscribe,
            "SetSynchronizationPoint": self._set_synchronization_point,
            "GetRecordingSummary": self._get_recording_summary,
            "FindRecordings": self._find_recordings,
            "GetRecordingSearchResults": self._get_recording_search_results,
            "EndSearch": self._end_search,
        }

    @staticmethod
    def _reply(text: str, status: int = 500) -> web.Response:
        return web.Response(
            text=text, status=status, content_type="application/soap+xml", charset="utf-8"
        )

    def _authorized(self, root: etree._Element) -> bool:
        """WS-UsernameToken PasswordDigest, with Created checked against the device's clock."""
        token = root.find(f".//{{{WSSE}}}UsernameToken")
        if token is None:
            return False
        user = token.findtext(f"{{{WSSE}}}Username")
        digest = token.findtext(f"{{{WSSE}}}Password")
        nonce = token.findtext(f"{{{WSSE}}}Nonce")
        created = token.findtext(f"{{{WSU}}}Created")
        if user != self.username or not digest or not nonce or not created:
            return False
        expected = base64.b64encode(
            hashlib.sha1(
                base64.b64decode(nonce) + created.encode() + self.password.encode()
            ).digest()
        ).decode()
        if digest != expected:
            return False
        try:
            when = datetime.fromisoformat(created.replace("Z", "+00:00"))
        except ValueError:
            return False
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return abs((when - self.now()).total_seconds()) <= self.max_auth_skew_s

    # -- device management --------------------------------------------------------------

    async def _get_system_date_and_time(self, _r: web.Request, _op: etree._Element) -> str:
        now = self.now()
        return (
            "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
            "<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
            "<tt:TimeZone><tt:TZ>UTC0</tt:TZ></tt:TimeZone><tt:UTCDateTime>"
            f"<tt:Time><tt:Hour>{now.hour}</tt:Hour><tt:Minute>{now.minute}</tt:Minute>"
            f"<tt:Second>{now.second}</tt:Second></tt:Time><tt:Date><tt:Year>{now.year}</tt:Year>"
            f"<tt:Month>{now.month}</tt:Month><tt:Day>{now.day}</tt:Day></tt:Date>"
            "</tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
        )

    async def _get_device_information(self, _r: web.Request, _op: etree._Element) -> str:
        return (
            "<tds:GetDeviceInformationResponse><tds:Manufacturer>SecmonFake</tds:Manufacturer>"
            "<tds:Model>FAKE-NVR</tds:Model><tds:FirmwareVersion>1.0</tds:FirmwareVersion>"
            f"<tds:SerialNumber>{escape(self.serial)}</tds:SerialNumber>"
            "<tds:HardwareId>fake</tds:HardwareId></tds:GetDeviceInformationResponse>"
        )

    def _services(self) -> list[tuple[str, str]]:
        found = [("tds", "/onvif/device_service")]
        if self.events:
            found.append(("tev", "/onvif/events_service"))
        if self.recordings is not None:
            found.append(("tse", "/onvif/search_service"))
        return found

    async def _get_services(self, _r: web.Request, _op: etree._Element) -> str:
        services = "".join(
            f"<tds:Service><tds:Namespace>{NAMESPACES[prefix]}</tds:Namespace>"
            f"<tds:XAddr>{self.base_url}{path}</tds:XAddr>"
            "<tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version>"
            "</tds:Service>"
            for prefix, path in self._services()
        )
        return f"<tds:GetServicesResponse>{services}</tds:GetServicesResponse>"

    async def _get_capabilities(self, _r: web.Request, _op: etree._Element) -> str:
        events = (
            f"<tt:Events><tt:XAddr>{self.base_url}/onvif/events_service</tt:XAddr>"
            "<tt:WSSubscriptionPolicySupport>false</tt:WSSubscriptionPolicySupport>"
            "<tt:WSPullPointSupport>true</tt:WSPullPointSupport>"
            "<tt:WSPausableSubscriptionManagerInterfaceSupport>false"
            "</tt:WSPausableSubscriptionManagerInterfaceSupport></tt:Events>"
            if self.events
            else ""
        )
        return (
            "<tds:GetCapabilitiesResponse><tds:Capabilities>"
            f"<tt:Device><tt:XAddr>{self.base_url}/onvif/device_service</tt:XAddr></tt:Device>"
            f"{events}</tds:Capabilities></tds:GetCapabilitiesResponse>"
        )

    # -- events ---------------------------------------------------------------------------

    def _lifetime(self, requested: str | None) -> float:
        """Seconds granted for a requested InitialTerminationTime/TerminationTime (relative
        duration or absolute time in the device's clock), capped like a real device."""
        if not requested:
            return self.max_lifetime_s
        requested = requested.strip()
        if requested.upper().startswith("P"):
            # Firmware that misreads durations grants next to nothing.
            seconds = 1.0 if self.broken_relative_time else parse_duration(requested)
        else:
            try:
                when = datetime.fromisoformat(requested.replace("Z", "+00:00"))
            except ValueError:
                return self.max_lifetime_s
            seconds = (when - self.now()).total_seconds()
        return max(1.0, min(seconds, self.max_lifetime_s))

    def _times(self, sub: _Subscription, prefix: str, *, termination_first: bool = False) -> str:
        now = self.now()
        ends = now + timedelta(seconds=max(0.0, sub.terminates - time.monotonic()))
        current = f"<{prefix}:CurrentTime>{iso(now)}</{prefix}:CurrentTime>"
        termination = f"<{prefix}:TerminationTime>{iso(ends)}</{prefix}:TerminationTime>"
        return termination + current if termination_first else current + termination

    async def _create_pull_point_subscription(self, _r: web.Request, op: etree._Element) -> str:
        self.stats.creates += 1
        lifetime = self._lifetime(op.findtext(f"{{{NAMESPACES['tev']}}}InitialTerminationTime"))
        sub = _Subscription(next(self._ids), time.monotonic() + lifetime, asyncio.Queue())
        self._subs[sub.id] = sub
        return (
            "<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference>"
            f"<wsa:Address>{self.base_url}/onvif/subscription/{sub.id}</wsa:Address>"
            f"</tev:SubscriptionReference>{self._times(sub, 'wsnt')}"
            "</tev:CreatePullPointSubscriptionResponse>"
        )

    def _subscription(self, request: web.Request) -> _Subscription | None:
        tail = request.path.rsplit("/", 1)[-1]
        self._live()
        return self._subs.get(int(tail)) if tail.isdigit() else None

    @staticmethod
    def _unknown() -> web.Response:
        return FakeOnvifCamera._reply(
            fault("env:Receiver", "wsrf-rw:ResourceUnknownFault", "no such subscription")
        )

    async def _pull_messages(self, request: web.Request, op: etree._Element) -> str | web.Response:
        self.stats.pulls += 1
        stalled = bool(self._stalls)
        if stalled:  # the answer is late; it carries nothing (no event is lost with it)
            await asyncio.sleep(self._stalls.pop())
        sub = self._subscription(request)
        if sub is None:
            self.stats.lost_pulls += 1
            return self._unknown()
        tev = NAMESPACES["tev"]
        timeout = min(parse_duration(op.findtext(f"{{{tev}}}Timeout") or ""), PULL_TIMEOUT_CAP_S)
        limit = int(op.findtext(f"{{{tev}}}MessageLimit") or "1")
        messages: list[str] = []
        deadline = time.monotonic() + timeout
        while len(messages) < limit and not stalled:
            if not sub.queue.empty():
                message = sub.queue.get_nowait()
                if message is _DROPPED:
                    self.stats.lost_pulls += 1
                    return self._unknown()
                messages.append(message)
                continue
            if messages:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                message = await asyncio.wait_for(sub.queue.get(), remaining)
            except TimeoutError:
                break
            if message is _DROPPED:
                self.stats.lost_pulls += 1
                return self._unknown()
            messages.append(message)
        if self.extend_on_pull:
            sub.terminates = max(sub.terminates, time.monotonic() + 60)
        return (
            f"<tev:PullMessagesResponse>{self._times(sub, 'tev')}{''.join(messages)}"
            "</tev:PullMessagesResponse>"
        )

    async def _renew(self, request: web.Request, op: etree._Element) -> str | web.Response:
        self.stats.renews += 1
        sub = self._subscription(request)
        if sub is None:
            return self._unknown()
        lifetime = self._lifetime(op.findtext(f"{{{NAMESPACES['wsnt']}}}TerminationTime"))
        sub.terminates = time.monotonic() + lifetime
        times = self._times(sub, "wsnt", termination_first=True)
        return f"<wsnt:RenewResponse>{times}</wsnt:RenewResponse>"

    async def _unsubscribe(self, request: web.Request, _op: etree._Element) -> str | web.Response:
        self.stats.unsubscribes += 1
        sub = self._subscription(request)
        if sub is None:
            return self._unknown()
        del self._subs[sub.id]
        return "<wsnt:UnsubscribeResponse/>"

    async def _set_synchronization_point(self, _r: web.Request, _op: etree._Element) -> str:
        return "<tev:SetSynchronizationPointResponse/>"

    # -- recording search ---------------------------------------------------------------

    async def _get_recording_summary(self, _r: web.Request, _op: etree._Element) -> str:
        recs = self.recordings or []
        earliest = min((r.earliest for r in recs), default=self.now())
        latest = max((r.latest for r in recs), default=self.now())
        return (
            "<tse:GetRecordingSummaryResponse><tse:Summary>"
            f"<tt:DataFrom>{iso(earliest)}</tt:DataFrom><tt:DataUntil>{iso(latest)}</tt:DataUntil>"
            f"<tt:NumberRecordings>{len(recs)}</tt:NumberRecordings>"
            "</tse:Summary></tse:GetRecordingSummaryResponse>"
        )

    async def _find_recordings(self, _r: web.Request, _op: etree._Element) -> str:
        token = f"search-{next(self._ids)}"
        self._searches[token] = 0
        return (
            f"<tse:FindRecordingsResponse><tse:SearchToken>{token}</tse:SearchToken>"
            "</tse:FindRecordingsResponse>"
        )

    async def _get_recording_search_results(
        self, _r: web.Request, op: etree._Element
    ) -> str | web.Response:
        token = op.findtext(f"{{{NAMESPACES['tse']}}}SearchToken") or ""
        if token not in self._searches:
            return self._reply(fault("env:Sender", "ter:InvalidArgVal", "unknown search token"))
        infos = "".join(
            f"<tt:RecordingInformation><tt:RecordingToken>{escape(r.token)}</tt:RecordingToken>"
            f"<tt:Source><tt:SourceId>urn:fake:{escape(r.token)}</tt:SourceId>"
            f"<tt:Name>{escape(r.name)}</tt:Name><tt:Location>site</tt:Location>"
            "<tt:Description/><tt:Address>urn:fake</tt:Address></tt:Source>"
            f"<tt:EarliestRecording>{iso(r.earliest)}</tt:EarliestRecording>"
            f"<tt:LatestRecording>{iso(r.latest)}</tt:LatestRecording>"
            "<tt:Content>continuous</tt:Content>"
            f"<tt:RecordingStatus>{r.status}</tt:RecordingStatus></tt:RecordingInformation>"
            for r in self.recordings or []
        )
        return (
            "<tse:GetRecordingSearchResultsResponse><tse:ResultList>"
            f"<tt:SearchState>Completed</tt:SearchState>{infos}"
            "</tse:ResultList></tse:GetRecordingSearchResultsResponse>"
        )

    async def _end_search(self, _r: web.Request, op: etree._Element) -> str:
        self._searches.pop(op.findtext(f"{{{NAMESPACES['tse']}}}SearchToken") or "", None)
        return (
            f"<tse:EndSearchResponse><tse:Endpoint>{iso(self.now())}</tse:Endpoint>"
            "</tse:EndSearchResponse>"
        )


# -- WS-Discovery responder (for tests in network namespaces) ------------------------------

WSD_GROUP = "239.255.255.250"
WSD_PORT = 3702


def probe_match(variant: str, *, index: int, address: str, relates_to: str) -> bytes:
    """A ProbeMatches answer as device `index` would send it. Variants: `conforming`;
    `bare` (a lone ProbeMatch, no namespaces, the shape ipycam 1.3 sends); `reordered`
    (XAddrs before the endpoint, no Types, scopes split by several spaces); `garbage`."""
    endpoint = f"urn:uuid:{uuid.UUID(int=index + 1)}"
    xaddrs = f"http://{address}:{8000 + index}/onvif/device_service"
    scopes = [
        "onvif://www.onvif.org/type/video_encoder",
        f"onvif://www.onvif.org/name/Fake%20Cam%20{index}",
        f"onvif://www.onvif.org/hardware/FK-{100 + index}",
        "onvif://www.onvif.org/location/country/test",
    ]
    if variant == "garbage":
        return b"\x00\x01 not a SOAP message <<<"
    if variant == "bare":
        return (
            "<Envelope><Header><Action>ProbeMatch</Action></Header><Body><ProbeMatch>"
            f"<EndpointReference><Address>{endpoint}</Address></EndpointReference>"
            f"<Types>NetworkVideoTransmitter</Types><Scopes>{' '.join(scopes)}</Scopes>"
            f"<XAddrs>{xaddrs}</XAddrs><MetadataVersion>1</MetadataVersion>"
            "</ProbeMatch></Body></Envelope>"
        ).encode()
    if variant == "reordered":
        match = (
            f"<d:ProbeMatch><d:XAddrs>{xaddrs}</d:XAddrs><d:Scopes>{'   '.join(scopes)}</d:Scopes>"
            f"<a:EndpointReference><a:Address>{endpoint}</a:Address></a:EndpointReference>"
            "</d:ProbeMatch>"
        )
    else:
        match = (
            f"<d:ProbeMatch><a:EndpointReference><a:Address>{endpoint}</a:Address>"
            "</a:EndpointReference><d:Types>dn:NetworkVideoTransmitter</d:Types>"
            f"<d:Scopes>{' '.join(scopes)}</d:Scopes><d:XAddrs>{xaddrs}</d:XAddrs>"
            "<d:MetadataVersion>1</d:MetadataVersion></d:ProbeMatch>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
        'xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><s:Header>'
        "<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</a:Action>"
        f"<a:MessageID>urn:uuid:{uuid.uuid4()}</a:MessageID>"
        f"<a:RelatesTo>{relates_to}</a:RelatesTo>"
        "<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>"
        f"</s:Header><s:Body><d:ProbeMatches>{match}</d:ProbeMatches></s:Body></s:Envelope>"
    ).encode()


def serve_discovery(address: str, variants: list[str], *, log: bool = True) -> None:
    """Answer every WS-Discovery Probe on the group (joined on `address`'s interface) with one
    ProbeMatches per variant, unicast to the sender; forever."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("", WSD_PORT))
    membership = struct.pack("4s4s", socket.inet_aton(WSD_GROUP), socket.inet_aton(address))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
    if log:
        print(f"ready {address}", flush=True)
    while True:
        data, sender = sock.recvfrom(65535)
        try:
            root = etree.fromstring(data)
        except etree.XMLSyntaxError:
            continue
        if not any(etree.QName(el).localname == "Probe" for el in root.iter(etree.Element)):
            continue
        relates = next(
            (el.text or "" for el in root.iter(etree.Element)
             if etree.QName(el).localname == "MessageID"),
            "",
        )  # fmt: skip
        for index, variant in enumerate(variants):
            sock.sendto(
                probe_match(variant, index=index, address=address, relates_to=relates), sender
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    disc = sub.add_parser("discovery", help="answer WS-Discovery probes")
    disc.add_argument("--address", required=True)
    disc.add_argument("--variants", default="conforming,bare,reordered,garbage")
    args = parser.parse_args()
    if args.command == "discovery":
        serve_discovery(args.address, args.variants.split(","))


if __name__ == "__main__":
    main()
