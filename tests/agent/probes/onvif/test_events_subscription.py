"""The PullPoint subscription against the fake ONVIF camera over real HTTP on 127.0.0.1, through
onvif-zeep-async (zeep parses every answer against the ONVIF WSDLs)."""

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from agent.config import DeviceConfig
from agent.probes.base import AuthFailed, DeviceUnreachable, Unsupported
from agent.probes.onvif.events import EventSettings, OnvifEventSource, PullPointSubscription
from peers.devices import make_device
from tests.agent.factories import closed_port
from tests.peers.onvif_fake import FakeOnvifCamera
from wire.schema import Event

PASSWORD_ENV = "SECMON_TEST_ONVIF_PASSWORD"
FAST = EventSettings(
    lifetime_s=60, pull_timeout_s=1, renew_margin_s=1, call_timeout_s=5, retry_base_s=0.2
)


@pytest.fixture
def camera_factory() -> Iterator[Callable[..., FakeOnvifCamera]]:
    started: list[FakeOnvifCamera] = []

    def make(**kwargs: Any) -> FakeOnvifCamera:
        cam = FakeOnvifCamera(**kwargs).start()
        started.append(cam)
        return cam

    yield make
    for cam in started:
        cam.close()


@pytest.fixture
def camera(camera_factory: Callable[..., FakeOnvifCamera]) -> FakeOnvifCamera:
    return camera_factory()


def onvif_device(
    port: int, monkeypatch: pytest.MonkeyPatch, password: str = "fake-cam-pw"
) -> DeviceConfig:
    monkeypatch.setenv(PASSWORD_ENV, password)
    return make_device(
        protocol="onvif",
        port=port,
        credentials={"username": "admin", "password": {"env": PASSWORD_ENV}},
    )


class Sink:
    """Collects what the subscription hands over, and lets a test wait for it."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Event]] = []
        self._changed = asyncio.Event()

    def __call__(self, device_id: str, event: Event) -> None:
        self.events.append((device_id, event))
        self._changed.set()

    async def wait_for(self, count: int, within_s: float = 10) -> None:
        async with asyncio.timeout(within_s):
            while len(self.events) < count:
                self._changed.clear()
                await self._changed.wait()

    def kinds(self) -> list[str]:
        return [e.kind for _, e in self.events]


@asynccontextmanager
async def running(sub: PullPointSubscription) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(sub.run(stop))
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


async def until(check: Callable[[], bool], within_s: float = 10) -> None:
    """Poll: the condition lives in the fake's thread or in the subscription's state."""
    async with asyncio.timeout(within_s):
        while not check():  # noqa: ASYNC110 - nothing to wait on across threads
            await asyncio.sleep(0.02)


async def test_injected_event_arrives_mapped(
    camera: FakeOnvifCamera, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = Sink()
    sub = PullPointSubscription(
        onvif_device(camera.port, monkeypatch), on_event=sink, settings=FAST
    )
    async with running(sub):
        await until(lambda: sub.subscribed)
        camera.inject(
            "tns1:VideoSource/GlobalSceneChange/ImagingService",
            source={"Source": "VideoSource_1"},
            data={"State": "true"},
        )
        camera.inject("tns1:Monitoring/ProcessorUsage", data={"Value": "99"})
        await sink.wait_for(2)
    assert sink.kinds() == ["camera.tamper", "onvif.event"]
    device_id, tamper = sink.events[0]
    assert device_id == "cam-01"
    assert tamper.data["active"] is True
    assert tamper.data["source"] == {"Source": "VideoSource_1"}
    assert sink.events[1][1].data["data"] == {"Value": "99"}


async def test_stop_unsubscribes(camera: FakeOnvifCamera, monkeypatch: pytest.MonkeyPatch) -> None:
    sub = PullPointSubscription(
        onvif_device(camera.port, monkeypatch), on_event=Sink(), settings=FAST
    )
    async with running(sub):
        await until(lambda: sub.subscribed)
        assert camera.live_subscriptions() == 1
    assert camera.stats.unsubscribes == 1
    assert camera.live_subscriptions() == 0


async def test_renews_only_near_the_end_of_each_lease(
    camera_factory: Callable[..., FakeOnvifCamera], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lease 6 s, pulls of 1 s, margin 1 s: one renewal per ~4 s, while pulls run every ~1 s;
    the subscription never lapses and is never re-created."""
    camera = camera_factory(max_lifetime_s=6)
    settings = EventSettings(
        lifetime_s=6, pull_timeout_s=1, renew_margin_s=1, call_timeout_s=5, retry_base_s=0.2
    )
    sub = PullPointSubscription(
        onvif_device(camera.port, monkeypatch), on_event=Sink(), settings=settings
    )
    async with running(sub):
        await until(lambda: sub.subscribed)
        started = time.monotonic()
        await until(lambda: camera.stats.renews >= 2, within_s=30)
        await asyncio.sleep(2)
        elapsed = time.monotonic() - started
        renews, pulls = camera.stats.renews, camera.stats.pulls
    # A renewal at most once per (lease - pull - margin) = 4 s of run time (+1 for the edges),
    # whatever the machine's speed; a renew-on-every-pull client would have one per pull.
    assert renews <= elapsed / 4 + 1, (renews, elapsed)
    assert pulls >= 2 * renews, (pulls, renews)
    assert camera.stats.expired == 0
    assert camera.stats.creates == 1
    assert camera.stats.lost_pulls == 0


async def test_camera_that_extends_the_lease_on_each_pull_is_never_renewed(
    camera_factory: Callable[..., FakeOnvifCamera], monkeypatch: pytest.MonkeyPatch
) -> None:
    camera = camera_factory(extend_on_pull=True)
    settings = EventSettings(lifetime_s=10, pull_timeout_s=1, renew_margin_s=1, call_timeout_s=5)
    sub = PullPointSubscription(
        onvif_device(camera.port, monkeypatch), on_event=Sink(), settings=settings
    )
    async with running(sub):
        await until(lambda: camera.stats.pulls >= 15, within_s=40)  # 15 s > the 10 s lease
    assert camera.stats.renews == 0
    assert camera.stats.creates == 1
    assert camera.stats.expired == 0


async def test_camera_that_misreads_relative_lease_times_gets_absolute_ones_in_its_clock(
    camera_factory: Callable[..., FakeOnvifCamera], monkeypatch: pytest.MonkeyPatch
) -> None:
    """It grants 1 s for "PT10S"; the subscription switches to absolute termination times,
    computed in the camera's clock (30 min off here), and then lives on with few renewals."""
    camera = camera_factory(broken_relative_time=True, clock_skew_s=1800)
    settings = EventSettings(lifetime_s=10, pull_timeout_s=1, renew_margin_s=1, call_timeout_s=5)
    sink = Sink()
    sub = PullPointSubscription(
        onvif_device(camera.port, monkeypatch), on_event=sink, settings=settings
    )
    async with running(sub):
        await until(lambda: camera.stats.pulls >= 12, within_s=40)  # past the 10 s lease
        camera.inject("tns1:VideoSource/SignalLoss", data={"State": "true"})
        await sink.wait_for(1)
    assert camera.stats.creates == 1
    assert camera.stats.expired == 0
    assert 1 <= camera.stats.renews <= 4, camera.stats.renews  # ~ one per 8 s, not per pull


async def test_lost_subscription_is_created_again_and_events_flow(
    camera: FakeOnvifCamera, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = Sink()
    reconnects: list[str] = []
    sub = PullPointSubscription(
        onvif_device(camera.port, monkeypatch),
        on_event=sink,
        settings=FAST,
        on_reconnect=reconnects.append,
    )
    async with running(sub):
        await until(lambda: sub.subscribed)
        assert reconnects == []  # the first subscription is no reconnect
        camera.drop_subscriptions()  # the camera rebooted
        await until(lambda: camera.stats.creates == 2)
        await until(lambda: camera.live_subscriptions() == 1)
        camera.inject("tns1:VideoSource/SignalLoss", data={"State": "true"})
        await sink.wait_for(1)
    assert camera.stats.lost_pulls >= 1
    assert sink.kinds() == ["camera.video_loss"]
    assert reconnects == ["cam-01"]  # counted in the camera's `onvif.reconnects`


async def test_a_pull_that_times_out_keeps_the_subscription(
    camera: FakeOnvifCamera, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A blip is not a lost subscription: the same one is pulled again (a camera has few
    subscription slots, and an abandoned one holds its slot until the lease ends)."""
    settings = EventSettings(
        lifetime_s=60, pull_timeout_s=1, renew_margin_s=1, call_timeout_s=1, retry_base_s=0.2
    )
    sink = Sink()
    sub = PullPointSubscription(
        onvif_device(camera.port, monkeypatch), on_event=sink, settings=settings
    )
    async with running(sub):
        await until(lambda: sub.subscribed)
        pulls = camera.stats.pulls
        camera.stall_pulls(2, seconds=3)  # longer than the pull's deadline (1 s + 1 s)
        await until(lambda: camera.stats.pulls >= pulls + 4, within_s=30)
        camera.inject("tns1:VideoSource/SignalLoss", data={"State": "true"})
        await sink.wait_for(1)
    assert camera.stats.creates == 1
    assert sink.kinds() == ["camera.video_loss"]


async def test_camera_with_a_skewed_clock_still_authenticates(
    camera_factory: Callable[..., FakeOnvifCamera], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An hour off: WS-Security timestamps must follow the camera's clock (it allows 5 min)."""
    camera = camera_factory(clock_skew_s=3600)
    sink = Sink()
    sub = PullPointSubscription(
        onvif_device(camera.port, monkeypatch), on_event=sink, settings=FAST
    )
    async with running(sub):
        await until(lambda: sub.subscribed)
        camera.inject("tns1:Device/HardwareFailure/StorageFailure", data={"Failed": "true"})
        await sink.wait_for(1)
    assert camera.stats.auth_failures == 0
    assert sink.kinds() == ["storage.disk_failed"]


async def test_camera_that_faults_on_get_services_is_subscribed_via_get_capabilities(
    camera_factory: Callable[..., FakeOnvifCamera], monkeypatch: pytest.MonkeyPatch
) -> None:
    camera = camera_factory(get_services=False)
    sink = Sink()
    sub = PullPointSubscription(
        onvif_device(camera.port, monkeypatch), on_event=sink, settings=FAST
    )
    async with running(sub):
        await until(lambda: sub.subscribed)
        camera.inject("tns1:Device/Trigger/DigitalInput", source={"InputToken": "DI0"},
                      data={"LogicalState": "true"})  # fmt: skip
        await sink.wait_for(1)
    assert "GetCapabilities" in camera.stats.operations
    assert sink.kinds() == ["alarm.input"]


async def test_wrong_password_is_auth_failed_not_unreachable(
    camera: FakeOnvifCamera, monkeypatch: pytest.MonkeyPatch
) -> None:
    device = onvif_device(camera.port, monkeypatch, password="wrong")
    sub = PullPointSubscription(device, on_event=Sink(), settings=FAST)
    async with running(sub):
        await until(lambda: sub.last_failure is not None)
    assert isinstance(sub.last_failure, AuthFailed)
    assert camera.stats.creates == 0


async def test_camera_without_event_service_is_unsupported(
    camera_factory: Callable[..., FakeOnvifCamera], monkeypatch: pytest.MonkeyPatch
) -> None:
    camera = camera_factory(events=False)
    sub = PullPointSubscription(
        onvif_device(camera.port, monkeypatch), on_event=Sink(), settings=FAST
    )
    async with running(sub):
        await until(lambda: sub.last_failure is not None)
    assert isinstance(sub.last_failure, Unsupported)


async def test_nothing_listening_is_unreachable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sub = PullPointSubscription(
        onvif_device(closed_port(), monkeypatch), on_event=Sink(), settings=FAST
    )
    async with running(sub):
        await until(lambda: sub.last_failure is not None)
    assert isinstance(sub.last_failure, DeviceUnreachable)


async def test_event_source_subscribes_every_onvif_camera_and_only_those(
    camera_factory: Callable[..., FakeOnvifCamera], monkeypatch: pytest.MonkeyPatch
) -> None:
    cams = [camera_factory(), camera_factory()]
    devices = [
        onvif_device(cam.port, monkeypatch).model_copy(update={"id": f"cam-{i}"})
        for i, cam in enumerate(cams)
    ] + [make_device(id="ups-1")]
    sink = Sink()
    source = OnvifEventSource(devices, on_event=sink, settings=lambda _d: FAST)
    assert [s.device.id for s in source.subscriptions] == ["cam-0", "cam-1"]
    source.start()
    try:
        await until(lambda: all(s.subscribed for s in source.subscriptions))
        cams[1].inject("tns1:VideoSource/SignalLoss", data={"State": "true"})
        await sink.wait_for(1)
    finally:
        await source.close()
    assert [(d, e.kind) for d, e in sink.events] == [("cam-1", "camera.video_loss")]
    assert [c.stats.unsubscribes for c in cams] == [1, 1]
