"""The ONVIF probe: one poll of a camera reads its clock, identity, services and stream, every
`snapshot_interval` its picture, and every `recording_interval` its recordings (Search
service). At most one request is in flight per camera (cameras with small HTTP servers fall
over under parallel requests: ipycam's listen backlog is 5), and every request runs under
`call_timeout` inside the device's deadline.

A failure of the device service (clock, identity) fails the poll: unreachable, auth failed or
protocol error, so the server opens the right fault. A failure of the stream, the snapshot or the
recordings read while ONVIF answers is a check value (`camera.stream_down`, `snapshot.ok`,
`recording.error`), and an optional call the camera does not have is listed in
`onvif.unsupported`, the camera staying monitored.
"""

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from agent.config import DeviceConfig
from agent.probes.base import (
    DeviceUnreachable,
    ProbeFailure,
    ProbeResult,
    ProtocolError,
    Unsupported,
)
from agent.probes.onvif import readings
from agent.probes.onvif.client import (
    DeviceInfo,
    FetchFailure,
    MediaProfile,
    NtpSettings,
    OnvifSession,
    ServiceList,
    utc_now,
)
from agent.probes.onvif.image import ImageInfo, NotAnImage, inspect
from agent.probes.onvif.options import DEFAULT_ONVIF_PORT, OnvifOptions
from agent.probes.onvif.recording import assess, recording_checks
from agent.probes.onvif.rtsp import RtspFailure, check_stream
from wire.schema import CheckValue, Event

log = logging.getLogger(__name__)

DEADLINE_SHARE = 0.9  # of device.timeout: answer before the scheduler's own deadline fires
# Profiles and stream URIs rarely change: read again every this many polls, and at once after
# a failed stream check (the camera may hand out a new URI). Halves a poll's CPU and requests.
MEDIA_REFRESH_POLLS = 10
# The recordings read (several calls) gets what is left of the poll's deadline, less a margin
# for the answer, and waits for another poll when less than the minimum is left.
RECORDING_MARGIN_S = 0.5
RECORDING_MIN_S = 1.0


@dataclass(frozen=True)
class Snapshot:
    """One fetched picture, handed to picture analysis."""

    data: bytes
    image: ImageInfo
    taken_at: datetime
    streaming: bool | None  # did the stream check pass on this poll (None: not checked)


@dataclass(frozen=True)
class PictureReading:
    checks: dict[str, CheckValue] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)


# Picture health (agent.probes.onvif.picture_hook.PictureHealth in the agent): called in a
# worker thread with each snapshot that decoded as an image; its checks and events join the poll's.
PictureHook = Callable[[DeviceConfig, Snapshot], PictureReading]
SessionFactory = Callable[..., OnvifSession]


@dataclass
class _Camera:
    """What the probe keeps per camera between polls."""

    lock: asyncio.Lock
    loop: asyncio.AbstractEventLoop
    session: OnvifSession | None = None
    services: ServiceList | None = None
    info: DeviceInfo | None = None
    unsupported: set[str] = field(default_factory=set)
    next_snapshot: float = 0.0  # monotonic
    snapshot_uri: tuple[str, str] | None = None  # (profile token, uri)
    media: tuple[MediaProfile, str | None] | None = None  # chosen profile and its stream URI
    media_age: int = 0  # polls since the profile and stream URI were read
    ntp: NtpSettings | None = None
    ntp_age: int = 0
    next_recording: float = 0.0  # monotonic
    deadline: float = 0.0  # the running poll's end, in loop time


class OnvifProbe:
    """Polls ONVIF cameras; keeps per camera its session, services and last identity."""

    def __init__(
        self,
        *,
        picture: PictureHook | None = None,
        now: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        session_factory: SessionFactory = OnvifSession,
    ) -> None:
        self._picture = picture
        self._now = now
        self._monotonic = monotonic
        self._session_factory = session_factory
        self._cameras: dict[str, _Camera] = {}
        # Per camera since the agent started: sessions and event subscriptions made again after
        # one failed (the camera rebooted or dropped off the network); `onvif.reconnects`.
        self._reconnects: Counter[str] = Counter()
        self._connected: set[str] = set()

    def _camera(self, device: DeviceConfig) -> _Camera:
        loop = asyncio.get_running_loop()
        camera = self._cameras.get(device.id)
        if camera is None or camera.loop is not loop:  # a new loop (tests, `check`): new state
            camera = _Camera(lock=asyncio.Lock(), loop=loop, info=camera.info if camera else None)
            self._cameras[device.id] = camera
        return camera

    def note_reconnect(self, device_id: str) -> None:
        """Count a reconnect seen elsewhere (the camera's event subscription made again)."""
        self._reconnects[device_id] += 1

    def session_for(self, device_id: str) -> OnvifSession | None:
        """The camera's live session (None before its first good poll): the event subscription
        reuses its service addresses and clock offset. Use it between polls only, under
        `lock_for`, to keep one request in flight per camera."""
        camera = self._cameras.get(device_id)
        return camera.session if camera is not None else None

    def lock_for(self, device_id: str) -> asyncio.Lock | None:
        camera = self._cameras.get(device_id)
        return camera.lock if camera is not None else None

    async def aclose(self) -> None:
        """Close every camera's HTTP sessions (made on this loop)."""
        for camera in self._cameras.values():
            if camera.session is not None and camera.loop is asyncio.get_running_loop():
                await camera.session.close()
            camera.session = None

    async def poll(self, device: DeviceConfig) -> ProbeResult:
        options = device.onvif or OnvifOptions()
        camera = self._camera(device)
        budget = device.timeout * DEADLINE_SHARE
        async with camera.lock:
            camera.deadline = asyncio.get_running_loop().time() + budget
            answered: list[bool] = []
            try:
                async with asyncio.timeout(budget):
                    return await self._poll(device, options, camera, answered)
            except TimeoutError as err:
                await self._drop_session(camera)
                if answered:
                    raise ProtocolError(
                        f"ONVIF poll of {device.address} did not finish within {budget:.2g} s"
                    ) from err
                raise DeviceUnreachable(
                    f"no ONVIF answer from {device.address} within {budget:.2g} s"
                ) from err
            except ProbeFailure:
                await self._drop_session(camera)
                raise

    async def _drop_session(self, camera: _Camera) -> None:
        """After a failed poll start afresh: the camera may have rebooted or been swapped."""
        session, camera.session = camera.session, None
        camera.services, camera.snapshot_uri, camera.media = None, None, None
        camera.ntp = None
        camera.unsupported.clear()  # learnt again from whatever answers next
        if session is not None:
            await session.close()

    async def _poll(
        self, device: DeviceConfig, options: OnvifOptions, camera: _Camera, answered: list[bool]
    ) -> ProbeResult:
        fresh = camera.session is None
        if camera.session is None:
            password = device.credentials.password
            camera.session = self._session_factory(
                device.address,
                device.port or DEFAULT_ONVIF_PORT,
                device.credentials.username,
                password.reveal() if password is not None else None,
                call_timeout=options.call_timeout,
            )
        session = camera.session
        clock = await session.read_clock()
        answered.append(True)
        if fresh and device.id in self._connected:
            self._reconnects[device.id] += 1
        self._connected.add(device.id)
        checks: dict[str, CheckValue] = readings.clock_checks(clock, options.clock_drift_threshold)
        checks["onvif.reconnects"] = self._reconnects[device.id]
        events: list[Event] = []

        if camera.services is None:
            camera.services = await session.discover_services()
            if camera.services.source != "GetServices":
                camera.unsupported.add("GetServices")
            log.debug("%s: services %s", device.id, camera.services)
        await self._ntp(device, camera, checks)
        checks["onvif.services"] = ",".join(camera.services.names)
        checks["onvif.discovery"] = camera.services.source

        info = await session.device_information()
        events += readings.identity_events(camera.info, info, self._now())
        if camera.info is not None and camera.info.serial != info.serial:
            camera.snapshot_uri, camera.media = None, None  # another device: ask it afresh
            camera.unsupported.clear()
            if camera.services.source != "GetServices":
                camera.unsupported.add("GetServices")
        camera.info = info

        profile: MediaProfile | None = None
        streaming: bool | None = None
        if "media" in camera.services.names:
            try:
                media = await self._media(options, camera)
            except ProtocolError as err:
                # The media service answers with errors: no client can get the stream either.
                log.debug("%s: media service: %s", device.id, err)
                media = None
                checks.update(readings.stream_down(None, "media_error"))
            if media is None:
                if "stream.error" not in checks and "GetProfiles" not in camera.unsupported:
                    checks["stream.error"] = "no_profile"
            else:
                profile, uri = media
                if uri is not None:
                    streaming = await self._check_stream(device, options, profile, uri, checks)
                    if not streaming:
                        camera.media = None  # ask for the URI again next time
        else:
            camera.unsupported.add("Media")

        if (
            profile is not None
            and options.snapshot_interval > 0
            and self._monotonic() >= camera.next_snapshot
        ):
            camera.next_snapshot = self._monotonic() + options.snapshot_interval
            picture = await self._snapshot(device, options, camera, profile, streaming, checks)
            if picture is not None:
                checks.update(picture.checks)
                events += picture.events

        if (
            options.recording_interval > 0
            and "search" in camera.services.names
            and "Search" not in camera.unsupported
            and self._monotonic() >= camera.next_recording
        ):
            camera.next_recording = self._monotonic() + options.recording_interval
            await self._recordings(device, options, camera, checks)

        if camera.unsupported:
            checks["onvif.unsupported"] = ",".join(sorted(camera.unsupported))
        return ProbeResult(
            checks=checks,
            latency_ms=clock.round_trip_ms,
            events=events,
            identity=readings.identity(info),
        )

    async def _ntp(
        self, device: DeviceConfig, camera: _Camera, checks: dict[str, CheckValue]
    ) -> None:
        """NTP settings, read as seldom as the media profiles; optional."""
        assert camera.session is not None
        camera.ntp_age += 1
        if camera.ntp is None or camera.ntp_age >= MEDIA_REFRESH_POLLS:
            camera.ntp, camera.ntp_age = None, 0
            if "GetNTP" in camera.unsupported:
                return
            try:
                camera.ntp = await camera.session.ntp()
            except Unsupported:
                camera.unsupported.add("GetNTP")
                return
            except ProtocolError as err:
                log.debug("%s: GetNTP: %s", device.id, err)
                return
        checks.update(readings.ntp_checks(camera.ntp))

    async def _media(
        self, options: OnvifOptions, camera: _Camera
    ) -> tuple[MediaProfile, str | None] | None:
        """The profile to check and its stream URI (None: no stream check), cached a while."""
        assert camera.session is not None
        camera.media_age += 1
        if camera.media is not None and camera.media_age < MEDIA_REFRESH_POLLS:
            return camera.media
        camera.media, camera.media_age = None, 0
        try:
            profile = readings.choose_profile(await camera.session.profiles(), options.profile)
        except Unsupported:
            camera.unsupported.add("GetProfiles")
            return None
        if profile is None:
            return None
        uri: str | None = None
        if options.stream_check:
            try:
                uri = await camera.session.stream_uri(profile.token)
            except Unsupported:
                camera.unsupported.add("GetStreamUri")
        camera.media = (profile, uri)
        return camera.media

    async def _check_stream(
        self,
        device: DeviceConfig,
        options: OnvifOptions,
        profile: MediaProfile,
        uri: str,
        checks: dict[str, CheckValue],
    ) -> bool:
        password = device.credentials.password
        try:
            check = await check_stream(
                uri,
                username=device.credentials.username,
                password=password.reveal() if password is not None else None,
                deadline=options.call_timeout,
            )
        except RtspFailure as failure:
            log.debug("%s: stream %s: %s", device.id, uri, failure)
            checks.update(readings.stream_down(profile, failure.reason))
            return False
        checks.update(readings.stream_ok(profile, check))
        return True

    async def _recordings(
        self,
        device: DeviceConfig,
        options: OnvifOptions,
        camera: _Camera,
        checks: dict[str, CheckValue],
    ) -> None:
        """Recording health from the Search service, every `recording_interval`: a camera
        or NVR that cannot tell is listed unsupported; a read that fails is `recording.error`
        (not a failed poll, and not "stopped": we do not know)."""
        assert camera.session is not None
        left = camera.deadline - asyncio.get_running_loop().time() - RECORDING_MARGIN_S
        if left < RECORDING_MIN_S:  # a slow poll: read them on the next one, not fail this one
            camera.next_recording = 0.0
            return
        try:
            report = await camera.session.recordings(agent_now=self._now(), within=left)
        except Unsupported as err:
            log.debug("%s: recordings: %s", device.id, err)
            camera.unsupported.add("Search")
            return
        except ProbeFailure as err:
            log.debug("%s: recordings: %s", device.id, err)
            checks["recording.error"] = err.code.value.rpartition(".")[2]  # e.g. unreachable
            return
        verdict = assess(report, stopped_after_s=options.recording_stopped_after)
        checks.update(recording_checks(verdict))

    async def _snapshot(
        self,
        device: DeviceConfig,
        options: OnvifOptions,
        camera: _Camera,
        profile: MediaProfile,
        streaming: bool | None,
        checks: dict[str, CheckValue],
    ) -> PictureReading | None:
        assert camera.session is not None
        if camera.snapshot_uri is None or camera.snapshot_uri[0] != profile.token:
            try:
                uri = await camera.session.snapshot_uri(profile.token)
            except Unsupported:
                camera.unsupported.add("GetSnapshotUri")
                return None
            except ProtocolError as err:
                log.debug("%s: GetSnapshotUri: %s", device.id, err)
                checks.update(readings.snapshot_failed("media_error"))
                return None
            camera.snapshot_uri = (profile.token, uri)
        started = self._monotonic()
        try:
            data = await camera.session.fetch_snapshot(
                camera.snapshot_uri[1], max_bytes=options.snapshot_max_bytes
            )
            image = inspect(data)
        except FetchFailure as failure:
            log.debug("%s: snapshot: %s", device.id, failure)
            checks.update(readings.snapshot_failed(failure.reason))
            return None
        except NotAnImage as err:
            log.debug("%s: snapshot: %s", device.id, err)
            checks.update(readings.snapshot_failed("not_an_image"))
            return None
        elapsed_ms = (self._monotonic() - started) * 1000.0
        checks.update(readings.snapshot_ok(image, len(data), elapsed_ms))
        if self._picture is None:
            return None
        snapshot = Snapshot(data=data, image=image, taken_at=self._now(), streaming=streaming)
        try:
            return await asyncio.to_thread(self._picture, device, snapshot)
        except ProbeFailure as err:  # e.g. a JPEG whose header reads but whose data does not
            log.debug("%s: picture analysis: %s", device.id, err)
            checks.update(readings.snapshot_failed("unreadable"))
            return None
