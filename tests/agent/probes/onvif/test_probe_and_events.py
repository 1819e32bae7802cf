"""The probe and the event subscription on one camera, as the agent runs them: the
subscription's calls (connect, create, renew) wait for the probe's per-camera lock, so the
camera answers one of them at a time, while the held pull goes on and events still arrive."""

import asyncio
from collections.abc import Iterator

import pytest

from agent.probes.onvif.events import EventSettings, OnvifEventSource
from agent.probes.onvif.probe import OnvifProbe
from agent.sampling import poll_device
from tests.agent.probes.onvif.test_events_subscription import Sink, onvif_device, until
from tests.peers.onvif_fake import FakeOnvifCamera

# Short lease: renewed about every second and a half, so renewals meet polls.
RENEWING = EventSettings(
    lifetime_s=3, pull_timeout_s=0.5, renew_margin_s=1, call_timeout_s=10, retry_base_s=0.2
)


@pytest.fixture
def slow_camera() -> Iterator[FakeOnvifCamera]:
    """Each answer but a pull takes 0.2 s, so requests sent together are seen together."""
    camera = FakeOnvifCamera(answer_delay_s=0.2).start()
    yield camera
    camera.close()


@pytest.mark.parametrize("shared", [True, False], ids=["lock-shared", "no-lock"])
async def test_subscription_waits_for_the_polls_lock(
    slow_camera: FakeOnvifCamera, monkeypatch: pytest.MonkeyPatch, shared: bool
) -> None:
    device = onvif_device(slow_camera.port, monkeypatch).model_copy(update={"timeout": 4.0})
    probe = OnvifProbe()
    sink = Sink()
    try:
        first = await poll_device(probe, device)  # the camera's lock exists from here
        assert first.sample.error is None, first.sample.error
        source = OnvifEventSource(
            [device],
            on_event=sink,
            settings=lambda _: RENEWING,
            lock_for=probe.lock_for if shared else None,
        )
        source.start()
        try:
            (sub,) = source.subscriptions
            renews = slow_camera.stats.renews
            async with asyncio.timeout(60):
                while slow_camera.stats.renews < renews + 3 or not sub.subscribed:
                    poll = await poll_device(probe, device)
                    assert poll.sample.error is None, poll.sample.error
            slow_camera.inject("tns1:VideoSource/SignalLoss", data={"State": "true"})
            await sink.wait_for(1, within_s=20)
            await until(lambda: sub.subscribed)
        finally:
            await source.close()
    finally:
        await probe.aclose()
    assert [e.kind for _, e in sink.events] == ["camera.video_loss"]
    if shared:
        assert slow_camera.stats.max_in_flight == 1
    else:  # the control: without the lock, renewals do meet the polls' requests
        assert slow_camera.stats.max_in_flight >= 2


async def test_a_subscription_made_again_counts_in_the_polls_reconnects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    camera = FakeOnvifCamera().start()
    device = onvif_device(camera.port, monkeypatch)
    probe = OnvifProbe()
    source = OnvifEventSource(
        [device],
        on_event=Sink(),
        settings=lambda _: RENEWING,
        lock_for=probe.lock_for,
        on_reconnect=probe.note_reconnect,
    )
    try:
        first = await poll_device(probe, device)
        source.start()
        (sub,) = source.subscriptions
        await until(lambda: sub.subscribed)
        camera.drop_subscriptions()  # the camera rebooted
        await until(lambda: camera.stats.creates == 2 and sub.subscribed)
        after = await poll_device(probe, device)
    finally:
        await source.close()
        await probe.aclose()
        camera.close()
    assert first.sample.checks["onvif.reconnects"] == 0
    assert after.sample.checks["onvif.reconnects"] == 1
