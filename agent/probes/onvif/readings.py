"""From what one ONVIF poll learned to check values and events. Pure: no I/O, no clock.

Check names (flat, as every probe's):
- `clock.offset_s` (camera minus agent), `clock.source` (NTP/Manual), `camera.clock_drift`,
  `clock.ntp_servers` and `clock.ntp_from_dhcp` (where GetNTP is supported);
- `onvif.services`, `onvif.discovery` (GetServices, or GetCapabilities as the fallback),
  `onvif.unsupported` (optional calls this camera does not have; its other checks go on);
- `stream.ok`, `stream.codec`, `stream.width`, `stream.height`, `stream.rtsp_ms`,
  `stream.profile`, `stream.error`, and `camera.stream_down` (the stream fails while ONVIF
  answers). `stream.error`: the RTSP check's reason (unreachable, timeout, auth_failed,
  not_found, status_NNN, closed, bad_reply, bad_sdp, bad_uri), `media_error` (the media service
  faults) or `no_profile`;
- `snapshot.ok`, `snapshot.format`, `snapshot.width`, `snapshot.height`, `snapshot.bytes`,
  `snapshot.ms`, `snapshot.error` (unreachable, timeout, auth_failed, status_NNN, too_large,
  not_an_image, media_error), only on polls that took a snapshot.
"""

from datetime import datetime

from agent.probes.onvif.client import ClockReading, DeviceInfo, MediaProfile, NtpSettings
from agent.probes.onvif.image import ImageInfo
from agent.probes.onvif.rtsp import StreamCheck
from wire.schema import CheckValue, DeviceIdentity, Event

REPLACED = "device.replaced"
FIRMWARE_CHANGED = "device.firmware_changed"


def clock_checks(clock: ClockReading, threshold_s: float) -> dict[str, CheckValue]:
    offset = round(clock.offset_s, 1)
    return {
        "clock.offset_s": offset,
        "clock.source": clock.source,
        "camera.clock_drift": abs(clock.offset_s) > threshold_s,
    }


def ntp_checks(ntp: NtpSettings) -> dict[str, CheckValue]:
    """An empty `clock.ntp_servers` on a camera whose clock.source says NTP is a camera that
    believes it keeps time and cannot."""
    return {"clock.ntp_servers": ",".join(ntp.servers), "clock.ntp_from_dhcp": ntp.from_dhcp}


def identity(info: DeviceInfo) -> DeviceIdentity:
    return DeviceIdentity(
        vendor=info.manufacturer, model=info.model, serial=info.serial, firmware=info.firmware
    )


def identity_events(before: DeviceInfo | None, now: DeviceInfo, at: datetime) -> list[Event]:
    """A new serial number at the same address is another device (replaced, or swapped by
    mistake); the same device with new firmware was updated. The first poll only learns."""
    if before is None:
        return []
    if before.serial and now.serial and before.serial != now.serial:
        return [
            Event(
                ts=at,
                kind=REPLACED,
                data={
                    "previous_serial": before.serial,
                    "serial": now.serial,
                    "previous_model": before.model,
                    "model": now.model,
                    "firmware": now.firmware,
                },
            )
        ]
    if before.firmware and now.firmware and before.firmware != now.firmware:
        return [
            Event(
                ts=at,
                kind=FIRMWARE_CHANGED,
                data={"previous": before.firmware, "firmware": now.firmware, "serial": now.serial},
            )
        ]
    return []


def choose_profile(profiles: list[MediaProfile], wanted: str | None) -> MediaProfile | None:
    """The configured profile, else the first with a video encoder (the main stream on every
    camera seen), else the first."""
    if wanted is not None:
        return next((p for p in profiles if p.token == wanted), None)
    with_video = [p for p in profiles if p.encoding is not None]
    candidates = with_video or profiles
    return candidates[0] if candidates else None


def stream_ok(profile: MediaProfile, check: StreamCheck) -> dict[str, CheckValue]:
    track = check.track
    return {
        "stream.profile": profile.token,
        "stream.ok": True,
        "camera.stream_down": False,
        "stream.codec": track.codec,
        # The SDP is what the stream says about itself; the profile is what ONVIF claims.
        "stream.width": track.width if track.width is not None else profile.width,
        "stream.height": track.height if track.height is not None else profile.height,
        "stream.rtsp_ms": round(check.elapsed_ms, 1),
    }


def stream_down(profile: MediaProfile | None, reason: str) -> dict[str, CheckValue]:
    """`profile` None: the media service failed before a profile was chosen."""
    return {
        "stream.profile": profile.token if profile is not None else None,
        "stream.ok": False,
        "camera.stream_down": True,
        "stream.error": reason,
    }


def snapshot_ok(image: ImageInfo, size: int, elapsed_ms: float) -> dict[str, CheckValue]:
    return {
        "snapshot.ok": True,
        "snapshot.format": image.format,
        "snapshot.width": image.width,
        "snapshot.height": image.height,
        "snapshot.bytes": size,
        "snapshot.ms": round(elapsed_ms, 1),
    }


def snapshot_failed(reason: str) -> dict[str, CheckValue]:
    return {"snapshot.ok": False, "snapshot.error": reason}
