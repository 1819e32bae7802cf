"""One camera's ONVIF session over onvif-zeep-async, and its snapshot fetch, with the library's
exceptions translated here into the probe's few failures.

Authentication is WS-UsernameToken with PasswordDigest. Its `Created` timestamp is checked by
the camera against its own clock (ipycam allows 300 s, many cameras less), so a camera whose
clock has drifted would refuse every request and look like a wrong password. The session
therefore reads the camera's clock first (GetSystemDateAndTime needs no authentication, ONVIF
Core §5.9.4.2) and signs every later request in the camera's time. Cameras that also (or
only) want HTTP Digest on their ONVIF endpoints get it: each service's HTTP session answers a
Digest 401 (aiohttp's DigestAuthMiddleware). Snapshots are plain HTTP with Basic or Digest
authentication, answered from the 401 challenge.
"""

import asyncio
import logging
import secrets
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx
import zeep.exceptions

from agent.probes.base import (
    AuthFailed,
    DeviceUnreachable,
    ProbeFailure,
    ProtocolError,
    Unsupported,
)
from agent.probes.onvif import auth
from agent.probes.onvif.library import SERVICES, ONVIFCamera, ONVIFError, UsernameDigestTokenDtDiff
from agent.probes.onvif.recording import RecordingReport, read_recordings

log = logging.getLogger(__name__)

# Words of SOAP faults that mean "your credentials" (ter:NotAuthorized, ipycam's "Sender not
# authorized", Hikvision's "The requested action requires authorization") and "no such call"
# (ter:ActionNotSupported, env:Receiver "Action not supported", ter:OptionalActionNotImplemented).
_AUTH_WORDS = ("notauthorized", "not authorized", "unauthorized", "authoriz", "authenticat")
_UNSUPPORTED_WORDS = ("actionnotsupported", "not supported", "notimplemented", "not implemented")
_NAMESPACE_NAMES = {spec["ns"]: name for name, spec in SERVICES.items() if "ns" in spec}
_SHORT_NAMES = {"devicemgmt": "device"}
# Deadlines one recordings read may take: summary, find, up to a few result pages, end.
RECORDING_CALLS = 4
_DATE_TIME_REQUEST = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
    '<s:Body><GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body>'
    "</s:Envelope>"
)


class FetchFailure(Exception):  # noqa: N818 - the domain word, like ProbeFailure
    """A snapshot could not be fetched; `reason` goes into the check value."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ClockReading:
    camera_utc: datetime
    offset_s: float  # camera minus agent, measured at the middle of the round trip
    source: str | None  # DateTimeType: "NTP" or "Manual"
    round_trip_ms: float


@dataclass(frozen=True)
class NtpSettings:
    from_dhcp: bool | None
    servers: tuple[str, ...]  # the ones in use: from DHCP when from_dhcp, else the manual ones


@dataclass(frozen=True)
class ServiceList:
    source: str  # which call gave it: "GetServices", or "GetCapabilities" as the fallback
    names: tuple[str, ...]  # short names: device, media, ptz, events, imaging, ...


@dataclass(frozen=True)
class DeviceInfo:
    manufacturer: str | None
    model: str | None
    firmware: str | None
    serial: str | None
    hardware_id: str | None


@dataclass(frozen=True)
class MediaProfile:
    token: str
    name: str | None
    encoding: str | None
    width: int | None
    height: int | None
    source_token: str | None = None  # the video source (sensor) the profile shows


# IrCutFilter modes of the Imaging service: ON, the filter is in (day, colour); OFF, it is out
# (night, IR illuminated); AUTO, the camera switches by itself and does not say which is on.
IR_CUT_MODES = ("ON", "OFF", "AUTO")


def utc_now() -> datetime:
    return datetime.now(UTC)


class OnvifSession:
    """Calls on one camera, each under `call_timeout`. Not safe for concurrent use: the probe
    keeps one request in flight per camera."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str | None,
        password: str | None,
        *,
        call_timeout: float,
        now: Callable[[], datetime] = utc_now,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.host, self.port = host, port
        self._username, self._password = username, password
        self._call_timeout = call_timeout
        self._now = now
        self._clock = clock
        self._camera = ONVIFCamera(host, port, username, password, adjust_time=False)
        self._http: httpx.AsyncClient | None = None
        self._digest_sessions: list[aiohttp.ClientSession] = []
        self._with_digest: weakref.WeakSet[Any] = weakref.WeakSet()  # services given one
        self.offset = timedelta(0)

    @property
    def library_camera(self) -> Any:
        """The onvif-zeep-async `ONVIFCamera` under this session, with the service addresses
        and clock offset learnt here: for the event subscription (PullPoint), which must sign
        its requests in the camera's time too."""
        return self._camera

    async def close(self) -> None:
        await self._camera.close()
        for session in self._digest_sessions:
            await session.close()
        self._digest_sessions.clear()
        if self._http is not None:
            await self._http.aclose()

    async def _service(self, name: str) -> Any:
        """The library's service client, its HTTP session answering Digest challenges."""
        service = await self._camera.create_onvif_service(name)
        if (
            self._username is not None
            and self._password is not None
            and service not in self._with_digest
        ):
            # The library makes a plain session per service; a second one on the same
            # connector adds the middleware (the library still closes the connector).
            digest = aiohttp.ClientSession(
                connector=service.transport.session.connector,
                connector_owner=False,
                timeout=service.transport.session.timeout,
                middlewares=(aiohttp.DigestAuthMiddleware(self._username, self._password),),
            )
            service.transport.session = digest
            self._digest_sessions.append(digest)
            self._with_digest.add(service)
        return service

    # Device service ---------------------------------------------------------------------

    async def read_clock(self) -> ClockReading:
        """The camera's UTC clock against ours; later requests are signed in the camera's time.

        Without authentication first, as the spec says; then with it, for cameras that insist
        (ipycam 1.3 does). If that is refused too, the camera may simply be far off: its HTTP
        `Date` header gives its clock to the second, and one more try signed in that time
        tells a drifted clock from a wrong password.
        """
        try:
            return await self._clock_call(authless=True)
        except AuthFailed:
            pass
        try:
            return await self._clock_call(authless=False)
        except AuthFailed:
            estimate = await self._date_header_offset()
            if estimate is None or abs((estimate - self.offset).total_seconds()) < 2:
                raise
            log.debug("%s: retrying with the clock of its Date header (%s)", self.host, estimate)
            self._use_offset(estimate)
            return await self._clock_call(authless=False)

    async def _clock_call(self, *, authless: bool) -> ClockReading:
        sent, started = self._now(), self._clock()
        answer = await self._call("devicemgmt", "GetSystemDateAndTime", authless=authless)
        round_trip = self._clock() - started
        utc = getattr(answer, "UTCDateTime", None)
        if utc is None:
            raise ProtocolError("GetSystemDateAndTime: no UTCDateTime in the answer")
        try:
            camera = datetime(
                int(utc.Date.Year),
                int(utc.Date.Month),
                int(utc.Date.Day),
                int(utc.Time.Hour),
                int(utc.Time.Minute),
                int(utc.Time.Second),
                tzinfo=UTC,
            )
        except (AttributeError, TypeError, ValueError) as err:
            raise ProtocolError(f"GetSystemDateAndTime: bad UTCDateTime: {err}") from err
        offset = _offset(camera, sent, round_trip)
        self._use_offset(offset)
        source = getattr(answer, "DateTimeType", None)
        return ClockReading(
            camera_utc=camera,
            offset_s=offset.total_seconds(),
            source=str(source) if source is not None else None,
            round_trip_ms=round_trip * 1000.0,
        )

    async def _date_header_offset(self) -> timedelta | None:
        """The camera's clock from the `Date` header of a bare request to its device service
        (every HTTP answer carries one, a 401 included), or None without one."""
        url = f"http://{self.host}:{self.port}/onvif/device_service"
        sent, started = self._now(), self._clock()
        try:
            async with asyncio.timeout(self._call_timeout):
                response = await self._http_client().post(
                    url,
                    content=_DATE_TIME_REQUEST,
                    headers={"Content-Type": "application/soap+xml; charset=utf-8"},
                )
        except (TimeoutError, httpx.HTTPError):
            return None
        round_trip = self._clock() - started
        try:
            stamp = parsedate_to_datetime(response.headers.get("date", ""))
        except (TypeError, ValueError):
            return None
        if stamp.tzinfo is None:
            return None
        return _offset(stamp.astimezone(UTC), sent, round_trip)

    def _http_client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._call_timeout, follow_redirects=False)
        return self._http

    def _use_offset(self, offset: timedelta) -> None:
        """Sign WS-Security `Created` in the camera's time, in services made before and after."""
        self.offset = offset
        self._camera.dt_diff = offset
        for service in self._camera.services.values():
            wsse = getattr(service.zeep_client, "wsse", None)
            if isinstance(wsse, UsernameDigestTokenDtDiff):
                wsse.dt_diff = offset

    async def discover_services(self) -> ServiceList:
        """Service addresses from GetServices; from GetCapabilities on devices that fault on
        GetServices (older firmware; optional in ONVIF before 2.0)."""
        unsupported: Unsupported | None = None
        try:
            answer = await self._call("devicemgmt", "GetServices", {"IncludeCapability": False})
        except (Unsupported, ProtocolError) as err:
            unsupported = Unsupported(f"GetServices: {err}")
        else:
            xaddrs = {
                str(s.Namespace): str(s.XAddr)
                for s in answer or []
                if getattr(s, "Namespace", None) and getattr(s, "XAddr", None)
            }
            if xaddrs:
                return self._learn("GetServices", xaddrs)
        answer = await self._call("devicemgmt", "GetCapabilities", {"Category": "All"})
        xaddrs = {}
        for name in ("Analytics", "Device", "Events", "Imaging", "Media", "PTZ"):
            capability = getattr(answer, name, None)
            xaddr = getattr(capability, "XAddr", None)
            spec = SERVICES.get(name.lower()) or (
                SERVICES["devicemgmt"] if name == "Device" else None
            )
            if xaddr and spec:
                xaddrs[spec["ns"]] = str(xaddr)
        extension = getattr(answer, "Extension", None)  # ONVIF 2.x services listed here
        for name in ("DeviceIO", "Recording", "Search", "Replay", "Receiver"):
            xaddr = getattr(getattr(extension, name, None), "XAddr", None)
            spec = SERVICES.get(name.lower())
            if xaddr and spec:
                xaddrs[spec["ns"]] = str(xaddr)
        if not xaddrs:
            raise unsupported or ProtocolError("GetCapabilities: no service addresses")
        return self._learn("GetCapabilities", xaddrs)

    def _learn(self, source: str, xaddrs: dict[str, str]) -> ServiceList:
        self._camera.xaddrs = dict(xaddrs)
        names = sorted(
            {
                _SHORT_NAMES.get(_NAMESPACE_NAMES[ns], _NAMESPACE_NAMES[ns])
                for ns in xaddrs
                if ns in _NAMESPACE_NAMES
            }
        )
        return ServiceList(source=source, names=tuple(names))

    async def ntp(self) -> NtpSettings:
        """Where the camera sets its clock from (GetNTP; optional on many cameras)."""
        answer = await self._call("devicemgmt", "GetNTP")
        from_dhcp = getattr(answer, "FromDHCP", None)
        hosts = getattr(answer, "NTPFromDHCP" if from_dhcp else "NTPManual", None) or []
        servers = []
        for host in hosts:
            name = next(
                (
                    getattr(host, field, None)
                    for field in ("DNSname", "IPv4Address", "IPv6Address")
                    if getattr(host, field, None)
                ),
                None,
            )
            if name:
                servers.append(str(name)[:64])
        return NtpSettings(
            from_dhcp=bool(from_dhcp) if from_dhcp is not None else None, servers=tuple(servers)
        )

    async def device_information(self) -> DeviceInfo:
        answer = await self._call("devicemgmt", "GetDeviceInformation")

        def text(name: str) -> str | None:
            value = getattr(answer, name, None)
            return str(value).strip()[:128] or None if value is not None else None

        return DeviceInfo(
            manufacturer=text("Manufacturer"),
            model=text("Model"),
            firmware=text("FirmwareVersion"),
            serial=text("SerialNumber"),
            hardware_id=text("HardwareId"),
        )

    # Media service ----------------------------------------------------------------------

    async def profiles(self) -> list[MediaProfile]:
        found: list[MediaProfile] = []
        for profile in await self._call("media", "GetProfiles") or []:
            encoder = getattr(profile, "VideoEncoderConfiguration", None)
            resolution = getattr(encoder, "Resolution", None)
            source = getattr(profile, "VideoSourceConfiguration", None)
            found.append(
                MediaProfile(
                    token=str(profile.token),
                    name=_text(getattr(profile, "Name", None)),
                    encoding=_text(getattr(encoder, "Encoding", None)),
                    width=_int(getattr(resolution, "Width", None)),
                    height=_int(getattr(resolution, "Height", None)),
                    source_token=_text(getattr(source, "SourceToken", None)),
                )
            )
        return found

    async def stream_uri(self, token: str) -> str:
        answer = await self._call(
            "media",
            "GetStreamUri",
            {
                "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}},
                "ProfileToken": token,
            },
        )
        return _uri(answer, "GetStreamUri")

    async def snapshot_uri(self, token: str) -> str:
        return _uri(
            await self._call("media", "GetSnapshotUri", {"ProfileToken": token}), "GetSnapshotUri"
        )

    # Imaging service -------------------------------------------------------------------

    async def ir_cut_filter(self, source_token: str) -> str | None:
        """The video source's IrCutFilter mode (`IR_CUT_MODES`, GetImagingSettings), or None
        when the settings do not say (the element is optional)."""
        answer = await self._call(
            "imaging", "GetImagingSettings", {"VideoSourceToken": source_token}
        )
        mode = (_text(getattr(answer, "IrCutFilter", None)) or "").upper()
        return mode if mode in IR_CUT_MODES else None

    # Search service (recordings) ------------------------------------------------------

    async def recordings(
        self, *, agent_now: datetime, within: float | None = None
    ) -> RecordingReport:
        """What the Search service says of the recordings (`recording.read_recordings`), its
        times in the camera's clock. Several calls (summary, then a search job): the whole is
        bounded by `RECORDING_CALLS` call deadlines, or `within` seconds if less. Raises
        Unsupported without a Search service, another ProbeFailure when the read fails."""
        what = f"recordings on {self.host}:{self.port}"
        limit = self._call_timeout * RECORDING_CALLS
        if within is not None:
            limit = min(limit, within)
        wait = timedelta(seconds=min(2.0, self._call_timeout / 2, limit / 4))
        try:
            async with asyncio.timeout(limit):
                return await read_recordings(_SearchView(self), agent_now=agent_now, wait=wait)
        except TimeoutError as err:
            raise ProtocolError(f"{what}: not read within {limit:.3g} s") from err
        except ProbeFailure:
            raise
        except Exception as err:  # the library raises many kinds: translated, or re-raised
            raise translate(err, what) from err

    # Snapshot over HTTP -----------------------------------------------------------------

    async def fetch_snapshot(self, uri: str, *, max_bytes: int) -> bytes:
        """GET the snapshot; a 401 is answered once with Basic or Digest from its challenge."""
        self._http_client()
        try:
            async with asyncio.timeout(self._call_timeout):
                status, headers, body = await self._get(uri, {}, max_bytes)
                if status == 401:
                    if self._username is None or self._password is None:
                        raise FetchFailure("auth_failed", "snapshot needs credentials")
                    try:
                        challenge = auth.choose(
                            auth.parse_challenges(headers.get_list("www-authenticate"))
                        )
                    except auth.UnsupportedChallenge as err:
                        raise FetchFailure("auth_failed", f"snapshot: {err}") from err
                    parts = urlsplit(uri)
                    value = auth.authorization(
                        challenge,
                        method="GET",
                        uri=(parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                        username=self._username,
                        password=self._password,
                        cnonce=secrets.token_hex(8),
                    )
                    status, headers, body = await self._get(
                        uri, {"Authorization": value}, max_bytes
                    )
                    if status == 401:
                        raise FetchFailure("auth_failed", "snapshot: credentials refused")
        except TimeoutError as err:
            raise FetchFailure("timeout", f"no snapshot within {self._call_timeout:g} s") from err
        except httpx.HTTPError as err:
            raise FetchFailure("unreachable", f"snapshot: {err}") from err
        if status != 200:
            raise FetchFailure(f"status_{status}", f"snapshot: HTTP {status}")
        return body

    async def _get(
        self, uri: str, headers: dict[str, str], max_bytes: int
    ) -> tuple[int, httpx.Headers, bytes]:
        assert self._http is not None
        async with self._http.stream("GET", uri, headers=headers) as response:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise FetchFailure("too_large", f"snapshot larger than {max_bytes} bytes")
            return response.status_code, response.headers, bytes(body)

    # The one place the library is called ------------------------------------------------

    async def _call(
        self, service_name: str, operation: str, params: Any = None, *, authless: bool = False
    ) -> Any:
        what = f"{operation} on {self.host}:{self.port}"
        try:
            async with asyncio.timeout(self._call_timeout):
                service = await self._service(service_name)
                # Without credentials there is no UsernameToken to send (the library's would
                # fail on None): every call goes without one and the camera says if it minds.
                bare = authless or self._username is None or self._password is None
                method = getattr(service, f"authless_{operation}" if bare else operation)
                return await method(params)
        except TimeoutError as err:
            raise DeviceUnreachable(f"{what}: no answer within {self._call_timeout:g} s") from err
        except ProbeFailure:
            raise
        except Exception as err:  # the library raises many kinds: translated below, or re-raised
            raise translate(err, what) from err


class _SearchView:
    """What `read_recordings` asks of a camera, answered by the session: its Search service
    with the session's HTTP Digest, and its clock offset."""

    def __init__(self, session: OnvifSession) -> None:
        self._session = session
        self.dt_diff = session.offset

    async def create_search_service(self) -> Any:
        return await self._session._service("search")


def translate(err: BaseException, what: str) -> ProbeFailure:
    """The probe's failure for an exception out of onvif-zeep-async, zeep or aiohttp."""
    if isinstance(err, ONVIFError) and err.__cause__ is not None:
        return translate(err.__cause__, what)
    if isinstance(err, zeep.exceptions.Fault):
        words = " ".join(
            [str(err.message or ""), str(err.code or "")]
            + [str(getattr(s, "localname", s)) for s in err.subcodes or []]
        ).lower()
        if any(w in words for w in _AUTH_WORDS):
            return AuthFailed(f"{what}: {err.message}")
        if any(w in words for w in _UNSUPPORTED_WORDS):
            return Unsupported(f"{what}: {err.message}")
        return ProtocolError(f"{what}: SOAP fault {err.message}")
    if isinstance(err, zeep.exceptions.TransportError):
        if err.status_code in (401, 403):
            return AuthFailed(f"{what}: HTTP {err.status_code}")
        if err.status_code in (404, 405, 501):
            return Unsupported(f"{what}: HTTP {err.status_code}")
        return ProtocolError(f"{what}: HTTP {err.status_code}")
    if isinstance(err, aiohttp.ClientConnectionError | OSError):
        return DeviceUnreachable(f"{what}: {err}")
    if isinstance(err, ONVIFError) and "support service" in str(err):
        return Unsupported(f"{what}: the device lists no such service")
    if isinstance(err, zeep.exceptions.Error | aiohttp.ClientError | ONVIFError | ValueError):
        return ProtocolError(f"{what}: {type(err).__name__}: {err}")
    return ProtocolError(f"{what}: unexpected {type(err).__name__}: {err}")


def _offset(camera: datetime, sent: datetime, round_trip: float) -> timedelta:
    """Camera minus agent. The camera's clock is read at the middle of the round trip, and it
    reports whole seconds (truncated): half a second later on average."""
    middle = sent + timedelta(seconds=round_trip / 2)
    return camera + timedelta(seconds=0.5) - middle


def _uri(answer: Any, operation: str) -> str:
    uri = getattr(answer, "Uri", None)
    if not uri:
        raise ProtocolError(f"{operation}: no Uri in the answer")
    return str(uri)


def _text(value: Any) -> str | None:
    return str(value) if value is not None else None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
