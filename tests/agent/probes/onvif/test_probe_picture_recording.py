"""The probe's seams wired as the agent wires them: picture health judging each snapshot of a
real camera (ipycam) in the poll, and the recordings read from the fake NVR's Search service in
the poll."""

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.config import DeviceConfig
from agent.probes.onvif.baseline import BaselineStore
from agent.probes.onvif.picture_hook import IMAGE_ABNORMAL, PictureHealth
from agent.probes.onvif.probe import OnvifProbe
from agent.sampling import Poll, poll_device
from peers.devices import make_device
from peers.picture.frames import NOISE
from peers.picture.scenes import Camera, Kind
from simulate.peers.ipycam import PASSWORD, IpyCam, make_test_video, missing_ipycam
from tests.agent.probes.onvif.test_probe import Ticker, onvif_device
from tests.peers.onvif_fake import FakeOnvifCamera, Recording


def num(checks: dict[str, Any], name: str) -> float:
    value = checks[name]
    assert isinstance(value, int | float), (name, value)
    return float(value)


@pytest.fixture(autouse=True)
def camera_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECMON_TEST_CAM_PASSWORD", PASSWORD)
    monkeypatch.setenv("SECMON_TEST_NVR_PASSWORD", "fake-cam-pw")


async def poll_twice(probe: OnvifProbe, device: DeviceConfig, ticker: Ticker) -> list[Poll]:
    polls = []
    try:
        for _ in range(2):
            polls.append(await poll_device(probe, device))
            ticker.now += 301  # past the snapshot interval
            # Real snapshots are minutes apart; ipycam's frame loop, starved on a loaded
            # machine, can hand out the same frame twice within a second (rightly "frozen").
            await asyncio.sleep(2)
    finally:
        await probe.aclose()
    return polls


@pytest.mark.ipycam
@pytest.mark.skipif(missing_ipycam() is not None, reason=str(missing_ipycam()))
async def test_normal_camera_picture_is_judged_in_the_poll_and_learnt(tmp_path: Path) -> None:
    """ipycam's snapshots of ffmpeg's testsrc2 with a sensor's temporal noise: a normal
    picture, judged on every snapshot poll, its baseline written to the state directory."""
    video = make_test_video(tmp_path / "live.mp4", pattern="testsrc2", filters=f",{NOISE}")
    store = BaselineStore(tmp_path / "picture")
    ticker = Ticker()
    probe = OnvifProbe(picture=PictureHealth(store), monotonic=ticker)
    with IpyCam(tmp_path / "cam", video=video) as camera:
        device = onvif_device(camera.onvif_port)
        polls = await poll_twice(probe, device, ticker)
    for poll in polls:
        checks = poll.sample.checks
        assert poll.sample.error is None, poll.sample.error
        assert checks["snapshot.ok"] is True
        assert checks["picture.ok"] is True
        assert checks["camera.image_abnormal"] is False, checks["camera.image_abnormal.reasons"]
        assert checks["camera.image_abnormal.reasons"] == ""
        assert num(checks, "picture.dark_fraction") < 0.5
        assert num(checks, "picture.sharpness") > 0
        assert not [e for e in poll.sample.events if e.kind == IMAGE_ABNORMAL]
    assert "picture.frame_change" in polls[1].sample.checks  # compared with the first
    assert polls[1].sample.checks["picture.frame_change"] is not None
    assert store.path(device.id).exists()
    assert store.load(device.id).previous is not None


@pytest.mark.ipycam
@pytest.mark.skipif(missing_ipycam() is not None, reason=str(missing_ipycam()))
async def test_black_camera_is_image_abnormal_through_the_poll(tmp_path: Path) -> None:
    """ipycam playing a black clip (lavfi `color`, black by default): its snapshot, fetched and
    judged in a real poll, is camera.image_abnormal with reason black, and the change is sent as
    an event once, not on every snapshot."""
    video = make_test_video(tmp_path / "black.mp4", pattern="color")
    store = BaselineStore(tmp_path / "picture")
    ticker = Ticker()
    probe = OnvifProbe(picture=PictureHealth(store), monotonic=ticker)
    with IpyCam(tmp_path / "cam", video=video) as camera:
        device = onvif_device(camera.onvif_port)
        first, second = await poll_twice(probe, device, ticker)
    for poll in (first, second):
        checks = poll.sample.checks
        assert poll.sample.error is None, poll.sample.error
        assert checks["stream.ok"] is True  # the stream plays: only the picture is wrong
        assert checks["camera.image_abnormal"] is True
        assert "black" in str(checks["camera.image_abnormal.reasons"]).split(",")
        assert num(checks, "picture.dark_fraction") > 0.95
    (event,) = [e for e in first.sample.events if e.kind == IMAGE_ABNORMAL]
    assert event.data["active"] is True
    assert "black" in event.data["reasons"]
    assert event.data["source"] == "snapshot"
    assert not [e for e in second.sample.events if e.kind == IMAGE_ABNORMAL]


# -- recordings from the fake NVR's Search service ------------------------------------------


@pytest.fixture
def nvrs() -> Iterator[list[FakeOnvifCamera]]:
    started: list[FakeOnvifCamera] = []
    yield started
    for nvr in started:
        nvr.close()


def nvr_device(fake: FakeOnvifCamera, **onvif: Any) -> DeviceConfig:
    return make_device(
        id="nvr-01",
        **{"class": "nvr"},
        protocol="onvif",
        port=fake.port,
        interval=60,
        timeout=15,
        credentials={"username": "admin", "password": {"env": "SECMON_TEST_NVR_PASSWORD"}},
        onvif={"call_timeout": 6.0} | onvif,
    )


def recordings(device_now: datetime, *, stopped_for: timedelta | None = None) -> list[Recording]:
    ch2_latest = device_now - (stopped_for or timedelta(seconds=5))
    return [
        Recording("ch1", device_now - timedelta(days=14), device_now - timedelta(seconds=5)),
        Recording("ch2", device_now - timedelta(days=30), ch2_latest),
    ]


async def test_recording_checks_come_from_the_poll_at_their_own_interval(
    nvrs: list[FakeOnvifCamera],
) -> None:
    """An NVR one hour ahead that records on both channels: recording.ok with retention in
    days (its clock, not ours), read on the first poll, then not again until the interval."""
    skew = timedelta(hours=1)
    fake = FakeOnvifCamera(
        clock_skew_s=skew.total_seconds(), recordings=recordings(datetime.now(UTC) + skew)
    ).start()
    nvrs.append(fake)
    ticker = Ticker()
    probe = OnvifProbe(monotonic=ticker)
    device = nvr_device(fake, recording_interval=600)
    try:
        first = await poll_device(probe, device)
        ticker.now += 60
        second = await poll_device(probe, device)
        ticker.now += 600
        third = await poll_device(probe, device)
    finally:
        await probe.aclose()
    checks = first.sample.checks
    assert first.sample.error is None, first.sample.error
    assert checks["recording.ok"] is True
    assert checks["recording.count"] == 2
    assert checks["recording.stopped_count"] == 0
    assert isinstance(checks["recording.latest_age_s"], float)
    assert 0 <= num(checks, "recording.latest_age_s") < 300  # 5 s in its clock, not 1 h
    assert checks["recording.retention_days"] is not None
    assert 29.9 < float(checks["recording.retention_days"]) < 30.1
    assert "recording.ok" not in second.sample.checks
    assert third.sample.checks["recording.ok"] is True
    assert fake.stats.operations.count("GetRecordingSummary") == 2
    assert "EndSearch" in fake.stats.operations  # the search job is closed on the device


async def test_stopped_channel_makes_recording_not_ok(nvrs: list[FakeOnvifCamera]) -> None:
    fake = FakeOnvifCamera(
        recordings=recordings(datetime.now(UTC), stopped_for=timedelta(hours=2))
    ).start()
    nvrs.append(fake)
    probe = OnvifProbe()
    try:
        poll = await poll_device(probe, nvr_device(fake, recording_stopped_after=900))
    finally:
        await probe.aclose()
    checks = poll.sample.checks
    assert poll.sample.error is None
    assert checks["recording.ok"] is False
    assert checks["recording.stopped_count"] == 1
    assert "ch2" in str(checks["recording.reason"])


async def test_recordings_that_cannot_be_read_are_unsupported_not_a_failure(
    nvrs: list[FakeOnvifCamera],
) -> None:
    """A device listing a Search service that answers "not supported": no recording check,
    "Search" in onvif.unsupported, the poll itself fine, and not asked again each poll."""
    fake = FakeOnvifCamera(
        recordings=recordings(datetime.now(UTC)), unsupported=("GetRecordingSummary",)
    ).start()
    nvrs.append(fake)
    ticker = Ticker()
    probe = OnvifProbe(monotonic=ticker)
    device = nvr_device(fake, recording_interval=60)
    try:
        first = await poll_device(probe, device)
        ticker.now += 61
        second = await poll_device(probe, device)
    finally:
        await probe.aclose()
    for poll in (first, second):
        assert poll.sample.error is None, poll.sample.error
        assert "recording.ok" not in poll.sample.checks
        assert "recording.error" not in poll.sample.checks
        assert "Search" in str(poll.sample.checks["onvif.unsupported"]).split(",")
    assert fake.stats.operations.count("GetRecordingSummary") == 1


async def test_device_without_search_service_has_no_recording_check(
    nvrs: list[FakeOnvifCamera],
) -> None:
    fake = FakeOnvifCamera(recordings=None).start()
    nvrs.append(fake)
    probe = OnvifProbe()
    try:
        poll = await poll_device(probe, nvr_device(fake))
    finally:
        await probe.aclose()
    assert poll.sample.error is None, poll.sample.error
    assert not [c for c in poll.sample.checks if c.startswith("recording.")]
    assert "GetRecordingSummary" not in fake.stats.operations


async def test_slow_search_is_a_recording_error_within_the_polls_deadline(
    nvrs: list[FakeOnvifCamera],
) -> None:
    """A Search service that does not answer: the read gets what is left of the poll's
    deadline, then the poll reports recording.error, not a failed (timed-out) poll."""
    fake = FakeOnvifCamera(
        recordings=recordings(datetime.now(UTC)),
        answer_delay_s=6,
        delayed=("GetRecordingSummary",),
    ).start()
    nvrs.append(fake)
    probe = OnvifProbe()
    device = nvr_device(fake, call_timeout=2.0).model_copy(update={"timeout": 5.0})
    try:
        poll = await poll_device(probe, device)
    finally:
        await probe.aclose()
    assert poll.sample.error is None, poll.sample.error
    assert poll.sample.checks["recording.error"] == "protocol_error"
    assert "recording.ok" not in poll.sample.checks


async def test_ir_cut_filter_from_the_imaging_service_picks_the_pictures_baseline(
    nvrs: list[FakeOnvifCamera], tmp_path: Path
) -> None:
    """A street camera at night whose picture keeps some colour (sodium lights): the camera
    says its IR-cut filter is out (OFF), so the night baseline learns it; ON teaches the day
    one; AUTO says nothing and the picture's colour decides (day, here)."""
    street = Camera(Kind.NIGHT_COLOUR, seed=1)
    fake = FakeOnvifCamera(events=False, snapshot=street.snapshot(0), ir_cut_filter="OFF").start()
    nvrs.append(fake)
    store = BaselineStore(tmp_path / "picture")
    ticker = Ticker()
    probe = OnvifProbe(picture=PictureHealth(store), monotonic=ticker)
    device = nvr_device(fake, stream_check=False, recording_interval=0)
    learnt = []
    try:
        for i, mode in enumerate(("OFF", "ON", "AUTO")):
            fake.ir_cut_filter, fake.snapshot = mode, street.snapshot(i)
            poll = await poll_device(probe, device)
            assert poll.sample.error is None, poll.sample.error
            assert poll.sample.checks["picture.ok"] is True
            assert poll.sample.checks["picture.ir_cut_filter"] == mode
            memory = store.memory(device.id)
            learnt.append((memory.baseline.samples, memory.night.samples))
            ticker.now += 301  # past the snapshot interval
    finally:
        await probe.aclose()
    assert learnt == [(0, 1), (1, 1), (2, 1)]
    assert fake.stats.operations.count("GetImagingSettings") == 3


async def test_camera_without_imaging_service_leaves_the_mode_to_the_picture(
    nvrs: list[FakeOnvifCamera], tmp_path: Path
) -> None:
    fake = FakeOnvifCamera(events=False, snapshot=Camera(Kind.IR, seed=1).snapshot(0)).start()
    nvrs.append(fake)
    store = BaselineStore(tmp_path / "picture")
    probe = OnvifProbe(picture=PictureHealth(store))
    try:
        poll = await poll_device(probe, nvr_device(fake, stream_check=False, recording_interval=0))
    finally:
        await probe.aclose()
    assert poll.sample.checks["picture.ok"] is True
    assert "picture.ir_cut_filter" not in poll.sample.checks
    assert "GetImagingSettings" not in fake.stats.operations
    memory = store.memory("nvr-01")
    assert (memory.baseline.samples, memory.night.samples) == (0, 1)  # grey: night by itself
