"""The ONVIF probe against ipycam, a real third-party virtual camera on 127.0.0.1 (ONVIF device
and media services, WS-UsernameToken digest, its own RTSP server and JPEG snapshots)."""

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.config import ConfigError, DeviceConfig, load_config
from agent.probes.base import DeviceUnreachable, ProtocolError
from agent.probes.onvif.client import ClockReading, OnvifSession
from agent.probes.onvif.probe import MEDIA_REFRESH_POLLS, OnvifProbe, PictureReading, Snapshot
from agent.probes.onvif.readings import FIRMWARE_CHANGED, REPLACED
from agent.sampling import poll_device
from peers.devices import make_device
from simulate.peers.ipycam import HEIGHT, PASSWORD, USERNAME, WIDTH, IpyCam, missing_ipycam
from tests.agent.factories import closed_port
from wire.enums import ProbeErrorCode

pytestmark = [
    pytest.mark.ipycam,
    pytest.mark.skipif(missing_ipycam() is not None, reason=str(missing_ipycam())),
]
SECMON = Path(sys.executable).with_name("secmon")
PASSWORD_ENV = "SECMON_TEST_CAM_PASSWORD"


@pytest.fixture(scope="module")
def camera(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IpyCam]:
    with IpyCam(tmp_path_factory.mktemp("ipycam")) as cam:
        yield cam


@pytest.fixture(autouse=True)
def camera_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)


def onvif_device(port: int, *, password_env: str = PASSWORD_ENV, **overrides: Any) -> DeviceConfig:
    """Deadlines roomy enough for a loaded 2-core test machine (ipycam's first DESCRIBE runs an
    ffmpeg probe); tests about deadlines set their own."""
    onvif = {"call_timeout": 6.0} | overrides.pop("onvif", {})
    data: dict[str, Any] = {
        "protocol": "onvif",
        "port": port,
        "interval": 60,
        "timeout": 15,
        "credentials": {"username": USERNAME, "password": {"env": password_env}},
        "onvif": onvif,
    }
    return make_device(**(data | overrides))


class Ticker:
    """A monotonic clock the test moves (snapshot interval)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_poll_reads_identity_clock_stream_and_snapshot(camera: IpyCam) -> None:
    probe = OnvifProbe()
    try:
        poll = await poll_device(probe, onvif_device(camera.onvif_port))
    finally:
        await probe.aclose()
    sample = poll.sample
    assert sample.error is None, sample.error
    assert poll.identity is not None
    assert (poll.identity.vendor, poll.identity.model) == ("SecmonTest", "SIM-1")
    assert (poll.identity.serial, poll.identity.firmware) == ("SIM-0001", "1.0.0")
    checks = sample.checks
    assert isinstance(checks["clock.offset_s"], float)
    assert abs(checks["clock.offset_s"]) <= 1.5  # same host clock, whole-second answers
    assert checks["camera.clock_drift"] is False
    assert checks["onvif.discovery"] == "GetServices"
    assert checks["onvif.services"] == "device,media,ptz"
    assert checks["onvif.unsupported"] == "GetNTP"  # ipycam 1.3 has none
    assert "clock.ntp_servers" not in checks
    assert checks["stream.ok"] is True
    assert checks["camera.stream_down"] is False
    assert checks["stream.profile"] == "Profile_Main"
    assert (checks["stream.codec"], checks["stream.width"]) == ("h264", WIDTH)
    assert checks["stream.height"] == HEIGHT
    assert checks["snapshot.ok"] is True
    assert (checks["snapshot.format"], checks["snapshot.width"]) == ("jpeg", WIDTH)
    assert isinstance(checks["snapshot.bytes"], int)
    assert checks["snapshot.bytes"] > 1000
    assert sample.latency_ms is not None


async def test_wrong_password_is_auth_failed_not_unreachable(
    camera: IpyCam, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WRONG_PASSWORD", "not-the-password")
    probe = OnvifProbe()
    try:
        poll = await poll_device(
            probe, onvif_device(camera.onvif_port, password_env="WRONG_PASSWORD")
        )
    finally:
        await probe.aclose()
    assert poll.sample.error is not None
    assert poll.sample.error.code is ProbeErrorCode.AUTH_FAILED
    assert poll.sample.reachable is True
    assert "not authorized" in poll.sample.error.message


async def test_no_credentials_is_auth_failed(camera: IpyCam) -> None:
    probe = OnvifProbe()
    try:
        poll = await poll_device(probe, onvif_device(camera.onvif_port, credentials={}))
    finally:
        await probe.aclose()
    assert poll.sample.error is not None
    assert poll.sample.error.code is ProbeErrorCode.AUTH_FAILED


async def test_closed_port_is_unreachable() -> None:
    probe = OnvifProbe()
    try:
        poll = await poll_device(probe, onvif_device(closed_port()))
    finally:
        await probe.aclose()
    assert poll.sample.error is not None
    assert poll.sample.error.code is ProbeErrorCode.UNREACHABLE
    assert poll.sample.reachable is False


async def test_silent_device_is_unreachable_within_the_call_deadline() -> None:
    """A port that accepts and never answers (a hung web server): every call has a deadline."""
    accepted: list[asyncio.StreamWriter] = []

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    probe = OnvifProbe()
    try:
        device = onvif_device(port, timeout=4, onvif={"call_timeout": 0.5})
        with pytest.raises(DeviceUnreachable, match=r"no answer within 0.5 s"):
            await probe.poll(device)
    finally:
        await probe.aclose()
        server.close()
        for writer in accepted:
            writer.close()
    assert accepted, "the probe never connected"


async def test_stream_down_while_onvif_answers(camera: IpyCam) -> None:
    probe = OnvifProbe()
    device = onvif_device(camera.onvif_port, onvif={"snapshot_interval": 0})
    try:
        before = await poll_device(probe, device)
        camera.stop_stream()
        try:
            down = await poll_device(probe, device)
        finally:
            camera.start_stream()
        back = await poll_device(probe, device)
    finally:
        await probe.aclose()
    assert before.sample.checks["stream.ok"] is True
    assert down.sample.error is None  # the camera answers ONVIF: no failed poll
    assert down.identity is not None
    assert down.sample.checks["camera.stream_down"] is True
    assert down.sample.checks["stream.ok"] is False
    assert down.sample.checks["stream.error"] == "unreachable"
    assert "stream.codec" not in down.sample.checks
    assert back.sample.checks["stream.ok"] is True
    assert back.sample.checks["camera.stream_down"] is False


async def test_snapshots_come_at_their_own_slower_interval(camera: IpyCam) -> None:
    ticker = Ticker()
    seen: list[Snapshot] = []

    def picture(device: DeviceConfig, snapshot: Snapshot) -> PictureReading:
        seen.append(snapshot)
        return PictureReading(checks={"picture.seen": len(seen)})

    probe = OnvifProbe(picture=picture, monotonic=ticker)
    device = onvif_device(camera.onvif_port, onvif={"snapshot_interval": 300})
    try:
        first = await poll_device(probe, device)
        ticker.now += 60
        second = await poll_device(probe, device)
        ticker.now += 241
        third = await poll_device(probe, device)
    finally:
        await probe.aclose()
    assert first.sample.checks["snapshot.ok"] is True
    assert first.sample.checks["picture.seen"] == 1
    assert "snapshot.ok" not in second.sample.checks
    assert "picture.seen" not in second.sample.checks
    assert third.sample.checks["picture.seen"] == 2
    assert [s.image.width for s in seen] == [WIDTH, WIDTH]
    assert all(s.data.startswith(b"\xff\xd8") and s.streaming is True for s in seen)


async def test_unreadable_picture_is_a_snapshot_error_not_a_failed_poll(camera: IpyCam) -> None:
    def picture(device: DeviceConfig, snapshot: Snapshot) -> PictureReading:
        raise ProtocolError("JPEG data corrupt")

    probe = OnvifProbe(picture=picture)
    try:
        poll = await poll_device(probe, onvif_device(camera.onvif_port))
    finally:
        await probe.aclose()
    assert poll.sample.error is None
    assert poll.sample.checks["snapshot.ok"] is False
    assert poll.sample.checks["snapshot.error"] == "unreadable"
    assert poll.sample.checks["stream.ok"] is True


async def test_one_request_in_flight_per_camera(camera: IpyCam) -> None:
    in_flight, most = 0, 0

    class Counting(OnvifSession):
        async def _call(self, *args: Any, **kwargs: Any) -> Any:
            nonlocal in_flight, most
            in_flight += 1
            most = max(most, in_flight)
            try:
                await asyncio.sleep(0.01)  # widen the window a second caller would use
                return await super()._call(*args, **kwargs)
            finally:
                in_flight -= 1

    probe = OnvifProbe(session_factory=Counting)
    device = onvif_device(camera.onvif_port, onvif={"snapshot_interval": 0})
    try:
        polls = await asyncio.gather(*(poll_device(probe, device) for _ in range(3)))
    finally:
        await probe.aclose()
    assert all(p.sample.error is None for p in polls)
    assert most == 1


@pytest.mark.parametrize("offset", [600.0, -3600.0])
async def test_drifted_clock_is_drift_not_auth_failure(tmp_path: Path, offset: float) -> None:
    """ipycam wants WS-Security even on GetSystemDateAndTime and refuses a Created timestamp
    more than 300 s from its clock: only signing in the camera's time gets an answer."""
    with IpyCam(tmp_path, clock_offset_s=offset) as cam:
        probe = OnvifProbe()
        try:
            polls = [await poll_device(probe, onvif_device(cam.onvif_port)) for _ in range(2)]
        finally:
            await probe.aclose()
    for poll in polls:
        assert poll.sample.error is None, poll.sample.error
        offset_s = poll.sample.checks["clock.offset_s"]
        assert isinstance(offset_s, float)
        assert abs(offset_s - offset) <= 1.5
        assert poll.sample.checks["camera.clock_drift"] is True
        assert poll.sample.checks["stream.ok"] is True


async def test_conformant_camera_is_asked_the_time_once_without_credentials(
    tmp_path: Path,
) -> None:
    calls: list[tuple[str, bool]] = []

    class Recording(OnvifSession):
        async def _call(
            self, service_name: str, operation: str, params: Any = None, *, authless: bool = False
        ) -> Any:
            calls.append((operation, authless))
            return await super()._call(service_name, operation, params, authless=authless)

    with IpyCam(tmp_path, clock_offset_s=600, preauth_clock=True, ntp=("ntp.example",)) as cam:
        probe = OnvifProbe(session_factory=Recording)
        try:
            poll = await poll_device(probe, onvif_device(cam.onvif_port))
        finally:
            await probe.aclose()
    assert poll.sample.error is None, poll.sample.error
    assert poll.sample.checks["camera.clock_drift"] is True
    assert [c for c in calls if c[0] == "GetSystemDateAndTime"] == [("GetSystemDateAndTime", True)]
    assert ("GetDeviceInformation", False) in calls  # signed, in the camera's time
    # Its clock runs 10 minutes ahead although it says NTP and names a server.
    assert poll.sample.checks["clock.source"] == "NTP"
    assert poll.sample.checks["clock.ntp_servers"] == "ntp.example"
    assert poll.sample.checks["clock.ntp_from_dhcp"] is False
    assert "onvif.unsupported" not in poll.sample.checks


async def test_getservices_fault_falls_back_and_unsupported_calls_are_listed(
    tmp_path: Path,
) -> None:
    with IpyCam(tmp_path, unsupported=("GetServices", "GetSnapshotUri")) as cam:
        probe = OnvifProbe()
        try:
            poll = await poll_device(probe, onvif_device(cam.onvif_port))
        finally:
            await probe.aclose()
    checks = poll.sample.checks
    assert poll.sample.error is None, poll.sample.error
    assert checks["onvif.discovery"] == "GetCapabilities"
    assert checks["onvif.unsupported"] == "GetNTP,GetServices,GetSnapshotUri"
    assert "media" in str(checks["onvif.services"])
    assert checks["stream.ok"] is True  # the camera stays monitored
    assert "snapshot.ok" not in checks


async def test_new_serial_is_replaced_and_new_firmware_an_update(tmp_path: Path) -> None:
    probe = OnvifProbe()
    first = IpyCam(tmp_path / "a", serial="SIM-0001", firmware="1.0.0")
    onvif_port, rtsp_port = first.onvif_port, first.rtsp_port
    device = onvif_device(first.onvif_port, onvif={"snapshot_interval": 0})
    try:
        with first:
            learned = await poll_device(probe, device)
        with IpyCam(
            tmp_path / "b",
            serial="SIM-0002",
            firmware="1.0.0",
            onvif_port=onvif_port,
            rtsp_port=rtsp_port,
        ):
            replaced = await poll_device(probe, device)
        with IpyCam(
            tmp_path / "c",
            serial="SIM-0002",
            firmware="1.1.0",
            onvif_port=onvif_port,
            rtsp_port=rtsp_port,
        ):
            updated = await poll_device(probe, device)
            same = await poll_device(probe, device)
    finally:
        await probe.aclose()
    assert learned.sample.events == []
    (event,) = replaced.sample.events
    assert event.kind == REPLACED
    assert (event.data["previous_serial"], event.data["serial"]) == ("SIM-0001", "SIM-0002")
    (event,) = updated.sample.events
    assert event.kind == FIRMWARE_CHANGED
    assert (event.data["previous"], event.data["firmware"]) == ("1.0.0", "1.1.0")
    assert same.sample.events == []
    assert updated.identity is not None
    assert updated.identity.firmware == "1.1.0"


def test_bad_onvif_block_names_the_field(tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text(
        f"""site: site-1
server: {{url: "http://127.0.0.1:9", token: {{env: {PASSWORD_ENV}}}}}
devices:
  - id: cam-01
    name: Gate camera
    class: camera
    subsystem: video
    protocol: onvif
    address: 127.0.0.1
    onvif:
      snapshot_interval: -5
      clock_drift_threshold: 0
"""
    )
    with pytest.raises(ConfigError) as info:
        load_config(config)
    problems = {p.path for p in info.value.problems}
    assert problems == {
        "devices[0].onvif.snapshot_interval",
        "devices[0].onvif.clock_drift_threshold",
    }


def test_onvif_block_on_another_protocol_is_refused() -> None:
    with pytest.raises(ValueError, match="only for protocol onvif"):
        make_device(protocol="tcp", onvif={"snapshot_interval": 60})


def test_agent_check_shows_identity_clock_and_stream(camera: IpyCam, tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text(
        f"""site: site-1
server: {{url: "http://127.0.0.1:9", token: {{env: SECMON_TEST_TOKEN}}}}
agent: {{outbox_path: outbox.sqlite}}
devices:
  - id: cam-gate
    name: Gate camera (ipycam)
    class: camera
    subsystem: video
    protocol: onvif
    address: 127.0.0.1
    port: {camera.onvif_port}
    interval: 60
    timeout: 15
    credentials: {{username: {USERNAME}, password: {{env: {PASSWORD_ENV}}}}}
    onvif: {{call_timeout: 6}}
"""
    )
    done = subprocess.run(
        [str(SECMON), "agent", "check", "--config", str(config), "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, "SECMON_TEST_TOKEN": "t" * 32, PASSWORD_ENV: PASSWORD},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Unclosed" not in done.stderr
    (row,) = map(json.loads, done.stdout.splitlines())
    assert row["ok"], row
    assert (row["device_id"], row["protocol"]) == ("cam-gate", "onvif")
    assert row["identity"] == {
        "vendor": "SecmonTest",
        "model": "SIM-1",
        "serial": "SIM-0001",
        "firmware": "1.0.0",
    }
    assert abs(row["checks"]["clock.offset_s"]) <= 1.5
    assert row["checks"]["camera.clock_drift"] is False
    assert row["checks"]["stream.ok"] is True
    assert row["checks"]["stream.codec"] == "h264"
    assert row["checks"]["snapshot.ok"] is True
    # Picture health on the snapshot (testsrc is a normal picture), judged without writing a
    # baseline: `check` changes nothing the running agent learnt.
    assert row["checks"]["picture.ok"] is True
    assert row["checks"]["camera.image_abnormal"] is False
    assert row["checks"]["picture.sharpness"] > 0
    assert 0 <= row["checks"]["picture.dark_fraction"] < 0.5
    assert not (tmp_path / "picture").exists()


async def test_profiles_and_stream_uri_are_read_again_only_now_and_then(camera: IpyCam) -> None:
    calls: list[str] = []

    class Recording(OnvifSession):
        async def _call(
            self, service_name: str, operation: str, params: Any = None, *, authless: bool = False
        ) -> Any:
            calls.append(operation)
            return await super()._call(service_name, operation, params, authless=authless)

    probe = OnvifProbe(session_factory=Recording)
    device = onvif_device(camera.onvif_port, onvif={"snapshot_interval": 0})
    try:
        polls = [await poll_device(probe, device) for _ in range(MEDIA_REFRESH_POLLS + 1)]
    finally:
        await probe.aclose()
    assert all(p.sample.checks["stream.ok"] is True for p in polls)
    assert calls.count("GetProfiles") == calls.count("GetStreamUri") == 2
    assert calls.count("GetDeviceInformation") == MEDIA_REFRESH_POLLS + 1


async def test_http_digest_camera_is_polled_and_its_wrong_password_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A camera set to HTTP Digest on its ONVIF endpoints and snapshot (on top of the
    WS-UsernameToken): everything still answers, and a wrong password is auth_failed."""
    monkeypatch.setenv("WRONG_PASSWORD", "not-the-password")
    with IpyCam(tmp_path, http_auth="digest") as cam:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{cam.onvif_port}") as http:
            for bare in (await http.get("/snapshot.jpg"), await http.post("/onvif/device_service")):
                assert bare.status_code == 401
                assert bare.headers["www-authenticate"].startswith("Digest ")
        probe = OnvifProbe()
        try:
            good = await poll_device(probe, onvif_device(cam.onvif_port))
            bad = await poll_device(
                probe, onvif_device(cam.onvif_port, id="cam-02", password_env="WRONG_PASSWORD")
            )
        finally:
            await probe.aclose()
    assert good.sample.error is None, good.sample.error
    assert good.sample.checks["stream.ok"] is True
    assert good.sample.checks["snapshot.ok"] is True
    assert good.identity is not None
    assert good.identity.serial == "SIM-0001"
    assert bad.sample.error is not None
    assert bad.sample.error.code is ProbeErrorCode.AUTH_FAILED


async def test_media_service_errors_are_stream_down_not_a_failed_poll(tmp_path: Path) -> None:
    with IpyCam(tmp_path, broken=("GetStreamUri",)) as cam:
        probe = OnvifProbe()
        try:
            poll = await poll_device(probe, onvif_device(cam.onvif_port))
        finally:
            await probe.aclose()
    assert poll.sample.error is None, poll.sample.error
    assert poll.identity is not None
    checks = poll.sample.checks
    assert checks["camera.stream_down"] is True
    assert checks["stream.error"] == "media_error"
    assert checks["onvif.unsupported"] == "GetNTP"  # the fault is no "unsupported"
    assert isinstance(checks["clock.offset_s"], float)


async def test_event_subscription_can_share_the_cameras_session(camera: IpyCam) -> None:
    probe = OnvifProbe()
    device = onvif_device(camera.onvif_port, onvif={"snapshot_interval": 0})
    assert probe.session_for(device.id) is None
    try:
        await poll_device(probe, device)
        session = probe.session_for(device.id)
        lock = probe.lock_for(device.id)
        assert session is not None
        assert lock is not None
        assert not lock.locked()
        xaddrs = session.library_camera.xaddrs
        assert xaddrs["http://www.onvif.org/ver10/media/wsdl"].endswith("/onvif/media_service")
        assert session.library_camera.dt_diff == session.offset
    finally:
        await probe.aclose()


async def test_sessions_made_again_after_a_failure_are_counted(camera: IpyCam) -> None:
    """The second poll fails (the camera dropped off), the third makes a new session: one
    reconnect; the event subscription's own reconnects add to the same count."""
    sessions: list[OnvifSession] = []

    class Flaky(OnvifSession):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.reads = 0
            sessions.append(self)

        async def read_clock(self) -> ClockReading:
            self.reads += 1
            if len(sessions) == 1 and self.reads == 2:
                raise DeviceUnreachable("dropped off the network")
            return await super().read_clock()

    probe = OnvifProbe(session_factory=Flaky)
    device = onvif_device(camera.onvif_port, onvif={"snapshot_interval": 0})
    try:
        polls = [await poll_device(probe, device) for _ in range(4)]
        probe.note_reconnect(device.id)
        after_subscription = await poll_device(probe, device)
    finally:
        await probe.aclose()
    assert [p.sample.error is None for p in polls] == [True, False, True, True]
    counts = [p.sample.checks.get("onvif.reconnects") for p in polls]
    assert counts == [0, None, 1, 1]
    assert len(sessions) == 2
    assert after_subscription.sample.checks["onvif.reconnects"] == 2
