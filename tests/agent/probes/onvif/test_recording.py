"""Recording health: the verdict (pure) and reading it from the fake NVR's Search service."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.probes.base import Unsupported
from agent.probes.onvif.recording import (
    RecordingReport,
    RecordingSpan,
    assess,
    read_recordings,
    recording_checks,
)
from tests.peers.onvif_fake import FakeOnvifCamera, Recording

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def span(token: str, *, age_s: float, days: float = 30, status: str = "Recording") -> RecordingSpan:
    return RecordingSpan(
        token=token,
        earliest=NOW - timedelta(days=days),
        latest=NOW - timedelta(seconds=age_s),
        status=status,
    )


def test_all_channels_recording_is_ok_with_retention_days() -> None:
    channels = (span("ch1", age_s=5, days=31.5), span("ch2", age_s=20, days=12))
    report = RecordingReport(device_now=NOW, recordings=channels)
    verdict = assess(report)
    assert verdict.ok
    assert verdict.retention_days == 31.5  # the oldest footage on the device
    assert verdict.latest_age_s == 5
    assert recording_checks(verdict) == {
        "recording.ok": True,
        "recording.latest_age_s": 5.0,
        "recording.retention_days": 31.5,
        "recording.count": 2,
        "recording.stopped_count": 0,
        "recording.reason": "recording",
    }


def test_one_nvr_channel_stopped_is_found_though_others_record() -> None:
    report = RecordingReport(
        device_now=NOW,
        data_until=NOW,
        recordings=(span("ch1", age_s=5), span("ch2", age_s=3600), span("ch3", age_s=1)),
    )
    verdict = assess(report, stopped_after_s=900)
    assert not verdict.ok
    assert verdict.stopped == ("ch2",)
    assert verdict.reason == "1 of 3 recordings stopped: ch2"


def test_threshold_is_the_boundary() -> None:
    report = RecordingReport(device_now=NOW, recordings=(span("ch1", age_s=900),))
    assert assess(report, stopped_after_s=900).ok
    late = RecordingReport(device_now=NOW, recordings=(span("ch1", age_s=901),))
    assert not assess(late, stopped_after_s=900).ok


def test_status_stopped_counts_even_with_recent_footage() -> None:
    report = RecordingReport(device_now=NOW, recordings=(span("ch1", age_s=1, status="Stopped"),))
    assert assess(report).stopped == ("ch1",)


def test_removed_recordings_are_ignored() -> None:
    report = RecordingReport(
        device_now=NOW,
        recordings=(span("ch1", age_s=1), span("old", age_s=99999, status="Removed")),
    )
    verdict = assess(report)
    assert verdict.ok
    assert verdict.count == 1


def test_summary_only_device_is_judged_by_its_newest_footage() -> None:
    fresh = RecordingReport(device_now=NOW, data_from=NOW - timedelta(days=7),
                            data_until=NOW - timedelta(seconds=30), count=4)  # fmt: skip
    assert assess(fresh).ok
    assert assess(fresh).retention_days == 7.0
    stale = RecordingReport(device_now=NOW, data_from=NOW - timedelta(days=7),
                            data_until=NOW - timedelta(hours=2), count=4)  # fmt: skip
    verdict = assess(stale)
    assert not verdict.ok
    assert verdict.reason == "newest footage 7200 s old"


def test_no_recordings_at_all_is_not_ok() -> None:
    verdict = assess(RecordingReport(device_now=NOW, count=0))
    assert not verdict.ok
    assert verdict.reason == "no recordings"


# -- against the fake NVR -------------------------------------------------------------------


@pytest.fixture
def nvr_factory() -> Iterator[list[FakeOnvifCamera]]:
    started: list[FakeOnvifCamera] = []
    yield started
    for cam in started:
        cam.close()


async def connect(fake: FakeOnvifCamera) -> object:
    from onvif import ONVIFCamera

    camera = ONVIFCamera("127.0.0.1", fake.port, "admin", "fake-cam-pw", adjust_time=True)
    await camera.update_xaddrs()
    return camera


async def test_reads_recordings_in_the_devices_clock(nvr_factory: list[FakeOnvifCamera]) -> None:
    """An NVR two hours behind: its "1 min ago" is 2 h before our clock, and must read as
    1 min, not as a recording that stopped two hours ago."""
    skew = timedelta(hours=-2)
    device_now = datetime.now(UTC) + skew
    fake = FakeOnvifCamera(
        clock_skew_s=skew.total_seconds(),
        recordings=[
            Recording("ch1", device_now - timedelta(days=14), device_now - timedelta(minutes=1)),
            Recording(
                "ch2",
                device_now - timedelta(days=20),
                device_now - timedelta(hours=5),
                status="Stopped",
            ),
        ],
    ).start()
    nvr_factory.append(fake)
    camera = await connect(fake)
    try:
        report = await read_recordings(camera, agent_now=datetime.now(UTC))
    finally:
        await camera.close()  # type: ignore[attr-defined]
    assert [r.token for r in report.recordings] == ["ch1", "ch2"]
    assert report.count == 2
    verdict = assess(report)
    assert verdict.stopped == ("ch2",)
    assert verdict.latest_age_s is not None
    assert 30 < verdict.latest_age_s < 600
    assert verdict.retention_days is not None
    assert 19.9 < verdict.retention_days < 20.1
    assert "EndSearch" in fake.stats.operations


async def test_device_without_search_service_is_unsupported(
    nvr_factory: list[FakeOnvifCamera],
) -> None:
    fake = FakeOnvifCamera(recordings=None).start()
    nvr_factory.append(fake)
    camera = await connect(fake)
    try:
        with pytest.raises(Unsupported):
            await read_recordings(camera, agent_now=datetime.now(UTC))
    finally:
        await camera.close()  # type: ignore[attr-defined]


@given(
    # whole milliseconds: datetimes hold microseconds, so a float age would be rounded
    ages=st.lists(
        st.integers(-3_600_000, 864_000_000).map(lambda ms: ms / 1000), min_size=1, max_size=8
    ),
    threshold=st.floats(min_value=1, max_value=86400),
)
def test_verdict_is_consistent_for_any_ages(ages: list[float], threshold: float) -> None:
    """Ages below zero are a device clock ahead of its own footage: never negative ages."""
    report = RecordingReport(
        device_now=NOW,
        recordings=tuple(span(f"ch{i}", age_s=age) for i, age in enumerate(ages)),
    )
    verdict = assess(report, stopped_after_s=threshold)
    assert verdict.ok == (not verdict.stopped)
    assert set(verdict.stopped) == {f"ch{i}" for i, age in enumerate(ages) if age > threshold}
    assert verdict.latest_age_s is not None
    assert verdict.latest_age_s >= 0
    assert verdict.retention_days is not None
    assert verdict.retention_days >= 0
